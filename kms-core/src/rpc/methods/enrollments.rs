//! Enrollments: `list_enrollments`, `add_enrollment`, `remove_enrollment`,
//! `change_passphrase`, as `kms-worker`'s `engine/enrollments.rs` runs them.

use serde::{Deserialize, Serialize};

use super::NewEnrollment;

use crate::ids::{EnrollmentId, UserId};
use crate::secret::Passphrase;
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
