//! AES-256-GCM (NIST SP 800-38D) sealing with a random 96-bit nonce. A key
//! seals few messages here (one master-secret wrap, a handful of VAPID keys),
//! far below the 2^32 random-nonce limit.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

use crate::error::{CoreError, Result};
use crate::secret::Key256;

/// Length of the random nonce that starts every sealed blob.
pub const NONCE_LEN: usize = 12;
/// Length of the GCM tag that ends it.
pub const TAG_LEN: usize = 16;
/// Largest plaintext the KMS ever seals (a PKCS#8 key is ~140 bytes).
pub const MAX_PLAINTEXT: usize = 4096;

/// A sealed blob: `nonce (12) || ciphertext || tag (16)`, stored as base64url.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed(Vec<u8>);

impl Sealed {
    /// The blob as base64url, for storing in a record.
    pub fn to_b64(&self) -> String {
        crate::b64::encode(&self.0)
    }

    /// Parses a stored blob; checks only the length, authentication happens in
    /// [`open`].
    pub fn from_b64(s: &str) -> Result<Self> {
        let bytes = crate::b64::decode(s, NONCE_LEN + MAX_PLAINTEXT + TAG_LEN, "sealed")?;
        if bytes.len() < NONCE_LEN + TAG_LEN {
            return Err(CoreError::Integrity);
        }
        Ok(Self(bytes))
    }
}

impl Sealed {
    /// A blob from its nonce and `ciphertext || tag`, as another AES-GCM
    /// implementation (WebCrypto) returns them. Checks the length only.
    pub fn from_parts(nonce: &[u8; NONCE_LEN], ciphertext_and_tag: &[u8]) -> Result<Self> {
        if ciphertext_and_tag.len() < TAG_LEN || ciphertext_and_tag.len() > MAX_PLAINTEXT + TAG_LEN {
            return Err(CoreError::Internal("sealed: ciphertext length out of range".into()));
        }
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext_and_tag.len());
        out.extend_from_slice(nonce);
        out.extend_from_slice(ciphertext_and_tag);
        Ok(Self(out))
    }

    /// The nonce (the first [`NONCE_LEN`] bytes).
    pub fn nonce(&self) -> &[u8] {
        self.0.get(..NONCE_LEN).unwrap_or_default()
    }

    /// `ciphertext || tag` (everything after the nonce).
    pub fn ciphertext_and_tag(&self) -> &[u8] {
        self.0.get(NONCE_LEN..).unwrap_or_default()
    }

    /// The length of the plaintext inside.
    pub fn plaintext_len(&self) -> usize {
        self.0.len().saturating_sub(NONCE_LEN + TAG_LEN)
    }
}

/// A fresh random nonce from `rng`, for an AES-GCM implementation outside
/// this module.
pub fn fresh_nonce(rng: &mut impl CryptoRngCore) -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    nonce
}

impl serde::Serialize for Sealed {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_b64())
    }
}

impl<'de> serde::Deserialize<'de> for Sealed {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::from_b64(&s).map_err(serde::de::Error::custom)
    }
}

/// Seals `plaintext` under `key`, binding `aad`.
pub fn seal(key: &Key256, aad: &[u8], plaintext: &[u8], rng: &mut impl CryptoRngCore) -> Result<Sealed> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(CoreError::Internal("plaintext too large to seal".into()));
    }
    let cipher = Aes256Gcm::new(key.expose().into());
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let ct = cipher
        .encrypt(&Nonce::from(nonce), Payload { msg: plaintext, aad })
        .map_err(|_| CoreError::Internal("seal failed".into()))?;
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(Sealed(out))
}

/// Opens a blob sealed by [`seal`]. Any mismatch (key, AAD, altered bytes)
/// gives [`CoreError::Integrity`]; plaintext is returned only after the tag
/// verified.
pub fn open(key: &Key256, aad: &[u8], sealed: &Sealed) -> Result<Zeroizing<Vec<u8>>> {
    let (nonce, ct) = sealed.0.split_at_checked(NONCE_LEN).ok_or(CoreError::Integrity)?;
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CoreError::Integrity)?;
    let cipher = Aes256Gcm::new(key.expose().into());
    cipher.decrypt(&Nonce::from(nonce), Payload { msg: ct, aad }).map(Zeroizing::new).map_err(|_| CoreError::Integrity)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;

    #[test]
    fn open_fails_on_any_change() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let key = Key256::generate(&mut rng);
        let sealed = seal(&key, b"ctx", b"secret", &mut rng).unwrap_or(Sealed(vec![]));
        assert_eq!(open(&key, b"ctx", &sealed).map(|p| p.to_vec()), Ok(b"secret".to_vec()));
        assert_eq!(open(&key, b"other", &sealed), Err(CoreError::Integrity));
        let other = Key256::generate(&mut rng);
        assert_eq!(open(&other, b"ctx", &sealed), Err(CoreError::Integrity));
        for i in 0..sealed.0.len() {
            let mut bad = sealed.clone();
            if let Some(b) = bad.0.get_mut(i) {
                *b ^= 1;
            }
            assert_eq!(open(&key, b"ctx", &bad), Err(CoreError::Integrity), "byte {i}");
        }
    }

    #[test]
    fn from_b64_is_total() {
        assert!(Sealed::from_b64("").is_err());
        assert!(Sealed::from_b64("!!!").is_err());
        assert!(Sealed::from_b64(&"A".repeat(100_000)).is_err());
    }
}
