//! Leases: `lease_create`, `lease_list`, `lease_revoke`, `lease_extend`,
//! `lease_issue`, as `kms-worker`'s engine runs them (its lease module).

use serde::{Deserialize, Serialize};

use crate::ids::UserId;
use crate::session::SessionToken;
use crate::vapid::SignedJwt;

/// `lease_create` parameters. An empty `audiences` list means "the origins
/// of the user's stored subscriptions".
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct LeaseCreateParams {
    pub user: UserId,
    pub session: SessionToken,
    pub lease: crate::lease::LeaseParams,
}

/// `lease_create` result: the lease, and its credential, returned once.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LeaseCreateResult {
    pub lease: crate::lease::LeaseInfo,
    /// Hand this to the lease holder; the KMS does not keep it.
    pub credential: crate::lease::LeaseCredential,
}

/// `lease_list` result.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LeaseList {
    pub leases: Vec<crate::lease::LeaseInfo>,
    /// Leases ended more than 7 days ago that this call deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cleaned_up: Vec<crate::lease::LeaseId>,
}

/// Names one lease of a user.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct LeaseRefParams {
    pub user: UserId,
    pub session: SessionToken,
    pub lease_id: crate::lease::LeaseId,
}

/// `lease_extend` parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct LeaseExtendParams {
    pub user: UserId,
    pub session: SessionToken,
    pub lease_id: crate::lease::LeaseId,
    /// The new lifetime, counted from now (at most 30 days).
    pub lifetime_s: u64,
}

/// `lease_issue` parameters: no session, the credential is the authority.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct LeaseIssueParams {
    pub user: UserId,
    /// The lease credential (`kmsl1.…`) returned by `lease_create`.
    pub credential: crate::lease::LeaseCredential,
    pub request: crate::lease::IssueRequest,
}

/// `lease_issue` result.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LeaseIssueResult {
    pub tokens: Vec<SignedJwt>,
    pub lease: crate::lease::LeaseInfo,
}
