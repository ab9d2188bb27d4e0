//! Where each record lives in the store. Every key of a user is under
//! `users/<user>/`, so one prefix holds all of a user's state and no key of
//! one user can name another's.

use kms_core::audit::AuditScope;
use kms_core::ids::{EnrollmentId, KeyId, UserId};
use kms_core::lease::LeaseId;
use kms_core::push::SubscriptionId;
use kms_core::rpc::RpcError;
use kms_core::ErrorCode;
use kms_storage::{KeyPrefix, StoreKey};

fn key(segments: &[&str]) -> Result<StoreKey, RpcError> {
    // Ids are validated to be key-safe, so this fails only on a bug.
    StoreKey::from_segments(segments).map_err(|e| RpcError::new(ErrorCode::Internal, format!("store key: {e}")))
}

/// The user's own record.
pub fn user(u: &UserId) -> Result<StoreKey, RpcError> {
    key(&["users", u.as_str(), "meta"])
}

/// One enrollment.
pub fn enrollment(u: &UserId, e: &EnrollmentId) -> Result<StoreKey, RpcError> {
    key(&["users", u.as_str(), "enrollments", e.as_str()])
}

/// All enrollments of a user.
pub fn enrollments(u: &UserId) -> Result<KeyPrefix, RpcError> {
    KeyPrefix::from_segments(&["users", u.as_str(), "enrollments"])
        .map_err(|e| RpcError::new(ErrorCode::Internal, format!("store key: {e}")))
}

/// The throttle state of one enrollment.
pub fn throttle(u: &UserId, e: &EnrollmentId) -> Result<StoreKey, RpcError> {
    key(&["users", u.as_str(), "throttle", e.as_str()])
}

/// The throttle states of all enrollments of a user.
pub fn throttles(u: &UserId) -> Result<KeyPrefix, RpcError> {
    KeyPrefix::from_segments(&["users", u.as_str(), "throttle"])
        .map_err(|e| RpcError::new(ErrorCode::Internal, format!("store key: {e}")))
}

/// One VAPID key.
pub fn vapid_key(u: &UserId, kid: &KeyId) -> Result<StoreKey, RpcError> {
    key(&["users", u.as_str(), "vapid", kid.as_str()])
}

/// All VAPID keys of a user.
pub fn vapid_keys(u: &UserId) -> Result<KeyPrefix, RpcError> {
    KeyPrefix::from_segments(&["users", u.as_str(), "vapid"])
        .map_err(|e| RpcError::new(ErrorCode::Internal, format!("store key: {e}")))
}

/// Where a chain's records live: under the user for a user scope, under
/// `instance/` for the instance scope.
fn audit_base(scope: &AuditScope) -> Vec<&str> {
    match scope {
        AuditScope::User(u) => vec!["users", u.as_str(), "audit"],
        AuditScope::Instance => vec!["instance", "audit"],
    }
}

fn audit_key_of(scope: &AuditScope, rest: &[&str]) -> Result<StoreKey, RpcError> {
    let mut segs = audit_base(scope);
    segs.extend_from_slice(rest);
    key(&segs)
}

/// A chain's state (sequence number, head, current MAC key).
pub fn audit_state(scope: &AuditScope) -> Result<StoreKey, RpcError> {
    audit_key_of(scope, &["state"])
}

/// One page of a chain's entries (a JSON array of up to
/// [`AUDIT_PAGE_SIZE`] entries): pages keep an export to a few reads.
pub fn audit_page(scope: &AuditScope, page: u64) -> Result<StoreKey, RpcError> {
    audit_key_of(scope, &["page", &format!("{page:012}")])
}

/// A chain's most recent signed checkpoints.
pub fn audit_checkpoints(scope: &AuditScope) -> Result<StoreKey, RpcError> {
    audit_key_of(scope, &["checkpoints"])
}

/// A chain's audit signing key (sealed for a user, in the clear for the
/// instance).
pub fn audit_signing_key(scope: &AuditScope) -> Result<StoreKey, RpcError> {
    audit_key_of(scope, &["key"])
}

/// Entries per audit page.
pub const AUDIT_PAGE_SIZE: u64 = 64;

/// One stored push subscription.
pub fn subscription(u: &UserId, id: &SubscriptionId) -> Result<StoreKey, RpcError> {
    key(&["users", u.as_str(), "subscriptions", id.as_str()])
}

/// All push subscriptions of a user.
pub fn subscriptions(u: &UserId) -> Result<KeyPrefix, RpcError> {
    KeyPrefix::from_segments(&["users", u.as_str(), "subscriptions"])
        .map_err(|e| RpcError::new(ErrorCode::Internal, format!("store key: {e}")))
}

/// One lease.
pub fn lease(u: &UserId, id: &LeaseId) -> Result<StoreKey, RpcError> {
    key(&["users", u.as_str(), "leases", id.as_str()])
}

/// All leases of a user.
pub fn leases(u: &UserId) -> Result<KeyPrefix, RpcError> {
    KeyPrefix::from_segments(&["users", u.as_str(), "leases"])
        .map_err(|e| RpcError::new(ErrorCode::Internal, format!("store key: {e}")))
}
