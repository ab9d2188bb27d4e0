//! The audit signing key (ECDSA P-256) that signs checkpoints, its public
//! half, and its stored forms.
//!
//! - **User scope**: one key per user, generated once, stored only sealed
//!   ([`AuditKeyRecord`]): AES-256-GCM under [`audit_sealing_key`] (an HKDF
//!   subkey of the master secret, purpose `audit-seal`), with associated data
//!   binding the user and the kid, recomputed on every open. Signing a
//!   checkpoint therefore needs the user's session (unlock, lock, export).
//! - **Instance scope**: there is no master secret to seal under, so the key
//!   is stored in the clear ([`InstanceAuditKeyRecord`]). This is weaker:
//!   whoever copies the store can sign instance checkpoints, and so can
//!   rewrite the instance log and re-sign it. Only a verifier holding an
//!   earlier instance checkpoint detects that (as a fork or rollback).
//!
//! Secret and public halves are different types ([`AuditSigningKey`],
//! [`AuditPublicKey`]), and the audit key is a different type from the VAPID
//! key even though both are P-256 (one cannot be passed where the other is
//! expected). Both wrap the generic P-256 types of
//! [`crate::crypto::p256_key`]: checked parsing, JWK form, RFC 7638
//! thumbprint, signing.

use rand_core::CryptoRngCore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::{Zeroize, Zeroizing};

use super::error::AuditError;
use crate::crypto::aead::Sealed;
use crate::crypto::p256_key::{Jwk, KeyFormat, P256PublicKey, P256SigningKey};
use crate::crypto::{aad, kdf, sealed_key};
use crate::ids::{KeyId, UserId};
use crate::secret::{Key256, MasterSecret};

/// What parse errors of a stored record call an audit public key.
const PUBLIC_KEY_NAME: &str = "audit public key";

/// The HKDF purpose of the key that seals a user's audit signing key.
pub const SEALING_PURPOSE: &str = "audit-seal";
/// The key that seals a user's audit signing key: an HKDF subkey of the
/// master secret, bound to the user and to the purpose `audit-seal`.
pub fn audit_sealing_key(master: &MasterSecret, user: &UserId) -> Result<Key256, AuditError> {
    kdf::derive_subkey(master, user.as_str(), SEALING_PURPOSE)
        .map_err(|_| AuditError::Internal("audit sealing key derivation failed".into()))
}

/// The public half of an audit signing key: a P-256 point (never the
/// identity, always on the curve). This is what a third party needs to
/// verify an export. Serialized (in stored records) as the unpadded
/// base64url of the 65-byte uncompressed point; exports carry it as a JWK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPublicKey(P256PublicKey);

impl AuditPublicKey {
    /// Parses a JWK (RFC 7518 section 6.2.1): `kty` `EC`, `crv` `P-256`,
    /// `x` and `y` 32 bytes each forming a curve point.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, AuditError> {
        P256PublicKey::from_jwk(jwk)
            .map(Self)
            .map_err(|_| AuditError::InvalidInput("audit public key: not a P-256 JWK".into()))
    }

    /// Parses the unpadded base64url of the 65-byte uncompressed SEC1 point.
    pub fn from_sec1_b64(s: &str) -> Result<Self, AuditError> {
        P256PublicKey::from_sec1_b64(s)
            .map(Self)
            .map_err(|_| AuditError::InvalidInput("audit public key: not an uncompressed P-256 point".into()))
    }

    /// Parses what a person pins: a JWK as JSON text (starts with `{`) or
    /// the base64url of the uncompressed point. Surrounding whitespace is
    /// ignored.
    pub fn parse(s: &str) -> Result<Self, AuditError> {
        let s = s.trim();
        if s.starts_with('{') {
            if s.len() > 1024 {
                return Err(AuditError::InvalidInput("audit public key: JWK text too long".into()));
            }
            let jwk: Jwk = serde_json::from_str(s)
                .map_err(|_| AuditError::InvalidInput("audit public key: not a JWK object".into()))?;
            Self::from_jwk(&jwk)
        } else {
            Self::from_sec1_b64(s)
        }
    }

    /// The key as a JWK.
    pub fn jwk(&self) -> Jwk {
        self.0.jwk()
    }

    /// The generic P-256 key (for a crypto provider's checks).
    pub fn as_p256(&self) -> &P256PublicKey {
        &self.0
    }

    /// The public half of a key a crypto provider generated.
    pub fn from_p256(key: P256PublicKey) -> Self {
        Self(key)
    }

    /// Unpadded base64url of the 65-byte uncompressed point.
    pub fn to_sec1_b64(&self) -> String {
        self.0.to_sec1_b64()
    }

    /// The RFC 7638 JWK thumbprint: the key's `kid` in checkpoints and
    /// export headers.
    pub fn kid(&self) -> KeyId {
        self.0.thumbprint()
    }

    /// Verifies an ES256 signature (raw `r || s`) over `msg`. Only the
    /// low-s form is accepted: ECDSA's `(r, n - s)` verifies too, and
    /// without this rule one checkpoint would have two valid encodings (so
    /// two different files would verify as the same log).
    pub fn verify(&self, msg: &[u8], signature: &[u8; 64]) -> bool {
        self.0.verify_low_s(msg, signature)
    }
}

/// Serialized as the unpadded base64url of the uncompressed point.
impl Serialize for AuditPublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_sec1_b64())
    }
}

/// Parsed as the unpadded base64url of the uncompressed point.
impl<'de> Deserialize<'de> for AuditPublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        P256PublicKey::from_sec1_b64_named(&s, PUBLIC_KEY_NAME).map(Self).map_err(serde::de::Error::custom)
    }
}

/// An audit signing key (ECDSA P-256, ES256 signatures with RFC 6979
/// deterministic nonces, so signing needs no randomness).
///
/// Not serializable, not `Clone`, `Debug` prints `<redacted>`; the wrapped
/// [`P256SigningKey`] zeroizes its scalar on drop. The only ways to persist
/// it are [`AuditKeyRecord::create`] (sealed) and, for the instance scope
/// only, [`InstanceAuditKeyRecord::create`] (in the clear).
pub struct AuditSigningKey {
    key: P256SigningKey,
    public: AuditPublicKey,
    kid: KeyId,
}

impl std::fmt::Debug for AuditSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditSigningKey(<redacted>)")
    }
}

impl AuditSigningKey {
    /// A fresh random key. `rng` must be a CSPRNG (the platform's). It does
    /// not fail (the public half comes straight from the P-256 key now); the
    /// `Result` stays so that callers need not change.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Result<Self, AuditError> {
        Ok(Self::from_key(P256SigningKey::generate(rng)))
    }

    fn from_key(key: P256SigningKey) -> Self {
        let public = AuditPublicKey(key.public());
        let kid = public.kid();
        Self { key, public, kid }
    }

    /// Rebuilds a key from its 32-byte big-endian scalar (zero and values
    /// not below the group order are refused), and checks it against what
    /// the record stores beside it: its thumbprint must be `kid` and its
    /// public half `public`. Every failure is [`AuditError::Integrity`].
    fn open_stored(scalar: &[u8; 32], kid: &KeyId, public: &AuditPublicKey) -> Result<Self, AuditError> {
        let key = P256SigningKey::from_scalar(scalar).map(Self::from_key).map_err(|_| AuditError::Integrity)?;
        if !key.kid.ct_eq(kid) || key.public != *public {
            return Err(AuditError::Integrity);
        }
        Ok(key)
    }

    /// The public half.
    pub fn public(&self) -> &AuditPublicKey {
        &self.public
    }

    /// The generic key, for the test support that reads its scalar.
    #[cfg(feature = "testing")]
    pub(crate) fn p256(&self) -> &P256SigningKey {
        &self.key
    }

    /// The key id (RFC 7638 thumbprint of the public half).
    pub fn kid(&self) -> &KeyId {
        &self.kid
    }

    /// ES256 over `msg`: raw `r || s`.
    pub(crate) fn sign(&self, msg: &[u8]) -> Result<[u8; 64], AuditError> {
        // Low-s, the only form `AuditPublicKey::verify` accepts.
        self.key.sign_low_s(msg).map_err(|_| AuditError::Internal("ecdsa signing failed".into()))
    }
}

/// The stored public key, if the stored kid is its thumbprint
/// ([`AuditError::Integrity`] otherwise).
fn checked_public_key<'a>(public: &'a AuditPublicKey, kid: &KeyId) -> Result<&'a AuditPublicKey, AuditError> {
    if public.kid().ct_eq(kid) {
        Ok(public)
    } else {
        Err(AuditError::Integrity)
    }
}

/// What storage holds for a user's audit signing key: the public key and
/// the sealed private scalar. The public fields are unauthenticated at rest
/// until [`AuditKeyRecord::open`] checks them against the sealed key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditKeyRecord {
    /// `1`: the sealed plaintext is the bare scalar (read only); `2`: PKCS#8.
    v: KeyFormat,
    kid: KeyId,
    public_key: AuditPublicKey,
    sealed: Sealed,
    created_ms: u64,
}

impl AuditKeyRecord {
    /// Seals `key` for `user` under `sealing_key` ([`audit_sealing_key`]),
    /// with AAD [`aad::audit_key`]`(user, kid)`.
    pub fn create(
        key: &AuditSigningKey,
        sealing_key: &Key256,
        user: &UserId,
        now_ms: u64,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self, AuditError> {
        let aad = aad::audit_key(user, &key.kid);
        let sealed = sealed_key::seal(&key.key, sealing_key, &aad, rng)
            .map_err(|_| AuditError::Internal("audit key seal failed".into()))?;
        Ok(Self::from_sealed(key.public.clone(), sealed, now_ms))
    }

    /// A record of a key a crypto provider generated and sealed (PKCS#8,
    /// under the `audit-seal` subkey, AAD [`AuditKeyRecord::aad`]).
    pub fn from_sealed(public_key: AuditPublicKey, sealed: Sealed, now_ms: u64) -> Self {
        Self { v: KeyFormat::Pkcs8, kid: public_key.kid(), public_key, sealed, created_ms: now_ms }
    }

    /// This record re-sealed as PKCS#8 (`sealed` must hold the same key;
    /// opening checks it).
    pub fn resealed(&self, sealed: Sealed) -> Self {
        Self { v: KeyFormat::Pkcs8, sealed, ..self.clone() }
    }

    /// The AAD its key is sealed with, for `user`, recomputed from the
    /// caller's user and the record's kid.
    pub fn aad(&self, user: &UserId) -> Vec<u8> {
        aad::audit_key(user, &self.kid)
    }

    /// The sealed private key.
    pub fn sealed(&self) -> &Sealed {
        &self.sealed
    }

    /// How the sealed plaintext is laid out.
    pub fn key_format(&self) -> KeyFormat {
        self.v
    }

    /// Unseals the key. The AAD is recomputed from `user` (the caller's, not
    /// the record's) and the record's kid; after the tag verified, the key's
    /// thumbprint must be the kid and its public half the stored one. Every
    /// failure is [`AuditError::Integrity`].
    pub fn open(&self, sealing_key: &Key256, user: &UserId) -> Result<AuditSigningKey, AuditError> {
        let public = checked_public_key(&self.public_key, &self.kid)?;
        let key = sealed_key::open(sealing_key, &self.aad(user), &self.sealed, self.v, &public.0)
            .map_err(|_| AuditError::Integrity)?;
        Ok(AuditSigningKey::from_key(key))
    }

    /// The stored public key, after checking that the stored kid is its
    /// thumbprint ([`AuditError::Integrity`] otherwise). Unauthenticated: use
    /// it to show the key, and pin it only after [`AuditKeyRecord::open`]
    /// succeeded once.
    pub fn public_key(&self) -> Result<&AuditPublicKey, AuditError> {
        checked_public_key(&self.public_key, &self.kid)
    }

    /// The key id.
    pub fn kid(&self) -> &KeyId {
        &self.kid
    }

    /// Creation time, milliseconds since the Unix epoch.
    pub fn created_ms(&self) -> u64 {
        self.created_ms
    }
}

/// The instance's audit signing key as stored: **in the clear** (there is
/// no master secret to seal it under; see the module docs for what that
/// costs). Serialized as
/// `{"v":1,"kid":..,"public_key":..,"secret_scalar":<b64url>,"created_ms":..}`.
/// `Debug` redacts the scalar; the in-memory copy is wiped on drop.
pub struct InstanceAuditKeyRecord {
    kid: KeyId,
    public_key: AuditPublicKey,
    scalar: Zeroizing<[u8; 32]>,
    created_ms: u64,
}

impl std::fmt::Debug for InstanceAuditKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceAuditKeyRecord")
            .field("kid", &self.kid)
            .field("public_key", &self.public_key)
            .field("secret_scalar", &"<redacted>")
            .field("created_ms", &self.created_ms)
            .finish()
    }
}

impl InstanceAuditKeyRecord {
    /// The stored form of the instance key (unsealed).
    pub fn create(key: &AuditSigningKey, now_ms: u64) -> Self {
        Self {
            kid: key.kid.clone(),
            public_key: key.public.clone(),
            scalar: key.key.scalar_bytes(),
            created_ms: now_ms,
        }
    }

    /// The key; its thumbprint and public half must match the stored ones
    /// ([`AuditError::Integrity`] otherwise).
    pub fn open(&self) -> Result<AuditSigningKey, AuditError> {
        AuditSigningKey::open_stored(&self.scalar, &self.kid, &self.public_key)
    }

    /// The stored public key (checked only against the stored kid).
    pub fn public_key(&self) -> Result<&AuditPublicKey, AuditError> {
        checked_public_key(&self.public_key, &self.kid)
    }

    /// The key id.
    pub fn kid(&self) -> &KeyId {
        &self.kid
    }
}

/// The stored form of [`InstanceAuditKeyRecord`]; its copy of the scalar
/// text is wiped when it drops.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct InstanceWire {
    /// Always `1`: the scalar, in the clear.
    v: KeyFormat,
    kid: KeyId,
    public_key: AuditPublicKey,
    secret_scalar: String,
    created_ms: u64,
}

impl Drop for InstanceWire {
    fn drop(&mut self) {
        self.secret_scalar.zeroize();
    }
}

impl Serialize for InstanceAuditKeyRecord {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        InstanceWire {
            v: KeyFormat::Scalar,
            kid: self.kid.clone(),
            public_key: self.public_key.clone(),
            secret_scalar: crate::b64::encode(*self.scalar),
            created_ms: self.created_ms,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for InstanceAuditKeyRecord {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = InstanceWire::deserialize(d)?;
        if w.v != KeyFormat::Scalar {
            return Err(serde::de::Error::custom("instance audit key record: unsupported format version"));
        }
        let scalar = Zeroizing::new(
            crate::b64::decode_array::<32>(&w.secret_scalar, "secret_scalar").map_err(serde::de::Error::custom)?,
        );
        Ok(Self { kid: w.kid.clone(), public_key: w.public_key.clone(), scalar, created_ms: w.created_ms })
    }
}
