//! VAPID key pairs (ES256 on P-256), their sealed storage form and their
//! public descriptions.
//!
//! The private half ([`VapidSigningKey`]) never leaves this module in the
//! clear: it is generated here, signs here, and is stored only as an
//! AES-256-GCM blob ([`VapidKeyRecord`]) sealed under a per-user key derived
//! from the user's master secret ([`vapid_sealing_key`]).

use rand_core::CryptoRngCore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq as _;

use crate::crypto::aead::Sealed;
use crate::crypto::p256_key::{KeyFormat, P256PublicKey, P256SigningKey};
use crate::crypto::{aad, aead, kdf, sealed_key};
use crate::error::{CoreError, Result};
use crate::ids::{KeyId, UserId};
use crate::secret::{Key256, MasterSecret};

// The generic P-256 encodings, at their VAPID paths too.
pub use crate::crypto::p256_key::{Jwk, SEC1_UNCOMPRESSED_LEN};

/// What parse errors call a VAPID public key.
const PUBLIC_KEY_NAME: &str = "vapid public key";

/// The `purpose` of the subkey that seals a user's VAPID private keys.
pub const SEALING_PURPOSE: &str = "vapid-seal";

/// The key that seals a user's VAPID private keys: an HKDF subkey of the
/// user's master secret, bound to the user and to the purpose `vapid-seal`,
/// so it is useless for any other user or any other kind of record.
pub fn vapid_sealing_key(master: &MasterSecret, user: &UserId) -> Result<Key256> {
    kdf::derive_subkey(master, user.as_str(), SEALING_PURPOSE)
}

/// A VAPID private key: an ECDSA P-256 signing key used for ES256.
///
/// It cannot be serialized or cloned, and `Debug` prints `<redacted>`. The
/// wrapped [`P256SigningKey`] zeroizes its secret scalar when dropped. The
/// only way to persist it is [`VapidSigningKey::seal`] (and, inside this
/// crate, a lease's wrap, see [`crate::lease`]).
pub struct VapidSigningKey(P256SigningKey);

impl std::fmt::Debug for VapidSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VapidSigningKey(<redacted>)")
    }
}

impl VapidSigningKey {
    /// A fresh random key pair. `rng` must be a CSPRNG (the platform's).
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        Self(P256SigningKey::generate(rng))
    }

    /// Rebuilds a key from its 32-byte big-endian secret scalar, as unsealing
    /// does. Refuses zero and values not below the group order. The caller's
    /// buffer is wiped when it drops.
    #[cfg(test)]
    pub(crate) fn from_scalar(scalar: zeroize::Zeroizing<[u8; 32]>) -> Result<Self> {
        P256SigningKey::from_scalar(&scalar).map(Self)
    }

    /// Seals the key (PKCS#8) under a key other than the user's VAPID
    /// sealing key inside this crate (a lease's wrap, see [`crate::lease`]).
    pub(crate) fn seal_as(&self, key: &Key256, aad: &[u8], rng: &mut impl CryptoRngCore) -> Result<Sealed> {
        sealed_key::seal(&self.0, key, aad, rng)
    }

    /// Rebuilds a key from a sealed plaintext in `format`
    /// (`InvalidInput` when malformed); the caller wipes `plaintext`.
    pub(crate) fn from_plaintext(format: KeyFormat, plaintext: &[u8]) -> Result<Self> {
        P256SigningKey::from_plaintext(format, plaintext).map(Self)
    }

    /// The generic key, for the test support that reads its scalar.
    #[cfg(feature = "testing")]
    pub(crate) fn p256(&self) -> &P256SigningKey {
        &self.0
    }

    /// The public half.
    pub fn public(&self) -> VapidPublicKey {
        VapidPublicKey(self.0.public())
    }

    /// ES256 (RFC 7518 section 3.4): SHA-256 of `msg`, ECDSA P-256 with the
    /// deterministic nonce of RFC 6979, and the signature as the raw 64 bytes
    /// `r || s` (big-endian, 32 bytes each) that JWS requires, not DER.
    ///
    /// Fails only if ECDSA produced `r = 0` or `s = 0` (probability about
    /// 2^-255); the error is `Internal`. Returning it keeps this total.
    pub fn sign(&self, msg: &[u8]) -> Result<[u8; 64]> {
        self.0.sign(msg)
    }

    /// Seals the secret scalar under `sealing_key` for storage (AES-256-GCM,
    /// see [`crate::crypto::aead`]). The AAD is
    /// [`crate::crypto::aad::vapid_key`]`(user, kid, version)`, so the blob
    /// opens only for this user, this key id and this version.
    ///
    /// `kid` must be this key's thumbprint ([`VapidPublicKey::thumbprint`]);
    /// anything else is a caller bug, refused with `Internal`, because the
    /// blob could then never be unsealed.
    pub fn seal(
        &self,
        sealing_key: &Key256,
        user: &UserId,
        kid: &KeyId,
        version: u32,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Sealed> {
        if !self.public().thumbprint().ct_eq(kid) {
            return Err(CoreError::Internal("vapid seal: kid is not this key's thumbprint".into()));
        }
        sealed_key::seal(&self.0, sealing_key, &aad::vapid_key(user, kid, version), rng)
    }

    /// Opens a blob made by [`VapidSigningKey::seal`]. The AAD is recomputed
    /// from the arguments, never read from storage. After the AEAD tag
    /// verified, the key's thumbprint must equal `kid`.
    ///
    /// Every failure (wrong key, user, kid or version; altered blob; a
    /// plaintext that is not a valid scalar; a thumbprint mismatch) is
    /// [`CoreError::Integrity`].
    pub fn unseal(
        sealing_key: &Key256,
        user: &UserId,
        kid: &KeyId,
        version: u32,
        sealed: &Sealed,
        format: KeyFormat,
    ) -> Result<Self> {
        let aad = aad::vapid_key(user, kid, version);
        let plaintext = aead::open(sealing_key, &aad, sealed)?;
        let key = P256SigningKey::from_plaintext(format, &plaintext).map(Self).map_err(|_| CoreError::Integrity)?;
        drop(plaintext);
        if !key.public().thumbprint().ct_eq(kid) {
            return Err(CoreError::Integrity);
        }
        Ok(key)
    }
}

/// A VAPID public key: a P-256 point, never the identity. This is the
/// application server key (`applicationServerKey`, the `k=` of RFC 8292);
/// the encodings are those of [`P256PublicKey`], the parse errors name a
/// `vapid public key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VapidPublicKey(P256PublicKey);

impl VapidPublicKey {
    /// The generic P-256 key (for a crypto provider's checks).
    pub fn as_p256(&self) -> &P256PublicKey {
        &self.0
    }

    /// The public half of a key a crypto provider generated.
    pub fn from_p256(key: P256PublicKey) -> Self {
        Self(key)
    }

    /// Parses the 65-byte uncompressed SEC1 point `0x04 || x || y`, the form
    /// of the browser's `applicationServerKey` and of the `k=` parameter of
    /// RFC 8292. Compressed points, the identity and points not on the curve
    /// are refused with `InvalidInput`.
    pub fn from_sec1_bytes(bytes: &[u8]) -> Result<Self> {
        P256PublicKey::from_sec1_bytes_named(bytes, PUBLIC_KEY_NAME).map(Self)
    }

    /// Parses the unpadded base64url of the 65-byte uncompressed point (see
    /// [`VapidPublicKey::from_sec1_bytes`]).
    pub fn from_sec1_b64(s: &str) -> Result<Self> {
        P256PublicKey::from_sec1_b64_named(s, PUBLIC_KEY_NAME).map(Self)
    }

    /// Parses a JWK (RFC 7517/7518): `kty` must be `EC`, `crv` `P-256`, and
    /// `x`, `y` 32 bytes each of unpadded base64url forming a curve point.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self> {
        P256PublicKey::from_jwk_named(jwk, PUBLIC_KEY_NAME).map(Self)
    }

    /// The 65-byte uncompressed SEC1 encoding `0x04 || x || y`.
    pub fn to_sec1_bytes(&self) -> [u8; SEC1_UNCOMPRESSED_LEN] {
        self.0.to_sec1_bytes()
    }

    /// Unpadded base64url of [`VapidPublicKey::to_sec1_bytes`]: the value the
    /// page passes as `applicationServerKey` to `pushManager.subscribe()`,
    /// and the `k=` parameter of the `Authorization` header.
    pub fn to_sec1_b64(&self) -> String {
        self.0.to_sec1_b64()
    }

    /// The key as a JWK (RFC 7518 section 6.2.1).
    pub fn jwk(&self) -> Jwk {
        self.0.jwk()
    }

    /// The RFC 7638 JWK thumbprint ([`P256PublicKey::thumbprint`]): the
    /// key's [`KeyId`].
    pub fn thumbprint(&self) -> KeyId {
        self.0.thumbprint()
    }

    /// Verifies an ES256 signature (raw `r || s`) over `msg`. False for any
    /// malformed signature (`r` or `s` zero or not below the group order).
    pub fn verify(&self, msg: &[u8], signature: &[u8; 64]) -> bool {
        self.0.verify(msg, signature)
    }
}

/// Serialized as the unpadded base64url of the uncompressed point.
impl Serialize for VapidPublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_sec1_b64())
    }
}

/// Parsed with [`VapidPublicKey::from_sec1_b64`].
impl<'de> Deserialize<'de> for VapidPublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::from_sec1_b64(&s).map_err(serde::de::Error::custom)
    }
}

/// Whether a key signs new tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// The user's signing key: new JWTs are signed with it.
    Current,
    /// Replaced by a newer key; kept so its public half stays listed (push
    /// subscriptions made with it are orphaned, see RFC 8292 and the docs).
    Retired,
}

/// The public description of a stored key, returned by RPCs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct VapidPublicInfo {
    /// The RFC 7638 thumbprint of the public key.
    pub kid: KeyId,
    /// Unpadded base64url of the 65-byte uncompressed point
    /// (`applicationServerKey`).
    pub public_key: String,
    /// The same key as a JWK.
    pub jwk: Jwk,
    /// The user's key version (1 for the first key, +1 per rotation).
    pub version: u32,
    pub status: KeyStatus,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// Retirement time, milliseconds since the Unix epoch.
    pub retired_ms: Option<u64>,
}

/// What storage holds for one VAPID key of one user. The private key is in
/// `sealed`; everything else is public but unauthenticated at rest, so
/// [`VapidKeyRecord::open`] checks it against the sealed key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VapidKeyRecord {
    /// `1`: the sealed plaintext is the bare scalar (read only); `2`: PKCS#8.
    v: KeyFormat,
    kid: KeyId,
    version: u32,
    public_key: VapidPublicKey,
    sealed: Sealed,
    status: KeyStatus,
    created_ms: u64,
    retired_ms: Option<u64>,
}

impl VapidKeyRecord {
    /// A record for `signing`, sealed for `user` at `version`, status
    /// `current`, created at `now_ms`.
    pub fn create(
        signing: &VapidSigningKey,
        sealing_key: &Key256,
        user: &UserId,
        version: u32,
        now_ms: u64,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self> {
        let public_key = signing.public();
        let kid = public_key.thumbprint();
        let sealed = signing.seal(sealing_key, user, &kid, version, rng)?;
        Ok(Self::from_sealed(public_key, version, sealed, now_ms))
    }

    /// A record, status `current`, of a key a crypto provider generated and
    /// sealed (PKCS#8 under the `vapid-seal` subkey, with the AAD
    /// [`VapidKeyRecord::aad`] of this kid and version).
    pub fn from_sealed(public_key: VapidPublicKey, version: u32, sealed: Sealed, now_ms: u64) -> Self {
        Self {
            v: KeyFormat::Pkcs8,
            kid: public_key.thumbprint(),
            version,
            public_key,
            sealed,
            status: KeyStatus::Current,
            created_ms: now_ms,
            retired_ms: None,
        }
    }

    /// This record with its key re-sealed as PKCS#8 (`sealed` must hold the
    /// same key under the same AAD; opening checks it).
    pub fn resealed(&self, sealed: Sealed) -> Self {
        Self { v: KeyFormat::Pkcs8, sealed, ..self.clone() }
    }

    /// The AAD the key is sealed with for `user`: [`aad::vapid_key`] of
    /// the caller's user and the record's kid and version.
    pub fn aad(&self, user: &UserId) -> Vec<u8> {
        aad::vapid_key(user, &self.kid, self.version)
    }

    /// The sealed private key.
    pub fn sealed(&self) -> &Sealed {
        &self.sealed
    }

    /// How the sealed plaintext is laid out.
    pub fn key_format(&self) -> KeyFormat {
        self.v
    }

    /// Unseals the private key. The AAD is recomputed from `user` and this
    /// record's kid and version (a record moved to another user, or with its
    /// kid or version edited, fails to open), and the stored public key must
    /// equal the unsealed key's public key (a record whose public half was
    /// swapped is refused). Every failure is [`CoreError::Integrity`].
    pub fn open(&self, sealing_key: &Key256, user: &UserId) -> Result<VapidSigningKey> {
        let key = VapidSigningKey::unseal(sealing_key, user, &self.kid, self.version, &self.sealed, self.v)?;
        let stored = self.public_key.to_sec1_bytes();
        let actual = key.public().to_sec1_bytes();
        if !bool::from(stored.ct_eq(&actual)) {
            return Err(CoreError::Integrity);
        }
        Ok(key)
    }

    /// The public description. Storage is not trusted, and without the
    /// sealing key the public half cannot be authenticated; this only checks
    /// that `kid` is the stored public key's thumbprint (else `Integrity`).
    /// [`VapidKeyRecord::open`] is the authenticated path.
    pub fn info(&self) -> Result<VapidPublicInfo> {
        if !self.public_key.thumbprint().ct_eq(&self.kid) {
            return Err(CoreError::Integrity);
        }
        Ok(VapidPublicInfo {
            kid: self.kid.clone(),
            public_key: self.public_key.to_sec1_b64(),
            jwk: self.public_key.jwk(),
            version: self.version,
            status: self.status,
            created_ms: self.created_ms,
            retired_ms: self.retired_ms,
        })
    }

    /// Marks the key retired at `now_ms`. Returns whether this call changed
    /// the record: retiring a retired key keeps its first retirement time.
    pub fn retire(&mut self, now_ms: u64) -> bool {
        match self.status {
            KeyStatus::Retired => false,
            KeyStatus::Current => {
                self.status = KeyStatus::Retired;
                self.retired_ms = Some(now_ms);
                true
            }
        }
    }

    /// The key id (RFC 7638 thumbprint).
    pub fn kid(&self) -> &KeyId {
        &self.kid
    }

    /// The key version.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The stored (unauthenticated until [`VapidKeyRecord::open`]) public key.
    pub fn public_key(&self) -> &VapidPublicKey {
        &self.public_key
    }

    /// Current or retired.
    pub fn status(&self) -> KeyStatus {
        self.status
    }

    /// Creation time, milliseconds since the Unix epoch.
    pub fn created_ms(&self) -> u64 {
        self.created_ms
    }

    /// Retirement time, milliseconds since the Unix epoch.
    pub fn retired_ms(&self) -> Option<u64> {
        self.retired_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zeroize::Zeroizing;

    /// The known-answer vectors, shared with `tests/vapid_keys.rs`.
    const VECTORS: &str = include_str!("../../tests/vectors/vapid_rfc6979_p256.json");

    fn hex(s: &str) -> Vec<u8> {
        assert_eq!(s.len() % 2, 0);
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn vectors() -> serde_json::Value {
        serde_json::from_str(VECTORS).unwrap()
    }

    fn rfc6979_key() -> VapidSigningKey {
        let v = vectors();
        let x: [u8; 32] = hex(v["private_key_x"].as_str().unwrap()).try_into().unwrap();
        VapidSigningKey::from_scalar(Zeroizing::new(x)).unwrap()
    }

    /// RFC 6979 A.2.5: with SHA-256 the deterministic signatures of
    /// "sample" and "test" are exactly (r, s); `sign` must return r || s.
    #[test]
    fn sign_matches_rfc6979_a25_sha256() {
        let v = vectors();
        let key = rfc6979_key();
        let sigs = v["signatures"].as_array().unwrap();
        assert_eq!(sigs.len(), 2);
        for sig in sigs {
            assert_eq!(sig["hash"], "SHA-256");
            let msg = sig["message"].as_str().unwrap();
            let expected = [hex(sig["r"].as_str().unwrap()), hex(sig["s"].as_str().unwrap())].concat();
            let got = key.sign(msg.as_bytes()).unwrap();
            assert_eq!(got.to_vec(), expected, "message {msg:?}");
            // Deterministic: the same input gives the same signature.
            assert_eq!(key.sign(msg.as_bytes()).unwrap(), got);
            assert!(key.public().verify(msg.as_bytes(), &got));
            assert!(!key.public().verify(b"other", &got));
        }
    }

    /// The public key derived from the RFC 6979 scalar is (Ux, Uy).
    #[test]
    fn public_key_matches_rfc6979_a25() {
        let v = vectors();
        let expected =
            [vec![0x04], hex(v["public_key_ux"].as_str().unwrap()), hex(v["public_key_uy"].as_str().unwrap())].concat();
        assert_eq!(rfc6979_key().public().to_sec1_bytes().to_vec(), expected);
        assert_eq!(rfc6979_key().public().thumbprint().as_str(), v["jwk_thumbprint"].as_str().unwrap());
    }

    #[test]
    fn from_scalar_refuses_zero_and_order() {
        assert!(VapidSigningKey::from_scalar(Zeroizing::new([0u8; 32])).is_err());
        // n, the order of P-256 (FIPS 186-4 D.1.2.3).
        let n: [u8; 32] = hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551").try_into().unwrap();
        assert!(VapidSigningKey::from_scalar(Zeroizing::new(n)).is_err());
        let mut n_minus_1 = n;
        n_minus_1[31] -= 1;
        assert!(VapidSigningKey::from_scalar(Zeroizing::new(n_minus_1)).is_ok());
    }

    /// A sealed blob whose plaintext is not a 32-byte valid scalar is an
    /// integrity failure, even though the AEAD tag verified.
    #[test]
    fn unseal_refuses_authentic_garbage() {
        use rand_chacha::rand_core::SeedableRng;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let sk = Key256::generate(&mut rng);
        let user = UserId::parse("alice").unwrap();
        let kid = KeyId::parse("kid").unwrap();
        for pt in [vec![0u8; 32], vec![1u8; 31], vec![1u8; 33], vec![0xffu8; 32]] {
            let sealed = aead::seal(&sk, &aad::vapid_key(&user, &kid, 1), &pt, &mut rng).unwrap();
            for format in [KeyFormat::Scalar, KeyFormat::Pkcs8] {
                let got = VapidSigningKey::unseal(&sk, &user, &kid, 1, &sealed, format);
                assert_eq!(got.unwrap_err(), CoreError::Integrity);
            }
        }
        // A valid scalar sealed under a kid that is not its thumbprint.
        let sealed = aead::seal(&sk, &aad::vapid_key(&user, &kid, 1), &[1u8; 32], &mut rng).unwrap();
        let got = VapidSigningKey::unseal(&sk, &user, &kid, 1, &sealed, KeyFormat::Scalar);
        assert_eq!(got.unwrap_err(), CoreError::Integrity);
    }

    #[test]
    fn seal_refuses_foreign_kid() {
        use rand_chacha::rand_core::SeedableRng;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(8);
        let sk = Key256::generate(&mut rng);
        let key = VapidSigningKey::generate(&mut rng);
        let user = UserId::parse("alice").unwrap();
        let other = VapidSigningKey::generate(&mut rng).public().thumbprint();
        assert!(matches!(key.seal(&sk, &user, &other, 1, &mut rng), Err(CoreError::Internal(_))));
    }

    #[test]
    fn debug_is_redacted() {
        assert_eq!(format!("{:?}", rfc6979_key()), "VapidSigningKey(<redacted>)");
    }
}
