//! Every RPC method: its name, its parameters and its result. The `Call`
//! enum is the closed set of methods; anything else is refused at decoding.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::error::{sanitize_serde_error, RpcError};

use crate::env::UnixMillis;
use crate::ids::{CeremonyId, EnrollmentId, UserId};
use crate::secret::{Passphrase, PrfOutput};
use crate::session::SessionToken;
use crate::unlock::EnrollmentInfo;
use crate::vapid::{JwtRequest, SignedJwt, VapidPublicInfo};

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
    AuditExport(SessionParams),
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
    /// Deletes a user for good: every secret and delegation is erased, a
    /// tombstone stays so the id is never reused. Needs a session and the
    /// user id repeated in `confirm`.
    UserDelete(UserDeleteParams),
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
    "user_delete",
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
            "user_delete" => Self::UserDelete(p(method, params)?),
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
            Self::UserDelete(_) => "user_delete",
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

/// What unlocks an enrollment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum UnlockCredential {
    Passphrase {
        passphrase: Passphrase,
    },
    PasskeyPrf {
        /// base64url credential id (selects the enrollment).
        credential_id: String,
        /// base64url of `prf.results.first` for the enrollment's salt.
        prf_output: PrfOutput,
    },
    PasskeyGate {
        /// The ceremony from `gate_begin`.
        ceremony_id: CeremonyId,
        /// The browser's `PublicKeyCredential.toJSON()` of the assertion.
        // TypeScript: webauthn-rs-proto has no `TS` impl; the W3C
        // `AuthenticationResponseJSON` is declared by the generator
        // (`kms-client/tests/ts_types.rs`) from a mirror checked against it.
        #[cfg_attr(feature = "ts", ts(type = "AuthenticationResponseJSON"))]
        assertion: Box<webauthn_rs_proto::PublicKeyCredential>,
    },
}

/// `unlock` parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct UnlockParams {
    pub user: UserId,
    /// Which enrollment; optional when the credential identifies it (the
    /// single passphrase enrollment, a PRF credential id, a gate ceremony).
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub enrollment_id: Option<EnrollmentId>,
    pub credential: UnlockCredential,
}

/// `gate_begin` parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct GateBeginParams {
    pub user: UserId,
    /// Optional when the user has exactly one gate enrollment.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub enrollment_id: Option<EnrollmentId>,
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

/// `sign_jwt` parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct SignJwtParams {
    pub user: UserId,
    pub session: SessionToken,
    pub claims: JwtRequest,
}

// ---- results ----

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
}

/// `setup` and `unlock` result: a new session.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SessionResult {
    pub user: UserId,
    pub session: SessionToken,
    pub expires_ms: UnixMillis,
    /// The enrollment that was created (setup) or used (unlock).
    pub enrollment: EnrollmentInfo,
    /// True when the unlock re-wrapped an old record at the current cost.
    #[serde(default)]
    pub rewrapped: bool,
}

/// `session_status` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SessionStatus {
    pub expires_ms: UnixMillis,
}

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

/// `prf_begin` result: the salt to pass as `prf.eval.first` (base64url).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PrfBeginResult {
    pub ceremony_id: CeremonyId,
    pub prf_salt: String,
    pub expires_ms: UnixMillis,
}

/// `gate_begin` result: what `navigator.credentials.get` needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct GateBeginResult {
    pub ceremony_id: CeremonyId,
    pub enrollment_id: EnrollmentId,
    /// base64url challenge.
    pub challenge: String,
    pub rp_id: String,
    /// base64url credential id for `allowCredentials`.
    pub credential_id: String,
    pub expires_ms: UnixMillis,
}

/// `remove_enrollment` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RemoveResult {
    pub removed: EnrollmentId,
    pub remaining: usize,
}

/// `vapid_public` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct VapidKeys {
    pub current: Option<VapidPublicInfo>,
    pub retired: Vec<VapidPublicInfo>,
}

/// `vapid_rotate` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RotateResult {
    pub current: VapidPublicInfo,
    pub retired: VapidPublicInfo,
    /// Push subscriptions are bound to the key they were made with: every
    /// subscription made with `retired` must be made again with `current`.
    pub resubscribe_required: bool,
    pub note: String,
    /// The stored subscriptions made with the retired key.
    #[serde(default)]
    pub affected_subscriptions: Vec<crate::push::SubscriptionId>,
    /// The active leases bound to the retired key: refused from now on
    /// (`lease_key_rotated`); grant new ones.
    #[serde(default)]
    pub affected_leases: Vec<crate::lease::LeaseId>,
}

/// `subscription_add` parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct SubscriptionAddParams {
    pub user: UserId,
    pub session: SessionToken,
    /// The browser's `PushSubscription.toJSON()`.
    pub subscription: crate::push::PushSubscription,
}

/// `subscription_remove` parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct SubscriptionRemoveParams {
    pub user: UserId,
    pub session: SessionToken,
    pub id: crate::push::SubscriptionId,
}

/// `subscription_list` result.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SubscriptionList {
    pub subscriptions: Vec<crate::push::SubscriptionInfo>,
}

/// `subscription_remove` result.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SubscriptionRemoveResult {
    pub removed: crate::push::SubscriptionId,
    /// Active leases that named this subscription's push service and have no
    /// other subscription there now.
    pub affected_leases: Vec<crate::lease::LeaseId>,
}

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

/// `lease_issue` result.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LeaseIssueResult {
    pub tokens: Vec<SignedJwt>,
    pub lease: crate::lease::LeaseInfo,
}

/// `user_delete` parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct UserDeleteParams {
    pub user: UserId,
    pub session: SessionToken,
    /// The user id again: deletion cannot be undone, so a caller must say
    /// which user it means twice.
    pub confirm: String,
}

/// `user_delete` result.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct UserDeleteResult {
    pub user: UserId,
    pub deleted_ms: UnixMillis,
    /// Leases that were active and are now gone (their relays get
    /// `user_deleted`).
    pub leases_revoked: Vec<crate::lease::LeaseId>,
    /// How many push subscriptions were erased.
    pub subscriptions_removed: u64,
    /// The signed checkpoint over the user's audit chain, ending with the
    /// `user_delete` entry.
    pub final_checkpoint: crate::audit::Checkpoint,
    /// The user's whole audit log as an export (`docs/audit-format.md`)
    /// that ends with the deletion and `final_checkpoint`: the last one
    /// anybody can make, since no session can be opened any more.
    pub export: String,
}

/// `audit_verify` parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct AuditVerifyParams {
    /// The export, as written by `audit_export` (JSON Lines).
    pub export: String,
    /// The audit public key the verifier expects (JWK JSON or base64url
    /// SEC1); without it, the key in the export's header is trusted.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub expected_public_key: Option<String>,
    /// Checkpoints the verifier saw before: a rollback or a fork against any
    /// of them is detected.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub expected_checkpoints: Vec<crate::audit::Checkpoint>,
}

/// `audit_export` result.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AuditExportResult {
    /// The export (JSON Lines, `docs/audit-format.md`).
    pub export: String,
    pub entries: u64,
    /// The fresh checkpoint the export ends with: keep it to detect a later
    /// rollback.
    pub checkpoint: crate::audit::Checkpoint,
}

/// `sign_jwt` result.
pub type SignJwtResult = SignedJwt;

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
        assert_eq!(METHOD_NAMES.len(), 26);
    }
}
