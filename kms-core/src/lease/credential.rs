//! The lease credential: the lease secret, given once to the lease holder.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

use super::id::{LeaseId, LEASE_ID_LEN};
use crate::error::{CoreError, Result};

/// The text every credential starts with (format version 1).
pub const CREDENTIAL_PREFIX: &str = "kmsl1.";

/// Bytes of the lease secret.
const SECRET_LEN: usize = 32;

/// Characters of the secret's unpadded base64url.
const SECRET_B64_LEN: usize = 43;

/// Length of a credential's text: `kmsl1.` (6), the lease id (22), `.` (1)
/// and the secret (43).
pub const CREDENTIAL_LEN: usize = CREDENTIAL_PREFIX.len() + LEASE_ID_LEN + 1 + SECRET_B64_LEN;

/// What the lease holder presents to get tokens: the lease id and the
/// 32-byte lease secret, as the text `kmsl1.<lease id>.<base64url secret>`.
///
/// The KMS never stores the secret: it returns it once, from
/// [`super::create`], and rebuilds the lease key from it on each
/// [`super::issue`] (see the custody section of [`crate::lease`]). It is a
/// bearer secret: whoever holds it can ask for tokens under the lease, and
/// together with a copy of the store it opens the VAPID key.
///
/// The secret is wiped when the value drops, `Debug` shows only the lease
/// id, there is no `Clone` and no comparison. It (de)serializes as its text
/// because it must cross the RPC boundary twice: out to the creator once,
/// and in with each issue request. [`LeaseCredential::parse`] is total.
// TypeScript: a string, as the `Serialize` impl writes it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(type = "string"))]
pub struct LeaseCredential {
    lease_id: LeaseId,
    secret: Zeroizing<[u8; SECRET_LEN]>,
}

impl std::fmt::Debug for LeaseCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseCredential")
            .field("lease_id", &self.lease_id.as_str())
            .field("secret", &format_args!("<redacted>"))
            .finish()
    }
}

impl LeaseCredential {
    /// A fresh credential for `lease_id`, with a random secret.
    pub(super) fn generate(lease_id: LeaseId, rng: &mut impl CryptoRngCore) -> Self {
        let mut secret = Zeroizing::new([0u8; SECRET_LEN]);
        rng.fill_bytes(secret.as_mut_slice());
        Self { lease_id, secret }
    }

    /// Parses `kmsl1.<lease id>.<secret>`: the prefix, a [`LeaseId`], a dot,
    /// and the canonical unpadded base64url of 32 bytes; exactly
    /// [`CREDENTIAL_LEN`] characters. Any other input is `invalid_input`
    /// with a message that does not repeat it.
    pub fn parse(s: &str) -> Result<Self> {
        let refuse = || {
            CoreError::invalid(format!(
                "lease credential: expected {CREDENTIAL_PREFIX}<lease id>.<secret> ({CREDENTIAL_LEN} characters)"
            ))
        };
        if s.len() != CREDENTIAL_LEN {
            return Err(refuse());
        }
        let rest = s.strip_prefix(CREDENTIAL_PREFIX).ok_or_else(refuse)?;
        let (id, secret_b64) = rest.split_once('.').ok_or_else(refuse)?;
        let lease_id = LeaseId::parse(id).map_err(|_| refuse())?;
        if secret_b64.len() != SECRET_B64_LEN {
            return Err(refuse());
        }
        // Decode straight into wiped buffers: no copy of the secret is left
        // behind in freed memory. The engine refuses non-zero trailing bits,
        // so each secret has one spelling.
        let mut buf = Zeroizing::new([0u8; SECRET_LEN + 3]);
        let n = URL_SAFE_NO_PAD.decode_slice(secret_b64, buf.as_mut_slice()).map_err(|_| refuse())?;
        if n != SECRET_LEN {
            return Err(refuse());
        }
        let mut secret = Zeroizing::new([0u8; SECRET_LEN]);
        for (o, b) in secret.iter_mut().zip(buf.iter()) {
            *o = *b;
        }
        Ok(Self { lease_id, secret })
    }

    /// The lease this credential is for (public: the engine looks the lease
    /// up by it).
    pub fn lease_id(&self) -> &LeaseId {
        &self.lease_id
    }

    /// The credential's text, `kmsl1.<lease id>.<secret>`, for handing it to
    /// the lease holder (the CLI prints it; the RPC response carries it
    /// through `Serialize`). This exposes the secret: never log or store it.
    pub fn dangerous_to_text(&self) -> Zeroizing<String> {
        let mut text = Zeroizing::new(String::with_capacity(CREDENTIAL_LEN));
        text.push_str(CREDENTIAL_PREFIX);
        text.push_str(self.lease_id.as_str());
        text.push('.');
        let secret_b64 = Zeroizing::new(crate::b64::encode(self.secret.as_slice()));
        text.push_str(&secret_b64);
        text
    }

    /// The secret, for rebuilding the lease key.
    pub(super) fn secret(&self) -> &[u8; SECRET_LEN] {
        &self.secret
    }

    /// A copy of the secret, wiped on drop: the input key material of the
    /// lease key, for a crypto provider (which wipes it once imported).
    pub fn key_material(&self) -> zeroize::Zeroizing<[u8; SECRET_LEN]> {
        self.secret.clone()
    }
}

impl std::str::FromStr for LeaseCredential {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl Serialize for LeaseCredential {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.dangerous_to_text())
    }
}

impl<'de> Deserialize<'de> for LeaseCredential {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = Zeroizing::new(String::deserialize(d)?);
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}
