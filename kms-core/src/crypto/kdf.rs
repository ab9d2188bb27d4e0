//! Key derivation: PBKDF2-HMAC-SHA256 (RFC 8018) for passphrases and
//! HKDF-SHA256 (RFC 5869) for everything derived from a secret that is
//! already uniformly random.

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{CoreError, Result};
use crate::secret::{Key256, MasterSecret};

/// PBKDF2-HMAC-SHA256 with a 32-byte output.
pub fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, out.as_mut());
    out
}

/// HKDF-SHA256 (extract then expand) into `out`. Fails only when `out` is
/// longer than 255 * 32 bytes.
pub fn hkdf_sha256(ikm: &[u8], salt: &[u8], info: &[u8], out: &mut [u8]) -> Result<()> {
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, out)
        .map_err(|_| CoreError::Internal("hkdf output too long".into()))
}

/// HKDF-SHA256 to a 256-bit key.
pub fn hkdf_key(ikm: &[u8], salt: &[u8], info: &[u8]) -> Result<Key256> {
    let mut out = [0u8; 32];
    hkdf_sha256(ikm, salt, info, &mut out)?;
    Ok(Key256(out))
}

/// The HKDF salt of every subkey of a master secret.
pub const SUBKEY_SALT: &[u8] = b"kms/v1/master-subkey-salt";

/// The HKDF `info` of the subkey for `purpose` of `user`'s master secret:
/// `"kms/v1/subkey/" || purpose || 0x00 || user`.
pub fn subkey_info(user: &str, purpose: &str) -> Vec<u8> {
    [b"kms/v1/subkey/".as_slice(), purpose.as_bytes(), b"\0", user.as_bytes()].concat()
}

/// A purpose-bound subkey of a user's master secret. `purpose` names what the
/// key is for (e.g. `vapid-seal`), and `user` binds it to its owner so that
/// no two users and no two purposes ever share a key. HKDF-SHA256 with
/// [`SUBKEY_SALT`] and [`subkey_info`]; a crypto provider derives the same
/// key from its handle of the master secret.
pub fn derive_subkey(master: &MasterSecret, user: &str, purpose: &str) -> Result<Key256> {
    hkdf_key(master.expose(), SUBKEY_SALT, &subkey_info(user, purpose))
}

/// [`derive_subkey`] as bytes, in a buffer wiped on drop: for the one
/// subkey that is bytes on every platform, the audit chain's first MAC key.
pub fn derive_subkey_bytes(master: &MasterSecret, user: &str, purpose: &str) -> Result<Zeroizing<[u8; 32]>> {
    let mut out = Zeroizing::new([0u8; 32]);
    hkdf_sha256(master.expose(), SUBKEY_SALT, &subkey_info(user, purpose), out.as_mut())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2).unwrap_or("zz"), 16).unwrap_or(0)).collect()
    }

    /// RFC 5869 Appendix A.1, test case 1 (SHA-256).
    #[test]
    fn hkdf_rfc5869_case1() {
        let ikm = hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
        let salt = hex("000102030405060708090a0b0c");
        let info = hex("f0f1f2f3f4f5f6f7f8f9");
        let mut okm = [0u8; 42];
        hkdf_sha256(&ikm, &salt, &info, &mut okm).unwrap_or(());
        assert_eq!(
            okm.to_vec(),
            hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
        );
    }
}
