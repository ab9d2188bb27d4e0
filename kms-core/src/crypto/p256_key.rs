//! ECDSA P-256 keys, with nothing said about what they are for: the signing
//! key (generation, its scalar for sealing, ES256 signatures) and the public
//! key (checked parsing, SEC1 and JWK encodings, RFC 7638 thumbprint).
//!
//! The keys the KMS keeps wrap these types, one type per purpose, so that a
//! key of one purpose cannot be passed where another is expected:
//! [`crate::vapid::VapidSigningKey`] and [`crate::vapid::VapidPublicKey`]
//! (VAPID), [`crate::audit::AuditSigningKey`] and
//! [`crate::audit::AuditPublicKey`] (audit checkpoints). Sealing, records
//! and key ids of a purpose live with that purpose.

use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use p256::{FieldBytes, PublicKey};
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use zeroize::{Zeroize as _, Zeroizing};

use crate::error::{CoreError, Result};
use crate::ids::KeyId;
// Only for the doc links of `Jwk`.
#[cfg(doc)]
use crate::vapid::VapidPublicKey;

/// Length of an uncompressed SEC1 P-256 point: `0x04 || x (32) || y (32)`.
pub const SEC1_UNCOMPRESSED_LEN: usize = 65;

/// What the public parsers call the key in their errors when the caller
/// names no purpose.
const GENERIC_NAME: &str = "p-256 public key";

/// The fixed DER of a P-256 PKCS#8 `PrivateKeyInfo` (RFC 5208) around a
/// SEC1 `ECPrivateKey` (RFC 5915) that carries its public key and no
/// parameters (they are in the algorithm identifier): the form WebCrypto's
/// `exportKey`/`wrapKey('pkcs8')` gives for a P-256 key in Chromium, 138
/// bytes. Prefix, then the 32-byte scalar, then [`PKCS8_MIDDLE`], then the
/// 65-byte uncompressed public point.
const PKCS8_PREFIX: [u8; 36] = [
    0x30, 0x81, 0x87, // PrivateKeyInfo, 135 bytes
    0x02, 0x01, 0x00, // version 0
    0x30, 0x13, // AlgorithmIdentifier
    0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, // id-ecPublicKey
    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, // prime256v1
    0x04, 0x6d, // privateKey OCTET STRING, 109 bytes
    0x30, 0x6b, // ECPrivateKey, 107 bytes
    0x02, 0x01, 0x01, // version 1
    0x04, 0x20, // privateKey, 32 bytes
];
/// Between the scalar and the public point: `[1]` holding the BIT STRING.
const PKCS8_MIDDLE: [u8; 5] = [0xa1, 0x44, 0x03, 0x42, 0x00];
/// Length of [`P256SigningKey::to_pkcs8`]'s output.
pub const PKCS8_LEN: usize = PKCS8_PREFIX.len() + 32 + PKCS8_MIDDLE.len() + SEC1_UNCOMPRESSED_LEN;

/// How the plaintext of a sealed P-256 private key is laid out. Which one a
/// record holds is said by the record (its format number), never guessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    /// The 32-byte big-endian scalar: what was sealed before the crypto
    /// providers. Still read; re-sealed as [`KeyFormat::Pkcs8`] at the
    /// user's next unlock (leases keep it until they end).
    Scalar,
    /// PKCS#8 with the public key inside ([`PKCS8_LEN`] bytes): what
    /// WebCrypto opens straight into a non-extractable key
    /// (`unwrapKey('pkcs8', ...)`), so the browser never sees the scalar.
    Pkcs8,
}

/// In a stored key record, the format travels as the record's format
/// number `v`: `1` is [`KeyFormat::Scalar`], `2` is [`KeyFormat::Pkcs8`].
impl Serialize for KeyFormat {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_u32(match self {
            Self::Scalar => 1,
            Self::Pkcs8 => 2,
        })
    }
}

impl<'de> Deserialize<'de> for KeyFormat {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match u32::deserialize(d)? {
            1 => Ok(Self::Scalar),
            2 => Ok(Self::Pkcs8),
            v => Err(serde::de::Error::custom(format!("key record: unsupported format version {v} (expected 1 or 2)"))),
        }
    }
}

/// PKCS#8 of the key with scalar `scalar` and public point `public`, in a
/// buffer wiped on drop. The caller vouches that they belong together
/// (opening checks it again).
pub fn pkcs8_from_parts(scalar: &[u8; 32], public: &P256PublicKey) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(PKCS8_LEN));
    out.extend_from_slice(&PKCS8_PREFIX);
    out.extend_from_slice(scalar);
    out.extend_from_slice(&PKCS8_MIDDLE);
    out.extend_from_slice(&public.to_sec1_bytes());
    out
}

/// An ECDSA P-256 signing key.
///
/// It cannot be serialized or cloned, and `Debug` prints `<redacted>`. The
/// wrapped `p256::ecdsa::SigningKey` zeroizes its secret scalar when dropped
/// (it implements `Drop` and `ZeroizeOnDrop`), so this type needs no `Drop`
/// of its own. Its scalar leaves it only through `scalar_bytes` (inside
/// this crate), in a buffer wiped on drop, for sealing.
pub struct P256SigningKey(SigningKey);

impl std::fmt::Debug for P256SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("P256SigningKey(<redacted>)")
    }
}

impl P256SigningKey {
    /// A fresh random key. `rng` must be a CSPRNG (the platform's).
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        Self(SigningKey::random(rng))
    }

    /// Rebuilds a key from its 32-byte big-endian secret scalar, as unsealing
    /// does. Refuses zero and values not below the group order
    /// (`InvalidInput`; unsealing callers report their own error). The
    /// caller keeps, and wipes, its buffer.
    pub(crate) fn from_scalar(scalar: &[u8; 32]) -> Result<Self> {
        let bytes: &FieldBytes = scalar.into();
        SigningKey::from_bytes(bytes)
            .map(Self)
            .map_err(|_| CoreError::invalid("p-256 key: scalar is zero or not below the P-256 group order"))
    }

    /// The 32-byte big-endian secret scalar, for sealing it inside this
    /// crate. The returned buffer is wiped when it drops;
    /// [`P256SigningKey::from_scalar`] is the inverse.
    pub(crate) fn scalar_bytes(&self) -> Zeroizing<[u8; 32]> {
        let mut field = self.0.to_bytes();
        let mut out = Zeroizing::new([0u8; 32]);
        for (o, b) in out.iter_mut().zip(field.iter()) {
            *o = *b;
        }
        field.zeroize();
        out
    }

    /// The key as PKCS#8 ([`KeyFormat::Pkcs8`]), for sealing, in a buffer
    /// wiped on drop.
    pub fn to_pkcs8(&self) -> Zeroizing<Vec<u8>> {
        pkcs8_from_parts(&self.scalar_bytes(), &self.public())
    }

    /// Rebuilds a key from the plaintext of a sealed key in `format`.
    /// Anything malformed (wrong length, not DER, another curve, a scalar
    /// out of range, a PKCS#8 whose embedded public key is not the
    /// scalar's) is `InvalidInput`. The caller wipes `plaintext`.
    pub fn from_plaintext(format: KeyFormat, plaintext: &[u8]) -> Result<Self> {
        match format {
            KeyFormat::Scalar => {
                let scalar: &[u8; 32] =
                    plaintext.try_into().map_err(|_| CoreError::invalid("p-256 key: a scalar is exactly 32 bytes"))?;
                Self::from_scalar(scalar)
            }
            KeyFormat::Pkcs8 => {
                use p256::pkcs8::DecodePrivateKey as _;
                if plaintext.len() > 4 * PKCS8_LEN {
                    return Err(CoreError::invalid("p-256 key: PKCS#8 too long"));
                }
                let secret = p256::SecretKey::from_pkcs8_der(plaintext)
                    .map_err(|_| CoreError::invalid("p-256 key: not a P-256 PKCS#8 private key"))?;
                let key = Self(SigningKey::from(&secret));
                // A PKCS#8 that carries a public key must carry this one.
                if let Some(embedded) = embedded_public_key(plaintext) {
                    if embedded != key.public().to_sec1_bytes() {
                        return Err(CoreError::invalid("p-256 key: PKCS#8 public key does not match"));
                    }
                }
                Ok(key)
            }
        }
    }

    /// The public half.
    pub fn public(&self) -> P256PublicKey {
        P256PublicKey(PublicKey::from(self.0.verifying_key()))
    }

    /// ES256 (RFC 7518 section 3.4): SHA-256 of `msg`, ECDSA P-256 with the
    /// deterministic nonce of RFC 6979, and the signature as the raw 64 bytes
    /// `r || s` (big-endian, 32 bytes each) that JWS requires, not DER. `s`
    /// is as ECDSA produced it (high or low).
    ///
    /// Fails only if ECDSA produced `r = 0` or `s = 0` (probability about
    /// 2^-255); the error is `Internal`. Returning it keeps this total.
    pub fn sign(&self, msg: &[u8]) -> Result<[u8; 64]> {
        Ok(self.try_sign(msg)?.to_bytes().into())
    }

    /// [`P256SigningKey::sign`] with `s` in its low form (`s <= n/2`), the
    /// one encoding of the signature: `(r, n - s)` verifies too, and a
    /// verifier that accepts only the low form gives each signed message one
    /// valid signature.
    pub fn sign_low_s(&self, msg: &[u8]) -> Result<[u8; 64]> {
        let sig = self.try_sign(msg)?;
        Ok(sig.normalize_s().unwrap_or(sig).to_bytes().into())
    }

    fn try_sign(&self, msg: &[u8]) -> Result<Signature> {
        self.0.try_sign(msg).map_err(|_| CoreError::Internal("ecdsa signing failed".into()))
    }
}

/// The public point at the end of a PKCS#8 in the fixed layout of
/// [`pkcs8_from_parts`], when `der` has that layout.
fn embedded_public_key(der: &[u8]) -> Option<[u8; SEC1_UNCOMPRESSED_LEN]> {
    let middle_at = PKCS8_PREFIX.len() + 32;
    if der.len() != PKCS8_LEN || der.get(..PKCS8_PREFIX.len())? != PKCS8_PREFIX {
        return None;
    }
    if der.get(middle_at..middle_at + PKCS8_MIDDLE.len())? != PKCS8_MIDDLE {
        return None;
    }
    der.get(PKCS8_LEN - SEC1_UNCOMPRESSED_LEN..)?.try_into().ok()
}

/// `signature` (raw `r || s`) with `s` in its low form (`s <= n/2`). A
/// signer that cannot be asked for low-s (WebCrypto) is normalized here;
/// this is arithmetic on public values. A malformed signature is returned
/// unchanged (verification refuses it).
pub fn normalize_low_s(signature: [u8; 64]) -> [u8; 64] {
    match Signature::from_slice(&signature) {
        Ok(sig) => sig.normalize_s().map_or(signature, |low| low.to_bytes().into()),
        Err(_) => signature,
    }
}

/// `0x04 || x || y`.
fn sec1_uncompressed(x: &[u8; 32], y: &[u8; 32]) -> [u8; SEC1_UNCOMPRESSED_LEN] {
    let mut out = [0u8; SEC1_UNCOMPRESSED_LEN];
    let bytes = std::iter::once(&0x04u8).chain(x).chain(y);
    for (o, b) in out.iter_mut().zip(bytes) {
        *o = *b;
    }
    out
}

/// A P-256 public key: a point on the curve, never the identity (guaranteed
/// by `p256::PublicKey`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct P256PublicKey(PublicKey);

impl P256PublicKey {
    /// Parses the 65-byte uncompressed SEC1 point `0x04 || x || y`.
    /// Compressed points, the identity and points not on the curve are
    /// refused with `InvalidInput`.
    pub fn from_sec1_bytes(bytes: &[u8]) -> Result<Self> {
        Self::from_sec1_bytes_named(bytes, GENERIC_NAME)
    }

    /// [`P256PublicKey::from_sec1_bytes`], its errors naming the key `name`
    /// (a purpose's own parser says which key was refused).
    pub(crate) fn from_sec1_bytes_named(bytes: &[u8], name: &str) -> Result<Self> {
        if bytes.len() != SEC1_UNCOMPRESSED_LEN {
            return Err(CoreError::invalid(format!("{name}: expected a 65-byte uncompressed P-256 point")));
        }
        if bytes.first() != Some(&0x04) {
            return Err(CoreError::invalid(format!("{name}: expected an uncompressed point (first byte 0x04)")));
        }
        PublicKey::from_sec1_bytes(bytes)
            .map(Self)
            .map_err(|_| CoreError::invalid(format!("{name}: not a point on P-256")))
    }

    /// Parses the unpadded base64url of the 65-byte uncompressed point (see
    /// [`P256PublicKey::from_sec1_bytes`]).
    pub fn from_sec1_b64(s: &str) -> Result<Self> {
        Self::from_sec1_b64_named(s, GENERIC_NAME)
    }

    /// [`P256PublicKey::from_sec1_b64`], its errors naming the key `name`.
    pub(crate) fn from_sec1_b64_named(s: &str, name: &str) -> Result<Self> {
        let bytes = crate::b64::decode(s, SEC1_UNCOMPRESSED_LEN, name)?;
        Self::from_sec1_bytes_named(&bytes, name)
    }

    /// Parses a JWK (RFC 7517/7518): `kty` must be `EC`, `crv` `P-256`, and
    /// `x`, `y` 32 bytes each of unpadded base64url forming a curve point.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self> {
        Self::from_jwk_named(jwk, GENERIC_NAME)
    }

    /// [`P256PublicKey::from_jwk`], naming the key `name` when its point is
    /// refused (the JWK's own members are named `jwk`, `jwk.x`, `jwk.y`).
    pub(crate) fn from_jwk_named(jwk: &Jwk, name: &str) -> Result<Self> {
        if jwk.kty != "EC" || jwk.crv != "P-256" {
            return Err(CoreError::invalid("jwk: expected kty \"EC\" and crv \"P-256\""));
        }
        let x: [u8; 32] = crate::b64::decode_array(&jwk.x, "jwk.x")?;
        let y: [u8; 32] = crate::b64::decode_array(&jwk.y, "jwk.y")?;
        Self::from_sec1_bytes_named(&sec1_uncompressed(&x, &y), name)
    }

    /// The 65-byte uncompressed SEC1 encoding `0x04 || x || y`.
    pub fn to_sec1_bytes(&self) -> [u8; SEC1_UNCOMPRESSED_LEN] {
        let (x, y) = self.coordinates();
        sec1_uncompressed(&x, &y)
    }

    /// Unpadded base64url of [`P256PublicKey::to_sec1_bytes`].
    pub fn to_sec1_b64(&self) -> String {
        crate::b64::encode(self.to_sec1_bytes())
    }

    /// The affine coordinates `(x, y)`, 32 bytes each, big-endian.
    fn coordinates(&self) -> ([u8; 32], [u8; 32]) {
        let point = self.0.to_encoded_point(false);
        match (point.x(), point.y()) {
            (Some(x), Some(y)) => ((*x).into(), (*y).into()),
            // Unreachable: `p256::PublicKey` is never the identity, and an
            // uncompressed encoding carries both coordinates. (0, 0) is not
            // on the curve, so it could never pass for a real key.
            _ => ([0u8; 32], [0u8; 32]),
        }
    }

    /// The key as a JWK (RFC 7518 section 6.2.1).
    pub fn jwk(&self) -> Jwk {
        let (x, y) = self.coordinates();
        Jwk { kty: "EC".to_owned(), crv: "P-256".to_owned(), x: crate::b64::encode(x), y: crate::b64::encode(y) }
    }

    /// The RFC 7638 JWK thumbprint: unpadded base64url of SHA-256 over exactly
    /// `{"crv":"P-256","kty":"EC","x":"<x>","y":"<y>"}` (required members
    /// only, lexicographic order, no whitespace). This is the key's
    /// [`KeyId`]. `x` and `y` are base64url, so they need no JSON escaping.
    pub fn thumbprint(&self) -> KeyId {
        let jwk = self.jwk();
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#, jwk.x, jwk.y);
        KeyId::from_thumbprint(crate::b64::encode(Sha256::digest(canonical.as_bytes())))
    }

    /// Verifies an ES256 signature (raw `r || s`) over `msg`. False for any
    /// malformed signature (`r` or `s` zero or not below the group order).
    pub fn verify(&self, msg: &[u8], signature: &[u8; 64]) -> bool {
        let Ok(sig) = Signature::from_slice(signature) else {
            return false;
        };
        VerifyingKey::from(&self.0).verify(msg, &sig).is_ok()
    }

    /// [`P256PublicKey::verify`] that also refuses the high form of `s`
    /// (see [`P256SigningKey::sign_low_s`]): one valid signature per message.
    pub fn verify_low_s(&self, msg: &[u8], signature: &[u8; 64]) -> bool {
        match Signature::from_slice(signature) {
            Ok(sig) if sig.normalize_s().is_none() => self.verify(msg, signature),
            _ => false,
        }
    }
}

// The doc comments of `Jwk` are copied into the generated TypeScript
// (`kms-client/js/kms-rpc.d.ts`), so they name the parser a client of the
// RPC meets, the VAPID one; `P256PublicKey::from_jwk` and the audit key's
// parser check the same way.
/// A P-256 public key as a JSON Web Key (RFC 7518 section 6.2.1). Plain data:
/// turn it into a key with [`VapidPublicKey::from_jwk`], which checks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Jwk {
    /// `"EC"` (checked by [`VapidPublicKey::from_jwk`]).
    pub kty: String,
    /// `"P-256"` (checked by [`VapidPublicKey::from_jwk`]).
    pub crv: String,
    /// The x coordinate, 32 bytes, unpadded base64url.
    pub x: String,
    /// The y coordinate, 32 bytes, unpadded base64url.
    pub y: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;

    fn key(seed: u64) -> P256SigningKey {
        P256SigningKey::generate(&mut rand_chacha::ChaCha20Rng::seed_from_u64(seed))
    }

    #[test]
    fn scalar_round_trips_and_bounds_are_refused() {
        let k = key(1);
        let again = P256SigningKey::from_scalar(&k.scalar_bytes()).unwrap();
        assert_eq!(again.public(), k.public());
        assert!(P256SigningKey::from_scalar(&[0u8; 32]).is_err());
        assert!(P256SigningKey::from_scalar(&[0xffu8; 32]).is_err());
    }

    #[test]
    fn encodings_round_trip() {
        let public = key(2).public();
        assert_eq!(P256PublicKey::from_sec1_bytes(&public.to_sec1_bytes()).unwrap(), public);
        assert_eq!(P256PublicKey::from_sec1_b64(&public.to_sec1_b64()).unwrap(), public);
        assert_eq!(P256PublicKey::from_jwk(&public.jwk()).unwrap(), public);
        let err = P256PublicKey::from_sec1_bytes(&[4u8; 64]).unwrap_err();
        assert_eq!(err, CoreError::invalid("p-256 public key: expected a 65-byte uncompressed P-256 point"));
    }

    #[test]
    fn low_s_signatures_verify_and_high_s_is_refused_by_verify_low_s() {
        let k = key(3);
        for msg in [&b"a"[..], b"b", b"c", b"d", b"e", b"f", b"g", b"h"] {
            let low = k.sign_low_s(msg).unwrap();
            assert!(k.public().verify_low_s(msg, &low));
            let sig = Signature::from_slice(&low).unwrap();
            let (r, s) = sig.split_scalars();
            let high: [u8; 64] = Signature::from_scalars(r, -s).unwrap().to_bytes().into();
            assert!(k.public().verify(msg, &high));
            assert!(!k.public().verify_low_s(msg, &high));
        }
    }

    #[test]
    fn pkcs8_layout_is_the_one_p256_writes_and_reads() {
        use p256::pkcs8::EncodePrivateKey as _;
        let k = key(5);
        let ours = k.to_pkcs8();
        assert_eq!(ours.len(), PKCS8_LEN);
        let theirs = p256::SecretKey::from_bytes(&(*k.scalar_bytes()).into()).unwrap().to_pkcs8_der().unwrap();
        assert_eq!(ours.as_slice(), theirs.as_bytes(), "same DER as the p256 crate's encoder");
        let again = P256SigningKey::from_plaintext(KeyFormat::Pkcs8, &ours).unwrap();
        assert_eq!(again.public(), k.public());
        let scalar = P256SigningKey::from_plaintext(KeyFormat::Scalar, k.scalar_bytes().as_slice()).unwrap();
        assert_eq!(scalar.public(), k.public());
    }

    #[test]
    fn from_plaintext_is_total_and_checks_the_embedded_public_key() {
        let k = key(6);
        let other = key(7);
        let mismatched = pkcs8_from_parts(&k.scalar_bytes(), &other.public());
        assert!(P256SigningKey::from_plaintext(KeyFormat::Pkcs8, &mismatched).is_err());
        let good = k.to_pkcs8();
        for cut in 0..good.len() {
            let short = good.get(..cut).unwrap_or_default();
            assert!(P256SigningKey::from_plaintext(KeyFormat::Pkcs8, short).is_err(), "cut at {cut}");
        }
        assert!(P256SigningKey::from_plaintext(KeyFormat::Scalar, &good).is_err());
        assert!(P256SigningKey::from_plaintext(KeyFormat::Pkcs8, k.scalar_bytes().as_slice()).is_err());
        assert!(P256SigningKey::from_plaintext(KeyFormat::Pkcs8, &vec![0x30; 10_000]).is_err());
    }

    #[test]
    fn normalize_low_s_gives_the_low_form() {
        let k = key(8);
        let low = k.sign_low_s(b"m").unwrap();
        let sig = Signature::from_slice(&low).unwrap();
        let (r, s) = sig.split_scalars();
        let high: [u8; 64] = Signature::from_scalars(r, -s).unwrap().to_bytes().into();
        assert_eq!(normalize_low_s(high), low);
        assert_eq!(normalize_low_s(low), low);
        assert_eq!(normalize_low_s([0u8; 64]), [0u8; 64]);
    }

    #[test]
    fn debug_is_redacted() {
        assert_eq!(format!("{:?}", key(4)), "P256SigningKey(<redacted>)");
    }
}
