//! The methods of a user's start ([`Call::Info`](super::Call::Info),
//! [`Call::Setup`](super::Call::Setup)), as `kms-worker`'s `engine/users.rs`
//! runs them; [`NewEnrollment`] is shared with `add_enrollment`.

use serde::{Deserialize, Serialize};

use crate::ids::{CeremonyId, UserId};
use crate::secret::{Passphrase, PrfOutput};

/// `info` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct InfoResult {
    pub protocol_version: u32,
    pub kms_version: String,
    pub pbkdf2_iterations: u32,
    pub min_passphrase_chars: usize,
    pub session_ttl_ms: u64,
    pub rp_id: String,
    pub methods: Vec<String>,
    /// In the browser, the build the KMS frame runs: the build id (SHA-256,
    /// 64 hex digits) of its bundle's `manifest.json`, added by the frame
    /// from the page it checked its code against. Absent natively.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub build: Option<String>,
}

/// `status` result: whether `user` exists here and how it unlocks, so that
/// an app can choose between `setup` and `unlock` without trying. No
/// session needed; a user of another app is `unknown`, as a missing one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct StatusResult {
    pub user: UserId,
    pub state: UserState,
    /// The methods the user's intact enrollments offer, each once, sorted
    /// by name (empty unless `set_up`).
    pub methods: Vec<crate::unlock::Method>,
    /// In the browser, whether the KMS frame holds a session of the user
    /// (added by the frame, which keeps the sessions). Absent natively.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub session: Option<bool>,
}

/// Whether a user id is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum UserState {
    /// No such user (or one of another app): `setup` creates it.
    Unknown,
    /// Set up: `unlock` with one of `methods`.
    SetUp,
    /// Deleted: the id is never set up again.
    Deleted,
}

/// A new enrollment's unlock material.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum NewEnrollment {
    Passphrase {
        passphrase: Passphrase,
    },
    /// After `prf_begin`: the browser created a credential and evaluated its
    /// PRF with the offered salt.
    PasskeyPrf {
        ceremony_id: CeremonyId,
        /// base64url credential id.
        credential_id: String,
        /// base64url of `prf.results.first`.
        prf_output: PrfOutput,
    },
    /// A passkey without PRF: its credential id and public key from
    /// registration (`getPublicKey()`: SPKI DER, or a raw SEC1 point),
    /// base64url.
    PasskeyGate {
        credential_id: String,
        public_key: String,
    },
}

/// `setup` parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct SetupParams {
    pub user: UserId,
    pub enrollment: NewEnrollment,
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub label: Option<String>,
}
