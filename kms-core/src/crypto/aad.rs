//! Associated data for every AEAD seal. The AAD says what a sealed blob *is*
//! (format version, purpose, owner, ids), so a blob moved to another record,
//! another user or another purpose fails to open. It is always recomputed
//! from what the caller asked for, never read back from the stored record.

/// The version of the AAD layout. Bump it if the layout changes.
const AAD_FORMAT: &[u8] = b"kms-aad/v1";

/// What a sealed blob is for. Each purpose has its own AAD domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// An enrollment's wrap of the master secret.
    MasterWrap,
    /// A VAPID private key sealed under the user's VAPID sealing key.
    VapidKey,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Self::MasterWrap => b"master-wrap",
            Self::VapidKey => b"vapid-key",
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
pub fn master_wrap(user: &str, enrollment_id: &str, method: &str) -> Vec<u8> {
    build(Purpose::MasterWrap, &[user.as_bytes(), enrollment_id.as_bytes(), method.as_bytes()])
}

/// AAD of a sealed VAPID private key: binds user, key id and key version.
pub fn vapid_key(user: &str, kid: &str, version: u32) -> Vec<u8> {
    build(Purpose::VapidKey, &[user.as_bytes(), kid.as_bytes(), &version.to_be_bytes()])
}

/// Known answers: the exact AAD bytes of one example of each purpose, as
/// stored blobs depend on them. Computed from the code that sealed every
/// blob so far; if one of these changes, existing records stop opening.
#[cfg(test)]
pub(crate) mod kat {
    /// `master_wrap("alice", "enr-1", "passphrase")`.
    pub(crate) const MASTER_WRAP: &[u8] = b"\
        \x00\x00\x00\x0akms-aad/v1\x00\x00\x00\x0bmaster-wrap\
        \x00\x00\x00\x05alice\x00\x00\x00\x05enr-1\x00\x00\x00\x0apassphrase";

    /// `vapid_key("alice", "kid-1", 258)`: the version as 4 bytes big-endian.
    pub(crate) const VAPID_KEY: &[u8] = b"\
        \x00\x00\x00\x0akms-aad/v1\x00\x00\x00\x09vapid-key\
        \x00\x00\x00\x05alice\x00\x00\x00\x05kid-1\x00\x00\x00\x04\x00\x00\x01\x02";

    /// A lease key for user `alice`, lease id `AAECAwQFBgcICQoLDA0ODw` (the
    /// bytes 0..=15) and kid `kid-1`. The field after the purpose is the
    /// lease record format, 1, as 4 bytes big-endian.
    pub(crate) const LEASE_KEY: &[u8] = b"\
        \x00\x00\x00\x0akms-aad/v1\x00\x00\x00\x09lease-key\x00\x00\x00\x04\x00\x00\x00\x01\
        \x00\x00\x00\x05alice\x00\x00\x00\x16AAECAwQFBgcICQoLDA0ODw\x00\x00\x00\x05kid-1";

    /// An audit key for user `alice` and kid `kid-1`.
    pub(crate) const AUDIT_KEY: &[u8] = b"\
        \x00\x00\x00\x0akms-aad/v1\x00\x00\x00\x09audit-key\
        \x00\x00\x00\x05alice\x00\x00\x00\x05kid-1";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_is_injective_across_field_boundaries() {
        assert_ne!(master_wrap("ab", "c", "m"), master_wrap("a", "bc", "m"));
        assert_ne!(master_wrap("u", "e", "passphrase"), master_wrap("u", "e", "passkey_prf"));
        assert_ne!(build(Purpose::MasterWrap, &[b"x"]), build(Purpose::VapidKey, &[b"x"]));
    }

    #[test]
    fn master_wrap_matches_the_known_answer() {
        assert_eq!(master_wrap("alice", "enr-1", "passphrase"), kat::MASTER_WRAP);
    }

    #[test]
    fn vapid_key_matches_the_known_answer() {
        assert_eq!(vapid_key("alice", "kid-1", 258), kat::VAPID_KEY);
    }
}
