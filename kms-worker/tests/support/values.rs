//! Values the tests build and check: ids, base64url, results, store keys,
//! snapshot diffs, PRF outputs.

use std::collections::BTreeSet;

use kms_core::ids::{CeremonyId, EnrollmentId, UserId};
use kms_core::rpc::RpcError;
use kms_core::session::SessionToken;
use kms_core::ErrorCode;
use rand_chacha::rand_core::{RngCore as _, SeedableRng as _};
use rand_chacha::ChaCha20Rng;
use serde_json::Value;

use super::Snapshot;

pub fn uid(s: &str) -> UserId {
    UserId::parse(s).expect("user id")
}

pub fn eid(s: &str) -> EnrollmentId {
    EnrollmentId::parse(s).expect("enrollment id")
}

pub fn cid(s: &str) -> CeremonyId {
    CeremonyId::parse(s).expect("ceremony id")
}

pub fn token(s: &str) -> SessionToken {
    SessionToken::parse(s).expect("session token")
}

/// base64url, from the workspace's test support.
pub use kms_core::testing::encoding::{b64, unb64};

/// The session of a `setup`/`unlock` result given as JSON.
pub fn session_of(v: &Value) -> SessionToken {
    token(v["session"].as_str().expect("session in result"))
}

/// Asserts `r` is an error with `code`, and returns the error.
#[track_caller]
pub fn expect_code(r: Result<Value, RpcError>, code: ErrorCode) -> RpcError {
    match r {
        Ok(v) => panic!("expected {code}, got success {v}"),
        Err(e) => {
            assert_eq!(e.code, code, "expected {code}, got {e}");
            e
        }
    }
}

/// Keys that were added, removed or changed between two snapshots.
pub fn changed_keys(before: &Snapshot, after: &Snapshot) -> BTreeSet<String> {
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    keys.into_iter().filter(|k| before.get(*k) != after.get(*k)).cloned().collect()
}

/// The store keys of one user's records.
pub fn user_key(user: &str) -> String {
    format!("users/{user}/meta")
}
pub fn enrollment_key(user: &str, eid: &str) -> String {
    format!("users/{user}/enrollments/{eid}")
}
pub fn throttle_key(user: &str, eid: &str) -> String {
    format!("users/{user}/throttle/{eid}")
}
/// The user-wide throttle record (failures over all enrollments).
pub fn user_throttle_key(user: &str) -> String {
    format!("users/{user}/throttle/all")
}
/// What a failed unlock of `eid` writes (besides the audit log): both counts.
pub fn failure_keys(user: &str, eid: &str) -> Vec<String> {
    let mut keys = vec![throttle_key(user, eid), user_throttle_key(user)];
    keys.sort();
    keys
}
pub fn vapid_key(user: &str, kid: &str) -> String {
    format!("users/{user}/vapid/{kid}")
}

/// A deterministic, non-zero 32-byte "PRF output" for tests.
pub fn prf_bytes(tag: u8) -> [u8; 32] {
    let mut out = [0u8; 32];
    ChaCha20Rng::seed_from_u64(u64::from(tag) + 0x5052_4600).fill_bytes(&mut out);
    out
}

/// Whether a store key belongs to an audit chain.
pub fn is_audit_key(key: &str) -> bool {
    key.starts_with("instance/audit/") || (key.starts_with("users/") && key.split('/').nth(2) == Some("audit"))
}
