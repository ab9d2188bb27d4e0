//! Setup, passphrase unlock, lock, sessions, throttling and re-wrapping,
//! driven through the engine's two entry points.

// Tests may unwrap and index (see clippy.toml); this covers the helpers
// outside `#[test]` functions too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use kms_core::rpc::RpcError;
use kms_core::rpc::{Call, NewEnrollment, SessionResult, SessionStatus, SetupParams, UserParams};
use kms_core::secret::Passphrase;
use kms_core::unlock::passphrase::PassphrasePolicy;
use kms_core::vapid::VapidPublicInfo;
use kms_core::{CoreError, ErrorCode};
use kms_worker::KmsConfig;
use serde_json::{json, Value};
use support::*;

// ------------------------------------------------------------ 1. lifecycle

#[test]
fn setup_unlock_status_and_lock_over_json() {
    let mut h = Harness::new(1);
    let t0 = h.now();

    let setup = h.rpc_ok(
        "setup",
        json!({"user": "alice", "enrollment": {"kind": "passphrase", "passphrase": PASS_A}, "label": "laptop"}),
    );
    assert_eq!(setup["user"], "alice");
    assert_eq!(setup["expires_ms"], json!(t0 + SESSION_TTL_MS));
    assert_eq!(setup["rewrapped"], json!(false));
    let enrollment = &setup["enrollment"];
    assert_eq!(enrollment["method"], "passphrase");
    assert_eq!(enrollment["label"], "laptop");
    assert_eq!(enrollment["iterations"], json!(FLOOR_ITERATIONS));
    assert_eq!(enrollment["created_ms"], json!(t0));
    let eid = enrollment["id"].as_str().unwrap().to_owned();
    // A session token is 32 random bytes, base64url.
    let setup_session = setup["session"].as_str().unwrap().to_owned();
    assert_eq!(unb64(&setup_session).len(), 32);
    assert_eq!(h.kdf_log(), vec![FLOOR_ITERATIONS], "setup runs PBKDF2 exactly once, at the floor");

    // Exactly the user record and the enrollment were written.
    let keys: Vec<String> = h.snapshot().into_keys().collect();
    assert_eq!(keys, vec![enrollment_key("alice", &eid), user_key("alice")]);

    h.clock.advance(10_000);
    let unlock =
        h.rpc_ok("unlock", json!({"user": "alice", "credential": {"kind": "passphrase", "passphrase": PASS_A}}));
    let session = unlock["session"].as_str().unwrap().to_owned();
    assert_ne!(session, setup_session, "every unlock opens a new session");
    assert_eq!(unlock["expires_ms"], json!(t0 + 10_000 + SESSION_TTL_MS));
    assert_eq!(unlock["enrollment"]["id"], json!(eid));
    assert_eq!(unlock["rewrapped"], json!(false));
    assert_eq!(h.kdf_runs(), 2);

    let status = h.rpc_ok("session_status", json!({"user": "alice", "session": session}));
    assert_eq!(status, json!({"expires_ms": t0 + 10_000 + SESSION_TTL_MS}));

    assert_eq!(h.rpc_ok("lock", json!({"user": "alice", "session": session})), json!({}));
    let e = h.rpc_err("session_status", json!({"user": "alice", "session": session}));
    assert_eq!(e["code"], "locked");
    let e = h.rpc_err("vapid_generate", json!({"user": "alice", "session": session}));
    assert_eq!(e["code"], "locked");
    let e = h.rpc_err("lock", json!({"user": "alice", "session": session}));
    assert_eq!(e["code"], "locked", "a locked session cannot be locked again");

    // Locking one session leaves the other one alone.
    let status = h.rpc_ok("session_status", json!({"user": "alice", "session": setup_session}));
    assert_eq!(status, json!({"expires_ms": t0 + SESSION_TTL_MS}));
    assert_eq!(h.kdf_runs(), 2, "session operations never run the KDF");
}

#[test]
fn info_states_the_policy() {
    let mut h = Harness::new(2);
    let info = h.rpc_ok("info", json!({}));
    assert_eq!(info["protocol_version"], json!(1));
    assert_eq!(info["pbkdf2_iterations"], json!(FLOOR_ITERATIONS));
    assert_eq!(info["min_passphrase_chars"], json!(12));
    assert_eq!(info["session_ttl_ms"], json!(SESSION_TTL_MS));
    assert_eq!(info["rp_id"], json!(RP_ID));
    assert_eq!(info["methods"].as_array().unwrap().len(), kms_core::rpc::METHOD_NAMES.len());
    assert!(info["methods"].as_array().unwrap().contains(&json!("audit_export")));
}

#[test]
fn setup_refuses_a_short_passphrase_before_any_work() {
    let mut h = Harness::new(3);
    let e = expect_code(
        h.call(Call::Setup(SetupParams {
            user: uid("alice"),
            enrollment: NewEnrollment::Passphrase { passphrase: Passphrase::new("eleven char") },
            label: None,
        })),
        ErrorCode::InvalidInput,
    );
    assert!(e.message.contains("at least 12 characters"), "{e}");
    assert!(!e.message.contains("eleven char"), "the passphrase must not be echoed: {e}");
    assert!(h.snapshot().is_empty());
    assert_eq!(h.kdf_runs(), 0);
}

// ------------------------------------------------------ 2. no second setup

#[test]
fn setting_up_an_existing_user_is_refused_and_changes_nothing() {
    let mut h = Harness::new(4);
    h.setup_passphrase("alice", PASS_A);
    let before = h.snapshot();
    let runs = h.kdf_runs();

    let e = expect_code(
        h.call(Call::Setup(SetupParams {
            user: uid("alice"),
            enrollment: NewEnrollment::Passphrase { passphrase: Passphrase::new(PASS_B) },
            label: None,
        })),
        ErrorCode::AlreadyExists,
    );
    assert!(e.message.contains("alice"), "{e}");
    assert_eq!(h.snapshot(), before, "the existing user's records must be untouched");
    assert_eq!(h.kdf_runs(), runs, "refused before any KDF runs");

    // Nor through a passkey enrollment.
    let offer = h.prf_begin("alice");
    let e = h.err(Call::Setup(SetupParams {
        user: uid("alice"),
        enrollment: NewEnrollment::PasskeyPrf {
            ceremony_id: offer.ceremony_id,
            credential_id: b64([7u8; 16]),
            prf_output: kms_core::secret::PrfOutput::from_bytes(&prf_bytes(1)),
        },
        label: None,
    }));
    assert_eq!(e.code, ErrorCode::AlreadyExists);
    assert_eq!(h.snapshot(), before);

    // The original passphrase still unlocks.
    let r: SessionResult = serde_json::from_value(h.unlock_passphrase("alice", PASS_A).unwrap()).unwrap();
    assert_eq!(r.user.as_str(), "alice");
}

// ------------------------------------------------------ 3. failed unlocks

#[test]
fn wrong_passphrase_fails_and_writes_only_the_throttle_record() {
    let mut h = Harness::new(5);
    let setup = h.setup_passphrase("alice", PASS_A);
    let eid = setup.enrollment.id.as_str().to_owned();
    h.clock.advance(1234);
    let before = h.snapshot();

    let e = expect_code(h.unlock_passphrase("alice", PASS_WRONG), ErrorCode::UnlockFailed);
    // The one coarse error every unlock refusal maps to, with no detail.
    assert_eq!(e, RpcError::from(CoreError::UnlockFailed));
    assert_eq!(e.retry_after_ms, None);

    let after = h.snapshot();
    let throttle = throttle_key("alice", &eid);
    assert_eq!(changed_keys(&before, &after).into_iter().collect::<Vec<_>>(), failure_keys("alice", &eid));
    assert_eq!(h.record(&throttle), json!({"failures": 1, "last_failure_ms": h.now()}));
    assert_eq!(h.record(&user_throttle_key("alice")), json!({"failures": 1, "last_failure_ms": h.now()}));
}

#[test]
fn an_empty_or_over_long_passphrase_is_invalid_input_and_counts_nothing() {
    let mut h = Harness::new(15);
    let setup = h.setup_passphrase("alice", PASS_A);
    let eid = setup.enrollment.id.as_str().to_owned();
    h.clock.advance(1234);
    let before = h.snapshot();
    let runs = h.kdf_runs();
    // No enrolled passphrase can be empty or longer than the policy's
    // 1,024 bytes: these are malformed requests, not guesses.
    for (pass, what) in [(String::new(), "empty"), ("a".repeat(1025), "longer than 1024 bytes")] {
        let e = expect_code(h.unlock_passphrase("alice", &pass), ErrorCode::InvalidInput);
        assert!(e.message.contains("passphrase") && e.message.contains(what), "{e}");
        assert!(!e.message.contains("aaaa"), "the value is never echoed: {e}");
    }
    assert_eq!(h.kdf_runs(), runs, "no KDF runs");
    assert_eq!(h.get_raw(&throttle_key("alice", &eid)), None, "the throttle count is unchanged");
    // Nothing but the audit log (which records the refusal) changes.
    assert_eq!(h.snapshot(), before, "nothing is written");
    // The next wrong guess is the first failure.
    expect_code(h.unlock_passphrase("alice", PASS_WRONG), ErrorCode::UnlockFailed);
    assert_eq!(h.record(&throttle_key("alice", &eid))["failures"], json!(1));
}

#[test]
fn corrupted_enrollment_fails_exactly_like_a_wrong_passphrase() {
    let mut h = Harness::new(6);
    let setup = h.setup_passphrase("alice", PASS_A);
    let eid = setup.enrollment.id.as_str().to_owned();
    let key = enrollment_key("alice", &eid);
    let unlock_json = |pass: &str| json!({"user": "alice", "credential": {"kind": "passphrase", "passphrase": pass}});

    let wrong = h.rpc_err("unlock", unlock_json(PASS_WRONG));
    let coarse = RpcError::from(CoreError::UnlockFailed);
    assert_eq!(wrong, json!({"code": "unlock_failed", "message": coarse.message}));

    // Flip one ciphertext byte of the wrap (nonce 12 || ciphertext 32 || tag 16).
    let original = h.record(&key);
    let mut wrapped = unb64(original["wrapped"].as_str().unwrap());
    assert_eq!(wrapped.len(), 12 + 32 + 16);
    wrapped[20] ^= 0x01;
    let mut corrupted = original.clone();
    corrupted["wrapped"] = json!(b64(&wrapped));
    h.put_record(&key, &corrupted);

    let runs = h.kdf_runs();
    let corrupt = h.rpc_err("unlock", unlock_json(PASS_A));
    assert_eq!(corrupt, wrong, "a corrupted record must be indistinguishable from a wrong passphrase");
    assert_eq!(h.kdf_runs(), runs + 1);
    // It counts as a failed attempt like any other.
    assert_eq!(h.record(&throttle_key("alice", &eid))["failures"], json!(2));

    // A record edited to a cost below the floor (a downgrade) or absurdly
    // above the cap (a denial of service) is refused the same way, and
    // before the KDF runs with the attacker's count.
    for iterations in [1_000u32, 30_000_000] {
        let mut edited = original.clone();
        edited["params"]["iterations"] = json!(iterations);
        h.put_record(&key, &edited);
        let runs = h.kdf_runs();
        let e = h.rpc_err("unlock", unlock_json(PASS_A));
        assert_eq!(e, wrong, "iterations {iterations}");
        assert_eq!(h.kdf_runs(), runs, "iterations {iterations}: no KDF may run");
    }

    assert_eq!(h.record(&throttle_key("alice", &eid))["failures"], json!(4));

    // A record that does not even parse: the same answer, without a KDF.
    h.clock.advance(1000); // the back-off the fourth failure imposed
    h.put_raw(&key, b"{\"v\":1,\"id\":".to_vec());
    let runs = h.kdf_runs();
    assert_eq!(h.rpc_err("unlock", unlock_json(PASS_A)), wrong);
    assert_eq!(h.kdf_runs(), runs);
    assert_eq!(h.record(&throttle_key("alice", &eid))["failures"], json!(5));
}

#[test]
fn unlocking_an_unknown_user_is_not_found_and_writes_nothing() {
    let mut h = Harness::new(7);
    let e = expect_code(h.unlock_passphrase("nobody", PASS_A), ErrorCode::NotFound);
    assert!(e.message.contains("nobody"), "{e}");
    assert!(h.snapshot().is_empty());
    assert_eq!(h.kdf_runs(), 0);
}

// ------------------------------------------------------------ 4. throttling

#[test]
fn throttle_refuses_before_the_kdf_survives_a_restart_and_resets_on_success() {
    let mut h = Harness::new(8);
    let eid = h.setup_passphrase("alice", PASS_A).enrollment.id.as_str().to_owned();
    let throttle = throttle_key("alice", &eid);
    let t = h.now();

    // Three free failures, then the fourth imposes the first wait (1 s).
    for n in 1..=4u32 {
        expect_code(h.unlock_passphrase("alice", PASS_WRONG), ErrorCode::UnlockFailed);
        assert_eq!(h.record(&throttle), json!({"failures": n, "last_failure_ms": t}));
    }
    assert_eq!(h.kdf_runs(), 5);

    // Now even the right passphrase is refused, without running the KDF and
    // without counting as another failure.
    let before = h.snapshot();
    let e = h.rpc_err("unlock", json!({"user": "alice", "credential": {"kind": "passphrase", "passphrase": PASS_A}}));
    assert_eq!(e["code"], "throttled");
    assert_eq!(e["retry_after_ms"], json!(1000));
    assert_eq!(h.kdf_runs(), 5, "a throttled attempt must not run PBKDF2");
    assert_eq!(h.snapshot(), before, "a throttled attempt writes nothing");

    h.clock.advance(999);
    let e = expect_code(h.unlock_passphrase("alice", PASS_A), ErrorCode::Throttled);
    assert_eq!(e.retry_after_ms, Some(1));

    // A reload does not reset the back-off: it lives in the store.
    h.restart(KmsConfig::default());
    let e = expect_code(h.unlock_passphrase("alice", PASS_A), ErrorCode::Throttled);
    assert_eq!(e.retry_after_ms, Some(1));
    assert_eq!(h.kdf_runs(), 5);
    assert_eq!(h.snapshot(), before);

    // Once the wait is over, the right passphrase unlocks and the failure
    // count is gone.
    h.clock.advance(1);
    h.unlock_passphrase("alice", PASS_A).expect("unlock after the wait");
    assert_eq!(h.kdf_runs(), 6);
    assert_eq!(h.get_raw(&throttle), None, "success deletes the throttle record");

    // The count starts over: one failure is one failure, not the fifth.
    expect_code(h.unlock_passphrase("alice", PASS_WRONG), ErrorCode::UnlockFailed);
    assert_eq!(h.record(&throttle), json!({"failures": 1, "last_failure_ms": h.now()}));
}

#[test]
fn the_user_budget_spans_all_enrollments() {
    // Four PRF enrollments: per enrollment, 3 failures each are free, so
    // without a budget per user 12 guesses would cost no wait at all.
    let mut h = Harness::new(31);
    let s = h.setup_prf("alice", b"cred-0", &prf_bytes(10));
    for i in 1..4u8 {
        h.add_prf("alice", &s.session, format!("cred-{i}").as_bytes(), &prf_bytes(10 + i)).unwrap();
    }
    // 11 wrong outputs spread so that no enrollment passes its 3 free ones.
    for i in 0..11u8 {
        let cred = format!("cred-{}", i / 3);
        expect_code(h.unlock_prf("alice", cred.as_bytes(), &prf_bytes(200)), ErrorCode::UnlockFailed);
    }
    assert_eq!(h.record(&user_throttle_key("alice"))["failures"], json!(11));
    // The fourth enrollment has 2 failures, within its own free ones; the
    // user's budget is spent: refused before any check, even the right one.
    let before = h.snapshot();
    let e = expect_code(h.unlock_prf("alice", b"cred-3", &prf_bytes(13)), ErrorCode::Throttled);
    assert_eq!(e.retry_after_ms, Some(1000));
    assert_eq!(h.snapshot(), before);
    // After the wait it unlocks, and success clears both records.
    h.clock.advance(1000);
    h.unlock_prf("alice", b"cred-3", &prf_bytes(13)).expect("unlock after the wait");
    assert_eq!(h.get_raw(&user_throttle_key("alice")), None);
}

#[test]
fn a_damaged_throttle_record_counts_as_the_most_failures() {
    let mut h = Harness::new(32);
    h.setup_prf("alice", b"cred", &prf_bytes(1));
    let list = h.rpc_ok("list_enrollments", json!({"user": "alice"}));
    let eid = list["enrollments"][0]["id"].as_str().unwrap().to_owned();
    // A writer of the store spoils the record (to reset a back-off).
    h.put_raw(&throttle_key("alice", &eid), b"{\"failures\": \"none\"}".to_vec());
    // One attempt may run; when it fails the longest wait follows, not the
    // first of a fresh budget.
    expect_code(h.unlock_prf("alice", b"cred", &prf_bytes(9)), ErrorCode::UnlockFailed);
    let e = expect_code(h.unlock_prf("alice", b"cred", &prf_bytes(1)), ErrorCode::Throttled);
    assert_eq!(e.retry_after_ms, Some(15 * 60 * 1000));
    assert_eq!(h.record(&throttle_key("alice", &eid))["failures"], json!(u32::MAX));
}

#[test]
fn a_clock_set_back_is_refused_and_the_wait_is_not_shortened() {
    let mut h = Harness::new(33);
    h.setup_prf("alice", b"cred", &prf_bytes(1));
    let t = h.now();
    expect_code(h.unlock_prf("alice", b"cred", &prf_bytes(9)), ErrorCode::UnlockFailed);
    // The clock now reads a minute earlier than that failure.
    h.clock.set(t - 60_000);
    let before = h.snapshot();
    let e = expect_code(h.unlock_prf("alice", b"cred", &prf_bytes(1)), ErrorCode::Throttled);
    assert_eq!(e.retry_after_ms, Some(60_000));
    assert_eq!(h.snapshot(), before, "refused, and nothing was reset");
    h.clock.set(t);
    h.unlock_prf("alice", b"cred", &prf_bytes(1)).expect("unlock once the clock is past the failure");
}

// ------------------------------------------------------------ 5. sessions

#[test]
fn sessions_expire_after_five_minutes_and_belong_to_one_user() {
    let mut h = Harness::new(9);
    let t0 = h.now();
    let alice = h.setup_prf("alice", b"alice-cred", &prf_bytes(1)).session;
    let bob = h.setup_prf("bob", b"bob-cred", &prf_bytes(2)).session;

    // Another user's live session: forbidden, for every session operation.
    let e = h.err(Call::SessionStatus(Harness::session_params("alice", &bob)));
    assert_eq!(e.code, ErrorCode::Forbidden, "{e}");
    let e = h.err(Call::VapidGenerate(Harness::session_params("alice", &bob)));
    assert_eq!(e.code, ErrorCode::Forbidden, "{e}");
    let e = h.err(Call::Lock(Harness::session_params("alice", &bob)));
    assert_eq!(e.code, ErrorCode::Forbidden, "{e}");
    // ... and bob's session survived the attempt to lock it as alice.
    let st: SessionStatus = h.ok(Call::SessionStatus(Harness::session_params("bob", &bob)));
    assert_eq!(st.expires_ms, t0 + SESSION_TTL_MS);

    // A token nobody was given: locked.
    let made_up = token(&b64([0x42u8; 32]));
    let e = h.err(Call::SessionStatus(Harness::session_params("alice", &made_up)));
    assert_eq!(e.code, ErrorCode::Locked, "{e}");

    // 4:59.999 after the unlock the session still works, for real work too.
    h.clock.set(t0 + SESSION_TTL_MS - 1);
    let st: SessionStatus = h.ok(Call::SessionStatus(Harness::session_params("alice", &alice)));
    assert_eq!(st.expires_ms, t0 + SESSION_TTL_MS, "using a session does not extend it");
    let key: VapidPublicInfo = h.ok(Call::VapidGenerate(Harness::session_params("alice", &alice)));
    assert_eq!(key.version, 1);

    // At exactly 5:00 it is gone.
    h.clock.set(t0 + SESSION_TTL_MS);
    let before = h.snapshot();
    let e = h.err(Call::SessionStatus(Harness::session_params("alice", &alice)));
    assert_eq!(e.code, ErrorCode::Locked, "{e}");
    let e = h.err(Call::VapidRotate(Harness::session_params("alice", &alice)));
    assert_eq!(e.code, ErrorCode::Locked, "{e}");
    assert_eq!(h.snapshot(), before);
    // An expired session of another user is locked, not forbidden (it does
    // not exist any more).
    let e = h.err(Call::SessionStatus(Harness::session_params("alice", &bob)));
    assert_eq!(e.code, ErrorCode::Locked, "{e}");
}

#[test]
fn a_user_has_at_most_eight_live_sessions() {
    let mut h = Harness::new(13);
    let first = h.setup_prf("alice", b"cred", &prf_bytes(5)).session;
    let bob = h.setup_prf("bob", b"bob-cred", &prf_bytes(6)).session;
    let mut sessions = vec![first];
    for _ in 0..7 {
        sessions.push(session_of(&h.unlock_prf("alice", b"cred", &prf_bytes(5)).unwrap()));
    }
    for s in &sessions {
        assert!(h.call(Call::SessionStatus(Harness::session_params("alice", s))).is_ok());
    }
    // The ninth closes the oldest, and only that one.
    let ninth = session_of(&h.unlock_prf("alice", b"cred", &prf_bytes(5)).unwrap());
    let e = h.err(Call::SessionStatus(Harness::session_params("alice", &sessions[0])));
    assert_eq!(e.code, ErrorCode::Locked);
    for s in sessions[1..].iter().chain([&ninth]) {
        assert!(h.call(Call::SessionStatus(Harness::session_params("alice", s))).is_ok());
    }
    // Other users are not affected.
    assert!(h.call(Call::SessionStatus(Harness::session_params("bob", &bob))).is_ok());
}

#[test]
fn sessions_do_not_survive_a_restart() {
    let mut h = Harness::new(10);
    let s = h.setup_prf("alice", b"cred", &prf_bytes(3)).session;
    h.restart(KmsConfig::default());
    let e = h.err(Call::SessionStatus(Harness::session_params("alice", &s)));
    assert_eq!(e.code, ErrorCode::Locked);
    // The user is still there.
    let list: Value = h.ok(Call::ListEnrollments(UserParams { user: uid("alice") }));
    assert_eq!(list["enrollments"].as_array().unwrap().len(), 1);
}

#[test]
fn session_ttl_is_configurable() {
    let config = KmsConfig { session_ttl_ms: 60_000, ..KmsConfig::default() };
    let mut h = Harness::with_config(11, config);
    let t0 = h.now();
    let r = h.setup_prf("alice", b"cred", &prf_bytes(4));
    assert_eq!(r.expires_ms, t0 + 60_000);
    h.clock.set(t0 + 59_999);
    assert!(h.call(Call::SessionStatus(Harness::session_params("alice", &r.session))).is_ok());
    h.clock.set(t0 + 60_000);
    let e = h.err(Call::SessionStatus(Harness::session_params("alice", &r.session)));
    assert_eq!(e.code, ErrorCode::Locked);
}

// ------------------------------------------------------------ 7. re-wrap

#[test]
fn unlock_rewraps_a_record_below_the_current_cost_once() {
    let mut h = Harness::new(12);
    let setup = h.setup_passphrase("alice", PASS_A);
    let eid = setup.enrollment.id.as_str().to_owned();
    let key = enrollment_key("alice", &eid);
    let session = setup.session;
    let vapid: VapidPublicInfo = h.ok(Call::VapidGenerate(Harness::session_params("alice", &session)));
    let old = h.record(&key);
    assert_eq!(old["params"]["iterations"], json!(FLOOR_ITERATIONS));
    h.clock.advance(5000);

    // A deployment that raised its cost.
    let raised = KmsConfig { passphrase: PassphrasePolicy::new(12, 700_000).unwrap(), ..KmsConfig::default() };
    h.restart(raised.clone());
    let runs = h.kdf_runs();
    let r = h.unlock_passphrase("alice", PASS_A).unwrap();
    assert_eq!(r["rewrapped"], json!(true));
    assert_eq!(r["enrollment"]["iterations"], json!(700_000));
    assert_eq!(r["enrollment"]["id"], json!(eid));
    assert_eq!(
        h.kdf_log()[runs..].to_vec(),
        vec![FLOOR_ITERATIONS, 700_000],
        "one run with the stored cost to unwrap, one with the new cost to re-wrap"
    );

    let new = h.record(&key);
    assert_eq!(new["id"], json!(eid));
    assert_eq!(new["params"]["iterations"], json!(700_000));
    assert_ne!(new["params"]["salt"], old["params"]["salt"], "a re-wrap uses a fresh salt");
    assert_ne!(new["wrapped"], old["wrapped"]);
    assert_eq!(new["created_ms"], old["created_ms"]);
    assert_eq!(new["updated_ms"], json!(h.now()));
    assert_eq!(new["label"], old["label"]);

    // The same master secret: the VAPID key made before still opens and signs.
    let s = session_of(&r);
    let exp = h.now() / 1000 + 3600;
    let signed: Value = h.ok(Call::SignJwt(kms_core::rpc::SignJwtParams {
        user: uid("alice"),
        session: s,
        claims: kms_core::vapid::JwtRequest {
            aud: "https://push.example.net".into(),
            sub: "mailto:ops@example.com".into(),
            exp,
            jti: None,
        },
    }));
    assert_eq!(signed["kid"], json!(vapid.kid.as_str()));
    verify_jwt(signed["jwt"].as_str().unwrap(), &vapid.jwk.x, &vapid.jwk.y, "https://push.example.net")
        .expect("signed by the same key");

    // The next unlock has nothing to re-wrap.
    let runs = h.kdf_runs();
    let before = h.snapshot();
    let r = h.unlock_passphrase("alice", PASS_A).unwrap();
    assert_eq!(r["rewrapped"], json!(false));
    assert_eq!(h.kdf_log()[runs..].to_vec(), vec![700_000]);
    assert_eq!(h.snapshot(), before);

    // A deployment with a lower cost never lowers a stored record's.
    h.restart(KmsConfig::default());
    let r = h.unlock_passphrase("alice", PASS_A).unwrap();
    assert_eq!(r["rewrapped"], json!(false));
    assert_eq!(r["enrollment"]["iterations"], json!(700_000));
    assert_eq!(h.record(&key)["params"]["iterations"], json!(700_000));
}

#[test]
fn status_says_whether_to_set_up_or_unlock_without_a_session() {
    let mut h = Harness::new(731);
    let unknown = h.rpc_ok("status", json!({"user": "alice"}));
    assert_eq!(unknown, json!({"user": "alice", "state": "unknown", "methods": []}));
    let s = h.setup_passphrase("alice", PASS_A);
    h.add_prf("alice", &s.session, b"cred-1", &[4u8; 32]).unwrap();
    h.add_prf("alice", &s.session, b"cred-2", &[5u8; 32]).unwrap();
    // Each method once, sorted; natively no `session` member (the frame adds it).
    let set_up = h.rpc_ok("status", json!({"user": "alice"}));
    assert_eq!(set_up, json!({"user": "alice", "state": "set_up", "methods": ["passkey_prf", "passphrase"]}));
    // Not audited, nothing written.
    let before = h.store.snapshot();
    h.rpc_ok("status", json!({"user": "alice"}));
    assert_eq!(h.store.snapshot(), before);
    h.rpc_ok("user_delete", json!({"user": "alice", "session": s.session, "confirm": "alice"}));
    assert_eq!(h.rpc_ok("status", json!({"user": "alice"}))["state"], json!("deleted"));
}
