//! A P-256 private key sealed for storage: AES-256-GCM ([`super::aead`])
//! over its PKCS#8 ([`KeyFormat::Pkcs8`]; records from before the crypto
//! providers hold the bare scalar, [`KeyFormat::Scalar`]), with the AAD of
//! the record's purpose ([`super::aad`]). One place for every sealed key:
//! VAPID keys, audit checkpoint keys, a lease's copy of a VAPID key.
//!
//! These are the native (RustCrypto) operations; in the browser the same
//! bytes are made and opened by WebCrypto (`wrapKey`/`unwrapKey`), so a
//! store written on one platform opens on the other.

use rand_core::CryptoRngCore;
use subtle::ConstantTimeEq as _;

use super::aead::{self, Sealed};
use super::p256_key::{KeyFormat, P256PublicKey, P256SigningKey};
use crate::error::Result;
use crate::secret::Key256;

/// Why a sealed key did not open. The callers tell these apart: for a
/// lease, [`OpenError::NotAuthentic`] is a wrong credential while
/// [`OpenError::NotTheKey`] is damage no credential explains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// The AEAD refused: another key, another context (AAD), altered bytes.
    NotAuthentic,
    /// Authentic, but not a valid key in the stated format, or not the key
    /// whose public half the record names.
    NotTheKey,
}

/// Seals `key` as PKCS#8 under `sealing_key`, binding `aad`.
pub fn seal(key: &P256SigningKey, sealing_key: &Key256, aad: &[u8], rng: &mut impl CryptoRngCore) -> Result<Sealed> {
    aead::seal(sealing_key, aad, &key.to_pkcs8(), rng)
}

/// Opens a key sealed under `sealing_key` with `aad` (recomputed by the
/// caller from what it asked for, never read from storage), laid out in
/// `format`, and checks that its public half is `expected`.
pub fn open(
    sealing_key: &Key256,
    aad: &[u8],
    sealed: &Sealed,
    format: KeyFormat,
    expected: &P256PublicKey,
) -> std::result::Result<P256SigningKey, OpenError> {
    let plaintext = aead::open(sealing_key, aad, sealed).map_err(|_| OpenError::NotAuthentic)?;
    let key = P256SigningKey::from_plaintext(format, &plaintext).map_err(|_| OpenError::NotTheKey)?;
    drop(plaintext);
    if !bool::from(key.public().to_sec1_bytes().ct_eq(&expected.to_sec1_bytes())) {
        return Err(OpenError::NotTheKey);
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;

    #[test]
    fn round_trips_in_both_formats_and_refuses_the_wrong_key() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(11);
        let sk = Key256::generate(&mut rng);
        let key = P256SigningKey::generate(&mut rng);
        let other = P256SigningKey::generate(&mut rng).public();
        let sealed = seal(&key, &sk, b"ctx", &mut rng).unwrap();
        assert_eq!(open(&sk, b"ctx", &sealed, KeyFormat::Pkcs8, &key.public()).unwrap().public(), key.public());
        assert_eq!(open(&sk, b"ctx", &sealed, KeyFormat::Pkcs8, &other).unwrap_err(), OpenError::NotTheKey);
        assert_eq!(open(&sk, b"ctx", &sealed, KeyFormat::Scalar, &key.public()).unwrap_err(), OpenError::NotTheKey);
        assert_eq!(open(&sk, b"ctz", &sealed, KeyFormat::Pkcs8, &key.public()).unwrap_err(), OpenError::NotAuthentic);
        let legacy = aead::seal(&sk, b"ctx", key.scalar_bytes().as_slice(), &mut rng).unwrap();
        assert_eq!(open(&sk, b"ctx", &legacy, KeyFormat::Scalar, &key.public()).unwrap().public(), key.public());
    }
}
