//! Where each record lives in the store. Every key of a user is under
//! `users/<user>/`, so one prefix holds all of a user's state and no key of
//! one user can name another's.

use kms_core::audit::AuditScope;
use kms_core::ids::{EnrollmentId, KeyId, UserId};
use kms_core::lease::LeaseId;
use kms_core::push::SubscriptionId;
use kms_storage::{KeyPrefix, StoreError, StoreKey};

use crate::error::{EngineError, EngineResult};

// Ids are validated to be key-safe, so building a key fails only on a bug.
fn bug(e: StoreError) -> EngineError {
    EngineError::internal(format!("store key: {e}"))
}

fn key(segments: &[&str]) -> EngineResult<StoreKey> {
    StoreKey::from_segments(segments).map_err(bug)
}

fn prefix(segments: &[&str]) -> EngineResult<KeyPrefix> {
    KeyPrefix::from_segments(segments).map_err(bug)
}

/// The user's own record.
pub fn user(u: &UserId) -> EngineResult<StoreKey> {
    key(&["users", u.as_str(), "meta"])
}

/// One enrollment.
pub fn enrollment(u: &UserId, e: &EnrollmentId) -> EngineResult<StoreKey> {
    key(&["users", u.as_str(), "enrollments", e.as_str()])
}

/// All enrollments of a user.
pub fn enrollments(u: &UserId) -> EngineResult<KeyPrefix> {
    prefix(&["users", u.as_str(), "enrollments"])
}

/// The throttle state of one enrollment.
pub fn throttle(u: &UserId, e: &EnrollmentId) -> EngineResult<StoreKey> {
    key(&["users", u.as_str(), "throttle", e.as_str()])
}

/// The throttle state of a user over all its enrollments. `all` is not an
/// enrollment id (those are 22 characters), and it sits under
/// [`throttles`] so that deleting the user erases it with the others.
pub fn user_throttle(u: &UserId) -> EngineResult<StoreKey> {
    key(&["users", u.as_str(), "throttle", "all"])
}

/// The throttle states of all enrollments of a user.
pub fn throttles(u: &UserId) -> EngineResult<KeyPrefix> {
    prefix(&["users", u.as_str(), "throttle"])
}

/// One VAPID key.
pub fn vapid_key(u: &UserId, kid: &KeyId) -> EngineResult<StoreKey> {
    key(&["users", u.as_str(), "vapid", kid.as_str()])
}

/// All VAPID keys of a user.
pub fn vapid_keys(u: &UserId) -> EngineResult<KeyPrefix> {
    prefix(&["users", u.as_str(), "vapid"])
}

/// Where a chain's records live: under the user for a user scope, under
/// `instance/` for the instance scope.
fn audit_base(scope: &AuditScope) -> Vec<&str> {
    match scope {
        AuditScope::User(u) => vec!["users", u.as_str(), "audit"],
        AuditScope::Instance => vec!["instance", "audit"],
    }
}

fn audit_key_of(scope: &AuditScope, rest: &[&str]) -> EngineResult<StoreKey> {
    let mut segs = audit_base(scope);
    segs.extend_from_slice(rest);
    key(&segs)
}

/// A chain's state (sequence number, head, current MAC key).
pub fn audit_state(scope: &AuditScope) -> EngineResult<StoreKey> {
    audit_key_of(scope, &["state"])
}

/// One page of a chain's entries (a JSON array of up to
/// [`AUDIT_PAGE_SIZE`] entries): pages keep an export to a few reads.
pub fn audit_page(scope: &AuditScope, page: u64) -> EngineResult<StoreKey> {
    audit_key_of(scope, &["page", &format!("{page:012}")])
}

/// A user chain's mark: where the engine last checked or wrote the chain
/// itself, sealed under a key from `K_0` (`kms_core::audit::integrity`).
pub fn audit_mark(scope: &AuditScope) -> EngineResult<StoreKey> {
    audit_key_of(scope, &["mark"])
}

/// A chain's counter of repeated refusals, not yet summarized in the chain
/// (`kms_core::audit::repeat`).
pub fn audit_repeat(scope: &AuditScope) -> EngineResult<StoreKey> {
    audit_key_of(scope, &["repeat"])
}

/// A chain's most recent signed checkpoints.
pub fn audit_checkpoints(scope: &AuditScope) -> EngineResult<StoreKey> {
    audit_key_of(scope, &["checkpoints"])
}

/// A chain's audit signing key (sealed for a user, in the clear for the
/// instance).
pub fn audit_signing_key(scope: &AuditScope) -> EngineResult<StoreKey> {
    audit_key_of(scope, &["key"])
}

/// Entries per audit page.
pub const AUDIT_PAGE_SIZE: u64 = 64;

/// One stored push subscription.
pub fn subscription(u: &UserId, id: &SubscriptionId) -> EngineResult<StoreKey> {
    key(&["users", u.as_str(), "subscriptions", id.as_str()])
}

/// All push subscriptions of a user.
pub fn subscriptions(u: &UserId) -> EngineResult<KeyPrefix> {
    prefix(&["users", u.as_str(), "subscriptions"])
}

/// One lease.
pub fn lease(u: &UserId, id: &LeaseId) -> EngineResult<StoreKey> {
    key(&["users", u.as_str(), "leases", id.as_str()])
}

/// All leases of a user.
pub fn leases(u: &UserId) -> EngineResult<KeyPrefix> {
    prefix(&["users", u.as_str(), "leases"])
}
