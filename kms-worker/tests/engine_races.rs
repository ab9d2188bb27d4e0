//! Concurrent writers (two engines over one store: two CLI processes on one
//! SQLite file): every engine write carries preconditions on what it read,
//! so a change that landed in between is never silently overwritten.
//! `RacingStore` commits the other writer's change between the engine's
//! reads and its commit.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::rc::Rc;

use kms_core::rpc::{Call, RemoveEnrollmentParams, SetupParams};
use kms_core::vapid::VapidPublicInfo;
use kms_core::ErrorCode;
use kms_storage::MemoryStore;
use kms_worker::KmsConfig;
use serde_json::json;
use support::*;

fn racing(seed: u64) -> (Harness, Rc<RacingStore>) {
    let mem = Rc::new(MemoryStore::new());
    let rs = Rc::new(RacingStore::new(mem.clone()));
    (Harness::over(seed, KmsConfig::default(), rs.clone(), mem), rs)
}

#[test]
fn a_concurrent_setup_of_the_same_user_wins_and_is_kept() {
    let (mut h, rs) = racing(701);
    // The other process created alice first (its record, verbatim).
    let theirs = br#"{"v":1,"user":"alice","created_ms":1,"current_kid":null,"next_vapid_version":1}"#.to_vec();
    rs.before_next_commit(put_batch(&user_key("alice"), theirs.clone()));
    let offer = h.prf_begin("alice");
    let e = h.err(Call::Setup(SetupParams {
        user: uid("alice"),
        enrollment: kms_core::rpc::NewEnrollment::PasskeyPrf {
            ceremony_id: offer.ceremony_id,
            credential_id: b64(b"cred"),
            prf_output: kms_core::secret::PrfOutput::from_bytes(&prf_bytes(1)),
        },
        label: None,
    }));
    assert_eq!(e.code, ErrorCode::AlreadyExists, "{e}");
    assert!(!rs.armed());
    let snap = h.snapshot();
    assert_eq!(snap.keys().collect::<Vec<_>>(), vec![&user_key("alice")], "no enrollment of ours was added");
    assert_eq!(snap[&user_key("alice")], theirs);
}

#[test]
fn two_concurrent_removals_cannot_leave_a_user_without_enrollments() {
    let (mut h, rs) = racing(702);
    let a = h.setup_prf("alice", b"cred-1", &prf_bytes(1));
    let second = h.add_prf("alice", &a.session, b"cred-2", &prf_bytes(2)).unwrap();
    let second_eid = second["id"].as_str().unwrap().to_owned();

    // We remove the first while the other process removes the second.
    rs.before_next_commit(delete_batch(&enrollment_key("alice", &second_eid)));
    let e = h.err(Call::RemoveEnrollment(RemoveEnrollmentParams {
        user: uid("alice"),
        session: a.session.clone(),
        enrollment_id: a.enrollment.id.clone(),
    }));
    assert_eq!(e.code, ErrorCode::Storage, "{e}");
    assert!(e.message.contains("concurrently"), "{e}");
    // The first is still there, and still unlocks.
    assert!(h.get_raw(&enrollment_key("alice", a.enrollment.id.as_str())).is_some());
    h.unlock_prf("alice", b"cred-1", &prf_bytes(1)).expect("alice still has a way in");
}

#[test]
fn a_concurrent_key_generation_is_not_overwritten() {
    let (mut h, rs) = racing(703);
    let s = h.setup_prf("alice", b"cred", &prf_bytes(1)).session;
    // The other process changed the user record (say, it generated a key).
    let mut meta = h.record(&user_key("alice"));
    meta["next_vapid_version"] = json!(2);
    rs.before_next_commit(put_batch(&user_key("alice"), serde_json::to_vec(&meta).unwrap()));
    let e = h.err(Call::VapidGenerate(Harness::session_params("alice", &s)));
    assert_eq!(e.code, ErrorCode::Storage, "{e}");
    assert_eq!(h.record(&user_key("alice")), meta, "their user record stands");
    assert_eq!(h.snapshot().keys().filter(|k| k.contains("/vapid/")).count(), 0, "no orphan key record");

    // A concurrent rotation likewise.
    let key: VapidPublicInfo = h.ok(Call::VapidGenerate(Harness::session_params("alice", &s)));
    let old_key = vapid_key("alice", key.kid.as_str());
    let mut rec = h.record(&old_key);
    rec["created_ms"] = json!(rec["created_ms"].as_u64().unwrap() + 1);
    rs.before_next_commit(put_batch(&old_key, serde_json::to_vec(&rec).unwrap()));
    let before_meta = h.record(&user_key("alice"));
    let e = h.err(Call::VapidRotate(Harness::session_params("alice", &s)));
    assert_eq!(e.code, ErrorCode::Storage, "{e}");
    assert_eq!(h.record(&old_key), rec);
    assert_eq!(h.record(&user_key("alice")), before_meta);
}

#[test]
fn a_gate_sign_count_is_stored_with_compare_and_swap() {
    let (mut h, rs) = racing(704);
    let auth = authenticator(21);
    let setup: kms_core::rpc::SessionResult =
        h.ok(Call::Setup(SetupParams { user: uid("alice"), enrollment: auth.gate_enrollment(), label: None }));
    let key = enrollment_key("alice", setup.enrollment.id.as_str());

    // Another process accepted an assertion with counter 7 meanwhile; ours
    // (counter 5, checked against the 0 we read) must not roll it back.
    let mut theirs = h.record(&key);
    theirs["params"]["credential"]["sign_count"] = json!(7);
    rs.before_next_commit(put_batch(&key, serde_json::to_vec(&theirs).unwrap()));
    let begin = h.rpc_ok("gate_begin", json!({"user": "alice"}));
    let assertion = auth.assert(&unb64(begin["challenge"].as_str().unwrap()), 5).to_json();
    let e = h.rpc_err(
        "unlock",
        json!({"user": "alice", "credential": {"kind": "passkey_gate", "ceremony_id": begin["ceremony_id"], "assertion": assertion}}),
    );
    assert_eq!(e["code"], "storage", "{e}");
    assert_eq!(h.record(&key)["params"]["credential"]["sign_count"], json!(7));
}

#[test]
fn a_failure_that_loses_a_race_is_counted_on_top_of_the_other() {
    let (mut h, rs) = racing(707);
    let a = h.setup_prf("alice", b"cred", &prf_bytes(1));
    let throttle = throttle_key("alice", a.enrollment.id.as_str());
    // The other process recorded three failures while we checked a guess.
    let theirs = serde_json::to_vec(&json!({"failures": 3, "last_failure_ms": h.now()})).unwrap();
    rs.before_next_commit(put_batch(&throttle, theirs));
    // Our write is made again from their count: neither is lost, and the
    // caller hears what became of its attempt (not a storage conflict).
    expect_code(h.unlock_prf("alice", b"cred", &prf_bytes(9)), ErrorCode::UnlockFailed);
    assert!(!rs.armed());
    assert_eq!(h.record(&throttle)["failures"], json!(4), "their count plus ours");
    let e = expect_code(h.unlock_prf("alice", b"cred", &prf_bytes(1)), ErrorCode::Throttled);
    assert_eq!(e.retry_after_ms, Some(1000));
}

#[test]
fn a_concurrent_change_of_the_enrollment_is_not_overwritten_by_a_passphrase_change() {
    let (mut h, rs) = racing(708);
    let a = h.setup_passphrase("alice", PASS_A);
    let key = enrollment_key("alice", a.enrollment.id.as_str());
    let mut theirs = h.record(&key);
    theirs["label"] = json!("changed elsewhere");
    rs.before_next_commit(put_batch(&key, serde_json::to_vec(&theirs).unwrap()));
    let e = h.err(Call::ChangePassphrase(kms_core::rpc::ChangePassphraseParams {
        user: uid("alice"),
        session: a.session.clone(),
        enrollment_id: None,
        new_passphrase: kms_core::secret::Passphrase::new(PASS_B),
    }));
    assert_eq!(e.code, ErrorCode::Storage, "{e}");
    assert_eq!(h.record(&key), theirs);
}

#[test]
fn a_concurrent_enrollment_change_makes_an_add_conflict() {
    let (mut h, rs) = racing(709);
    let a = h.setup_prf("alice", b"cred-1", &prf_bytes(1));
    // The other process added an enrollment meanwhile: its record, and the
    // user's enrollment epoch moved on.
    let mut meta = h.record(&user_key("alice"));
    meta["enrollment_epoch"] = json!(meta["enrollment_epoch"].as_u64().unwrap_or(0) + 1);
    let theirs = h.get_raw(&enrollment_key("alice", a.enrollment.id.as_str())).unwrap();
    let mut interloper = put_batch(&user_key("alice"), serde_json::to_vec(&meta).unwrap());
    interloper.put(&kms_storage::StoreKey::new(&enrollment_key("alice", "theirs")).unwrap(), theirs).unwrap();
    rs.before_next_commit(interloper);
    let e = h.add_prf("alice", &a.session, b"cred-2", &prf_bytes(2)).unwrap_err();
    assert_eq!(e.code, ErrorCode::Storage, "{e}");
    assert_eq!(h.record(&user_key("alice")), meta);
    let ours = h.snapshot().keys().filter(|k| k.contains("/enrollments/")).count();
    assert_eq!(ours, 2, "the original and theirs, not ours");
}

#[test]
fn a_concurrent_enrollment_change_makes_a_removal_conflict() {
    let (mut h, rs) = racing(710);
    let a = h.setup_prf("alice", b"cred-1", &prf_bytes(1));
    let second = h.add_prf("alice", &a.session, b"cred-2", &prf_bytes(2)).unwrap();
    // Any other enrollment change (here: the epoch moved) makes ours retry.
    let mut meta = h.record(&user_key("alice"));
    meta["enrollment_epoch"] = json!(meta["enrollment_epoch"].as_u64().unwrap_or(0) + 1);
    rs.before_next_commit(put_batch(&user_key("alice"), serde_json::to_vec(&meta).unwrap()));
    let e = h.err(Call::RemoveEnrollment(RemoveEnrollmentParams {
        user: uid("alice"),
        session: a.session.clone(),
        enrollment_id: eid(second["id"].as_str().unwrap()),
    }));
    assert_eq!(e.code, ErrorCode::Storage, "{e}");
    assert!(h.get_raw(&enrollment_key("alice", second["id"].as_str().unwrap())).is_some());
    assert_eq!(h.record(&user_key("alice")), meta);
}

#[test]
fn an_unlock_that_loses_a_race_is_run_again_after_a_pause() {
    let (mut h, rs) = racing(741);
    let a = h.setup_passphrase("alice", PASS_A);
    let throttle = throttle_key("alice", a.enrollment.id.as_str());
    // One mistyped attempt: a throttle record the success will delete.
    expect_code(h.unlock_passphrase("alice", PASS_WRONG), ErrorCode::UnlockFailed);
    let kdf_before = h.kdf_runs();
    // Another process's failure lands between this unlock's reads and its
    // write: the first run loses the race and wrote nothing.
    let theirs = serde_json::to_vec(&json!({"failures": 2, "last_failure_ms": h.now()})).unwrap();
    rs.before_next_commit(put_batch(&throttle, theirs));
    let t = h.now();
    // Through the JSON entry point, as every client calls (the typed
    // `Kms::call` runs once).
    let r = h.rpc_ok("unlock", json!({"user": "alice", "credential": {"kind": "passphrase", "passphrase": PASS_A}}));
    assert!(r["session"].is_string());
    assert!(!rs.armed());
    // Run again from what was stored then (one more KDF), after a pause of
    // 25 to 50 ms (the test clock moves by it).
    assert_eq!(h.kdf_runs(), kdf_before + 2);
    let paused = h.now() - t;
    assert!((25..50).contains(&paused), "paused {paused} ms");
    assert_eq!(h.get_raw(&throttle), None, "the success cleared both counts");
}
