//! Leases and user deletion through the engine, with the fake clock: the
//! quota at its highest setting, refusals that say why and change nothing,
//! who may extend or revoke, clean-up of long-ended leases, and `user_delete`
//! (what it erases, what it keeps, and what every later caller is told).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use kms_core::ErrorCode;
use kms_worker::KmsConfig;
use serde_json::{json, Value};
use support::*;

const PASS: &str = "correct horse battery staple";
const FCM: &str = "https://fcm.googleapis.com";
const HOUR_MS: u64 = 3600 * 1000;

struct Granted {
    session: String,
    credential: String,
    lease_id: String,
}

/// `user` with a passphrase, a VAPID key and a lease with `lease` params
/// (audience FCM unless given).
fn grant(h: &mut Harness, user: &str, lease: Value) -> Granted {
    let s = h.setup_passphrase(user, PASS);
    let session = s.session.as_str().to_owned();
    h.rpc_ok("vapid_generate", json!({"user": user, "session": session}));
    let mut lease = lease;
    if lease.get("audiences").is_none() {
        lease["audiences"] = json!([FCM]);
    }
    if lease.get("relay").is_none() {
        lease["relay"] = json!("relay-1");
    }
    let created = h.rpc_ok("lease_create", json!({"user": user, "session": session, "lease": lease}));
    Granted {
        session,
        credential: created["credential"].as_str().unwrap().to_owned(),
        lease_id: created["lease"]["id"].as_str().unwrap().to_owned(),
    }
}

/// An engine whose sessions last 24 h, for tests that move the clock by
/// hours while the user stays.
fn long_sessions(seed: u64) -> Harness {
    Harness::with_config(seed, KmsConfig { session_ttl_ms: 24 * HOUR_MS, ..KmsConfig::default() })
}

fn issue(h: &mut Harness, user: &str, credential: &str, count: u32) -> Result<Value, Value> {
    h.rpc(
        "lease_issue",
        json!({"user": user, "credential": credential,
               "request": {"aud": FCM, "sub": "mailto:ops@example.com", "count": count}}),
    )
}

/// Every key under `users/<user>/` that is not part of the audit chain.
fn user_keys(h: &Harness, user: &str) -> Vec<String> {
    let prefix = format!("users/{user}/");
    h.snapshot().keys().filter(|k| k.starts_with(&prefix)).cloned().collect()
}

/// The entries of a chain, read from the store's pages.
fn chain_entries(h: &Harness, base: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for (k, v) in h.audit_snapshot() {
        if k.starts_with(&format!("{base}/audit/page/")) {
            out.extend(serde_json::from_slice::<Vec<Value>>(&v).unwrap());
        }
    }
    out
}

#[test]
fn a_lease_at_the_highest_quota_stays_usable_when_its_window_is_full() {
    let mut h = Harness::new(901);
    let g = grant(&mut h, "alice", json!({"tokens_per_hour": 3600, "max_batch": 100}));
    // 3,600 tokens in 36 batches a second apart: the record keeps 3,600
    // issuance times, the most it ever holds.
    for _ in 0..36 {
        h.clock.advance(1000);
        let r = issue(&mut h, "alice", &g.credential, 100).unwrap();
        assert_eq!(r["tokens"].as_array().unwrap().len(), 100);
    }
    let full = issue(&mut h, "alice", &g.credential, 1).unwrap_err();
    assert_eq!(full["code"], "quota_exceeded", "{full}");
    // The first batch leaves the window one hour after it was issued: 35 s
    // after the last one.
    let retry = full["retry_after_ms"].as_u64().unwrap();
    assert_eq!(retry, HOUR_MS - 35_000, "{full}");
    let listed = h.rpc_ok("lease_list", json!({"user": "alice", "session": g.session}));
    assert_eq!(listed["leases"][0]["tokens_left_this_hour"], 0);
    h.clock.advance(retry);
    let r = issue(&mut h, "alice", &g.credential, 100).unwrap();
    assert_eq!(r["tokens"].as_array().unwrap().len(), 100);
}

#[test]
fn an_ended_lease_is_refused_as_expired_and_only_its_key_goes() {
    let mut h = Harness::new(902);
    let g = grant(&mut h, "alice", json!({"lifetime_s": 3600}));
    issue(&mut h, "alice", &g.credential, 2).unwrap();
    h.clock.advance(HOUR_MS);
    let mut expected = h.snapshot();
    let lease_key = format!("users/alice/leases/{}", g.lease_id);
    let mut record: Value = serde_json::from_slice(&expected.remove(&lease_key).unwrap()).unwrap();
    record["sealed_key"] = Value::Null;
    record["issued"] = json!([]);
    let e = issue(&mut h, "alice", &g.credential, 1).unwrap_err();
    assert_eq!(e["code"], "lease_expired", "{e}");
    let mut after = h.snapshot();
    let stored: Value = serde_json::from_slice(&after.remove(&lease_key).unwrap()).unwrap();
    assert_eq!(stored, record, "a refusal of an ended lease erases its key and its issuance times");
    assert_eq!(after, expected, "and nothing else");
    let before = h.snapshot();
    assert_eq!(issue(&mut h, "alice", &g.credential, 1).unwrap_err()["code"], "lease_expired");
    assert_eq!(h.snapshot(), before, "a second refusal writes nothing but its audit entry");
    let refused: Vec<Value> = chain_entries(&h, "users/alice")
        .into_iter()
        .filter(|e| e["event"] == "lease_token" && e["outcome"] == "refused")
        .collect();
    assert_eq!(refused.len(), 2);
    assert_eq!(refused[0]["reason"], "lease_expired");
    assert_eq!(refused[0]["ids"]["lease_id"], json!(g.lease_id));
}

#[test]
fn a_credential_with_a_wrong_secret_is_refused_and_uses_no_quota() {
    let mut h = Harness::new(903);
    let g = grant(&mut h, "alice", json!({"tokens_per_hour": 3, "max_batch": 3}));
    // Same lease id, another secret of the same shape.
    let (head, secret) = g.credential.rsplit_once('.').unwrap();
    let flipped: String = secret
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i == 3 {
                if c == 'A' {
                    'B'
                } else {
                    'A'
                }
            } else {
                c
            }
        })
        .collect();
    let forged = format!("{head}.{flipped}");
    assert_ne!(forged, g.credential);
    let before = h.snapshot();
    let e = issue(&mut h, "alice", &forged, 1).unwrap_err();
    assert_ne!(e["code"], "internal", "{e}");
    assert_eq!(h.snapshot(), before);
    // The whole quota is still there for the real holder.
    assert_eq!(issue(&mut h, "alice", &g.credential, 3).unwrap()["tokens"].as_array().unwrap().len(), 3);
}

#[test]
fn only_a_session_of_the_granting_user_extends_or_revokes() {
    let mut h = Harness::new(904);
    let g = grant(&mut h, "alice", json!({"lifetime_s": 3600}));
    let bob = h.setup_passphrase("bob", PASS);
    let before = h.snapshot();
    for method in ["lease_revoke", "lease_extend"] {
        let mut params = json!({"user": "alice", "session": bob.session.as_str(), "lease_id": g.lease_id});
        if method == "lease_extend" {
            params["lifetime_s"] = json!(7200);
        }
        let e = h.rpc_err(method, params.clone());
        assert_ne!(e["code"], "internal", "{method}: {e}");
        params["user"] = json!("bob");
        let e = h.rpc_err(method, params);
        assert_eq!(e["code"], "not_found", "{method} of a lease bob does not have: {e}");
    }
    assert_eq!(h.snapshot(), before, "bob changed nothing");
    // Alice locks: her token no longer extends.
    h.rpc_ok("lock", json!({"user": "alice", "session": g.session}));
    let e = h.rpc_err(
        "lease_extend",
        json!({"user": "alice", "session": g.session, "lease_id": g.lease_id, "lifetime_s": 7200}),
    );
    assert_ne!(e["code"], "internal", "{e}");
    assert_eq!(h.snapshot(), before);
}

#[test]
fn extending_moves_the_end_and_never_happens_by_itself() {
    let mut h = long_sessions(905);
    let g = grant(&mut h, "alice", json!({"lifetime_s": 3600}));
    let created_end = h.rpc_ok("lease_list", json!({"user": "alice", "session": g.session}))["leases"][0]["expires_ms"]
        .as_u64()
        .unwrap();
    // Issuing does not extend.
    h.clock.advance(HOUR_MS / 2);
    issue(&mut h, "alice", &g.credential, 1).unwrap();
    let listed = h.rpc_ok("lease_list", json!({"user": "alice", "session": g.session}));
    assert_eq!(listed["leases"][0]["expires_ms"].as_u64().unwrap(), created_end);
    let extended = h.rpc_ok(
        "lease_extend",
        json!({"user": "alice", "session": g.session, "lease_id": g.lease_id, "lifetime_s": 7200}),
    );
    assert_eq!(extended["expires_ms"].as_u64().unwrap(), h.now() + 7200 * 1000);
    assert_eq!(extended["extended"], 1);
    h.clock.advance(HOUR_MS);
    issue(&mut h, "alice", &g.credential, 1).expect("still valid after the old end");
}

#[test]
fn leases_ended_a_week_ago_are_cleaned_up_by_listing_and_audited() {
    let mut h = Harness::new(906);
    let g = grant(&mut h, "alice", json!({"lifetime_s": 3600}));
    let lease_key = format!("users/alice/leases/{}", g.lease_id);
    assert!(h.get_raw(&lease_key).is_some());
    // Ended, but kept for a while so its holder is told "expired".
    h.clock.advance(2 * HOUR_MS);
    let s = h.unlock_passphrase("alice", PASS).unwrap();
    let session = session_of(&s);
    let listed = h.rpc_ok("lease_list", json!({"user": "alice", "session": session.as_str()}));
    assert_eq!(listed["leases"][0]["state"], "expired");
    assert!(listed.get("cleaned_up").is_none());
    h.clock.advance(7 * 24 * HOUR_MS);
    let s = h.unlock_passphrase("alice", PASS).unwrap();
    let session = session_of(&s);
    let listed = h.rpc_ok("lease_list", json!({"user": "alice", "session": session.as_str()}));
    assert_eq!(listed["leases"], json!([]));
    assert_eq!(listed["cleaned_up"], json!([g.lease_id]));
    assert!(h.get_raw(&lease_key).is_none());
    // Two entries: the key erased by the first unlock after the end, the
    // record deleted a week later.
    let expired: Vec<Value> =
        chain_entries(&h, "users/alice").into_iter().filter(|e| e["event"] == "lease_expire").collect();
    assert_eq!(expired.len(), 2);
    assert_eq!((expired[0]["reason"].clone(), expired[1]["reason"].clone()), (json!("key_erased"), Value::Null));
    assert!(expired.iter().all(|e| e["ids"]["lease_id"] == json!(g.lease_id)));
}

// ---- user deletion

#[test]
fn deleting_needs_the_user_id_repeated_and_a_session_of_that_user() {
    let mut h = Harness::new(910);
    let g = grant(&mut h, "alice", json!({}));
    let bob = h.setup_passphrase("bob", PASS);
    let before = h.snapshot();
    let e = h.rpc_err("user_delete", json!({"user": "alice", "session": g.session, "confirm": "Alice"}));
    assert_eq!(e["code"], "invalid_input", "{e}");
    let e = h.rpc_err("user_delete", json!({"user": "alice", "session": bob.session.as_str(), "confirm": "alice"}));
    assert_ne!(e["code"], "internal", "{e}");
    assert_eq!(h.snapshot(), before, "refused deletions erase nothing");
    let refused = chain_entries(&h, "users/alice")
        .into_iter()
        .filter(|e| e["event"] == "user_delete" && e["outcome"] == "refused")
        .count();
    assert_eq!(refused, 2, "both refusals are in alice's log");
    issue(&mut h, "alice", &g.credential, 1).expect("the lease still works");
}

#[test]
fn deleting_a_user_erases_every_secret_and_delegation_and_keeps_a_tombstone() {
    let mut h = Harness::new(911);
    let g = grant(&mut h, "alice", json!({}));
    // Something to erase of each kind: a second enrollment, a throttle
    // record, a rotated key, a subscription.
    h.rpc_ok(
        "add_enrollment",
        json!({"user": "alice", "session": g.session, "enrollment": {"kind": "passphrase", "passphrase": "another long passphrase"}}),
    );
    assert!(h.unlock_passphrase_of("alice", None, "wrong passphrase!").is_err());
    let bob = grant(&mut h, "bob", json!({}));
    let bob_before: Vec<(String, Vec<u8>)> =
        h.snapshot().into_iter().chain(h.audit_snapshot()).filter(|(k, _)| k.starts_with("users/bob/")).collect();
    let export_before = h.rpc_ok("audit_export", json!({"user": "alice", "session": g.session}));

    let out = h.rpc_ok("user_delete", json!({"user": "alice", "session": g.session, "confirm": "alice"}));
    assert_eq!(out["leases_revoked"], json!([g.lease_id]));
    assert_eq!(out["subscriptions_removed"], 0);

    // Only the tombstone is left outside the audit chain.
    assert_eq!(user_keys(&h, "alice"), vec!["users/alice/meta".to_owned()]);
    let meta = h.record("users/alice/meta");
    assert!(meta["deleted_ms"].as_u64().is_some(), "{meta}");
    assert!(meta["current_kid"].is_null());
    let audit_keys: Vec<String> = h.audit_snapshot().into_keys().filter(|k| k.starts_with("users/alice/")).collect();
    assert!(!audit_keys.iter().any(|k| k == "users/alice/audit/key"), "the sealed audit key is erased: {audit_keys:?}");
    // Bob is untouched.
    let bob_after: Vec<(String, Vec<u8>)> =
        h.snapshot().into_iter().chain(h.audit_snapshot()).filter(|(k, _)| k.starts_with("users/bob/")).collect();
    assert_eq!(bob_after, bob_before);
    issue(&mut h, "bob", &bob.credential, 1).expect("bob's lease still works");

    // The kept chain ends with the deletion under the returned checkpoint;
    // the returned export is that chain and verifies against it, with the
    // key pinned from the export taken before.
    let entries = chain_entries(&h, "users/alice");
    let last = entries.last().unwrap();
    assert_eq!(last["event"], "user_delete");
    assert_eq!(last["outcome"], "ok");
    assert_eq!(out["final_checkpoint"]["size"], json!(last["seq"].as_u64().unwrap() + 1));
    let header: Value =
        serde_json::from_str(export_before["export"].as_str().unwrap().lines().next().unwrap()).unwrap();
    let opts = kms_core::audit::VerifyOptions {
        expected_public_key: Some(
            kms_core::audit::AuditPublicKey::parse(&header["audit_public_key"].to_string()).unwrap(),
        ),
        expected_checkpoints: vec![serde_json::from_value(out["final_checkpoint"].clone()).unwrap()],
        ..Default::default()
    };
    let last_export = out["export"].as_str().unwrap();
    let report = kms_core::audit::verify_export(last_export, &opts);
    assert!(report.valid, "{report}");
    assert_eq!(report.entries, entries.len() as u64);
    // The export taken before the deletion is now recognisably stale.
    let report = kms_core::audit::verify_export(export_before["export"].as_str().unwrap(), &opts);
    assert!(!report.valid, "an export without the deletion passes against the final checkpoint");
    // The instance chain records it too.
    let instance = chain_entries(&h, "instance");
    assert!(
        instance.iter().any(|e| e["event"] == "user_delete"
            && e["ids"]["user"] == "alice"
            && e["ids"]["final_seq"] == json!(last["seq"].to_string())),
        "{instance:?}"
    );
}

#[test]
fn after_deletion_every_caller_is_told_user_deleted() {
    let mut h = Harness::new(912);
    let g = grant(&mut h, "alice", json!({}));
    h.rpc_ok("user_delete", json!({"user": "alice", "session": g.session, "confirm": "alice"}));
    let e = issue(&mut h, "alice", &g.credential, 1).unwrap_err();
    assert_eq!(e["code"], "user_deleted", "the relay is told why: {e}");
    assert_eq!(expect_code(h.unlock_passphrase("alice", PASS), ErrorCode::UserDeleted).code, ErrorCode::UserDeleted);
    for (method, params) in [
        ("vapid_public", json!({"user": "alice"})),
        ("list_enrollments", json!({"user": "alice"})),
        ("prf_begin", json!({"user": "alice"})),
        ("setup", json!({"user": "alice", "enrollment": {"kind": "passphrase", "passphrase": PASS}})),
    ] {
        let e = h.rpc_err(method, params);
        assert_eq!(e["code"], "user_deleted", "{method}: {e}");
    }
    // The old session is gone with the secrets.
    let e = h.rpc_err("audit_export", json!({"user": "alice", "session": g.session}));
    assert_ne!(e["code"], "internal", "{e}");
    // Refusals after deletion still land in the kept log.
    let after = chain_entries(&h, "users/alice");
    let deletion = after.iter().position(|e| e["event"] == "user_delete").unwrap();
    assert!(after[deletion + 1..].iter().any(|e| e["event"] == "lease_token" && e["reason"] == "user_deleted"));
}

#[test]
fn a_failed_deletion_leaves_everything_as_it_was() {
    let mem = std::rc::Rc::new(kms_storage::MemoryStore::new());
    let failing = std::rc::Rc::new(kms_storage::testing::FailingStore::new(mem.clone()));
    let mut h = Harness::over(913, KmsConfig::default(), failing.clone(), mem);
    let g = grant(&mut h, "alice", json!({}));
    let before = h.snapshot();
    failing.fail_next_commit();
    let e = h.rpc_err("user_delete", json!({"user": "alice", "session": g.session, "confirm": "alice"}));
    assert_eq!(e["code"], "storage", "{e}");
    assert_eq!(h.snapshot(), before);
    let failed = chain_entries(&h, "users/alice")
        .into_iter()
        .filter(|e| e["event"] == "user_delete" && e["outcome"] == "failed")
        .count();
    assert_eq!(failed, 1, "the failure is audited");
    // The session survived the failure: deletion can be retried.
    h.rpc_ok("user_delete", json!({"user": "alice", "session": g.session, "confirm": "alice"}));
    assert_eq!(user_keys(&h, "alice"), vec!["users/alice/meta".to_owned()]);
}

/// `credential` with its secret replaced: the right lease id, a wrong key.
fn wrong_secret(credential: &str) -> String {
    let (head, _) = credential.rsplit_once('.').unwrap();
    format!("{head}.{}", kms_core::b64::encode([0x5a; 32]))
}

/// A caller holding a lease id but not its secret learns nothing about the
/// lease: revoked, ended or bound to a rotated key, the answer to a wrong
/// credential is the same `forbidden` as for a usable lease. (Before, the
/// lease's state was checked, and told, before the credential.) The holder
/// of the right credential is still told why.
#[test]
fn a_wrong_credential_learns_nothing_of_the_lease_state() {
    let mut h = long_sessions(1800);
    let first = grant(&mut h, "alice", json!({"lifetime_s": 3600}));
    let s = first.session.clone();
    let lease = |h: &mut Harness| {
        let created = h.rpc_ok(
            "lease_create",
            json!({"user": "alice", "session": s, "lease": {"relay": "r", "audiences": [FCM], "lifetime_s": 3600}}),
        );
        (created["lease"]["id"].as_str().unwrap().to_owned(), created["credential"].as_str().unwrap().to_owned())
    };
    let refused = |h: &mut Harness, credential: &str| issue(h, "alice", credential, 1).unwrap_err();
    let invalid = |e: &Value| e["code"] == "forbidden" && e["message"] == "invalid lease credential";

    let (revoked_id, revoked) = lease(&mut h);
    h.rpc_ok("lease_revoke", json!({"user": "alice", "session": s, "lease_id": revoked_id}));
    let (_, rotated) = lease(&mut h);
    let ended = first.credential;
    h.clock.advance(1000);
    // Revoked: only the holder hears it.
    assert!(invalid(&refused(&mut h, &wrong_secret(&revoked))), "a wrong credential was told the lease is revoked");
    assert_eq!(refused(&mut h, &revoked)["code"], "lease_revoked");
    // Rotated key.
    h.rpc_ok("vapid_rotate", json!({"user": "alice", "session": s}));
    assert!(invalid(&refused(&mut h, &wrong_secret(&rotated))), "a wrong credential was told the key rotated");
    assert_eq!(refused(&mut h, &rotated)["code"], "lease_key_rotated");
    // Ended.
    h.clock.advance(HOUR_MS);
    assert!(invalid(&refused(&mut h, &wrong_secret(&ended))), "a wrong credential was told the lease ended");
    assert_eq!(refused(&mut h, &ended)["code"], "lease_expired");
}

/// The stored lease record of `user`'s lease `id`.
fn lease_record(h: &Harness, user: &str, id: &str) -> Value {
    h.record(&format!("users/{user}/leases/{id}"))
}

/// A lease's sealed key goes when the lease ends: the first call that reads
/// the lease after its end (the relay's next `lease_issue`, `lease_list`,
/// `lease_create`, `vapid_rotate`, an unlock) erases it in its own write, so
/// a copy of the store taken after that cannot give the relay the VAPID key.
/// (Before, the key stayed until a `lease_list` with a session deleted the
/// record 7 days after the end.)
#[test]
fn an_ended_lease_loses_its_sealed_key_at_the_next_call_that_reads_it() {
    let mut h = long_sessions(1810);
    let g = grant(&mut h, "alice", json!({"lifetime_s": 60}));
    assert!(lease_record(&h, "alice", &g.lease_id)["sealed_key"].is_string());
    h.clock.advance(61_000);
    assert!(lease_record(&h, "alice", &g.lease_id)["sealed_key"].is_string(), "the end alone writes nothing");
    // The relay's next request: refused, and the key is gone in that write.
    assert_eq!(issue(&mut h, "alice", &g.credential, 1).unwrap_err()["code"], "lease_expired");
    let record = lease_record(&h, "alice", &g.lease_id);
    assert!(record["sealed_key"].is_null(), "{record}");
    assert_eq!(record["issued"], json!([]));
    // Still answered as ended, to the holder.
    assert_eq!(issue(&mut h, "alice", &g.credential, 1).unwrap_err()["code"], "lease_expired");
    let listed = h.rpc_ok("lease_list", json!({"user": "alice", "session": g.session}));
    assert_eq!(listed["leases"][0]["state"], "expired");
}

#[test]
fn unlock_and_lease_list_sweep_the_keys_of_ended_leases() {
    let mut h = long_sessions(1820);
    let g = grant(&mut h, "alice", json!({"lifetime_s": 60}));
    let other = h.rpc_ok(
        "lease_create",
        json!({"user": "alice", "session": g.session, "lease": {"relay": "r2", "audiences": [FCM], "lifetime_s": 7200}}),
    );
    let other_id = other["lease"]["id"].as_str().unwrap().to_owned();
    h.rpc_ok("lock", json!({"user": "alice", "session": g.session}));
    h.clock.advance(61_000);
    // The user comes back: the unlock's write takes the ended lease's key.
    let s = session_of(&h.unlock_passphrase("alice", PASS).unwrap());
    assert!(lease_record(&h, "alice", &g.lease_id)["sealed_key"].is_null(), "unlock did not sweep");
    assert!(lease_record(&h, "alice", &other_id)["sealed_key"].is_string(), "a live lease keeps its key");
    // A listing after the second one ends sweeps it too.
    h.clock.advance(7200 * 1000);
    h.rpc_ok("lease_list", json!({"user": "alice", "session": s}));
    assert!(lease_record(&h, "alice", &other_id)["sealed_key"].is_null(), "lease_list did not sweep");
    let out = h.rpc_ok("audit_export", json!({"user": "alice", "session": s}));
    let erased = out["export"]
        .as_str()
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"lease_expire\"") && l.contains("key_erased"))
        .count();
    assert_eq!(erased, 2);
}

/// A lease lasts at most 7 days from its creation or extension unless the
/// engine is configured for more (up to 30); the cap is a refusal that
/// names it, at creation and at extension.
#[test]
fn leases_last_at_most_seven_days_unless_configured() {
    const DAY_S: u64 = 86_400;
    let mut h = long_sessions(1830);
    let g = grant(&mut h, "alice", json!({"lifetime_s": 7 * DAY_S}));
    let create = |h: &mut Harness, lifetime_s: u64| {
        h.rpc(
            "lease_create",
            json!({"user": "alice", "session": g.session, "lease": {"relay": "r", "audiences": [FCM], "lifetime_s": lifetime_s}}),
        )
    };
    let e = create(&mut h, 7 * DAY_S + 1).unwrap_err();
    assert_eq!(e["code"], "invalid_input");
    assert!(e["message"].as_str().unwrap().contains("at most 604800 s (7 days)"), "{e}");
    let e = h.rpc_err(
        "lease_extend",
        json!({"user": "alice", "session": g.session, "lease_id": g.lease_id, "lifetime_s": 8 * DAY_S}),
    );
    assert_eq!(e["code"], "invalid_input", "{e}");

    // Configured for 30 days: 30 days pass, 31 do not (the ceiling).
    h.restart(KmsConfig { session_ttl_ms: 24 * HOUR_MS, max_lease_lifetime_s: 30 * DAY_S, ..KmsConfig::default() });
    let s = session_of(&h.unlock_passphrase("alice", PASS).unwrap());
    let created = h.rpc(
        "lease_create",
        json!({"user": "alice", "session": s, "lease": {"relay": "r", "audiences": [FCM], "lifetime_s": 30 * DAY_S}}),
    );
    assert!(created.is_ok(), "{created:?}");
    let too_long = KmsConfig { max_lease_lifetime_s: 31 * DAY_S, ..KmsConfig::default() };
    let engine = kms_worker::Kms::new(
        Box::new(kms_storage::MemoryStore::new()),
        kms_worker::Platform::native(kms_core::env::ManualClock::new(0), rand_core::OsRng),
        too_long,
    );
    assert!(engine.is_err());
}

/// Anyone holding a user id and a lease id can have refusals made without
/// a session. 100,000 of them leave a log that still exports and verifies,
/// and it grows with the time they take, not with their number: the first
/// of each run is an entry, the repeats become one summary entry
/// (`kms_core::audit::repeat`). (Before, each was an entry: 40,000 took an
/// export past the verifier's 10 MiB cap.)
#[test]
fn a_hundred_thousand_refusals_leave_a_log_that_exports_and_verifies() {
    let mut h = long_sessions(1900);
    let g = grant(&mut h, "alice", json!({}));
    let wrong = wrong_secret(&g.credential);
    let export_len = |h: &mut Harness| {
        let exported = h.rpc_ok("audit_export", json!({"user": "alice", "session": g.session}));
        let text = exported["export"].as_str().unwrap().to_owned();
        let report = h.rpc_ok("audit_verify", json!({"export": text}));
        assert_eq!(report["valid"], json!(true), "{report}");
        text.len()
    };
    let base = export_len(&mut h);
    let mut sizes = Vec::new();
    let mut done = 0u32;
    for target in [1_000u32, 10_000, 100_000] {
        while done < target {
            // One refusal a millisecond: 100 s of calls in all.
            h.clock.advance(1);
            let e = issue(&mut h, "alice", &wrong, 1).unwrap_err();
            assert_eq!(e["code"], "forbidden");
            done += 1;
        }
        sizes.push(export_len(&mut h) - base);
    }
    // 100 times the calls, in 100 times the time: two windows' worth of
    // entries, not 100 times the bytes.
    assert!(sizes[2] < 4 * sizes[0], "export growth {sizes:?}");
    // Every refusal is accounted for: chained, or counted in a summary.
    let exported = h.rpc_ok("audit_export", json!({"user": "alice", "session": g.session}));
    let mut counted = 0u64;
    for line in exported["export"].as_str().unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if v["event"] == "lease_token" && v["outcome"] == "refused" {
            // A summary stands for its `repeated` refusals; any other entry for one.
            counted += v["ids"]["repeated"].as_str().map_or(1, |n| n.parse::<u64>().unwrap());
        }
    }
    assert_eq!(counted, 100_000);

    // Varying what the caller names (lease ids it invents) or interleaving
    // kinds of refusal (a `lock` with a made-up session) starts no new run:
    // 20,000 such calls add one entry per kind and their summaries.
    let refused_entries = |h: &mut Harness| {
        let exported = h.rpc_ok("audit_export", json!({"user": "alice", "session": g.session}));
        exported["export"].as_str().unwrap().lines().filter(|l| l.contains("\"outcome\":\"refused\"")).count()
    };
    let before = refused_entries(&mut h);
    for i in 0..10_000u32 {
        h.clock.advance(1);
        let invented =
            format!("kmsl1.{}.{}", kms_core::b64::encode(i.to_be_bytes().repeat(4)), kms_core::b64::encode([0x5a; 32]));
        let e = issue(&mut h, "alice", &invented, 1).unwrap_err();
        assert_eq!(e["code"], "not_found", "{e}");
        let e =
            h.rpc_err("lock", json!({"user": "alice", "session": kms_core::b64::encode(i.to_le_bytes().repeat(8))}));
        assert_eq!(e["code"], "locked", "{e}");
    }
    assert_eq!(refused_entries(&mut h) - before, 4, "a first entry and a summary for each of the two kinds");
}
