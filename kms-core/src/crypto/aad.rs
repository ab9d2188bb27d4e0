//! Associated data for every AEAD seal. The AAD says what a sealed blob *is*
//! (format version, purpose, owner, ids), so a blob moved to another record,
//! another user or another purpose fails to open. It is always recomputed
//! from what the caller asked for, never read back from the stored record.
//!
//! This is the only place that builds an AAD: each kind of sealed blob has a
//! [`Purpose`] and a typed constructor ([`master_wrap`], [`vapid_key`],
//! [`lease_key`], [`audit_key`], [`audit_mark`]). Their bytes are fixed by the blobs already
//! stored, and the known-answer tests below pin them.

use crate::ids::{EnrollmentId, KeyId, UserId};
use crate::lease::LeaseId;
use crate::unlock::Method;

/// The version of the AAD layout. Bump it if the layout changes.
const AAD_FORMAT: &[u8] = b"kms-aad/v1";

/// The first field of a lease-key AAD: the lease record format (`1`, as
/// u32 big-endian) that lease keys have been sealed with since leases
/// exist. It is a constant of the AAD rather than a reference to the lease
/// record's format so that these bytes cannot drift away from the stored
/// blobs; `lease::custody`'s tests check that it still equals the record
/// format.
const LEASE_KEY_RECORD_FORMAT: u32 = 1;

/// What a sealed blob is for. Each purpose has its own AAD domain: its own
/// label, distinct from every other, so two purposes never share an AAD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// An enrollment's wrap of the master secret.
    MasterWrap,
    /// A VAPID private key sealed under the user's VAPID sealing key.
    VapidKey,
    /// A VAPID private key sealed under a lease key (see the custody
    /// section of [`crate::lease`]).
    LeaseKey,
    /// A user's audit signing key sealed under the user's audit sealing key
    /// ([`crate::audit::audit_sealing_key`]).
    AuditKey,
    /// The engine's sealed chain mark: the MAC key `K_m` of a user's chain
    /// at the last point the engine verified or wrote itself
    /// ([`crate::audit::integrity`]).
    AuditMark,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Self::MasterWrap => b"master-wrap",
            Self::VapidKey => b"vapid-key",
            Self::LeaseKey => b"lease-key",
            Self::AuditKey => b"audit-key",
            Self::AuditMark => b"audit-mark",
        }
    }
}

/// Builds an AAD as length-prefixed fields: `AAD_FORMAT`, the purpose, then
/// each field in order. Length prefixes (u32, big-endian) make the encoding
/// injective: no two field lists give the same bytes.
pub fn build(purpose: Purpose, fields: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + fields.iter().map(|f| f.len() + 4).sum::<usize>());
    for f in [AAD_FORMAT, purpose.label()].iter().chain(fields.iter()) {
        // Fields are ids and labels, far below 4 GiB; saturate rather than wrap.
        let len = u32::try_from(f.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(f);
    }
    out
}

/// AAD of an enrollment's wrap of the master secret: binds format version
/// (inside `AAD_FORMAT`), user id, enrollment id and unlock method.
pub fn master_wrap(user: &UserId, enrollment_id: &EnrollmentId, method: Method) -> Vec<u8> {
    build(
        Purpose::MasterWrap,
        &[user.as_str().as_bytes(), enrollment_id.as_str().as_bytes(), method.as_str().as_bytes()],
    )
}

/// AAD of a sealed VAPID private key: binds user, key id and key version.
pub fn vapid_key(user: &UserId, kid: &KeyId, version: u32) -> Vec<u8> {
    build(Purpose::VapidKey, &[user.as_str().as_bytes(), kid.as_str().as_bytes(), &version.to_be_bytes()])
}

/// AAD of a VAPID private key sealed under a lease key: binds the lease
/// record format (always `1`, see `LEASE_KEY_RECORD_FORMAT`), the user, the
/// lease id (its text) and the kid of the sealed key.
pub fn lease_key(user: &UserId, lease: &LeaseId, kid: &KeyId) -> Vec<u8> {
    build(
        Purpose::LeaseKey,
        &[
            &LEASE_KEY_RECORD_FORMAT.to_be_bytes(),
            user.as_str().as_bytes(),
            lease.as_str().as_bytes(),
            kid.as_str().as_bytes(),
        ],
    )
}

/// AAD of a user's sealed audit signing key: binds the user and the key id.
pub fn audit_key(user: &UserId, kid: &KeyId) -> Vec<u8> {
    build(Purpose::AuditKey, &[user.as_str().as_bytes(), kid.as_str().as_bytes()])
}

/// AAD of a user's chain mark: binds the user, the mark's `seq` (u64,
/// big-endian) and the head at that point, so a mark moved to another user
/// or given another position fails to open.
pub fn audit_mark(user: &UserId, seq: u64, head: &[u8; 32]) -> Vec<u8> {
    build(Purpose::AuditMark, &[user.as_str().as_bytes(), &seq.to_be_bytes(), head])
}

/// Known answers: the exact AAD bytes of one example of each purpose, as
/// stored blobs depend on them. Computed from the code that sealed every
/// blob so far (the lease-key and audit-key bytes from the builders that
/// `lease/custody.rs` and `audit/key.rs` had before this module built
/// them); if one of these changes, existing records stop opening.
#[cfg(test)]
mod kat {
    /// `master_wrap("alice", "enr-1", "passphrase")`.
    pub(super) const MASTER_WRAP: &[u8] = b"\
        \x00\x00\x00\x0akms-aad/v1\x00\x00\x00\x0bmaster-wrap\
        \x00\x00\x00\x05alice\x00\x00\x00\x05enr-1\x00\x00\x00\x0apassphrase";

    /// `vapid_key("alice", "kid-1", 258)`: the version as 4 bytes big-endian.
    pub(super) const VAPID_KEY: &[u8] = b"\
        \x00\x00\x00\x0akms-aad/v1\x00\x00\x00\x09vapid-key\
        \x00\x00\x00\x05alice\x00\x00\x00\x05kid-1\x00\x00\x00\x04\x00\x00\x01\x02";

    /// A lease key for user `alice`, lease id `AAECAwQFBgcICQoLDA0ODw` (the
    /// bytes 0..=15) and kid `kid-1`. The field after the purpose is the
    /// lease record format, 1, as 4 bytes big-endian.
    pub(super) const LEASE_KEY: &[u8] = b"\
        \x00\x00\x00\x0akms-aad/v1\x00\x00\x00\x09lease-key\x00\x00\x00\x04\x00\x00\x00\x01\
        \x00\x00\x00\x05alice\x00\x00\x00\x16AAECAwQFBgcICQoLDA0ODw\x00\x00\x00\x05kid-1";

    /// An audit key for user `alice` and kid `kid-1`.
    pub(super) const AUDIT_KEY: &[u8] = b"\
        \x00\x00\x00\x0akms-aad/v1\x00\x00\x00\x09audit-key\
        \x00\x00\x00\x05alice\x00\x00\x00\x05kid-1";

    /// A chain mark for user `alice` at seq 258 with head 32 bytes of 0x07.
    pub(super) const AUDIT_MARK: &[u8] = b"\
        \x00\x00\x00\x0akms-aad/v1\x00\x00\x00\x0aaudit-mark\
        \x00\x00\x00\x05alice\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x01\x02\
        \x00\x00\x00\x20\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\
        \x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07";
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(s: &str) -> UserId {
        UserId::parse(s).unwrap()
    }

    fn kid(s: &str) -> KeyId {
        KeyId::parse(s).unwrap()
    }

    fn enrollment(s: &str) -> EnrollmentId {
        EnrollmentId::parse(s).unwrap()
    }

    fn lease() -> LeaseId {
        LeaseId::parse("AAECAwQFBgcICQoLDA0ODw").unwrap()
    }

    #[test]
    fn encoding_is_injective_across_field_boundaries() {
        let m = Method::Passphrase;
        assert_ne!(master_wrap(&user("ab"), &enrollment("c"), m), master_wrap(&user("a"), &enrollment("bc"), m));
        let (u, e) = (user("u"), enrollment("e"));
        assert_ne!(master_wrap(&u, &e, Method::Passphrase), master_wrap(&u, &e, Method::PasskeyPrf));
        assert_ne!(audit_key(&user("ab"), &kid("c")), audit_key(&user("a"), &kid("bc")));
        assert_ne!(build(Purpose::MasterWrap, &[b"x"]), build(Purpose::VapidKey, &[b"x"]));
    }

    #[test]
    fn every_purpose_has_its_own_label() {
        let all = [Purpose::MasterWrap, Purpose::VapidKey, Purpose::LeaseKey, Purpose::AuditKey, Purpose::AuditMark];
        for (i, a) in all.iter().enumerate() {
            for b in all.iter().skip(i + 1) {
                assert_ne!(a.label(), b.label());
            }
        }
    }

    #[test]
    fn master_wrap_matches_the_known_answer() {
        assert_eq!(master_wrap(&user("alice"), &enrollment("enr-1"), Method::Passphrase), kat::MASTER_WRAP);
    }

    #[test]
    fn vapid_key_matches_the_known_answer() {
        assert_eq!(vapid_key(&user("alice"), &kid("kid-1"), 258), kat::VAPID_KEY);
    }

    #[test]
    fn lease_key_matches_the_known_answer() {
        assert_eq!(lease_key(&user("alice"), &lease(), &kid("kid-1")), kat::LEASE_KEY);
    }

    #[test]
    fn audit_mark_matches_the_known_answer() {
        assert_eq!(audit_mark(&user("alice"), 258, &[7u8; 32]), kat::AUDIT_MARK);
    }

    #[test]
    fn audit_key_matches_the_known_answer() {
        assert_eq!(audit_key(&user("alice"), &kid("kid-1")), kat::AUDIT_KEY);
    }
}
