//! The engine will not vouch for a rewritten audit log. Each test plays a
//! writer of the store (it holds the stored chain state, `K_n` included, but
//! not the master secret) and checks that the next checkpoint the engine
//! would sign is refused with `integrity` naming the first bad `seq`, that a
//! `tamper_detected` entry keeps the evidence, and that the user can go on.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use kms_core::audit::{entry_hash, AuditEntry};
use serde_json::{json, Value};
use support::*;

const FCM: &str = "https://fcm.googleapis.com";
const STATE: &str = "users/alice/audit/state";
const PAGE0: &str = "users/alice/audit/page/000000000000";
const MARK: &str = "users/alice/audit/mark";
const CHECKPOINTS: &str = "users/alice/audit/checkpoints";

fn session(v: &Value) -> String {
    v["session"].as_str().unwrap().to_owned()
}

fn page(h: &Harness) -> Vec<AuditEntry> {
    serde_json::from_slice(&h.get_raw(PAGE0).unwrap()).unwrap()
}

fn checkpoint_count(h: &Harness) -> usize {
    serde_json::from_slice::<Vec<Value>>(&h.get_raw(CHECKPOINTS).unwrap()).unwrap().len()
}

/// The writer's cut: keeps the first `keep` entries, sets the state's
/// `next_seq` and head to match (it can compute both), and keeps the MAC key
/// it holds (it cannot compute an older one). Checkpoints past the cut go.
fn cut_to(h: &Harness, keep: usize) {
    let mut entries = page(h);
    entries.truncate(keep);
    let last = entries.last().unwrap();
    let mut state = h.record(STATE);
    state["next_seq"] = json!(last.seq + 1);
    state["head"] = json!(kms_core::b64::encode(entry_hash(last).unwrap()));
    h.put_raw(PAGE0, serde_json::to_vec(&entries).unwrap());
    h.put_record(STATE, &state);
    let cps: Vec<Value> = serde_json::from_slice(&h.get_raw(CHECKPOINTS).unwrap()).unwrap();
    let kept: Vec<Value> = cps.into_iter().filter(|c| c["size"].as_u64().unwrap() <= last.seq + 1).collect();
    h.put_record(CHECKPOINTS, &json!(kept));
}

/// Rewrites entry `seq` with `edit`, then relinks every later entry and the
/// state's head (all keyless), as a writer can.
fn alter(h: &Harness, seq: usize, edit: impl FnOnce(&mut AuditEntry)) {
    let mut entries = page(h);
    edit(&mut entries[seq]);
    for i in seq + 1..entries.len() {
        entries[i].prev = kms_core::b64::encode(entry_hash(&entries[i - 1]).unwrap());
    }
    let mut state = h.record(STATE);
    state["head"] = json!(kms_core::b64::encode(entry_hash(entries.last().unwrap()).unwrap()));
    h.put_raw(PAGE0, serde_json::to_vec(&entries).unwrap());
    h.put_record(STATE, &state);
}

fn tamper_entries(h: &Harness) -> Vec<AuditEntry> {
    page(h).into_iter().filter(|e| e.event == kms_core::audit::EventKind::TamperDetected).collect()
}

/// alice with a VAPID key and a lease; returns (session, credential).
fn alice_with_lease(h: &mut Harness) -> (String, String) {
    let s = session(&serde_json::to_value(h.setup_passphrase("alice", PASS_A)).unwrap());
    h.rpc_ok("vapid_generate", json!({"user": "alice", "session": s}));
    let lease = json!({"relay": "relay-1", "audiences": [FCM]});
    let created = h.rpc_ok("lease_create", json!({"user": "alice", "session": s, "lease": lease}));
    (s, created["credential"].as_str().unwrap().to_owned())
}

fn issue(h: &mut Harness, credential: &str) {
    h.rpc_ok(
        "lease_issue",
        json!({"user": "alice", "credential": credential,
               "request": {"aud": FCM, "sub": "mailto:ops@example.com", "count": 1}}),
    );
}

#[test]
fn tokens_cut_from_the_log_while_the_user_was_locked_are_caught_at_the_next_unlock() {
    let mut h = Harness::new(1300);
    let (s, credential) = alice_with_lease(&mut h);
    h.rpc_ok("lock", json!({"user": "alice", "session": s}));
    // A relay takes three tokens while alice is locked.
    for _ in 0..3 {
        issue(&mut h, &credential);
    }
    let before_cut = page(&h).len();
    let first_token = before_cut - 3;
    let signed_before = checkpoint_count(&h);
    // The writer removes them and rewinds the state.
    cut_to(&h, first_token);

    let e = expect_code(h.unlock_passphrase("alice", PASS_A), kms_core::ErrorCode::Integrity);
    assert_eq!(e.first_bad_seq, Some(first_token as u64), "{e:?}");
    assert!(e.message.contains(&format!("seq {first_token}")), "{}", e.message);
    assert_eq!(checkpoint_count(&h), signed_before, "a checkpoint was signed over the cut log");
    let found = tamper_entries(&h);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].ids["first_bad_seq"], first_token.to_string());
    assert_eq!(found[0].ids["found"], "state_mismatch");

    // The finding is recorded once; the user gets in, and every export
    // from now on shows it.
    let s = session(&h.unlock_passphrase("alice", PASS_A).unwrap());
    let out = h.rpc_ok("audit_export", json!({"user": "alice", "session": s}));
    assert_eq!(tamper_entries(&h).len(), 1);
    let pinned = h.record("users/alice/audit/key")["public_key"].clone();
    let report = h.rpc_ok("audit_verify", json!({"export": out["export"], "expected_public_key": pinned}));
    assert_eq!((report["valid"].clone(), report["macs_checked"].clone()), (json!(true), json!(true)), "{report}");
    assert_eq!(report["tamper_detected"], json!([found[0].seq]), "{report}");
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains(&format!("says seq {first_token} was not as it wrote it")), "{warnings}");
    // The failed unlock is in the log too, after the finding.
    let text = out["export"].as_str().unwrap();
    assert!(text.contains(r#""event":"unlock","outcome":"refused""#) && text.contains(r#""reason":"integrity""#));
}

#[test]
fn a_cut_log_gets_no_checkpoint_at_export_and_the_retry_shows_the_cut() {
    let mut h = Harness::new(1301);
    let (s, credential) = alice_with_lease(&mut h);
    issue(&mut h, &credential);
    issue(&mut h, &credential);
    let pinned = h.record("users/alice/audit/key")["public_key"].clone();
    let n = page(&h).len();
    cut_to(&h, n - 2);
    let signed_before = checkpoint_count(&h);
    let e = h.rpc_err("audit_export", json!({"user": "alice", "session": s}));
    assert_eq!((e["code"].clone(), e["first_bad_seq"].clone()), (json!("integrity"), json!(n - 2)), "{e}");
    assert_eq!(checkpoint_count(&h), signed_before);
    // Read what is there: the retry exports it, the finding included, and
    // the export verifies with MACs while alice is unlocked.
    let out = h.rpc_ok("audit_export", json!({"user": "alice", "session": s}));
    let report = h.rpc_ok("audit_verify", json!({"export": out["export"], "expected_public_key": pinned}));
    assert_eq!((report["valid"].clone(), report["macs_checked"].clone()), (json!(true), json!(true)), "{report}");
    assert_eq!(report["tamper_detected"].as_array().unwrap().len(), 1, "{report}");
    // Locked, the report says how to check the MACs.
    h.rpc_ok("lock", json!({"user": "alice", "session": s}));
    let locked = h.rpc_ok("audit_verify", json!({"export": out["export"], "expected_public_key": pinned}));
    assert_eq!(locked["macs_checked"], json!(false));
    assert!(locked["warnings"].to_string().contains("kms audit verify --user alice"), "{locked}");
}

#[test]
fn an_entry_altered_since_the_last_checkpoint_is_caught_and_lock_still_locks() {
    let mut h = Harness::new(1302);
    let (s, credential) = alice_with_lease(&mut h);
    issue(&mut h, &credential);
    let n = page(&h).len();
    // The token entry now names another audience; links and head recomputed.
    alter(&h, n - 1, |e| {
        e.ids.insert("aud".into(), "https://elsewhere.example".into());
    });
    let e = h.rpc_err("lock", json!({"user": "alice", "session": s}));
    assert_eq!((e["code"].clone(), e["first_bad_seq"].clone()), (json!("integrity"), json!(n - 1)), "{e}");
    assert_eq!(tamper_entries(&h)[0].ids["found"], "mac_mismatch");
    // The session is gone all the same.
    let status = h.rpc_err("session_status", json!({"user": "alice", "session": s}));
    assert_eq!(status["code"], "locked", "{status}");
    let s = session(&h.unlock_passphrase("alice", PASS_A).unwrap());
    h.rpc_ok("lock", json!({"user": "alice", "session": s}));
}

#[test]
fn a_rewrite_before_the_mark_is_caught_and_so_is_one_behind_a_deleted_mark() {
    // Before the mark (the export left one at its end): entry 1 altered and
    // everything relinked. The incremental check sees the stored head
    // differ from the one the mark sealed, and names the first position it
    // covers.
    let mut h = Harness::new(1303);
    let (s, _) = alice_with_lease(&mut h);
    h.rpc_ok("audit_export", json!({"user": "alice", "session": s}));
    let n = page(&h).len();
    alter(&h, 1, |e| e.ts_ms += 1);
    let e = h.rpc_err("audit_export", json!({"user": "alice", "session": s}));
    assert_eq!((e["code"].clone(), e["first_bad_seq"].clone()), (json!("integrity"), json!(n)), "{e}");
    assert_eq!(tamper_entries(&h)[0].ids["found"], "state_mismatch");

    // Without a mark the engine checks from K_0: slower, never blind.
    let mut h = Harness::new(1304);
    let (s, _) = alice_with_lease(&mut h);
    alter(&h, 1, |e| e.ts_ms += 1);
    h.delete_raw(MARK);
    let e = h.rpc_err("audit_export", json!({"user": "alice", "session": s}));
    assert_eq!((e["code"].clone(), e["first_bad_seq"].clone()), (json!("integrity"), json!(1)), "{e}");
    assert_eq!(tamper_entries(&h)[0].ids["found"], "mac_mismatch");
    // A forged mark (another user's, moved here) opens as nothing, and the
    // full check passes an intact log.
    let mut h = Harness::new(1305);
    let (s, _) = alice_with_lease(&mut h);
    let bob = session(&serde_json::to_value(h.setup_passphrase("bob", PASS_B)).unwrap());
    h.rpc_ok("lock", json!({"user": "bob", "session": bob}));
    h.put_raw(MARK, h.get_raw("users/bob/audit/mark").unwrap());
    h.rpc_ok("audit_export", json!({"user": "alice", "session": s}));
    assert!(tamper_entries(&h).is_empty());
}

#[test]
fn a_log_rewound_behind_the_mark_says_entries_are_missing() {
    let mut h = Harness::new(1306);
    let (s, credential) = alice_with_lease(&mut h);
    issue(&mut h, &credential);
    h.rpc_ok("lock", json!({"user": "alice", "session": s}));
    // The writer cuts the chain back three entries, behind the mark the
    // engine sealed at lock.
    let n = page(&h).len();
    cut_to(&h, n - 3);
    let e = expect_code(h.unlock_passphrase("alice", PASS_A), kms_core::ErrorCode::Integrity);
    assert_eq!(e.first_bad_seq, Some((n - 3) as u64));
    assert_eq!(tamper_entries(&h)[0].ids["found"], "entries_missing");
}

#[test]
fn an_intact_log_is_never_reported() {
    let mut h = Harness::new(1307);
    let (s, credential) = alice_with_lease(&mut h);
    // Across a page boundary, in and out of sessions.
    for _ in 0..55 {
        issue(&mut h, &credential);
    }
    h.rpc_ok("audit_export", json!({"user": "alice", "session": s}));
    h.rpc_ok("lock", json!({"user": "alice", "session": s}));
    h.clock.advance(3_700_000);
    for _ in 0..15 {
        issue(&mut h, &credential);
    }
    for _ in 0..3 {
        expect_code(h.unlock_passphrase("alice", PASS_WRONG), kms_core::ErrorCode::UnlockFailed);
    }
    h.clock.advance(60_000);
    let s = session(&h.unlock_passphrase("alice", PASS_A).unwrap());
    h.rpc_ok("user_delete", json!({"user": "alice", "session": s, "confirm": "alice"}));
    let all: Vec<AuditEntry> = (0..3)
        .filter_map(|p| h.get_raw(&format!("users/alice/audit/page/{p:012}")))
        .flat_map(|b| serde_json::from_slice::<Vec<AuditEntry>>(&b).unwrap())
        .collect();
    assert!(all.len() > 70);
    assert!(all.iter().all(|e| e.event != kms_core::audit::EventKind::TamperDetected));
}

#[test]
fn a_state_that_claims_a_huge_log_costs_nothing_and_the_finding_goes_where_the_pages_end() {
    let mut h = Harness::new(1308);
    let (s, credential) = alice_with_lease(&mut h);
    issue(&mut h, &credential);
    let real = page(&h).len();
    // The writer claims 2^50 entries (one read per claimed page would never end).
    let mut state = h.record(STATE);
    state["next_seq"] = json!(1u64 << 50);
    h.put_record(STATE, &state);
    let e = h.rpc_err("audit_export", json!({"user": "alice", "session": s}));
    assert_eq!((e["code"].clone(), e["first_bad_seq"].clone()), (json!("integrity"), json!(real)), "{e}");
    let found = tamper_entries(&h);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].seq, real as u64, "the finding was placed at the claimed end, not where the pages end");
    // The finding, then the refused export's own entry.
    assert_eq!(h.record(STATE)["next_seq"], json!(real + 2));
    // The retry exports a log that links and verifies, the finding in it.
    let out = h.rpc_ok("audit_export", json!({"user": "alice", "session": s}));
    let pinned = h.record("users/alice/audit/key")["public_key"].clone();
    let report = h.rpc_ok("audit_verify", json!({"export": out["export"], "expected_public_key": pinned}));
    assert_eq!(report["valid"], json!(true), "{report}");
    assert_eq!(report["tamper_detected"], json!([real]), "{report}");
}

#[test]
fn an_entry_slipped_in_after_the_mark_is_caught_and_reported_once() {
    let mut h = Harness::new(1309);
    let (s, _) = alice_with_lease(&mut h);
    h.rpc_ok("audit_export", json!({"user": "alice", "session": s}));
    // A copy of the last entry appended to its page, the state untouched.
    let mut entries = page(&h);
    entries.push(entries.last().unwrap().clone());
    let at = entries.len() - 1;
    h.put_raw(PAGE0, serde_json::to_vec(&entries).unwrap());
    let e = h.rpc_err("audit_export", json!({"user": "alice", "session": s}));
    assert_eq!((e["code"].clone(), e["first_bad_seq"].clone()), (json!("integrity"), json!(at)), "{e}");
    assert_eq!(tamper_entries(&h)[0].ids["found"], "seq_gap");
    // Reported once: the next calls work and write no second finding.
    h.rpc_ok("audit_export", json!({"user": "alice", "session": s}));
    h.rpc_ok("lock", json!({"user": "alice", "session": s}));
    let s = session(&h.unlock_passphrase("alice", PASS_A).unwrap());
    h.rpc_ok("audit_export", json!({"user": "alice", "session": s}));
    assert_eq!(tamper_entries(&h).len(), 1);
}

#[test]
fn a_full_page_with_one_entry_too_many_is_caught() {
    let mut h = Harness::new(1310);
    let (s, credential) = alice_with_lease(&mut h);
    // Fill page 0 exactly (64 entries), then a checkpoint: the mark sits at
    // the page boundary.
    while page(&h).len() < 63 {
        issue(&mut h, &credential);
    }
    h.rpc_ok("audit_export", json!({"user": "alice", "session": s}));
    assert_eq!(page(&h).len(), 64);
    assert!(h.get_raw("users/alice/audit/page/000000000001").is_none());
    let mut entries = page(&h);
    entries.push(entries.last().unwrap().clone());
    h.put_raw(PAGE0, serde_json::to_vec(&entries).unwrap());
    let e = h.rpc_err("audit_export", json!({"user": "alice", "session": s}));
    assert_eq!((e["code"].clone(), e["first_bad_seq"].clone()), (json!("integrity"), json!(64)), "{e}");
}
