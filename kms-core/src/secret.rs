//! Types that hold secret material. Each zeroizes on drop, prints as
//! `<redacted>`, and (except the caller-supplied inputs that must cross the
//! RPC boundary) cannot be serialized.

use rand_core::CryptoRngCore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{CoreError, Result};

macro_rules! redacted_debug {
    ($t:ty) => {
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($t), "(<redacted>)"))
            }
        }
    };
}

/// A user's 32-byte master secret: created once at setup, wrapped by every
/// enrollment, never stored in the clear. Every other key of the user is
/// derived from it (see [`crate::crypto::kdf::derive_subkey`]).
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct MasterSecret([u8; 32]);
redacted_debug!(MasterSecret);

impl MasterSecret {
    /// A fresh random master secret.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// Rebuilds a master secret from unwrapped bytes (which are wiped).
    pub(crate) fn from_unwrapped(mut bytes: Zeroizing<Vec<u8>>) -> Result<Self> {
        let arr: [u8; 32] = bytes.as_slice().try_into().map_err(|_| CoreError::Integrity)?;
        bytes.zeroize();
        Ok(Self(arr))
    }

    /// The raw bytes, for wrapping and key derivation inside this crate.
    pub(crate) fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// Seals the secret under an enrollment's wrapping key, binding `aad`
    /// ([`crate::crypto::aad::master_wrap`]): the native half of a crypto
    /// provider (in the browser, WebCrypto's `wrapKey('raw', ...)` makes the
    /// same bytes).
    pub fn wrap(
        &self,
        wrap_key: &Key256,
        aad: &[u8],
        rng: &mut impl CryptoRngCore,
    ) -> Result<crate::crypto::aead::Sealed> {
        crate::crypto::aead::seal(wrap_key, aad, &self.0, rng)
    }

    /// Opens a secret sealed by [`MasterSecret::wrap`]. Any failure (wrong
    /// key or AAD, altered bytes, a plaintext that is not 32 bytes) is
    /// [`CoreError::Integrity`].
    pub fn unwrap(wrap_key: &Key256, aad: &[u8], sealed: &crate::crypto::aead::Sealed) -> Result<Self> {
        Self::from_unwrapped(crate::crypto::aead::open(wrap_key, aad, sealed)?)
    }

    /// A second copy, for one operation that must not hold a borrow of the
    /// session that owns the original. Deliberately not `Clone`: every copy
    /// is explicit, and zeroized when dropped like the original.
    pub fn duplicate(&self) -> Self {
        Self(self.0)
    }
}

/// A 256-bit symmetric key (a wrapping key, a sealing key).
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct Key256(pub(crate) [u8; 32]);
redacted_debug!(Key256);

impl Key256 {
    /// A fresh random key.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    pub(crate) fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

/// A passphrase as typed by the user. It must cross the RPC boundary, so it
/// (de)serializes as a plain string, but it never prints and is wiped on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
// TypeScript: a string, as the `Serialize` impl writes it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(type = "string"))]
pub struct Passphrase(String);
redacted_debug!(Passphrase);

impl Passphrase {
    /// Wraps a passphrase.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// Its UTF-8 bytes (PBKDF2's password input).
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// Length in Unicode scalar values, as a user counts characters.
    pub fn char_len(&self) -> usize {
        self.0.chars().count()
    }
}

impl Serialize for Passphrase {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Passphrase {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d).map(Self)
    }
}

/// The 32-byte output of the WebAuthn PRF extension (`prf.results.first`),
/// carried as base64url on the wire.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
// TypeScript: a string, as the `Serialize` impl writes it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(type = "string"))]
pub struct PrfOutput(String);
redacted_debug!(PrfOutput);

impl PrfOutput {
    /// Wraps the base64url text of a PRF output.
    pub fn from_b64(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// Wraps raw PRF output bytes.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self(crate::b64::encode(bytes))
    }

    /// The 32 output bytes. Refuses anything but exactly 32 bytes, and an
    /// all-zero output (a broken or fake authenticator).
    pub fn bytes(&self) -> Result<Zeroizing<[u8; 32]>> {
        let raw = Zeroizing::new(crate::b64::decode(&self.0, 32, "prf_output")?);
        let arr: [u8; 32] =
            raw.as_slice().try_into().map_err(|_| CoreError::invalid("prf_output: expected exactly 32 bytes"))?;
        let arr = Zeroizing::new(arr);
        if arr.iter().all(|b| *b == 0) {
            return Err(CoreError::invalid("prf_output: all-zero output refused"));
        }
        Ok(arr)
    }
}

impl Serialize for PrfOutput {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PrfOutput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_print_redacted() {
        let p = Passphrase::new("correct horse battery staple");
        assert_eq!(format!("{p:?}"), "Passphrase(<redacted>)");
        let k = Key256([7u8; 32]);
        assert!(!format!("{k:?}").contains('7'));
        let prf = PrfOutput::from_bytes(&[1u8; 32]);
        assert_eq!(format!("{prf:?}"), "PrfOutput(<redacted>)");
    }

    #[test]
    fn prf_output_rejects_zero_and_wrong_length() {
        assert!(PrfOutput::from_bytes(&[0u8; 32]).bytes().is_err());
        assert!(PrfOutput::from_bytes(&[1u8; 31]).bytes().is_err());
        assert!(PrfOutput::from_bytes(&[1u8; 33]).bytes().is_err());
        assert_eq!(*PrfOutput::from_bytes(&[9u8; 32]).bytes().unwrap_or_default(), [9u8; 32]);
    }
}
