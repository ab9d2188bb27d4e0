//! The lease key and the sealed copy of the VAPID key it protects (see the
//! custody section of [`crate::lease`]).

use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

use super::id::LeaseId;
use super::RECORD_FORMAT;
use crate::crypto::aead::{self, Sealed};
use crate::crypto::kdf;
use crate::error::{CoreError, Result};
use crate::ids::{KeyId, UserId};
use crate::secret::Key256;
use crate::vapid::VapidSigningKey;

/// The AAD layout tag, shared with [`crate::crypto::aad`]: the layout is the
/// same (length-prefixed fields), only the purpose label differs.
const AAD_FORMAT: &[u8] = b"kms-aad/v1";

/// The AAD purpose of a VAPID key sealed under a lease key. Distinct from
/// `master-wrap` and `vapid-key`, so no other sealed blob's AAD can match.
const AAD_PURPOSE: &[u8] = b"lease-key";

/// The HKDF `info` prefix of the lease key.
const WRAP_INFO: &[u8] = b"kms/v1/lease-wrap\0";

/// The message of every refusal to open: a wrong credential and a record
/// moved to another context are indistinguishable to the caller.
pub(super) const INVALID_CREDENTIAL: &str = "invalid lease credential";

/// The refusal for a credential that does not open the lease.
pub(super) fn invalid_credential() -> CoreError {
    CoreError::Forbidden(INVALID_CREDENTIAL.to_owned())
}

/// `HKDF-SHA256(ikm = secret, salt = lease id bytes,
/// info = "kms/v1/lease-wrap\0" || user || "\0" || lease id)`. User ids
/// cannot contain NUL and lease ids are base64url, so `info` is unambiguous.
fn lease_key(secret: &[u8; 32], user: &UserId, lease_id: &LeaseId) -> Result<Key256> {
    let info = [WRAP_INFO, user.as_str().as_bytes(), b"\0", lease_id.as_str().as_bytes()].concat();
    kdf::hkdf_key(secret, lease_id.as_bytes(), &info)
}

/// The AAD of a sealed lease key: the layout of [`crate::crypto::aad::build`]
/// (each field as a u32 big-endian length and its bytes) over the format
/// tag, the purpose, the record format, the user, the lease id and the kid.
fn aad(user: &UserId, lease_id: &LeaseId, kid: &KeyId) -> Vec<u8> {
    let format = RECORD_FORMAT.to_be_bytes();
    let fields: [&[u8]; 6] = [
        AAD_FORMAT,
        AAD_PURPOSE,
        &format,
        user.as_str().as_bytes(),
        lease_id.as_str().as_bytes(),
        kid.as_str().as_bytes(),
    ];
    let mut out = Vec::with_capacity(fields.iter().map(|f| f.len() + 4).sum());
    for f in fields {
        // Ids and labels, far below 4 GiB; saturate rather than wrap.
        let len = u32::try_from(f.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(f);
    }
    out
}

/// Seals `signing_key`'s scalar under the lease key of (`secret`, `user`,
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
    let scalar = signing_key.scalar_bytes();
    aead::seal(&key, &aad(user, lease_id, kid), scalar.as_slice(), rng)
}

/// Opens a key sealed by [`seal`]. The AAD is rebuilt from the arguments.
/// A failed open is `forbidden` ([`INVALID_CREDENTIAL`]); an authentic
/// plaintext that is not a valid scalar, or whose thumbprint is not `kid`,
/// cannot come from [`seal`] and is `Integrity`.
pub(super) fn open(
    sealed: &Sealed,
    secret: &[u8; 32],
    user: &UserId,
    lease_id: &LeaseId,
    kid: &KeyId,
) -> Result<VapidSigningKey> {
    let key = lease_key(secret, user, lease_id)?;
    let plaintext = aead::open(&key, &aad(user, lease_id, kid), sealed).map_err(|_| invalid_credential())?;
    let mut scalar = Zeroizing::new([0u8; 32]);
    if plaintext.len() != scalar.len() {
        return Err(CoreError::Integrity);
    }
    for (o, b) in scalar.iter_mut().zip(plaintext.iter()) {
        *o = *b;
    }
    drop(plaintext);
    let signing_key = VapidSigningKey::from_scalar(scalar).map_err(|_| CoreError::Integrity)?;
    if signing_key.public().thumbprint() != *kid {
        return Err(CoreError::Integrity);
    }
    Ok(signing_key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::aad as shared_aad;
    use rand_chacha::rand_core::SeedableRng;

    fn ids() -> (UserId, LeaseId, KeyId) {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        (UserId::parse("alice").unwrap(), LeaseId::generate(&mut rng), KeyId::parse("kid").unwrap())
    }

    /// The local AAD has the shared layout: with the shared builder's
    /// purpose swapped for ours, the bytes are the same.
    #[test]
    fn aad_uses_the_shared_layout_with_its_own_purpose() {
        let (user, lease, kid) = ids();
        let ours = aad(&user, &lease, &kid);
        let format = RECORD_FORMAT.to_be_bytes();
        let theirs = shared_aad::build(
            shared_aad::Purpose::VapidKey,
            &[&format, user.as_str().as_bytes(), lease.as_str().as_bytes(), kid.as_str().as_bytes()],
        );
        assert_ne!(ours, theirs);
        let relabel = |v: &[u8], from: &[u8], to: &[u8]| {
            let mut from_f = (u32::try_from(from.len()).unwrap()).to_be_bytes().to_vec();
            from_f.extend_from_slice(from);
            let mut to_f = (u32::try_from(to.len()).unwrap()).to_be_bytes().to_vec();
            to_f.extend_from_slice(to);
            let pos = v.windows(from_f.len()).position(|w| w == from_f.as_slice()).unwrap();
            [&v[..pos], to_f.as_slice(), &v[pos + from_f.len()..]].concat()
        };
        assert_eq!(relabel(&theirs, b"vapid-key", AAD_PURPOSE), ours);
    }

    /// The known answer of `crate::crypto::aad` matches this module's AAD.
    #[test]
    fn aad_matches_the_known_answer() {
        let user = UserId::parse("alice").unwrap();
        let lease = LeaseId::parse("AAECAwQFBgcICQoLDA0ODw").unwrap();
        let kid = KeyId::parse("kid-1").unwrap();
        assert_eq!(aad(&user, &lease, &kid), shared_aad::kat::LEASE_KEY);
    }

    #[test]
    fn aad_and_key_bind_every_field() {
        let (user, lease, kid) = ids();
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(4);
        let other_lease = LeaseId::generate(&mut rng);
        let bob = UserId::parse("bob").unwrap();
        let other_kid = KeyId::parse("kie").unwrap();
        let base = aad(&user, &lease, &kid);
        assert_ne!(base, aad(&bob, &lease, &kid));
        assert_ne!(base, aad(&user, &other_lease, &kid));
        assert_ne!(base, aad(&user, &lease, &other_kid));
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
        let opened = open(&sealed, &secret, &user, &lease, &kid).unwrap();
        assert_eq!(opened.public(), key.public());
        assert_eq!(open(&sealed, &[8u8; 32], &user, &lease, &kid).unwrap_err(), invalid_credential());
        // An authentic blob whose kid is not the key's thumbprint.
        let wrong_kid = VapidSigningKey::generate(&mut rng).public().thumbprint();
        let sealed = seal(&key, &secret, &user, &lease, &wrong_kid, &mut rng).unwrap();
        assert_eq!(open(&sealed, &secret, &user, &lease, &wrong_kid).unwrap_err(), CoreError::Integrity);
    }
}
