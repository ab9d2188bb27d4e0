//! Enrollments: `list_enrollments`, `add_enrollment`, `remove_enrollment`,
//! `change_passphrase`, as `kms-worker`'s `engine/enrollments.rs` runs them,
//! and `rekey` (`engine/rekey.rs`), which replaces the master secret under
//! all of them.

use serde::{Deserialize, Serialize};

use super::NewEnrollment;

use crate::env::UnixMillis;
use crate::ids::{EnrollmentId, UserId};
use crate::secret::{Passphrase, PrfOutput};
use crate::session::SessionToken;
use crate::unlock::EnrollmentInfo;

/// `list_enrollments` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct EnrollmentList {
    pub enrollments: Vec<EnrollmentInfo>,
    /// Enrollments whose stored record is damaged (does not parse): they
    /// cannot unlock; remove them with `remove_enrollment`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub damaged: Vec<EnrollmentId>,
}

/// `add_enrollment` parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct AddEnrollmentParams {
    pub user: UserId,
    pub session: SessionToken,
    pub enrollment: NewEnrollment,
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub label: Option<String>,
}

/// `remove_enrollment` parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct RemoveEnrollmentParams {
    pub user: UserId,
    pub session: SessionToken,
    pub enrollment_id: EnrollmentId,
}

/// `remove_enrollment` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RemoveResult {
    pub removed: EnrollmentId,
    pub remaining: usize,
}

/// `change_passphrase` parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct ChangePassphraseParams {
    pub user: UserId,
    pub session: SessionToken,
    /// Optional when the user has exactly one passphrase enrollment.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub enrollment_id: Option<EnrollmentId>,
    pub new_passphrase: Passphrase,
}

/// `rekey` parameters: a new master secret for the user, after a
/// compromise. Every enrollment the user keeps is wrapped again, in the
/// same write, and every other one is removed: each intact enrollment must
/// be named once, in `rewrap` or in `remove`, and each damaged one in
/// `remove`. At least one enrollment must remain.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct RekeyParams {
    pub user: UserId,
    pub session: SessionToken,
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(as = "Option<Vec<RekeyRewrap>>", optional))]
    pub rewrap: Vec<RekeyRewrap>,
    /// Enrollments to remove, with the user's consent.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(as = "Option<Vec<EnrollmentId>>", optional))]
    pub remove: Vec<EnrollmentId>,
}

/// One enrollment to wrap the new master secret under.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct RekeyRewrap {
    pub enrollment_id: EnrollmentId,
    pub credential: RekeyCredential,
}

/// What wraps an enrollment again: a new passphrase (under the deployment's
/// policy, with a fresh salt; one that opens the current record is refused:
/// whoever took the copy may know it), the PRF output of the enrollment's
/// passkey for its stored salt (it must open the current record: that
/// proves it is that passkey), or, for a gate-mode passkey, nothing: the
/// engine draws a fresh gate key (naming it is the consent to keep an
/// enrollment that protects nothing at rest).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RekeyCredential {
    Passphrase { passphrase: Passphrase },
    PasskeyPrf { prf_output: PrfOutput },
    PasskeyGate {},
}

/// `rekey` result: every earlier session of the user has ended (they held
/// the old master secret); this is the new one.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RekeyResult {
    pub user: UserId,
    pub session: SessionToken,
    pub expires_ms: UnixMillis,
    /// The enrollments now, each wrapping the new master secret.
    pub enrollments: Vec<EnrollmentInfo>,
    pub removed: Vec<EnrollmentId>,
    /// VAPID and audit signing keys re-sealed under the new master secret
    /// (the keys themselves are unchanged: rotate VAPID keys beside it).
    pub resealed_keys: usize,
}
