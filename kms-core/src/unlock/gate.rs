//! Gate-mode passkey unlock: the proof check.
//!
//! A *gate* passkey is a WebAuthn credential used without the PRF extension.
//! It produces no secret, so it cannot encrypt anything. A gate enrollment
//! therefore wraps the master secret under a key that is kept in storage next
//! to the wrap, and the engine unwraps it only after [`verify_assertion`]
//! accepted a fresh WebAuthn assertion from the registered credential.
//!
//! # What gate mode protects
//!
//! It gates the API of the *running* KMS: no session is opened for a gate
//! enrollment unless the holder of the registered authenticator has just
//! signed the engine's challenge, on an allowed origin, for our RP ID, with
//! user presence and user verification (PIN, biometric). A script that calls
//! the unlock RPC without the user, or replays an earlier assertion (the
//! engine's challenges are single-use), is refused. A gate unlock that
//! needs no proof at all would gate nothing; this module is the proof.
//!
//! # What it plainly does NOT protect
//!
//! Nothing at rest. The wrapping key is in the same storage as the wrapped
//! master secret, so anyone who can read that storage (a copy of the browser
//! profile or of IndexedDB, a backup, malware with file access) unwraps the
//! master secret without any authenticator. Gate mode is a policy enforced by
//! this code, exactly as strong as the code path that enforces it, and no
//! stronger: it is no defence against code running inside the KMS itself.
//! Use a passphrase or a PRF passkey where confidentiality at rest matters.
//!
//! # Why it exists anyway
//!
//! Many authenticators and browsers do not implement PRF, and a user of such
//! a device should still be able to require a touch and a PIN or biometric
//! before the KMS signs anything on their behalf, on a device whose storage
//! they already trust. The enrollment flow must say that it gives no
//! protection at rest.
//!
//! # The checks
//!
//! [`verify_assertion`] runs the relying-party steps of WebAuthn Level 3
//! §7.2 ("Verifying an Authentication Assertion") that apply to a single,
//! already identified credential, in a fixed order, each with its own
//! [`AssertionError`]. The step texts are quoted rather than numbered,
//! because the numbering shifts between drafts of the specification.
//! Not done here, by design:
//! - Issuing the challenge, making it single-use and letting it expire: the
//!   engine's ceremony book does that and passes the expected challenge in.
//! - Persisting the returned sign count: the caller must store it (with a
//!   compare-and-swap on the stored count where the store allows it) before
//!   it treats the unlock as done.
//! - `userHandle` and the client extension results are ignored: the engine
//!   identified the user and the credential before the ceremony, and a gate
//!   ceremony requests no extensions.
//! - Only ES256 (COSE algorithm -7, ECDSA P-256 with SHA-256) is supported:
//!   the enrollment must offer only that algorithm in `pubKeyCredParams`.

use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use webauthn_rs_proto::PublicKeyCredential;

use crate::b64;
use crate::error::{CoreError, Result};

/// Largest `clientDataJSON` accepted, in bytes. Browsers send about 150.
pub const MAX_CLIENT_DATA_JSON_LEN: usize = 4096;
/// Smallest `authenticatorData`: rpIdHash (32) + flags (1) + signCount (4).
pub const MIN_AUTHENTICATOR_DATA_LEN: usize = 37;
/// Largest `authenticatorData` accepted, in bytes (leaves room for extensions).
pub const MAX_AUTHENTICATOR_DATA_LEN: usize = 1024;
/// Largest signature accepted, in bytes. A DER ECDSA P-256 signature is at
/// most 72 bytes.
pub const MAX_SIGNATURE_LEN: usize = 80;
/// Largest credential id, in bytes (WebAuthn L3 §4, "Credential ID": at most 1023).
pub const MAX_CREDENTIAL_ID_LEN: usize = 1023;
/// Largest RP ID: a DNS name of at most 253 characters.
pub const MAX_RP_ID_LEN: usize = 253;
/// Shortest challenge the verifier will check against. WebAuthn L3
/// ("Cryptographic Challenges") asks for at least 16 random bytes; a shorter expected challenge is a bug
/// in the caller, and the assertion is refused rather than checked against it.
pub const MIN_CHALLENGE_LEN: usize = 16;

/// DER prefix of a SubjectPublicKeyInfo (RFC 5480) holding an uncompressed
/// P-256 point: SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 },
/// BIT STRING (66 bytes, 0 unused bits) }. DER is canonical, so every valid
/// encoding of such a key starts with exactly these 26 bytes, followed by the
/// 65-byte point. This is what `AuthenticatorAttestationResponse.getPublicKey()`
/// returns for an ES256 credential.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, // SEQUENCE, 89 bytes
    0x30, 0x13, // SEQUENCE, 19 bytes (AlgorithmIdentifier)
    0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, // OID 1.2.840.10045.2.1
    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, // OID 1.2.840.10045.3.1.7
    0x03, 0x42, 0x00, // BIT STRING, 66 bytes, 0 unused bits
];
/// Length of an uncompressed SEC1 P-256 point: 0x04 || X (32) || Y (32).
const SEC1_UNCOMPRESSED_LEN: usize = 65;
/// Length of a P-256 SubjectPublicKeyInfo in DER.
const P256_SPKI_LEN: usize = P256_SPKI_PREFIX.len() + SEC1_UNCOMPRESSED_LEN;

/// Authenticator data flags (WebAuthn L3 §6.1).
const FLAG_UP: u8 = 1 << 0;
const FLAG_UV: u8 = 1 << 2;
const FLAG_BE: u8 = 1 << 3;
const FLAG_BS: u8 = 1 << 4;
const FLAG_AT: u8 = 1 << 6;
const FLAG_ED: u8 = 1 << 7;

/// A registered gate credential, as kept in the enrollment record (JSON,
/// unknown fields refused).
///
/// [`GateCredential::new`] checks and normalizes every field, and
/// deserialization runs the same checks, so a credential read from storage
/// or built from a registration is valid. The fields are public for the
/// enrollment record's sake; [`verify_assertion`] still re-parses them and
/// refuses the assertion if one does not parse, so a hand-built value cannot
/// weaken the check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "StoredGateCredential")]
pub struct GateCredential {
    /// The credential id, base64url (1 to 1023 bytes).
    pub credential_id: String,
    /// The public key: base64url of the 65-byte uncompressed SEC1 P-256 point.
    pub public_key: String,
    /// The RP ID the credential is scoped to (a lowercase host name).
    pub rp_id: String,
    /// The last sign count seen from the authenticator (0 if it keeps none).
    /// Set it only from the value [`verify_assertion`] returned.
    pub sign_count: u32,
}

/// The serialized form of [`GateCredential`], checked on the way in.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredGateCredential {
    credential_id: String,
    public_key: String,
    rp_id: String,
    sign_count: u32,
}

impl TryFrom<StoredGateCredential> for GateCredential {
    type Error = CoreError;

    fn try_from(s: StoredGateCredential) -> Result<Self> {
        let credential =
            Self { credential_id: s.credential_id, public_key: s.public_key, rp_id: s.rp_id, sign_count: s.sign_count };
        credential.raw_credential_id()?;
        credential.verifying_key()?;
        validate_rp_id(&credential.rp_id)?;
        Ok(credential)
    }
}

impl GateCredential {
    /// A credential from what the browser returned at registration:
    /// `credential_id_b64` is `PublicKeyCredential.id` (base64url of 1 to
    /// 1023 bytes), `public_key_input_b64` is base64url of
    /// `AuthenticatorAttestationResponse.getPublicKey()` or of a raw point
    /// (see [`parse_credential_public_key`]; stored as the SEC1 point),
    /// `rp_id` the RP ID it was created for (a lowercase ASCII host name).
    /// The sign count starts at 0.
    pub fn new(credential_id_b64: &str, public_key_input_b64: &str, rp_id: &str) -> Result<Self> {
        let credential_id = decode_credential_id(credential_id_b64)?;
        let public_key = parse_credential_public_key(public_key_input_b64)?;
        let rp_id = validate_rp_id(rp_id)?;
        Ok(Self {
            credential_id: b64::encode(credential_id),
            public_key: b64::encode(public_key.to_encoded_point(false).as_bytes()),
            rp_id: rp_id.to_owned(),
            sign_count: 0,
        })
    }

    /// The raw credential id.
    pub fn raw_credential_id(&self) -> Result<Vec<u8>> {
        decode_credential_id(&self.credential_id)
    }

    /// The parsed public key. Only the 65-byte uncompressed SEC1 form is
    /// accepted here (the stored form); never panics.
    pub fn verifying_key(&self) -> Result<VerifyingKey> {
        let point = b64::decode(&self.public_key, SEC1_UNCOMPRESSED_LEN, "public_key")?;
        parse_sec1_uncompressed(&point).map(VerifyingKey::from)
    }
}

/// Parses a credential public key as browsers give it at registration:
/// base64url of either the DER SubjectPublicKeyInfo of a P-256 key (what
/// `AuthenticatorAttestationResponse.getPublicKey()` returns for ES256) or a
/// raw 65-byte uncompressed SEC1 point. The point must be on the curve and
/// not the identity. Compressed points, other curves and algorithms, and
/// anything else are refused with [`CoreError::InvalidInput`].
pub fn parse_credential_public_key(b64: &str) -> Result<p256::PublicKey> {
    let bytes = b64::decode(b64, P256_SPKI_LEN, "public_key")?;
    let point = if bytes.len() == SEC1_UNCOMPRESSED_LEN {
        bytes.as_slice()
    } else if bytes.len() == P256_SPKI_LEN {
        match bytes.split_at_checked(P256_SPKI_PREFIX.len()) {
            Some((prefix, point)) if prefix == P256_SPKI_PREFIX.as_slice() => point,
            _ => {
                return Err(CoreError::invalid(
                    "public_key: not a P-256 SubjectPublicKeyInfo (only ES256 credentials are supported)",
                ))
            }
        }
    } else {
        return Err(CoreError::invalid(format!(
            "public_key: expected a {P256_SPKI_LEN}-byte P-256 SubjectPublicKeyInfo or a \
             {SEC1_UNCOMPRESSED_LEN}-byte uncompressed SEC1 point"
        )));
    };
    parse_sec1_uncompressed(point)
}

/// Parses exactly a 65-byte uncompressed SEC1 P-256 point.
fn parse_sec1_uncompressed(point: &[u8]) -> Result<p256::PublicKey> {
    // `from_sec1_bytes` would also take compressed points; the length and the
    // tag pin it to the uncompressed form browsers produce.
    if point.len() != SEC1_UNCOMPRESSED_LEN || point.first() != Some(&0x04) {
        return Err(CoreError::invalid("public_key: expected an uncompressed SEC1 point (0x04 || X || Y)"));
    }
    p256::PublicKey::from_sec1_bytes(point).map_err(|_| CoreError::invalid("public_key: not a valid P-256 point"))
}

fn decode_credential_id(b64: &str) -> Result<Vec<u8>> {
    let id = b64::decode(b64, MAX_CREDENTIAL_ID_LEN, "credential_id")?;
    if id.is_empty() {
        return Err(CoreError::invalid("credential_id: must not be empty"));
    }
    Ok(id)
}

/// Checks that `rp_id` is a host name as browsers put it in an RP ID:
/// lowercase ASCII labels of letters, digits and hyphens (internationalized
/// names in their `xn--` form), 1 to 63 characters each, not starting or
/// ending with a hyphen, 253 characters at most, no trailing dot, and not an
/// IPv4 address (the last label is not all digits).
fn validate_rp_id(rp_id: &str) -> Result<&str> {
    if rp_id.is_empty() || rp_id.len() > MAX_RP_ID_LEN {
        return Err(CoreError::invalid(format!("rp_id: must be 1 to {MAX_RP_ID_LEN} characters")));
    }
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !rp_id.split('.').all(label_ok) {
        return Err(CoreError::invalid("rp_id: must be a lowercase host name (labels of a-z, 0-9 and inner hyphens)"));
    }
    if rp_id.rsplit('.').next().is_some_and(|last| last.bytes().all(|b| b.is_ascii_digit())) {
        return Err(CoreError::invalid("rp_id: an IP address is not a valid RP ID"));
    }
    Ok(rp_id)
}

/// What the engine expects of an assertion. User presence and user
/// verification are always required; there is no option to relax them.
#[derive(Debug, Clone, Copy)]
pub struct ExpectedAssertion<'a> {
    /// The challenge the engine issued for this ceremony (at least
    /// [`MIN_CHALLENGE_LEN`] bytes). Single use is the engine's job.
    pub challenge: &'a [u8],
    /// The exact origins (`scheme://host[:port]`) the assertion may come from.
    pub allowed_origins: &'a [String],
    /// The exact origins of the pages that may embed the KMS frame in which
    /// the ceremony runs (WebAuthn L3 §7.2, `C.topOrigin`). Empty: an
    /// assertion made in a cross-origin iframe is refused.
    pub allowed_top_origins: &'a [String],
    /// The RP ID: must be the credential's.
    pub rp_id: &'a str,
}

/// Why an assertion was refused. Callers outside the engine only ever see
/// [`CoreError::UnlockFailed`]; this detail is for the audit log,
/// through [`AssertionError::reason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AssertionError {
    /// clientDataJSON, authenticatorData or the signature is over its size cap.
    #[error("assertion field over its size limit")]
    TooLarge,
    /// `PublicKeyCredential.type` is not `"public-key"`.
    #[error("credential type is not public-key")]
    WrongCredentialType,
    /// The assertion was made with another credential than the enrolled one.
    #[error("assertion is from another credential")]
    CredentialMismatch,
    /// clientDataJSON is not the JSON object WebAuthn defines.
    #[error("clientDataJSON is malformed")]
    ClientDataMalformed,
    /// clientDataJSON `type` is not `webauthn.get`.
    #[error("clientDataJSON is not from a webauthn.get ceremony")]
    WrongCeremonyType,
    /// clientDataJSON `challenge` is not the one the engine issued.
    #[error("challenge does not match")]
    ChallengeMismatch,
    /// clientDataJSON `origin` is not an allowed origin.
    #[error("origin is not allowed")]
    OriginMismatch,
    /// The assertion was made in a cross-origin iframe whose top page is not
    /// an allowed host (or `crossOrigin` and `topOrigin` disagree).
    #[error("cross-origin assertion refused")]
    CrossOrigin,
    /// authenticatorData is too short or inconsistent with its flags.
    #[error("authenticatorData is malformed")]
    AuthenticatorDataMalformed,
    /// authenticatorData is for another RP ID, or the credential is scoped to
    /// another RP ID than the expected one.
    #[error("RP ID does not match")]
    RpIdMismatch,
    /// The UP flag is clear.
    #[error("user presence flag not set")]
    UserNotPresent,
    /// The UV flag is clear.
    #[error("user verification flag not set")]
    UserNotVerified,
    /// The signature is not DER or does not verify under the credential key.
    #[error("signature does not verify")]
    BadSignature,
    /// The sign counter did not increase: a possibly cloned authenticator.
    #[error("sign counter did not increase")]
    CounterNotIncreased,
}

impl AssertionError {
    /// A stable snake_case reason for the audit log. Never renamed.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::WrongCredentialType => "wrong_credential_type",
            Self::CredentialMismatch => "credential_mismatch",
            Self::ClientDataMalformed => "client_data_malformed",
            Self::WrongCeremonyType => "wrong_ceremony_type",
            Self::ChallengeMismatch => "challenge_mismatch",
            Self::OriginMismatch => "origin_mismatch",
            Self::CrossOrigin => "cross_origin",
            Self::AuthenticatorDataMalformed => "authenticator_data_malformed",
            Self::RpIdMismatch => "rp_id_mismatch",
            Self::UserNotPresent => "user_not_present",
            Self::UserNotVerified => "user_not_verified",
            Self::BadSignature => "bad_signature",
            Self::CounterNotIncreased => "counter_not_increased",
        }
    }
}

impl From<AssertionError> for CoreError {
    /// Deliberately coarse: every refusal is the same [`CoreError::UnlockFailed`]
    /// to the caller. The audit log records [`AssertionError::reason`].
    fn from(_: AssertionError) -> Self {
        CoreError::UnlockFailed
    }
}

/// The members of `CollectedClientData` (WebAuthn L3 §5.8.1) we check.
/// Unknown members are allowed, as the specification requires; a duplicated
/// member is an error (serde refuses it), so no parser differential can pick
/// another value than the one we check.
#[derive(Deserialize)]
struct CollectedClientData {
    #[serde(rename = "type")]
    type_: String,
    challenge: String,
    origin: String,
    #[serde(rename = "crossOrigin", default, deserialize_with = "some_bool")]
    cross_origin: Option<bool>,
    #[serde(rename = "topOrigin", default, deserialize_with = "present_string")]
    top_origin: Option<String>,
}

/// `crossOrigin`, when present, must be a boolean (`null` is malformed).
fn some_bool<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<bool>, D::Error> {
    bool::deserialize(d).map(Some)
}

/// `Some` if the member is present: its string, or an empty string for
/// `null` (which then matches no allowed origin).
fn present_string<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d).map(|v| Some(v.unwrap_or_default()))
}

/// Verifies a WebAuthn assertion made with the gate credential `cred`, and
/// returns the sign count to store in place of `cred.sign_count`.
///
/// Checks, in this order, each refusal with its own [`AssertionError`]
/// (the quoted texts are the WebAuthn L3 §7.2 steps they implement):
///
/// 1. Size caps: clientDataJSON at most [`MAX_CLIENT_DATA_JSON_LEN`] bytes,
///    authenticatorData [`MIN_AUTHENTICATOR_DATA_LEN`] to
///    [`MAX_AUTHENTICATOR_DATA_LEN`] bytes (shorter is
///    `AuthenticatorDataMalformed`), signature at most [`MAX_SIGNATURE_LEN`]
///    bytes. Not a §7.2 step: it bounds the work done on untrusted input.
/// 2. `type` is `"public-key"` (§5.1 `PublicKeyCredential`).
/// 3. `rawId`, and `id` as its base64url form, are the enrolled credential's
///    id, compared in constant time (§7.2: "verify that credential.id
///    identifies one of the public key credentials listed in
///    options.allowCredentials", with one allowed credential).
/// 4. clientDataJSON: "let C ... be the result of running an
///    implementation-specific JSON parser on JSONtext" (UTF-8 and JSON
///    enforced by `serde_json`); "verify that the value of C.type is the
///    string webauthn.get"; "verify that the value of C.challenge equals the
///    base64url encoding of options.challenge" (constant time); "verify that
///    the value of C.origin is an origin expected by the Relying Party"
///    (exact string match); then either `crossOrigin` absent or `false` and
///    `topOrigin` absent (a top-level KMS page), or `crossOrigin` `true` and
///    `topOrigin` one of `allowed_top_origins` ("if C.topOrigin is present:
///    verify that the Relying Party expects this credential to be used
///    within an iframe that is not same-origin with its ancestors; verify
///    that the value of C.topOrigin matches the origin of a page that the
///    Relying Party expects to be sub-framed within": the KMS frame inside
///    an allowed host page). Anything else is `CrossOrigin`.
/// 5. "Verify that the rpIdHash in authData is the SHA-256 hash of the RP ID
///    expected by the Relying Party" (constant time); the expected RP ID must
///    also be the one the credential was registered for.
/// 6. Flags: "verify that the UP bit of the flags in authData is set"; user
///    verification is always required, so "verify that the UV bit ... is
///    set"; "if the BE bit ... is not set, verify that the BS bit is not
///    set". Also: AT must be clear in an assertion, and without ED the data
///    must end after the sign count (§6.1 layout).
/// 7. "Using credentialRecord.publicKey, verify that sig is a valid signature
///    over the binary concatenation of authData and hash", hash being
///    SHA-256(clientDataJSON). ES256 signatures in WebAuthn are DER-encoded
///    ECDSA ("Signature Formats for Packed Attestation, FIDO U2F Attestation,
///    and Assertion Signatures"). Both low-S and high-S forms are accepted: WebAuthn does
///    not require low-S and authenticators produce both; malleability does
///    not matter here because a signature is never used as an identifier and
///    the challenge is single-use.
/// 8. "If authData.signCount is nonzero or credentialRecord.signCount is
///    nonzero": the new count must be strictly greater than the stored one,
///    otherwise the authenticator may be cloned (§6.1.1). Zero and zero is
///    accepted (authenticators that keep no counter).
///
/// Nothing that changes state (the returned count) is trusted before the
/// signature has verified in step 7.
pub fn verify_assertion(
    cred: &GateCredential,
    response: &PublicKeyCredential,
    expected: &ExpectedAssertion<'_>,
) -> Result<u32, AssertionError> {
    let client_data_json = response.response.client_data_json.as_slice();
    let auth_data = response.response.authenticator_data.as_slice();
    let signature = response.response.signature.as_slice();

    // 1. Size caps.
    if client_data_json.len() > MAX_CLIENT_DATA_JSON_LEN
        || auth_data.len() > MAX_AUTHENTICATOR_DATA_LEN
        || signature.len() > MAX_SIGNATURE_LEN
    {
        return Err(AssertionError::TooLarge);
    }
    let (rp_id_hash, rest) = auth_data.split_first_chunk::<32>().ok_or(AssertionError::AuthenticatorDataMalformed)?;
    let (&flags, rest) = rest.split_first().ok_or(AssertionError::AuthenticatorDataMalformed)?;
    let (sign_count, extensions) = rest.split_first_chunk::<4>().ok_or(AssertionError::AuthenticatorDataMalformed)?;
    let new_count = u32::from_be_bytes(*sign_count);

    // 2. Credential type.
    if response.type_ != "public-key" {
        return Err(AssertionError::WrongCredentialType);
    }

    // 3. Credential id. Lengths are public; the comparison of equal-length
    // ids is constant time.
    let stored_id = cred.raw_credential_id().map_err(|_| AssertionError::CredentialMismatch)?;
    let raw_id_ok = response.raw_id.as_slice().ct_eq(stored_id.as_slice());
    let id_ok = response.id.as_bytes().ct_eq(cred.credential_id.as_bytes());
    if !bool::from(raw_id_ok & id_ok) {
        return Err(AssertionError::CredentialMismatch);
    }

    // 4. Client data.
    let client_data: CollectedClientData =
        serde_json::from_slice(client_data_json).map_err(|_| AssertionError::ClientDataMalformed)?;
    if client_data.type_ != "webauthn.get" {
        return Err(AssertionError::WrongCeremonyType);
    }
    if expected.challenge.len() < MIN_CHALLENGE_LEN {
        return Err(AssertionError::ChallengeMismatch);
    }
    // Compared as text, as the specification words it: any other base64url
    // spelling of the same bytes (padding, stray bits) is refused too.
    let expected_challenge = b64::encode(expected.challenge);
    if !bool::from(client_data.challenge.as_bytes().ct_eq(expected_challenge.as_bytes())) {
        return Err(AssertionError::ChallengeMismatch);
    }
    if !expected.allowed_origins.contains(&client_data.origin) {
        return Err(AssertionError::OriginMismatch);
    }
    let embedded = client_data.cross_origin == Some(true);
    match (&client_data.top_origin, embedded) {
        (None, false) => {}
        (Some(top), true) if expected.allowed_top_origins.contains(top) => {}
        _ => return Err(AssertionError::CrossOrigin),
    }

    // 5. RP ID.
    let expected_hash: [u8; 32] = Sha256::digest(expected.rp_id.as_bytes()).into();
    let hash_ok = rp_id_hash.as_slice().ct_eq(expected_hash.as_slice());
    if !bool::from(hash_ok) || expected.rp_id != cred.rp_id {
        return Err(AssertionError::RpIdMismatch);
    }

    // 6. Flags, and the layout they announce.
    if flags & FLAG_UP == 0 {
        return Err(AssertionError::UserNotPresent);
    }
    if flags & FLAG_UV == 0 {
        return Err(AssertionError::UserNotVerified);
    }
    if flags & FLAG_BE == 0 && flags & FLAG_BS != 0 {
        return Err(AssertionError::AuthenticatorDataMalformed);
    }
    if flags & FLAG_AT != 0 || (flags & FLAG_ED == 0 && !extensions.is_empty()) {
        return Err(AssertionError::AuthenticatorDataMalformed);
    }

    // 7. Signature over authenticatorData || SHA-256(clientDataJSON).
    let signature = Signature::from_der(signature).map_err(|_| AssertionError::BadSignature)?;
    let mut signed = Vec::with_capacity(auth_data.len().saturating_add(32));
    signed.extend_from_slice(auth_data);
    let client_data_hash: [u8; 32] = Sha256::digest(client_data_json).into();
    signed.extend_from_slice(&client_data_hash);
    // A stored key that does not parse verifies nothing.
    let key = cred.verifying_key().map_err(|_| AssertionError::BadSignature)?;
    key.verify(&signed, &signature).map_err(|_| AssertionError::BadSignature)?;

    // 8. Sign counter (clone detection), only now that it is signed.
    let stored = cred.sign_count;
    if (stored != 0 || new_count != 0) && new_count <= stored {
        return Err(AssertionError::CounterNotIncreased);
    }
    Ok(new_count)
}
