//! Every RPC method: its name, its parameters and its result. The `Call`
//! enum is the closed set of methods; anything else is refused at decoding.
//!
//! This file holds [`Call`], the method names and the decoding, and the
//! parameter types several domains share ([`Empty`], [`UserParams`],
//! [`SessionParams`]); each domain's own parameters and results live in a
//! file of their own, named after the engine module that runs them.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::error::{sanitize_serde_error, RpcError};

use crate::ids::UserId;
use crate::session::SessionToken;

// One file per domain, as `kms-worker`'s engine splits the methods; every
// type is re-exported here, so `kms_core::rpc::methods::X` and
// `kms_core::rpc::X` stay the paths.
mod audit;
mod delete;
mod enrollments;
mod lease;
mod subscription;
mod unlock;
mod users;
mod vapid;

pub use audit::{AuditExportParams, AuditExportResult, AuditVerifyParams};
pub use delete::{UserDeleteParams, UserDeleteResult};
pub use enrollments::{
    AddEnrollmentParams, ChangePassphraseParams, EnrollmentList, RekeyCredential, RekeyParams, RekeyResult,
    RekeyRewrap, RemoveEnrollmentParams, RemoveResult,
};
pub use lease::{
    LeaseCourierParams, LeaseCourierResult, LeaseCreateParams, LeaseCreateResult, LeaseExtendParams, LeaseIssueParams,
    LeaseIssueResult, LeaseList, LeaseRefParams,
};
pub use subscription::{SubscriptionAddParams, SubscriptionList, SubscriptionRemoveParams, SubscriptionRemoveResult};
pub use unlock::{
    GateBeginParams, GateBeginResult, PrfBeginResult, SessionResult, SessionStatus, UnlockCredential, UnlockParams,
};
pub use users::{InfoResult, NewEnrollment, SetupParams, StatusResult, UserState};
pub use vapid::{RotateResult, SignJwtParams, SignJwtResult, VapidKeys};

/// A request's method and parameters. Serialized as
/// `{"method": "<name>", "params": {...}}`.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = "KmsCall"))]
#[serde(tag = "method", content = "params", rename_all = "snake_case")]
pub enum Call {
    /// Public facts about this KMS (versions, policy). No session.
    Info(Empty),
    /// Creates a user with a master secret and its first enrollment; opens a
    /// session.
    Setup(SetupParams),
    /// Unlocks: opens a session.
    Unlock(UnlockParams),
    /// Ends a session.
    Lock(SessionParams),
    /// Whether a session is live, and until when.
    SessionStatus(SessionParams),
    /// The user's enrollments (public parameters only). No session.
    ListEnrollments(UserParams),
    /// Offers a PRF salt for a new passkey PRF enrollment. No session.
    PrfBegin(UserParams),
    /// Issues a gate-mode challenge to sign. No session.
    GateBegin(GateBeginParams),
    /// Adds an enrollment. Needs a session.
    AddEnrollment(AddEnrollmentParams),
    /// Removes an enrollment (never the last). Needs a session.
    RemoveEnrollment(RemoveEnrollmentParams),
    /// Re-wraps the master secret under a new passphrase. Needs a session.
    ChangePassphrase(ChangePassphraseParams),
    /// Generates the user's first VAPID key. Needs a session.
    VapidGenerate(SessionParams),
    /// Makes a new current VAPID key and retires the old one. Needs a session.
    VapidRotate(SessionParams),
    /// The user's VAPID public keys. No session.
    VapidPublic(UserParams),
    /// Signs a VAPID JWT (RFC 8292) with the current key. Needs a session.
    SignJwt(SignJwtParams),
    /// Exports the user's audit log with a fresh signed checkpoint. Needs a
    /// session.
    AuditExport(AuditExportParams),
    /// Verifies an audit export (anyone's). No session.
    AuditVerify(AuditVerifyParams),
    /// Stores a Web Push subscription, bound to the current VAPID key.
    /// Needs a session.
    SubscriptionAdd(SubscriptionAddParams),
    /// The user's subscriptions (no auth secrets). Needs a session.
    SubscriptionList(SessionParams),
    /// Removes a subscription; says which leases lose their last
    /// subscription at that push service. Needs a session.
    SubscriptionRemove(SubscriptionRemoveParams),
    /// Grants a relay a lease. Needs a session.
    LeaseCreate(LeaseCreateParams),
    /// The user's leases; cleans up long-expired ones. Needs a session.
    LeaseList(SessionParams),
    /// Revokes a lease. Needs a session.
    LeaseRevoke(LeaseRefParams),
    /// Extends a lease (never automatically). Needs a session.
    LeaseExtend(LeaseExtendParams),
    /// Issues tokens under a lease, without the user: the lease credential
    /// is the authority. No session.
    LeaseIssue(LeaseIssueParams),
    /// `lease_issue` for a request sealed by the relay to the lease's
    /// courier key, answered sealed to the relay: the page that carries
    /// both reads neither. No session.
    LeaseCourier(LeaseCourierParams),
    /// Deletes a user for good: every secret and delegation is erased, a
    /// tombstone stays so the id is never reused. Needs a session and the
    /// user id repeated in `confirm`.
    UserDelete(UserDeleteParams),
    /// Replaces the master secret after a compromise: every kept enrollment
    /// wrapped again, the others removed, the sealed keys re-sealed, a new
    /// audit MAC epoch; ends every session and opens a new one. Needs a
    /// session; in the browser, a confirmation in the KMS frame.
    Rekey(RekeyParams),
    /// Whether a user exists here and how it unlocks. No session.
    Status(UserParams),
}

/// The wire names of all methods, in declaration order.
pub const METHOD_NAMES: &[&str] = &[
    "info",
    "setup",
    "unlock",
    "lock",
    "session_status",
    "list_enrollments",
    "prf_begin",
    "gate_begin",
    "add_enrollment",
    "remove_enrollment",
    "change_passphrase",
    "vapid_generate",
    "vapid_rotate",
    "vapid_public",
    "sign_jwt",
    "audit_export",
    "audit_verify",
    "subscription_add",
    "subscription_list",
    "subscription_remove",
    "lease_create",
    "lease_list",
    "lease_revoke",
    "lease_extend",
    "lease_issue",
    "lease_courier",
    "user_delete",
    "rekey",
    "status",
];

impl Call {
    /// Builds a call from its method name and the raw JSON text of its
    /// params, parsing the params directly into their typed struct.
    pub fn from_parts(method: &str, params: &str) -> Result<Self, RpcError> {
        fn p<T: DeserializeOwned>(method: &str, params: &str) -> Result<T, RpcError> {
            serde_json::from_str(params)
                .map_err(|e| RpcError::invalid(format!("{method}: {}", sanitize_serde_error(&e))))
        }
        // Only a known method name is ever echoed back in full.
        let Some(method) = METHOD_NAMES.iter().copied().find(|m| *m == method) else {
            let shown: String = method.chars().filter(|c| c.is_ascii_graphic()).take(40).collect();
            return Err(RpcError::invalid(format!("unknown method `{shown}`")));
        };
        // serde would read a JSON array positionally into a struct; the
        // protocol has named params only.
        if !params.trim_start().starts_with('{') {
            return Err(RpcError::invalid(format!("{method}: params must be a JSON object")));
        }
        Ok(match method {
            "info" => Self::Info(p(method, params)?),
            "setup" => Self::Setup(p(method, params)?),
            "unlock" => Self::Unlock(p(method, params)?),
            "lock" => Self::Lock(p(method, params)?),
            "session_status" => Self::SessionStatus(p(method, params)?),
            "list_enrollments" => Self::ListEnrollments(p(method, params)?),
            "prf_begin" => Self::PrfBegin(p(method, params)?),
            "gate_begin" => Self::GateBegin(p(method, params)?),
            "add_enrollment" => Self::AddEnrollment(p(method, params)?),
            "remove_enrollment" => Self::RemoveEnrollment(p(method, params)?),
            "change_passphrase" => Self::ChangePassphrase(p(method, params)?),
            "vapid_generate" => Self::VapidGenerate(p(method, params)?),
            "vapid_rotate" => Self::VapidRotate(p(method, params)?),
            "vapid_public" => Self::VapidPublic(p(method, params)?),
            "sign_jwt" => Self::SignJwt(p(method, params)?),
            "audit_export" => Self::AuditExport(p(method, params)?),
            "audit_verify" => Self::AuditVerify(p(method, params)?),
            "subscription_add" => Self::SubscriptionAdd(p(method, params)?),
            "subscription_list" => Self::SubscriptionList(p(method, params)?),
            "subscription_remove" => Self::SubscriptionRemove(p(method, params)?),
            "lease_create" => Self::LeaseCreate(p(method, params)?),
            "lease_list" => Self::LeaseList(p(method, params)?),
            "lease_revoke" => Self::LeaseRevoke(p(method, params)?),
            "lease_extend" => Self::LeaseExtend(p(method, params)?),
            "lease_issue" => Self::LeaseIssue(p(method, params)?),
            "lease_courier" => Self::LeaseCourier(p(method, params)?),
            "user_delete" => Self::UserDelete(p(method, params)?),
            "rekey" => Self::Rekey(p(method, params)?),
            "status" => Self::Status(p(method, params)?),
            other => return Err(RpcError::invalid(format!("method `{other}` is listed but not dispatched"))),
        })
    }

    /// The method's wire name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Info(_) => "info",
            Self::Setup(_) => "setup",
            Self::Unlock(_) => "unlock",
            Self::Lock(_) => "lock",
            Self::SessionStatus(_) => "session_status",
            Self::ListEnrollments(_) => "list_enrollments",
            Self::PrfBegin(_) => "prf_begin",
            Self::GateBegin(_) => "gate_begin",
            Self::AddEnrollment(_) => "add_enrollment",
            Self::RemoveEnrollment(_) => "remove_enrollment",
            Self::ChangePassphrase(_) => "change_passphrase",
            Self::VapidGenerate(_) => "vapid_generate",
            Self::VapidRotate(_) => "vapid_rotate",
            Self::VapidPublic(_) => "vapid_public",
            Self::SignJwt(_) => "sign_jwt",
            Self::AuditExport(_) => "audit_export",
            Self::AuditVerify(_) => "audit_verify",
            Self::SubscriptionAdd(_) => "subscription_add",
            Self::SubscriptionList(_) => "subscription_list",
            Self::SubscriptionRemove(_) => "subscription_remove",
            Self::LeaseCreate(_) => "lease_create",
            Self::LeaseList(_) => "lease_list",
            Self::LeaseRevoke(_) => "lease_revoke",
            Self::LeaseExtend(_) => "lease_extend",
            Self::LeaseIssue(_) => "lease_issue",
            Self::LeaseCourier(_) => "lease_courier",
            Self::UserDelete(_) => "user_delete",
            Self::Rekey(_) => "rekey",
            Self::Status(_) => "status",
        }
    }
}

/// No parameters.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
// TypeScript: an object without members (`{}` would accept any value).
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(type = "Record<string, never>"))]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// Just a user.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct UserParams {
    pub user: UserId,
}

/// A user and one of its sessions.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct SessionParams {
    pub user: UserId,
    pub session: SessionToken,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_parts_knows_every_listed_method() {
        for name in METHOD_NAMES {
            // Every listed method is known: its error (if any) is about the
            // params, never "unknown method".
            if let Err(e) = Call::from_parts(name, "{}") {
                assert!(!e.message.contains("unknown method"), "{name}: {e}");
            }
        }
        assert!(Call::from_parts("nope", "{}").unwrap_err().message.contains("unknown method"));
        // An unknown method is cut to 40 printable characters, whatever else is wrong.
        let long = "x".repeat(10_000);
        let e = Call::from_parts(&long, "[]").unwrap_err();
        assert!(e.message.len() < 80, "{}", e.message);
    }

    #[test]
    fn method_names_match_variants() {
        // Every listed name must decode to a Call whose name() is that name.
        for name in METHOD_NAMES {
            let v = serde_json::json!({"method": name, "params": {}});
            if let Ok(call) = serde_json::from_value::<Call>(v) {
                assert_eq!(call.name(), *name);
            }
        }
        let info: Call = serde_json::from_value(serde_json::json!({"method": "info", "params": {}})).unwrap();
        assert_eq!(info.name(), "info");
        assert_eq!(METHOD_NAMES.len(), 29);
    }
}
