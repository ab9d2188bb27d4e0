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
    fn debug_is_redacted() {
        assert_eq!(format!("{:?}", key(4)), "P256SigningKey(<redacted>)");
    }
}
