//! A software WebAuthn authenticator for tests: an ES256 (P-256) key from a
//! seeded RNG that makes assertions the way a browser and a platform
//! authenticator do, and hands them over in the JSON shape of
//! `PublicKeyCredential.toJSON()` (WebAuthn L3 §5.1.8,
//! `AuthenticationResponseJSON`).

use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use rand_chacha::rand_core::{RngCore as _, SeedableRng as _};
use rand_chacha::ChaCha20Rng;
use sha2::{Digest as _, Sha256};
use webauthn_rs_proto::PublicKeyCredential;

use super::encoding::b64;
use crate::rpc::NewEnrollment;

/// Authenticator data flags (WebAuthn L3 §6.1).
pub const UP: u8 = 1 << 0;
pub const UV: u8 = 1 << 2;
pub const BE: u8 = 1 << 3;
pub const BS: u8 = 1 << 4;
pub const AT: u8 = 1 << 6;
pub const ED: u8 = 1 << 7;

/// The collected client data as Chrome serializes it for `get()`, including
/// the extra member Chrome sometimes adds to stop template matching.
pub fn client_data_json(type_: &str, challenge: &[u8], origin: &str) -> Vec<u8> {
    format!(
        r#"{{"type":"{type_}","challenge":"{}","origin":"{origin}","crossOrigin":false,"other_keys_can_be_added_here":"do not compare clientDataJSON against a template. See https://goo.gl/yabPex"}}"#,
        b64(challenge)
    )
    .into_bytes()
}

/// `rpIdHash || flags || signCount` (big-endian), no extensions.
pub fn authenticator_data(rp_id: &str, flags: u8, sign_count: u32) -> Vec<u8> {
    let mut data = Sha256::digest(rp_id.as_bytes()).to_vec();
    data.push(flags);
    data.extend_from_slice(&sign_count.to_be_bytes());
    data
}

/// What an assertion signs: `authenticatorData || SHA-256(clientDataJSON)`.
pub fn signed_message(authenticator_data: &[u8], client_data_json: &[u8]) -> Vec<u8> {
    let mut msg = authenticator_data.to_vec();
    msg.extend_from_slice(&Sha256::digest(client_data_json));
    msg
}

/// An assertion's parts, to be tampered with before it is sent.
#[derive(Debug, Clone)]
pub struct Assertion {
    pub id: String,
    pub raw_id: Vec<u8>,
    pub type_: String,
    pub client_data_json: Vec<u8>,
    pub authenticator_data: Vec<u8>,
    pub signature: Vec<u8>,
    pub user_handle: Option<Vec<u8>>,
}

impl Assertion {
    /// The value of a browser's `PublicKeyCredential.toJSON()`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut response = serde_json::json!({
            "clientDataJSON": b64(&self.client_data_json),
            "authenticatorData": b64(&self.authenticator_data),
            "signature": b64(&self.signature),
        });
        if let (Some(handle), Some(obj)) = (&self.user_handle, response.as_object_mut()) {
            obj.insert("userHandle".into(), b64(handle).into());
        }
        serde_json::json!({
            "id": self.id,
            "rawId": b64(&self.raw_id),
            "response": response,
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "type": self.type_,
        })
    }

    /// The JSON text a browser's `PublicKeyCredential.toJSON()` produces.
    pub fn to_browser_json(&self) -> String {
        self.to_json().to_string()
    }

    /// What the KMS receives: the browser JSON, deserialized.
    pub fn to_credential(&self) -> PublicKeyCredential {
        serde_json::from_str(&self.to_browser_json()).unwrap()
    }
}

/// A software authenticator holding one ES256 credential.
#[derive(Debug, Clone)]
pub struct SoftAuthenticator {
    key: SigningKey,
    pub credential_id: Vec<u8>,
    pub rp_id: String,
    pub origin: String,
}

impl SoftAuthenticator {
    /// A credential for `rp_id`, used from `origin`, with a key and a
    /// 16-byte credential id drawn from a ChaCha20 RNG seeded with `seed`.
    pub fn new(seed: u64, rp_id: &str, origin: &str) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let key = SigningKey::random(&mut rng);
        let mut credential_id = vec![0u8; 16];
        rng.fill_bytes(&mut credential_id);
        Self { key, credential_id, rp_id: rp_id.to_owned(), origin: origin.to_owned() }
    }

    /// base64url of the credential id.
    pub fn credential_id_b64(&self) -> String {
        b64(&self.credential_id)
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        *self.key.verifying_key()
    }

    /// The 65-byte uncompressed SEC1 point.
    pub fn public_key_sec1(&self) -> Vec<u8> {
        self.key.verifying_key().to_encoded_point(false).as_bytes().to_vec()
    }

    /// The 33-byte compressed SEC1 point.
    pub fn public_key_sec1_compressed(&self) -> Vec<u8> {
        self.key.verifying_key().to_encoded_point(true).as_bytes().to_vec()
    }

    /// The `NewEnrollment` registering this credential in gate mode.
    pub fn gate_enrollment(&self) -> NewEnrollment {
        NewEnrollment::PasskeyGate { credential_id: self.credential_id_b64(), public_key: b64(self.public_key_sec1()) }
    }

    /// DER signature over `authenticatorData || SHA-256(clientDataJSON)`.
    pub fn sign(&self, authenticator_data: &[u8], client_data_json: &[u8]) -> Vec<u8> {
        self.sign_raw(authenticator_data, client_data_json).to_der().as_bytes().to_vec()
    }

    /// The raw ECDSA signature (not DER), for tests of the encoding.
    pub fn sign_raw(&self, authenticator_data: &[u8], client_data_json: &[u8]) -> Signature {
        self.key.sign(&signed_message(authenticator_data, client_data_json))
    }

    /// A complete, valid assertion: `webauthn.get` on our origin, UP and UV
    /// set, the given counter.
    pub fn assert(&self, challenge: &[u8], sign_count: u32) -> Assertion {
        self.assert_with(
            client_data_json("webauthn.get", challenge, &self.origin),
            authenticator_data(&self.rp_id, UP | UV, sign_count),
        )
    }

    /// An assertion over the given client data and authenticator data,
    /// signed with this credential's key.
    pub fn assert_with(&self, client_data_json: Vec<u8>, authenticator_data: Vec<u8>) -> Assertion {
        let signature = self.sign(&authenticator_data, &client_data_json);
        Assertion {
            id: self.credential_id_b64(),
            raw_id: self.credential_id.clone(),
            type_: "public-key".into(),
            client_data_json,
            authenticator_data,
            signature,
            user_handle: Some(b"user-handle-1".to_vec()),
        }
    }
}
