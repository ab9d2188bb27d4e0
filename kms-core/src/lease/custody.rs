//! The lease key and the sealed copy of the VAPID key it protects (see the
//! custody section of [`crate::lease`]).

use rand_core::CryptoRngCore;

use super::id::LeaseId;
use crate::crypto::aead::{self, Sealed};
use crate::crypto::p256_key::KeyFormat;
use crate::crypto::{aad, kdf};
use crate::error::{CoreError, Result};
use crate::ids::{KeyId, UserId};
use crate::secret::Key256;
use crate::vapid::VapidSigningKey;

/// The HKDF `info` prefix of the lease key.
const WRAP_INFO: &[u8] = b"kms/v1/lease-wrap\0";

/// The message of every refusal to open: a wrong credential and a record
/// moved to another context are indistinguishable to the caller.
pub const INVALID_CREDENTIAL: &str = "invalid lease credential";

/// The refusal for a credential that does not open the lease.
pub fn invalid_credential() -> CoreError {
    CoreError::Forbidden(INVALID_CREDENTIAL.to_owned())
}

/// The HKDF salt and `info` of the lease key: `salt = lease id bytes`,
/// `info = "kms/v1/lease-wrap\0" || user || "\0" || lease id`. User ids
/// cannot contain NUL and lease ids are base64url, so `info` is
/// unambiguous. The input key material is the credential's 32-byte secret.
pub fn lease_key_kdf(user: &UserId, lease_id: &LeaseId) -> (Vec<u8>, Vec<u8>) {
    let info = [WRAP_INFO, user.as_str().as_bytes(), b"\0", lease_id.as_str().as_bytes()].concat();
    (lease_id.as_bytes().to_vec(), info)
}

/// The HKDF `info` prefix of the credential check.
const CHECK_INFO: &[u8] = b"kms/v1/lease-check\0";

/// The credential check of a lease: `HKDF-SHA256(ikm = secret, salt =
/// lease id bytes, info = "kms/v1/lease-check\0" || user || "\0" || lease
/// id)`, base64url. Stored in the record so that a credential is checked
/// before anything about the lease is told, even once the sealed key is
/// gone. It is not the lease key (another `info`), and a 256-bit random
/// secret cannot be found from it.
pub fn credential_check(secret: &[u8; 32], user: &UserId, lease_id: &LeaseId) -> Result<String> {
    let info = [CHECK_INFO, user.as_str().as_bytes(), b"\0", lease_id.as_str().as_bytes()].concat();
    let mut out = [0u8; 32];
    kdf::hkdf_sha256(secret, lease_id.as_bytes(), &info, &mut out)?;
    Ok(crate::b64::encode(out))
}

/// `HKDF-SHA256(ikm = secret, salt, info)` of [`lease_key_kdf`].
fn lease_key(secret: &[u8; 32], user: &UserId, lease_id: &LeaseId) -> Result<Key256> {
    let (salt, info) = lease_key_kdf(user, lease_id);
    kdf::hkdf_key(secret, &salt, &info)
}

/// Seals `signing_key` (PKCS#8) under the lease key of (`secret`, `user`,
/// `lease_id`), bound to `kid`. The caller has checked that `kid` is the
/// key's thumbprint.
pub(super) fn seal(
    signing_key: &VapidSigningKey,
    secret: &[u8; 32],
    user: &UserId,
    lease_id: &LeaseId,
    kid: &KeyId,
    rng: &mut impl CryptoRngCore,
) -> Result<Sealed> {
    let key = lease_key(secret, user, lease_id)?;
    signing_key.seal_as(&key, &aad::lease_key(user, lease_id, kid), rng)
}

/// Opens a key sealed by [`seal`] (or, `format` [`KeyFormat::Scalar`], by
/// the code before it). The AAD is rebuilt from the arguments. A failed
/// open is `forbidden` ([`INVALID_CREDENTIAL`]); an authentic plaintext that
/// is not a valid key, or whose thumbprint is not `kid`, cannot come from
/// [`seal`] and is `Integrity`.
pub(super) fn open(
    sealed: &Sealed,
    format: KeyFormat,
    secret: &[u8; 32],
    user: &UserId,
    lease_id: &LeaseId,
    kid: &KeyId,
) -> Result<VapidSigningKey> {
    let key = lease_key(secret, user, lease_id)?;
    let plaintext = aead::open(&key, &aad::lease_key(user, lease_id, kid), sealed).map_err(|_| invalid_credential())?;
    let signing_key = VapidSigningKey::from_plaintext(format, &plaintext).map_err(|_| CoreError::Integrity)?;
    drop(plaintext);
    if signing_key.public().thumbprint() != *kid {
        return Err(CoreError::Integrity);
    }
    Ok(signing_key)
}

#[cfg(test)]
mod tests {
    use super::super::RECORD_FORMAT;
    use super::*;
    use rand_chacha::rand_core::SeedableRng;

    fn ids() -> (UserId, LeaseId, KeyId) {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        (UserId::parse("alice").unwrap(), LeaseId::generate(&mut rng), KeyId::parse("kid").unwrap())
    }

    /// The lease-key AAD carries the lease record format as its first
    /// field; `crate::crypto::aad` fixes it at 1, which must stay the
    /// record format for the sealed keys of stored leases to open.
    #[test]
    fn aad_carries_the_record_format() {
        let (user, lease, kid) = ids();
        let fields: [&[u8]; 4] = [
            &RECORD_FORMAT.to_be_bytes(),
            user.as_str().as_bytes(),
            lease.as_str().as_bytes(),
            kid.as_str().as_bytes(),
        ];
        assert_eq!(aad::lease_key(&user, &lease, &kid), aad::build(aad::Purpose::LeaseKey, &fields));
    }

    #[test]
    fn aad_and_key_bind_every_field() {
        let (user, lease, kid) = ids();
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(4);
        let other_lease = LeaseId::generate(&mut rng);
        let bob = UserId::parse("bob").unwrap();
        let other_kid = KeyId::parse("kie").unwrap();
        let base = aad::lease_key(&user, &lease, &kid);
        assert_ne!(base, aad::lease_key(&bob, &lease, &kid));
        assert_ne!(base, aad::lease_key(&user, &other_lease, &kid));
        assert_ne!(base, aad::lease_key(&user, &lease, &other_kid));
        let k = |s: &[u8; 32], u: &UserId, l: &LeaseId| *lease_key(s, u, l).unwrap().expose();
        let secret = [5u8; 32];
        assert_ne!(k(&secret, &user, &lease), k(&secret, &bob, &lease));
        assert_ne!(k(&secret, &user, &lease), k(&secret, &user, &other_lease));
        assert_ne!(k(&secret, &user, &lease), k(&[6u8; 32], &user, &lease));
    }

    #[test]
    fn open_round_trips_and_checks_the_thumbprint() {
        let (user, lease, _) = ids();
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
        let key = VapidSigningKey::generate(&mut rng);
        let kid = key.public().thumbprint();
        let secret = [9u8; 32];
        let sealed = seal(&key, &secret, &user, &lease, &kid, &mut rng).unwrap();
        let pkcs8 = KeyFormat::Pkcs8;
        let opened = open(&sealed, pkcs8, &secret, &user, &lease, &kid).unwrap();
        assert_eq!(opened.public(), key.public());
        assert_eq!(open(&sealed, pkcs8, &[8u8; 32], &user, &lease, &kid).unwrap_err(), invalid_credential());
        assert_eq!(open(&sealed, KeyFormat::Scalar, &secret, &user, &lease, &kid).unwrap_err(), CoreError::Integrity);
        // An authentic blob whose kid is not the key's thumbprint.
        let wrong_kid = VapidSigningKey::generate(&mut rng).public().thumbprint();
        let sealed = seal(&key, &secret, &user, &lease, &wrong_kid, &mut rng).unwrap();
        assert_eq!(open(&sealed, pkcs8, &secret, &user, &lease, &wrong_kid).unwrap_err(), CoreError::Integrity);
    }
}
