//! Newtypes for every id the KMS hands out or accepts. Each parses once, at
//! the boundary, so a value of the type has passed its checks. All ids are
//! safe to use as a storage key segment.

use rand_core::CryptoRngCore;
use serde::{Deserialize, Deserializer, Serialize};
use subtle::ConstantTimeEq as _;

use crate::error::{CoreError, Result};

fn id_char_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+')
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS))]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Parses an id: 1 to
            #[doc = stringify!($max)]
            /// characters of `[A-Za-z0-9._@+-]`, not `.` or `..`.
            pub fn parse(s: &str) -> Result<Self> {
                if s.is_empty() || s.len() > $max {
                    return Err(CoreError::invalid(concat!($field, ": must be 1 to ", stringify!($max), " characters")));
                }
                if !s.chars().all(id_char_ok) || s == "." || s == ".." {
                    return Err(CoreError::invalid(concat!($field, ": only letters, digits and . _ - @ + are allowed")));
                }
                Ok(Self(s.to_owned()))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_id!(
    /// A user of the KMS (a tenant). Chosen by the embedding app.
    UserId, "user", 64
);
string_id!(
    /// One enrollment (passphrase or passkey) of a user. Random, 128 bits.
    EnrollmentId, "enrollment_id", 64
);
string_id!(
    /// A VAPID key's id: its RFC 7638 JWK thumbprint, base64url.
    KeyId, "kid", 64
);
string_id!(
    /// A pending WebAuthn ceremony (a gate challenge or a PRF salt offer).
    CeremonyId, "ceremony_id", 64
);

/// 16 random bytes as base64url: the form of every id the KMS generates.
fn random_id(rng: &mut impl CryptoRngCore) -> String {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    crate::b64::encode(b)
}

impl EnrollmentId {
    /// A fresh random enrollment id.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        Self(random_id(rng))
    }
}

impl CeremonyId {
    /// A fresh random ceremony id.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        Self(random_id(rng))
    }
}

impl KeyId {
    /// Wraps a thumbprint computed by [`crate::crypto::p256_key`].
    pub(crate) fn from_thumbprint(t: String) -> Self {
        Self(t)
    }

    /// Compares two key ids in constant time. Ids are public, but these
    /// comparisons gate whether a stored record is accepted, and constant
    /// time costs nothing here.
    pub(crate) fn ct_eq(&self, other: &Self) -> bool {
        bool::from(self.0.as_bytes().ct_eq(other.0.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_id_rules() {
        assert!(UserId::parse("alice@example.com").is_ok());
        assert!(UserId::parse("").is_err());
        assert!(UserId::parse("..").is_err());
        assert!(UserId::parse("a/b").is_err());
        assert!(UserId::parse(&"a".repeat(65)).is_err());
        assert!(serde_json::from_str::<UserId>("\"bad id\"").is_err());
    }
}
