//! Failure atomicity: when the store fails, an operation leaves everything
//! as it was (kms-storage's `FailingStore` injects the failures).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::rc::Rc;

use kms_core::rpc::{Call, RemoveEnrollmentParams, RotateResult, SignJwtParams, UserParams, VapidKeys};
use kms_core::session::SessionToken;
use kms_core::vapid::{JwtRequest, SignedJwt, VapidPublicInfo};
use kms_core::ErrorCode;
use kms_storage::testing::{FailingStore, INJECTED_FAILURE};
use kms_storage::MemoryStore;
use kms_worker::KmsConfig;
use support::*;

/// A harness whose engine writes through a `FailingStore`.
fn failing(seed: u64) -> (Harness, Rc<FailingStore<Rc<MemoryStore>>>) {
    let mem = Rc::new(MemoryStore::new());
    let fs = Rc::new(FailingStore::new(mem.clone()));
    (Harness::over(seed, KmsConfig::default(), fs.clone(), mem), fs)
}

fn sign(h: &mut Harness, s: &SessionToken) -> Result<serde_json::Value, kms_core::rpc::RpcError> {
    let exp = h.now() / 1000 + 600;
    h.call(Call::SignJwt(SignJwtParams {
        user: uid("alice"),
        session: s.clone(),
        claims: JwtRequest {
            aud: "https://push.example.net".into(),
            sub: "mailto:a@example.com".into(),
            exp,
            jti: None,
        },
    }))
}

#[test]
fn a_setup_whose_commit_fails_leaves_no_user_behind() {
    let (mut h, fs) = failing(501);
    fs.fail_next_commit();
    let e = expect_code(
        h.call(Call::Setup(kms_core::rpc::SetupParams {
            user: uid("alice"),
            enrollment: kms_core::rpc::NewEnrollment::Passphrase {
                passphrase: kms_core::secret::Passphrase::new(PASS_A),
            },
            label: None,
        })),
        ErrorCode::Storage,
    );
    assert!(e.message.contains(INJECTED_FAILURE), "{e}");
    assert!(h.snapshot().is_empty(), "no user, no enrollment");
    // The one write that landed: the failure, in the instance chain (the
    // user's chain never came to be).
    assert_eq!(fs.successful_commits(), 1);
    let instance: Vec<serde_json::Value> = h
        .audit_snapshot()
        .iter()
        .filter(|(k, _)| k.starts_with("instance/audit/page/"))
        .flat_map(|(_, v)| serde_json::from_slice::<Vec<serde_json::Value>>(v).unwrap())
        .collect();
    assert_eq!(instance.len(), 1, "{instance:?}");
    assert_eq!(instance[0]["event"], "setup");
    assert_eq!(instance[0]["outcome"], "failed");
    assert_eq!(instance[0]["reason"], "storage");
    let e = h.err(Call::ListEnrollments(UserParams { user: uid("alice") }));
    assert_eq!(e.code, ErrorCode::NotFound);

    // The same user can be set up afterwards, and it is a new one.
    let r = h.setup_passphrase("alice", PASS_B);
    assert_eq!(h.snapshot().len(), 2);
    assert_eq!(
        h.call(Call::SessionStatus(Harness::session_params("alice", &r.session))).unwrap()["expires_ms"],
        r.expires_ms
    );
}

#[test]
fn a_rotation_whose_commit_fails_keeps_the_old_key_current() {
    let (mut h, fs) = failing(502);
    let s = h.setup_prf("alice", b"cred", &prf_bytes(1)).session;
    let old: VapidPublicInfo = h.ok(Call::VapidGenerate(Harness::session_params("alice", &s)));
    let before = h.snapshot();

    fs.fail_next_commit();
    let e = h.err(Call::VapidRotate(Harness::session_params("alice", &s)));
    assert_eq!(e.code, ErrorCode::Storage, "{e}");
    assert_eq!(h.snapshot(), before, "neither the new key, nor the retirement, nor the user record");

    let keys: VapidKeys = h.ok(Call::VapidPublic(UserParams { user: uid("alice") }));
    assert_eq!(keys.current.as_ref(), Some(&old));
    assert!(keys.retired.is_empty());
    let jwt: SignedJwt = serde_json::from_value(sign(&mut h, &s).unwrap()).unwrap();
    assert_eq!(jwt.kid, old.kid);
    verify_jwt(&jwt.jwt, &old.jwk.x, &old.jwk.y, "https://push.example.net").unwrap();

    // The next rotation is a normal one: version 2, the old key retired.
    let r: RotateResult = h.ok(Call::VapidRotate(Harness::session_params("alice", &s)));
    assert_eq!((r.current.version, &r.retired.kid), (2, &old.kid));
    let jwt: SignedJwt = serde_json::from_value(sign(&mut h, &s).unwrap()).unwrap();
    assert_eq!(jwt.kid, r.current.kid);
}

#[test]
fn failed_commits_of_enrollment_changes_change_nothing() {
    let (mut h, fs) = failing(503);
    let a = h.setup_prf("alice", b"cred-1", &prf_bytes(1));
    let before = h.snapshot();

    fs.fail_next_commit();
    let e = h.add_prf("alice", &a.session, b"cred-2", &prf_bytes(2)).unwrap_err();
    assert_eq!(e.code, ErrorCode::Storage, "{e}");
    assert_eq!(h.snapshot(), before);

    let added = h.add_prf("alice", &a.session, b"cred-2", &prf_bytes(2)).unwrap();
    let with_two = h.snapshot();
    fs.fail_next_commit();
    let e = h.err(Call::RemoveEnrollment(RemoveEnrollmentParams {
        user: uid("alice"),
        session: a.session.clone(),
        enrollment_id: eid(added["id"].as_str().unwrap()),
    }));
    assert_eq!(e.code, ErrorCode::Storage, "{e}");
    assert_eq!(h.snapshot(), with_two);
    h.unlock_prf("alice", b"cred-2", &prf_bytes(2)).expect("the enrollment is still there");
}

#[test]
fn a_failed_read_fails_the_unlock_before_the_kdf() {
    let (mut h, fs) = failing(504);
    h.setup_passphrase("alice", PASS_A);
    let before = h.snapshot();
    let runs = h.kdf_runs();
    fs.fail_next_read();
    let e = expect_code(h.unlock_passphrase("alice", PASS_A), ErrorCode::Storage);
    assert!(e.message.contains(INJECTED_FAILURE), "{e}");
    assert_eq!(h.kdf_runs(), runs);
    assert_eq!(h.snapshot(), before);
}

/// A refusal whose audit entry cannot be written is not answered as the
/// refusal: the caller gets the failed write (`storage`), so no refusal is
/// ever seen without its entry. Before, the write's error was discarded and
/// the caller got `forbidden`.
#[test]
fn a_refusal_that_cannot_be_audited_is_answered_with_the_failed_write() {
    let (mut h, fs) = failing(920);
    let s = h.setup_passphrase("alice", PASS_A).session;
    h.rpc_ok("vapid_generate", serde_json::json!({"user": "alice", "session": s}));
    let lease = h.rpc_ok(
        "lease_create",
        serde_json::json!({"user": "alice", "session": s, "lease": {"relay": "r", "audiences": ["https://fcm.googleapis.com"]}}),
    );
    let request = serde_json::json!({"user": "alice", "credential": lease["credential"],
        "request": {"aud": "https://other.example", "sub": "mailto:a@b.example"}});
    assert_eq!(h.rpc_err("lease_issue", request.clone())["code"], "forbidden", "audited normally");
    let before = h.audit_snapshot();
    fs.fail_next_commit();
    let e = h.rpc_err("lease_issue", request);
    assert_eq!(e["code"], "storage", "{e}");
    assert!(e["message"].as_str().unwrap().contains(INJECTED_FAILURE), "{e}");
    assert_eq!(h.audit_snapshot(), before, "nothing half-written");
}
