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
    /// The relay's courier public key (P-256, SEC1 uncompressed,
    /// base64url): the credential then comes back sealed to it, and the
    /// relay's token requests travel sealed (`lease_courier`), so the page
    /// that carries them reads neither.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(type = "string", optional))]
    pub relay_key: Option<crate::lease::courier::CourierPublic>,
}

/// `lease_create` result: the lease, and its credential, returned once:
/// in the clear (`credential`), or sealed to the relay's key
/// (`sealed_credential`, with the lease's `courier_key`) when the call gave
/// one.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LeaseCreateResult {
    pub lease: crate::lease::LeaseInfo,
    /// Hand this to the lease holder; the KMS does not keep it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(type = "string", optional))]
    pub credential: Option<crate::lease::LeaseCredential>,
    /// The credential sealed to `relay_key` (HPKE): only the relay opens it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub sealed_credential: Option<String>,
    /// The lease's courier public key: the relay seals its token requests
    /// to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(type = "string", optional))]
    pub courier_key: Option<crate::lease::courier::CourierPublic>,
}

/// `lease_courier` parameters: a token request the relay sealed to the
/// lease's courier key (no session; the sealed credential is the
/// authority).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct LeaseCourierParams {
    pub user: UserId,
    pub lease_id: crate::lease::LeaseId,
    pub sealed: String,
}

/// `lease_courier` result: the `lease_issue` result, sealed to the relay
/// that made the request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LeaseCourierResult {
    pub sealed: String,
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
