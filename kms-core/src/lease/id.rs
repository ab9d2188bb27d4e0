//! A lease's id and its relay's label.

use rand_core::CryptoRngCore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{CoreError, Result};

/// Random bytes in a lease id.
const LEASE_ID_BYTES: usize = 16;

/// Length of a lease id's text: unpadded base64url of 16 bytes.
pub const LEASE_ID_LEN: usize = 22;

/// Longest relay label, in characters (all ASCII).
pub const MAX_RELAY_LEN: usize = 64;

/// A lease's id: 16 random bytes (128 bits) as unpadded base64url, 22
/// characters of `[A-Za-z0-9_-]`.
///
/// Only the canonical encoding of 16 bytes parses, so an id has exactly one
/// spelling: it is safe as a storage key segment, and it contains no `.`,
/// which separates the parts of a [`super::LeaseCredential`]. Ids are
/// public (they appear in listings and the audit log).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
// TypeScript: a string, as the `Serialize` impl writes it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(type = "string"))]
pub struct LeaseId {
    text: String,
    bytes: [u8; LEASE_ID_BYTES],
}

impl LeaseId {
    /// A fresh random id.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut bytes = [0u8; LEASE_ID_BYTES];
        rng.fill_bytes(&mut bytes);
        Self { text: crate::b64::encode(bytes), bytes }
    }

    /// Parses an id: exactly the unpadded base64url of 16 bytes.
    pub fn parse(s: &str) -> Result<Self> {
        let refuse = || CoreError::invalid("lease_id: expected 22 base64url characters (16 bytes)");
        if s.len() != LEASE_ID_LEN {
            return Err(refuse());
        }
        let bytes: [u8; LEASE_ID_BYTES] = crate::b64::decode_array(s, "lease_id").map_err(|_| refuse())?;
        // The decoder already refuses non-zero trailing bits; re-encoding
        // makes "one spelling per id" independent of that setting.
        if crate::b64::encode(bytes) != s {
            return Err(refuse());
        }
        Ok(Self { text: s.to_owned(), bytes })
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The 16 bytes (the HKDF salt of the lease key).
    pub(super) fn as_bytes(&self) -> &[u8; LEASE_ID_BYTES] {
        &self.bytes
    }
}

impl std::fmt::Display for LeaseId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for LeaseId {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for LeaseId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The relay a lease is granted to: an id or label chosen by the user or the
/// application, shown in listings and recorded in the audit log.
///
/// 1 to [`MAX_RELAY_LEN`] printable ASCII characters (space to `~`), without
/// leading or trailing spaces. ASCII only, so that a label cannot hide
/// control characters, bidirectional overrides or look-alike letters from
/// the person reading a list of leases.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(transparent)]
pub struct RelayLabel(String);

impl RelayLabel {
    /// Parses a label (see the type's docs).
    pub fn parse(s: &str) -> Result<Self> {
        if s.is_empty() || s.len() > MAX_RELAY_LEN {
            return Err(CoreError::invalid(format!("relay: must be 1 to {MAX_RELAY_LEN} characters")));
        }
        if !s.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err(CoreError::invalid("relay: only printable ASCII characters (space to ~) are allowed"));
        }
        if s.starts_with(' ') || s.ends_with(' ') {
            return Err(CoreError::invalid("relay: must not start or end with a space"));
        }
        Ok(Self(s.to_owned()))
    }

    /// The label as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RelayLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RelayLabel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}
