//! The engine's audit log: every sensitive operation is recorded, success or
//! failure, in the user's own chain; nothing secret is written; an export
//! verifies with the public key alone, and tampering with the stored log is
//! caught by the same verifier.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use kms_core::audit::{verify_export, AuditPublicKey, Checkpoint, VerifyOptions};
use kms_core::rpc::{AuditVerifyParams, Call, SignJwtParams};
use kms_core::vapid::JwtRequest;
use serde_json::{json, Value};
use support::*;

const AUD: &str = "https://push.example.net";

fn sign(h: &mut Harness, user: &str, session: &kms_core::session::SessionToken) -> Value {
    let exp = h.now() / 1000 + 3600;
    h.ok(Call::SignJwt(SignJwtParams {
        user: uid(user),
        session: session.clone(),
        claims: JwtRequest { aud: AUD.into(), sub: "mailto:ops@example.com".into(), exp, jti: Some("j-1".into()) },
    }))
}

fn export(h: &mut Harness, user: &str, session: &kms_core::session::SessionToken) -> Value {
    h.rpc_ok("audit_export", json!({"user": user, "session": session}))
}

fn events(export: &str) -> Vec<(String, String)> {
    export
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["type"] == "entry")
        .map(|v| (v["event"].as_str().unwrap().to_owned(), v["outcome"].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn every_operation_is_recorded_success_or_failure_and_the_export_verifies() {
    let mut h = Harness::new(900);
    let s = session_of(&serde_json::to_value(h.setup_passphrase("alice", PASS_A)).unwrap());
    h.rpc_ok("vapid_generate", json!({"user": "alice", "session": s}));
    let jwt = sign(&mut h, "alice", &s)["jwt"].as_str().unwrap().to_owned();
    h.rpc_ok("lock", json!({"user": "alice", "session": s}));
    // Locked: refused, and recorded.
    let e = h.rpc_err("sign_jwt", json!({"user": "alice", "session": s, "claims": {"aud": AUD, "sub": "mailto:a@b.example", "exp": h.now() / 1000 + 60}}));
    assert_eq!(e["code"], "locked");
    // Four wrong passphrases (the fourth starts the back-off), then a throttled attempt.
    for _ in 0..4 {
        expect_code(h.unlock_passphrase("alice", PASS_WRONG), kms_core::ErrorCode::UnlockFailed);
    }
    expect_code(h.unlock_passphrase("alice", PASS_A), kms_core::ErrorCode::Throttled);
    h.clock.advance(1000);
    let s = session_of(&h.unlock_passphrase("alice", PASS_A).unwrap());
    let out = export(&mut h, "alice", &s);
    let text = out["export"].as_str().unwrap();

    let got = events(text);
    let want: Vec<(&str, &str)> = vec![
        ("setup", "ok"),
        ("key_generate", "ok"),
        ("jwt_sign", "ok"),
        ("lock", "ok"),
        ("jwt_sign", "refused"),
        ("unlock", "failed"),
        ("unlock", "failed"),
        ("unlock", "failed"),
        ("unlock", "failed"),
        ("unlock", "refused"),
        ("unlock", "ok"),
        ("export", "ok"),
    ];
    assert_eq!(got, want.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>());
    assert_eq!(out["entries"], json!(want.len()));

    // Nothing secret is in the log: no passphrase, session token or token.
    for secret in [PASS_A, PASS_WRONG, s.as_str(), &jwt, jwt.rsplit('.').next().unwrap()] {
        assert!(!text.contains(secret), "the export contains a secret");
    }
    // The refusal says why.
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let throttled = lines.iter().find(|v| v["event"] == "unlock" && v["outcome"] == "refused").unwrap();
    assert_eq!(throttled["reason"], "throttled");

    // It verifies with the public key alone, and checkpoints were signed at
    // setup, lock, unlock and export.
    let header = &lines[0];
    let key = AuditPublicKey::parse(&header["audit_public_key"].to_string()).unwrap();
    let report = verify_export(text, &VerifyOptions { expected_public_key: Some(key), ..Default::default() });
    assert!(report.valid, "{report}");
    assert!(lines.iter().filter(|v| v["type"] == "checkpoint").count() >= 4);

    // The same verifier through the RPC.
    let r = h.ok::<Value>(Call::AuditVerify(AuditVerifyParams {
        export: text.to_owned(),
        expected_public_key: Some(header["audit_public_key"].to_string()),
        expected_checkpoints: vec![],
        expected_nonce: None,
    }));
    assert_eq!(r["valid"], json!(true), "{r}");
}

#[test]
fn each_user_sees_only_their_own_history_and_unknown_users_go_to_the_instance_log() {
    let mut h = Harness::new(901);
    let a = session_of(&serde_json::to_value(h.setup_passphrase("alice", PASS_A)).unwrap());
    let b = session_of(&serde_json::to_value(h.setup_passphrase("bob", PASS_B)).unwrap());
    sign_noop(&mut h, "bob", &b);
    expect_code(h.unlock_passphrase("nobody", PASS_A), kms_core::ErrorCode::NotFound);

    let ea = export(&mut h, "alice", &a);
    let eb = export(&mut h, "bob", &b);
    assert_eq!(
        events(ea["export"].as_str().unwrap()),
        vec![("setup".into(), "ok".into()), ("export".into(), "ok".into())]
    );
    assert!(events(eb["export"].as_str().unwrap()).contains(&("key_generate".to_string(), "refused".to_string())));
    assert!(!ea["export"].as_str().unwrap().contains("user:bob"));
    // The unknown user's attempt is in the instance chain.
    let instance: Vec<String> =
        h.audit_snapshot().keys().filter(|k| k.starts_with("instance/audit/")).cloned().collect();
    assert!(instance.iter().any(|k| k.ends_with("/state")), "{instance:?}");
    // Alice cannot export Bob's log with her session.
    let e = h.rpc_err("audit_export", json!({"user": "bob", "session": a}));
    assert_eq!(e["code"], "forbidden");
}

fn sign_noop(h: &mut Harness, user: &str, s: &kms_core::session::SessionToken) {
    // Without a VAPID key, generate is fine but rotate is refused: an audited refusal.
    let e = h.rpc_err("vapid_rotate", json!({"user": user, "session": s}));
    assert_eq!(e["code"], "not_found");
    let _ = h.rpc_err("vapid_generate", json!({"user": user, "session": "not-a-session"}));
}

#[test]
fn tampering_with_the_stored_log_is_caught_and_a_kept_checkpoint_catches_rollback() {
    let mut h = Harness::new(902);
    let s = session_of(&serde_json::to_value(h.setup_passphrase("carol", PASS_A)).unwrap());
    h.rpc_ok("vapid_generate", json!({"user": "carol", "session": s}));
    let first = export(&mut h, "carol", &s);
    let kept: Checkpoint = serde_json::from_value(first["checkpoint"].clone()).unwrap();
    let header: Value = serde_json::from_str(first["export"].as_str().unwrap().lines().next().unwrap()).unwrap();
    let key = AuditPublicKey::parse(&header["audit_public_key"].to_string()).unwrap();

    // A later export still agrees with the kept checkpoint.
    sign(&mut h, "carol", &s);
    let second = export(&mut h, "carol", &s);
    let opts = VerifyOptions {
        expected_public_key: Some(key.clone()),
        expected_checkpoints: vec![kept.clone()],
        ..Default::default()
    };
    assert!(verify_export(second["export"].as_str().unwrap(), &opts).valid);

    // Presenting the first export after the second's checkpoint was seen is a rollback.
    let newer: Checkpoint = serde_json::from_value(second["checkpoint"].clone()).unwrap();
    let opts2 = VerifyOptions {
        expected_public_key: Some(key.clone()),
        expected_checkpoints: vec![newer],
        ..Default::default()
    };
    let r = verify_export(first["export"].as_str().unwrap(), &opts2);
    assert!(!r.valid);
    assert_eq!(serde_json::to_value(r.first_failure.unwrap().reason).unwrap(), json!("rollback"));

    // Someone with the store rewrites an old entry (the key_generate one):
    // the next export no longer verifies against what was seen.
    let page_key = "users/carol/audit/page/000000000000";
    let mut page: Vec<Value> = serde_json::from_slice(&h.get_raw(page_key).unwrap()).unwrap();
    page[1]["ids"]["kid"] = json!("forged-kid");
    h.put_raw(page_key, serde_json::to_vec(&page).unwrap());
    let third = export(&mut h, "carol", &s);
    let r = verify_export(third["export"].as_str().unwrap(), &opts);
    assert!(!r.valid, "an edited entry must not verify");
}

#[test]
fn a_failed_write_of_the_audit_entry_withholds_the_token() {
    use kms_storage::testing::FailingStore;
    use std::rc::Rc;
    let store = Rc::new(kms_storage::MemoryStore::new());
    let failing = Rc::new(FailingStore::new(store.clone()));
    let mut h = Harness::over(903, kms_worker::KmsConfig::default(), failing.clone(), store);
    let s = session_of(&serde_json::to_value(h.setup_passphrase("dave", PASS_A)).unwrap());
    h.rpc_ok("vapid_generate", json!({"user": "dave", "session": s}));
    failing.fail_next_commit();
    let e = h.rpc_err(
        "sign_jwt",
        json!({"user": "dave", "session": s, "claims": {"aud": AUD, "sub": "mailto:a@b.example", "exp": h.now() / 1000 + 60}}),
    );
    assert_eq!(e["code"], "storage", "no audit, no token: {e}");
}

/// `audit_verify` needs no session: whoever can reach the engine can send
/// it. Far more expected checkpoints than any auditor holds (each one costs
/// a signature check) are refused with `invalid_input` naming the cap, at
/// decoding: the typed call is never built, so the engine and the verifier
/// never run. At the cap, the same request is served.
#[test]
fn audit_verify_refuses_more_expected_checkpoints_than_the_cap_before_any_work() {
    const CAP: usize = kms_core::audit::MAX_EXPECTED_CHECKPOINTS;
    assert_eq!(CAP, 1024);
    let mut h = Harness::new(905);
    let s = session_of(&serde_json::to_value(h.setup_passphrase("erin", PASS_A)).unwrap());
    let out = export(&mut h, "erin", &s);
    let text = out["export"].as_str().unwrap().to_owned();
    let cp = out["checkpoint"].clone();
    let request = |id: u64, n: usize| {
        json!({"v": 1, "id": id, "method": "audit_verify",
               "params": {"export": text, "expected_checkpoints": vec![cp.clone(); n]}})
        .to_string()
    };
    let before = h.snapshot();

    let resp = h.raw(request(40, CAP + 1).as_bytes());
    assert_eq!(resp["id"], json!(40), "{resp}");
    assert_eq!(resp["error"]["code"], "invalid_input", "{resp}");
    let msg = resp["error"]["message"].as_str().unwrap();
    assert!(msg.contains("expected_checkpoints") && msg.contains(&CAP.to_string()), "{msg}");
    assert_eq!(h.snapshot(), before);

    // Structurally before any work: decoding itself refuses, so no `Call`
    // (and no verifier run) exists for such a request.
    let Err(e) = kms_core::rpc::Request::decode(request(41, CAP + 1).as_bytes()) else {
        panic!("accepted at decoding");
    };
    assert_eq!(e.1.code, kms_core::ErrorCode::InvalidInput);
    assert!(e.1.message.contains(&CAP.to_string()), "{}", e.1.message);

    // A typed call built in-process (no decoding) is refused by the engine
    // before it calls the verifier.
    let held: Checkpoint = serde_json::from_value(cp.clone()).unwrap();
    let e = h.err(Call::AuditVerify(AuditVerifyParams {
        export: text.clone(),
        expected_public_key: None,
        expected_checkpoints: vec![held; CAP + 1],
        expected_nonce: None,
    }));
    assert_eq!(e.code, kms_core::ErrorCode::InvalidInput);
    assert!(e.message.contains(&CAP.to_string()), "{}", e.message);

    // Control: at the cap, the request is served and verifies.
    let resp = h.raw(request(42, CAP).as_bytes());
    assert_eq!(resp["result"]["valid"], json!(true), "{resp}");
    assert_eq!(resp["result"]["expected_checkpoints_verified"], json!(CAP));
}

/// The entries of `user`'s chain so far (its stored `next_seq`).
fn chain_len(h: &Harness, user: &str) -> u64 {
    h.record(&format!("users/{user}/audit/state"))["next_seq"].as_u64().unwrap()
}

/// A refused `lease_issue` is audited whatever its `aud` holds: control and
/// bidirectional-control characters, NUL, nothing, 10 KB, or more bytes
/// than an id may hold in fewer characters. Before, such a request wrote no
/// entry (the entry was refused and the error discarded), so a credential
/// could be probed without a trace.
#[test]
fn a_refused_lease_issue_is_audited_whatever_its_aud_holds() {
    let mut h = Harness::new(910);
    let s = session_of(&serde_json::to_value(h.setup_passphrase("alice", PASS_A)).unwrap());
    h.rpc_ok("vapid_generate", json!({"user": "alice", "session": s}));
    let lease = h.rpc_ok(
        "lease_create",
        json!({"user": "alice", "session": s, "lease": {"relay": "relay-1", "audiences": ["https://fcm.googleapis.com"]}}),
    );
    let hostile = [
        "https://fcm.googleapis.com\u{1}".to_owned(),
        "\u{202e}https://fcm.googleapis.com".to_owned(),
        "https://a\0b.example".to_owned(),
        String::new(),
        "a".repeat(10_000),
        "\u{e9}".repeat(300),
        "\u{2066}".repeat(100),
    ];
    for aud in &hostile {
        // A checkpoint between them, so that each is chained rather than
        // counted as a repeat of the one before (kms_core::audit::repeat).
        export(&mut h, "alice", &s);
        let before = chain_len(&h, "alice");
        let e = h.rpc_err(
            "lease_issue",
            json!({"user": "alice", "credential": lease["credential"], "request": {"aud": aud, "sub": "mailto:a@b.example"}}),
        );
        assert!(["invalid_input", "forbidden"].contains(&e["code"].as_str().unwrap()), "{e}");
        assert_eq!(chain_len(&h, "alice"), before + 1, "no entry for a refused lease_issue with aud {aud:?}");
    }
    // The entries say what was sent, visibly: no control or bidi character,
    // at most 256 bytes, and the export still verifies.
    let out = export(&mut h, "alice", &s);
    let text = out["export"].as_str().unwrap();
    let refused: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["type"] == "entry" && v["event"] == "lease_token" && v["outcome"] == "refused")
        .collect();
    assert_eq!(refused.len(), hostile.len());
    for entry in &refused {
        let aud = entry["ids"]["aud"].as_str().unwrap();
        assert!(!aud.is_empty() && aud.len() <= 256, "{aud:?}");
        assert!(
            !aud.chars().any(|c| c.is_control()
                || ('\u{202a}'..='\u{202e}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c)),
            "{aud:?}"
        );
    }
    assert_eq!(refused[1]["ids"]["aud"], "\\u{202e}https://fcm.googleapis.com");
    let report = h.rpc_ok("audit_verify", json!({"export": text}));
    assert_eq!(report["valid"], json!(true), "{report}");
}

/// A verifier that asks for an export with a nonce of its own knows the
/// export it gets was made for that request: the final checkpoint signs the
/// nonce. An older export, replayed as current (with no nonce, or with the
/// nonce of another request), is refused with `nonce_mismatch`. (Before,
/// an old export presented as current verified.)
#[test]
fn an_export_made_for_a_nonce_is_told_from_a_replayed_one() {
    let mut h = Harness::new(930);
    let s = session_of(&serde_json::to_value(h.setup_passphrase("alice", PASS_A)).unwrap());
    let old = h.rpc_ok("audit_export", json!({"user": "alice", "session": s}))["export"].as_str().unwrap().to_owned();
    let first = h.rpc_ok("audit_export", json!({"user": "alice", "session": s, "nonce": "request-1"}));
    assert_eq!(first["checkpoint"]["nonce"], "request-1");
    let first = first["export"].as_str().unwrap().to_owned();
    let verify = |h: &mut Harness, export: &str, nonce: &str| {
        h.rpc_ok("audit_verify", json!({"export": export, "expected_nonce": nonce}))
    };
    assert_eq!(verify(&mut h, &first, "request-1")["valid"], json!(true));
    for (export, nonce) in [(&old, "request-1"), (&first, "request-2")] {
        let report = verify(&mut h, export, nonce);
        assert_eq!(report["valid"], json!(false));
        assert_eq!(report["first_failure"]["reason"], "nonce_mismatch", "{report}");
    }
    // The same exports still verify for a verifier that asked for no nonce,
    // and the nonce is in the log.
    assert_eq!(h.rpc_ok("audit_verify", json!({"export": first}))["valid"], json!(true));
    assert!(first.lines().any(|l| l.contains("\"event\":\"export\"") && l.contains("\"nonce\":\"request-1\"")));
    // A nonce is checked where it is given.
    let e = h.rpc_err("audit_export", json!({"user": "alice", "session": s, "nonce": "not a nonce"}));
    assert_eq!(e["code"], "invalid_input", "{e}");
}

/// Someone who can write the store cuts the tail of a user's log (say the
/// entries of tokens a relay took) and rewinds the chain state and the kept
/// checkpoints to match; the engine then appends and signs over the cut
/// log, and the export verifies against the pinned key. The MACs give it
/// away: the rewound state still holds the newest MAC key (the writer cannot
/// go back to an older one), so the next entries are MACed under the wrong
/// key for their place. `audit_verify` checks MACs whenever a live session
/// of the user exists, and so reports `mac_mismatch`; locked, it warns that
/// the MACs were not checked and names the command that checks them.
/// (Before, `audit_verify` never checked MACs: the cut log verified.)
#[test]
fn an_altered_export_is_caught_by_its_macs_while_the_user_is_unlocked() {
    let mut h = Harness::new(940);
    let s = session_of(&serde_json::to_value(h.setup_passphrase("alice", PASS_A)).unwrap());
    h.rpc_ok("vapid_generate", json!({"user": "alice", "session": s}));
    for _ in 0..3 {
        sign(&mut h, "alice", &s);
    }
    let pinned = h.record("users/alice/audit/key")["public_key"].clone();
    // An intact export, verified while the user is unlocked: MACs checked.
    let intact = export(&mut h, "alice", &s);
    let report = h.rpc_ok("audit_verify", json!({"export": intact["export"], "expected_public_key": pinned}));
    assert_eq!((report["valid"].clone(), report["macs_checked"].clone()), (json!(true), json!(true)), "{report}");
    // Someone edits entry 2 of the file and relinks the entries after it
    // (hashes are keyless); the MACs are not theirs to recompute.
    let mut lines: Vec<String> = intact["export"].as_str().unwrap().lines().map(str::to_owned).collect();
    let entry = |l: &str| -> kms_core::audit::AuditEntry {
        let mut v: Value = serde_json::from_str(l).unwrap();
        v.as_object_mut().unwrap().remove("type");
        serde_json::from_value(v).unwrap()
    };
    // The canonical line: `{"type":"entry",` then the entry's members.
    let line =
        |e: &kms_core::audit::AuditEntry| format!(r#"{{"type":"entry",{}"#, &serde_json::to_string(e).unwrap()[1..]);
    let mut prev_hash = None;
    for l in lines.iter_mut().filter(|l| l.starts_with(r#"{"type":"entry""#)) {
        let mut e = entry(l);
        if e.seq == 2 {
            e.ts_ms += 1;
        }
        if let Some(h) = prev_hash {
            e.prev = kms_core::b64::encode(h);
        }
        prev_hash = Some(kms_core::audit::entry_hash(&e).unwrap());
        *l = line(&e);
    }
    let altered = lines.join("\n") + "\n";
    let verify = |h: &mut Harness| h.rpc_ok("audit_verify", json!({"export": altered, "expected_public_key": pinned}));
    let unlocked = verify(&mut h);
    assert_eq!(unlocked["valid"], json!(false), "{unlocked}");
    assert_eq!(unlocked["first_failure"]["reason"], "mac_mismatch", "{unlocked}");
    assert_eq!(unlocked["first_failure"]["seq"], 2, "{unlocked}");
    // Locked: the MACs cannot be checked (the checkpoints still catch this
    // edit), and the report says how to check them.
    h.rpc_ok("lock", json!({"user": "alice", "session": s}));
    let locked = verify(&mut h);
    assert_eq!((locked["valid"].clone(), locked["macs_checked"].clone()), (json!(false), json!(false)), "{locked}");
    assert_ne!(locked["first_failure"]["reason"], "mac_mismatch", "{locked}");
    let warning = locked["warnings"].as_array().unwrap().iter().find(|w| w.as_str().unwrap().contains("MACs")).unwrap();
    assert!(warning.as_str().unwrap().contains("kms audit verify --user alice"), "{warning}");
}
