//! The lease courier: what a relay and the KMS send each other through the
//! app page, sealed so that the page (or script injected into it) learns
//! neither the lease credential nor a token.
//!
//! In the browser the KMS lives in the user's browser and a relay cannot
//! call it: the app page carries the relay's token requests to the KMS and
//! the tokens back. Without this module the page sees the credential on
//! every request and every token on the way back.
//!
//! # Scheme
//!
//! HPKE (RFC 9180) in base mode, suite DHKEM(P-256, HKDF-SHA256),
//! HKDF-SHA256, AES-256-GCM, from the `hpke` crate:
//!
//! - **The relay's key** ([`CourierSecret`], made by the relay, its public
//!   half given to `lease_create` as `relay_key`). The KMS seals the new
//!   lease's credential to it ([`seal_credential`]), together with the
//!   lease's courier key, so the page that asked for the lease carries it
//!   without reading it and cannot swap the courier key the relay will seal
//!   its requests to. (Which relay key `lease_create` is given is the
//!   asking page's choice: a page with a session can grant a lease to a key
//!   of its own, as it can do anything the session allows.)
//! - **The lease's courier key**, made by the KMS at `lease_create` and kept
//!   in the lease record, its public half returned as `courier_key` and
//!   inside the sealed credential (the relay uses that copy). Each
//!   token request is sealed to it ([`seal_request`]): the credential, the
//!   [`IssueRequest`], a fresh 16-byte nonce and the relay's clock. The KMS
//!   refuses a request older or newer than [`REQUEST_WINDOW_MS`], and one
//!   whose nonce it has seen (the lease record keeps the nonces of the
//!   window).
//! - **The answer** is sealed (AES-256-GCM) under a key both ends export
//!   from the request's HPKE context ([`ResponseKey`]): only the relay that
//!   made the request, holding its ephemeral secret, can read it.
//!
//! The HPKE `info` binds the purpose, the user and the lease id, so a
//! sealed message moved to another user, lease or purpose does not open.
//!
//! # What it does not protect
//!
//! The courier key must be usable while the user is locked (tokens are
//! issued without a session), so its secret is stored in the clear in the
//! lease record: a copy of the store plus an observed request gives the
//! credential, and with the same copy the VAPID key (as a relay with a copy
//! of the store could already). The page can still withhold, delay or drop
//! messages, and see their sizes and timing.

use hpke::aead::AesGcm256;
use hpke::kdf::HkdfSha256;
use hpke::kem::DhP256HkdfSha256;
use hpke::{Deserializable as _, Kem as _, OpModeR, OpModeS, Serializable as _};
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use super::credential::LeaseCredential;
use super::id::LeaseId;
use super::issue::IssueRequest;
use crate::crypto::aead;
use crate::error::{CoreError, Result};
use crate::ids::UserId;
use crate::secret::Key256;

type Kem = DhP256HkdfSha256;
type Kdf = HkdfSha256;
type Aead = AesGcm256;

/// How far a request's `ts_ms` may be from the KMS's clock.
pub const REQUEST_WINDOW_MS: u64 = 5 * 60 * 1000;
/// The largest sealed request accepted, before it is decoded.
pub const MAX_SEALED_REQUEST: usize = 8 * 1024;
/// The largest sealed answer a relay accepts, before it is decoded.
pub const MAX_SEALED_RESPONSE: usize = 256 * 1024;
/// The length of a P-256 public key, SEC1 uncompressed.
const PUBLIC_LEN: usize = 65;
const LABEL_CREDENTIAL: &[u8] = b"kms/v1/courier/credential";
const LABEL_REQUEST: &[u8] = b"kms/v1/courier/request";
const LABEL_RESPONSE: &[u8] = b"kms/v1/courier/response";

fn refused(what: &str) -> CoreError {
    CoreError::Forbidden(format!("courier: {what}"))
}

/// A request carried again after it was served. `invalid_input`, not
/// `forbidden`: a page that retries after a lost answer must not make the
/// relay end the lease (it asks again with a fresh request).
pub fn replayed() -> CoreError {
    CoreError::InvalidInput("courier: this request was served already (a replay); ask again".into())
}

/// The HPKE `info`: `label || 0x00 || user || 0x00 || lease id`.
fn info(label: &[u8], user: &UserId, lease: &LeaseId) -> Vec<u8> {
    [label, b"\0", user.as_str().as_bytes(), b"\0", lease.as_str().as_bytes()].concat()
}

/// A P-256 public key of the courier (the relay's or a lease's), as
/// base64url of its 65-byte SEC1 uncompressed form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourierPublic(<Kem as hpke::Kem>::PublicKey);

impl CourierPublic {
    /// Parses base64url of a SEC1 uncompressed point on P-256.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || CoreError::invalid("courier key: not a P-256 public key (65 bytes, SEC1 uncompressed, base64url)");
        if text.len() > 2 * PUBLIC_LEN {
            return Err(bad());
        }
        let bytes = crate::b64::decode_array::<PUBLIC_LEN>(text, "courier key").map_err(|_| bad())?;
        <Kem as hpke::Kem>::PublicKey::from_bytes(&bytes).map(Self).map_err(|_| bad())
    }

    /// The key as base64url of its SEC1 uncompressed form.
    pub fn to_b64(&self) -> String {
        crate::b64::encode(self.0.to_bytes())
    }
}

impl Serialize for CourierPublic {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_b64())
    }
}

impl<'de> Deserialize<'de> for CourierPublic {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Self::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// A courier key pair: the relay's, or a lease's (kept by the KMS in the
/// lease record). The secret is zeroized on drop (by the `hpke` crate) and
/// never printed; its stored form is base64url of the 32-byte scalar.
#[derive(Clone)]
pub struct CourierSecret {
    secret: <Kem as hpke::Kem>::PrivateKey,
    public: CourierPublic,
}

impl std::fmt::Debug for CourierSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CourierSecret").field("public", &self.public.to_b64()).finish_non_exhaustive()
    }
}

impl PartialEq for CourierSecret {
    fn eq(&self, other: &Self) -> bool {
        self.public == other.public
    }
}

impl Eq for CourierSecret {}

impl CourierSecret {
    /// A fresh key pair.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let (secret, public) = Kem::gen_keypair(rng);
        Self { secret, public: CourierPublic(public) }
    }

    /// The public half.
    pub fn public(&self) -> &CourierPublic {
        &self.public
    }

    /// The scalar as base64url, in a buffer wiped on drop (for storage).
    pub fn dangerous_to_b64(&self) -> Zeroizing<String> {
        let mut bytes = self.secret.to_bytes();
        let text = Zeroizing::new(crate::b64::encode(bytes));
        bytes.iter_mut().for_each(Zeroize::zeroize);
        text
    }

    /// Reads a stored scalar (base64url, 32 bytes).
    pub fn from_b64(text: &str) -> Result<Self> {
        let bad = || CoreError::invalid("courier secret: not a P-256 scalar");
        if text.len() > 64 {
            return Err(bad());
        }
        let bytes = Zeroizing::new(crate::b64::decode_array::<32>(text, "courier secret").map_err(|_| bad())?);
        let secret = <Kem as hpke::Kem>::PrivateKey::from_bytes(bytes.as_slice()).map_err(|_| bad())?;
        let public = CourierPublic(Kem::sk_to_pk(&secret));
        Ok(Self { secret, public })
    }
}

impl Serialize for CourierSecret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.dangerous_to_b64())
    }
}

impl<'de> Deserialize<'de> for CourierSecret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        Self::from_b64(&text).map_err(serde::de::Error::custom)
    }
}

/// `enc || ciphertext` of one HPKE message, base64url.
fn hpke_seal(
    to: &CourierPublic,
    info: &[u8],
    plaintext: &[u8],
    rng: &mut impl CryptoRngCore,
) -> Result<(String, ResponseKey)> {
    let (enc, mut ctx) = hpke::setup_sender::<Aead, Kdf, Kem, _>(&OpModeS::Base, &to.0, info, rng)
        .map_err(|_| CoreError::Internal("hpke setup failed".into()))?;
    let ct = ctx.seal(plaintext, b"").map_err(|_| CoreError::Internal("hpke seal failed".into()))?;
    // Exported straight into the key's own (zeroized) storage.
    let mut key = Key256([0u8; 32]);
    ctx.export(LABEL_RESPONSE, &mut key.0).map_err(|_| CoreError::Internal("hpke export failed".into()))?;
    let mut out = enc.to_bytes().to_vec();
    out.extend_from_slice(&ct);
    Ok((crate::b64::encode(out), ResponseKey(key)))
}

/// Opens `enc || ciphertext`; every failure is `None`.
fn hpke_open(with: &CourierSecret, info: &[u8], sealed: &str, max: usize) -> Option<(Zeroizing<Vec<u8>>, ResponseKey)> {
    let bytes = crate::b64::decode(sealed, max, "sealed").ok()?;
    let (enc, ct) = bytes.split_at_checked(PUBLIC_LEN)?;
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(enc).ok()?;
    let mut ctx = hpke::setup_receiver::<Aead, Kdf, Kem>(&OpModeR::Base, &with.secret, &enc, info).ok()?;
    let plain = Zeroizing::new(ctx.open(ct, b"").ok()?);
    let mut key = Key256([0u8; 32]);
    ctx.export(LABEL_RESPONSE, &mut key.0).ok()?;
    Some((plain, ResponseKey(key)))
}

/// The key an answer is sealed under: exported from the request's HPKE
/// context by both ends. Zeroized on drop.
pub struct ResponseKey(Key256);

impl std::fmt::Debug for ResponseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseKey(<redacted>)")
    }
}

impl ResponseKey {
    /// Seals an answer (AES-256-GCM, a fresh nonce), base64url.
    pub fn seal(&self, plaintext: &[u8], rng: &mut impl CryptoRngCore) -> Result<String> {
        Ok(aead::seal(&self.0, LABEL_RESPONSE, plaintext, rng)?.to_b64())
    }

    /// Opens an answer; `forbidden` if it does not open.
    pub fn open(&self, sealed: &str) -> Result<Zeroizing<Vec<u8>>> {
        if sealed.len() > MAX_SEALED_RESPONSE {
            return Err(refused("the answer is too large"));
        }
        let sealed = aead::Sealed::from_b64(sealed).map_err(|_| refused("the answer does not open"))?;
        aead::open(&self.0, LABEL_RESPONSE, &sealed).map_err(|_| refused("the answer does not open"))
    }
}

/// What `lease_create` seals to the relay: the credential and the lease's
/// courier key together, so that the page that carries them cannot hand
/// the relay a courier key of its own (to which the relay would then seal
/// the credential with every request).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SealedGrant {
    credential: LeaseCredential,
    courier_key: CourierPublic,
}

/// The KMS side of `lease_create`: the credential and the lease's courier
/// key, sealed to the relay.
pub fn seal_credential(
    relay: &CourierPublic,
    user: &UserId,
    credential: &LeaseCredential,
    courier_key: &CourierPublic,
    rng: &mut impl CryptoRngCore,
) -> Result<String> {
    let grant = SealedGrant {
        credential: LeaseCredential::parse(&credential.dangerous_to_text())?,
        courier_key: courier_key.clone(),
    };
    let json = Zeroizing::new(
        serde_json::to_vec(&grant).map_err(|_| CoreError::Internal("could not encode a sealed grant".into()))?,
    );
    let (sealed, _) = hpke_seal(relay, &info(LABEL_CREDENTIAL, user, credential.lease_id()), &json, rng)?;
    Ok(sealed)
}

/// The relay side: the credential of lease `lease` of `user` and the
/// lease's courier key (the one to seal requests to: never one the page
/// names), from what `lease_create` sealed to the relay's key.
pub fn open_credential(
    relay: &CourierSecret,
    user: &UserId,
    lease: &LeaseId,
    sealed: &str,
) -> Result<(LeaseCredential, CourierPublic)> {
    let (plain, _) = hpke_open(relay, &info(LABEL_CREDENTIAL, user, lease), sealed, 1024)
        .ok_or_else(|| refused("the sealed credential does not open with this relay's key"))?;
    let grant: SealedGrant =
        serde_json::from_slice(&plain).map_err(|_| refused("the sealed credential is malformed"))?;
    if grant.credential.lease_id() != lease {
        return Err(refused("the sealed credential is for another lease"));
    }
    Ok((grant.credential, grant.courier_key))
}

/// What a relay asks for, inside a sealed request.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CourierRequest {
    /// The lease credential (`kmsl1.…`).
    pub credential: LeaseCredential,
    pub request: IssueRequest,
    /// 16 random bytes, base64url: the KMS refuses a nonce it has seen.
    pub nonce: String,
    /// The relay's clock, ms since the Unix epoch.
    pub ts_ms: u64,
}

impl std::fmt::Debug for CourierRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CourierRequest")
            .field("lease_id", self.credential.lease_id())
            .field("request", &self.request)
            .field("nonce", &self.nonce)
            .field("ts_ms", &self.ts_ms)
            .finish_non_exhaustive()
    }
}

/// The relay side: seals `request` for lease `lease` of `user` to the
/// lease's courier key, with a fresh nonce and `now_ms`. Keep the returned
/// key to open the answer.
pub fn seal_request(
    courier: &CourierPublic,
    user: &UserId,
    credential: &LeaseCredential,
    request: &IssueRequest,
    now_ms: u64,
    rng: &mut impl CryptoRngCore,
) -> Result<(String, ResponseKey)> {
    let mut nonce = [0u8; 16];
    rng.fill_bytes(&mut nonce);
    let inner = CourierRequest {
        credential: LeaseCredential::parse(&credential.dangerous_to_text())?,
        request: request.clone(),
        nonce: crate::b64::encode(nonce),
        ts_ms: now_ms,
    };
    let json = Zeroizing::new(
        serde_json::to_vec(&inner).map_err(|_| CoreError::Internal("could not encode a courier request".into()))?,
    );
    hpke_seal(courier, &info(LABEL_REQUEST, user, credential.lease_id()), &json, rng)
}

/// The KMS side: opens a request for lease `lease` of `user` with the
/// lease's courier key and checks what the sealing alone cannot: the
/// credential names this lease, and `ts_ms` is within
/// [`REQUEST_WINDOW_MS`] of `now_ms`. (Whether the nonce is new is for the
/// lease record to say: [`super::LeaseRecord::has_seen`].) Every refusal is
/// `forbidden`.
pub fn open_request(
    courier: &CourierSecret,
    user: &UserId,
    lease: &LeaseId,
    sealed: &str,
    now_ms: u64,
) -> Result<(CourierRequest, ResponseKey)> {
    if sealed.len() > MAX_SEALED_REQUEST {
        return Err(refused("the request is too large"));
    }
    let (plain, key) = hpke_open(courier, &info(LABEL_REQUEST, user, lease), sealed, MAX_SEALED_REQUEST)
        .ok_or_else(|| refused("the request does not open with this lease's courier key"))?;
    let inner: CourierRequest =
        serde_json::from_slice(&plain).map_err(|_| refused("the request's content is malformed"))?;
    if inner.credential.lease_id() != lease {
        return Err(refused("the request's credential is for another lease"));
    }
    if crate::b64::decode_array::<16>(&inner.nonce, "nonce").is_err() {
        return Err(refused("the request's nonce is not 16 bytes"));
    }
    if inner.ts_ms.abs_diff(now_ms) > REQUEST_WINDOW_MS {
        // Not `forbidden` either: a request that waited too long in the page
        // is the relay's to ask again.
        return Err(CoreError::InvalidInput(
            "courier: the request is too old or from the future (clocks more than 5 minutes apart?); ask again".into(),
        ));
    }
    Ok((inner, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng as _;

    fn rng() -> rand_chacha::ChaCha20Rng {
        rand_chacha::ChaCha20Rng::seed_from_u64(3)
    }

    fn alice() -> UserId {
        UserId::parse("alice").unwrap()
    }

    fn request() -> IssueRequest {
        IssueRequest {
            aud: "https://fcm.googleapis.com".into(),
            sub: "mailto:ops@example.com".into(),
            count: 2,
            ttl_s: None,
        }
    }

    #[test]
    fn a_credential_sealed_to_the_relay_opens_only_there_and_for_its_lease() {
        let mut rng = rng();
        let relay = CourierSecret::generate(&mut rng);
        let credential = LeaseCredential::generate(LeaseId::generate(&mut rng), &mut rng);
        let courier = CourierSecret::generate(&mut rng);
        let sealed = seal_credential(relay.public(), &alice(), &credential, courier.public(), &mut rng).unwrap();
        let (opened, courier_key) = open_credential(&relay, &alice(), credential.lease_id(), &sealed).unwrap();
        assert_eq!(*opened.dangerous_to_text(), *credential.dangerous_to_text());
        assert_eq!(courier_key, *courier.public());
        assert!(!sealed.contains(credential.dangerous_to_text().as_str()));
        let other = CourierSecret::generate(&mut rng);
        assert!(open_credential(&other, &alice(), credential.lease_id(), &sealed).is_err());
        let bob = UserId::parse("bob").unwrap();
        assert!(open_credential(&relay, &bob, credential.lease_id(), &sealed).is_err());
        assert!(open_credential(&relay, &alice(), &LeaseId::generate(&mut rng), &sealed).is_err());
    }

    #[test]
    fn a_request_and_its_answer_round_trip_and_bind_their_context() {
        let mut rng = rng();
        let lease_key = CourierSecret::generate(&mut rng);
        let credential = LeaseCredential::generate(LeaseId::generate(&mut rng), &mut rng);
        let lease = credential.lease_id().clone();
        let now = 1_800_000_000_000;
        let (sealed, relay_key) =
            seal_request(lease_key.public(), &alice(), &credential, &request(), now, &mut rng).unwrap();
        let (inner, kms_key) = open_request(&lease_key, &alice(), &lease, &sealed, now + 1000).unwrap();
        assert_eq!(inner.request, request());
        assert_eq!(inner.ts_ms, now);
        let answer = kms_key.seal(b"{\"tokens\":[]}", &mut rng).unwrap();
        assert_eq!(&*relay_key.open(&answer).unwrap(), b"{\"tokens\":[]}");
        // Another request's key does not open this answer.
        let (_, other_key) =
            seal_request(lease_key.public(), &alice(), &credential, &request(), now, &mut rng).unwrap();
        assert!(other_key.open(&answer).is_err());
        // Bound to the user and the lease, and to the clock window.
        assert!(open_request(&lease_key, &UserId::parse("bob").unwrap(), &lease, &sealed, now).is_err());
        assert!(open_request(&lease_key, &alice(), &LeaseId::generate(&mut rng), &sealed, now).is_err());
        let late = open_request(&lease_key, &alice(), &lease, &sealed, now + REQUEST_WINDOW_MS + 1).unwrap_err();
        assert_eq!(late.code(), crate::ErrorCode::InvalidInput);
        // A flipped byte does not open.
        let mut bytes = crate::b64::decode(&sealed, 1 << 20, "sealed").unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(open_request(&lease_key, &alice(), &lease, &crate::b64::encode(bytes), now).is_err());
    }

    #[test]
    fn keys_round_trip_through_their_stored_forms_and_garbage_is_refused() {
        let mut rng = rng();
        let k = CourierSecret::generate(&mut rng);
        let again = CourierSecret::from_b64(&k.dangerous_to_b64()).unwrap();
        assert_eq!(again.public(), k.public());
        assert_eq!(CourierPublic::parse(&k.public().to_b64()).unwrap(), *k.public());
        assert!(!format!("{k:?}").contains(k.dangerous_to_b64().as_str()));
        for bad in ["", "AAAA", &"A".repeat(87), &"A".repeat(1000)] {
            assert!(CourierPublic::parse(bad).is_err());
            assert!(CourierSecret::from_b64(bad).is_err());
        }
        assert!(hpke_open(&k, b"x", "", 10).is_none());
        assert!(hpke_open(&k, b"x", &"A".repeat(200), 1000).is_none());
    }
}
