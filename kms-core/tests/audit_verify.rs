//! `verify_export`: a clean export verifies, and every kind of tampering is
//! reported with its own reason, at the sequence number (and line) where it
//! is found.
//!
//! The sample export (see `support/audit.rs`) has a header on line 1, nine
//! entries (seq 0..=8) on lines 2..=10, and checkpoints of sizes 4, 8 and 9
//! on lines 11, 12 and 13.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use kms_core::audit::{
    self, entry_hash, genesis_hash, AuditEntry, AuditRecord, AuditScope, AuditSigningKey, ChainState, Checkpoint,
    EventKind, FailureReason, Outcome, VerifyOptions, VerifyReport,
};
use kms_core::testing::encoding::{b64, unb64};
use support::audit::{join, lines, relink, sample, set_count, Log, Parts};

const ENTRIES: usize = 9;

/// Asserts that verification fails with `reason` at `seq` (and `line`).
#[track_caller]
fn expect(
    text: &str,
    opts: &VerifyOptions,
    reason: FailureReason,
    seq: Option<u64>,
    line: Option<usize>,
) -> VerifyReport {
    let report = audit::verify_export(text, opts);
    assert!(!report.valid, "expected {reason}, but the export verified:\n{report}");
    let f = report.first_failure.clone().expect("a failure");
    assert_eq!((f.reason, f.seq, f.line), (reason, seq, line), "{}", f.detail);
    assert!(!f.detail.is_empty());
    report
}

fn none() -> VerifyOptions {
    VerifyOptions::default()
}

/// Restores a copy of a chain state, as storage holds it.
fn copy_state(s: &ChainState) -> ChainState {
    serde_json::from_str(&serde_json::to_string(s).unwrap()).unwrap()
}

#[test]
fn a_clean_export_verifies_with_and_without_pins() {
    let (log, text) = sample("alice", 1);

    let r = audit::verify_export(&text, &none());
    assert!(r.valid, "{r}");
    assert_eq!(r.first_failure, None);
    assert_eq!(r.entries, ENTRIES as u64);
    assert_eq!(r.checkpoints_verified, 3);
    assert_eq!(r.head.as_deref(), Some(log.state.head_b64().as_str()));
    assert_eq!(r.scope.as_deref(), Some("user:alice"));
    assert_eq!(r.audit_kid.as_deref(), Some(log.key.kid().as_str()));
    assert!(!r.macs_checked);
    assert_eq!(r.warnings.len(), 2, "{:?}", r.warnings);
    assert!(r.warnings[0].starts_with("no expected key pinned: trusted the key in the header (kid "));
    assert!(r.warnings[0].contains(log.key.kid().as_str()));
    assert!(r.warnings[1].starts_with("MACs not checked (no key)"));

    let r = audit::verify_export(&text, &log.full_opts());
    assert!(r.valid, "{r}");
    assert!(r.macs_checked);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);

    // Pinned by checkpoints held from before instead of the key itself.
    let opts = VerifyOptions { expected_checkpoints: log.checkpoints[..2].to_vec(), ..Default::default() };
    let r = audit::verify_export(&text, &opts);
    assert!(r.valid, "{r}");
    assert_eq!(r.expected_checkpoints_verified, 2);
    assert_eq!(r.warnings.len(), 1, "only the MAC warning: {:?}", r.warnings);

    // The human form names the outcome.
    assert!(r.to_string().starts_with("VALID\n"));
}

#[test]
fn the_report_serializes_to_a_stable_json_shape() {
    let (log, text) = sample("alice", 2);
    let ok = serde_json::to_value(audit::verify_export(&text, &log.full_opts())).unwrap();
    let expected = serde_json::json!({
        "valid": true,
        "scope": "user:alice",
        "audit_kid": log.key.kid().as_str(),
        "exported_ms": log.checkpoints[2].ts_ms,
        "entries": 9,
        "checkpoints_verified": 3,
        "expected_checkpoints_verified": 0,
        "macs_checked": true,
        "head": log.state.head_b64(),
        "first_failure": null,
        "tamper_detected": [],
        "warnings": [],
    });
    assert_eq!(ok, expected);

    let mut ls = lines(&text);
    ls.remove(6); // entry 5
    let report = audit::verify_export(&join(&ls), &log.full_opts());
    let bad = serde_json::to_value(&report).unwrap();
    assert_eq!(bad["valid"], false);
    let failure = bad["first_failure"].as_object().unwrap();
    let mut keys: Vec<&str> = failure.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["detail", "line", "reason", "seq"]);
    assert_eq!(failure["reason"], "entry_missing");
    assert_eq!(failure["seq"], 5);
    assert_eq!(failure["line"], 7);
    assert!(failure["detail"].as_str().unwrap().contains("missing"));
    // And back.
    let again: VerifyReport = serde_json::from_value(bad).unwrap();
    assert_eq!(again, report);
    assert!(report.to_string().contains("first failure: entry_missing at seq 5, line 7"));

    let garbage = serde_json::to_value(audit::verify_export("nonsense", &none())).unwrap();
    assert_eq!(garbage["scope"], serde_json::Value::Null);
    assert_eq!(garbage["entries"], 0);
    assert_eq!(garbage["exported_ms"], serde_json::Value::Null);
    assert_eq!(garbage["first_failure"]["seq"], serde_json::Value::Null);
    assert_eq!(garbage["first_failure"]["reason"], "truncated");
}

/// Every field of every entry, changed to another valid value: always
/// detected. Without the MAC key the break shows where the chain stops
/// linking; with it, at the altered entry itself.
#[test]
fn a_modified_field_of_any_entry_is_detected() {
    let (log, text) = sample("alice", 3);
    let parts = Parts::of(&text);
    type Edit = (&'static str, fn(&mut AuditEntry));
    let edits: [Edit; 11] = [
        ("seq", |e| e.seq += 100),
        ("ts_ms", |e| e.ts_ms += 1),
        ("scope", |e| e.scope = AuditScope::Instance),
        ("event", |e| e.event = if e.event == EventKind::Export { EventKind::Verify } else { EventKind::Export }),
        ("outcome", |e| e.outcome = if e.outcome == Outcome::Ok { Outcome::Failed } else { Outcome::Ok }),
        ("method", |e| e.method = if e.method.is_some() { None } else { Some("passkey_prf".into()) }),
        ("ids (add)", |e| {
            e.ids.insert("zz".into(), "x".into());
        }),
        ("ids (remove all or add)", |e| {
            if e.ids.is_empty() {
                e.ids.insert("a".into(), "b".into());
            } else {
                e.ids.clear();
            }
        }),
        ("reason", |e| e.reason = if e.reason.is_some() { None } else { Some("throttled".into()) }),
        ("prev", |e| e.prev = b64([7u8; 32])),
        ("mac", |e| e.mac = b64([9u8; 32])),
    ];
    let last = ENTRIES - 1;
    let mut cases = 0;
    for i in 0..ENTRIES {
        for (field, edit) in &edits {
            let mut p = Parts::of(&text);
            edit(&mut p.entries[i]);
            assert_ne!(p.entries[i], parts.entries[i]);
            let tampered = p.text();
            let seq = i as u64;
            let line = i + 2;
            let (reason, at, at_line) = match *field {
                "seq" => (FailureReason::SeqNotContiguous, seq, line),
                "scope" => (FailureReason::ScopeMismatch, seq, line),
                "prev" if i == 0 => (FailureReason::BadGenesis, seq, line),
                "prev" => (FailureReason::LinkMismatch, seq, line),
                // The last entry has no successor: the final checkpoint (line
                // 13) no longer matches.
                _ if i == last => (FailureReason::CheckpointHeadMismatch, seq, 13),
                _ => (FailureReason::LinkMismatch, seq + 1, line + 1),
            };
            let r = expect(&tampered, &none(), reason, Some(at), Some(at_line));
            assert_eq!(r.entries, ENTRIES as u64, "{field} of {i}");
            // With K_0, a body change is caught at the entry itself.
            let (reason, at, at_line) = match *field {
                "seq" | "scope" | "prev" => (reason, at, at_line),
                _ => (FailureReason::MacMismatch, seq, line),
            };
            expect(&tampered, &log.full_opts(), reason, Some(at), Some(at_line));
            cases += 1;
        }
    }
    assert_eq!(cases, ENTRIES * edits.len());
}

#[test]
fn a_deleted_middle_entry_is_detected() {
    let (log, text) = sample("alice", 4);
    // The line removed, the header's count left as it was or fixed.
    let mut ls = lines(&text);
    ls.remove(6); // entry 5
    expect(&join(&ls), &none(), FailureReason::EntryMissing, Some(5), Some(7));
    let mut p = Parts::of(&text);
    p.entries.remove(5);
    expect(&p.text(), &none(), FailureReason::EntryMissing, Some(5), Some(7));
    expect(&p.text(), &log.full_opts(), FailureReason::EntryMissing, Some(5), Some(7));
    // Two in a row.
    let mut p = Parts::of(&text);
    p.entries.drain(2..4);
    let r = expect(&p.text(), &none(), FailureReason::EntryMissing, Some(2), Some(4));
    assert!(r.first_failure.unwrap().detail.contains("entries 2 to 3 are missing"));

    // An attacker who also renumbers and relinks everything after the gap
    // (the hash chain has no key) is stopped by the signed checkpoint over 8
    // entries, and with K_0 at the first rewritten entry.
    let mut p = Parts::of(&text);
    p.entries.remove(5);
    for (i, e) in p.entries.iter_mut().enumerate().skip(5) {
        e.seq = i as u64;
    }
    relink(&mut p.entries, &log.scope, 5);
    expect(&p.text(), &none(), FailureReason::CheckpointHeadMismatch, Some(7), Some(11));
    expect(&p.text(), &log.full_opts(), FailureReason::MacMismatch, Some(5), Some(7));
}

#[test]
fn a_deleted_tail_entry_past_a_checkpoint_is_detected() {
    let (log, text) = sample("alice", 5);
    // The last entry deleted: the final checkpoint (now on line 12) covers 9.
    let mut p = Parts::of(&text);
    p.entries.pop();
    expect(&p.text(), &none(), FailureReason::CheckpointBeyondEntries, Some(8), Some(12));
    expect(&p.text(), &log.full_opts(), FailureReason::CheckpointBeyondEntries, Some(8), Some(12));
    // The header's count left alone: the same finding.
    let mut ls = lines(&text);
    ls.remove(9);
    expect(&join(&ls), &none(), FailureReason::CheckpointBeyondEntries, Some(8), Some(12));
    // Two deleted: the checkpoint over 8 (line 11 now) already fails.
    let mut p = Parts::of(&text);
    p.entries.truncate(7);
    expect(&p.text(), &none(), FailureReason::CheckpointBeyondEntries, Some(7), Some(10));
    // The tail deleted together with the checkpoints that cover it, and the
    // header's time adjusted: consistent, so only a verifier who kept a
    // checkpoint can tell (see the rollback test).
    let mut p = Parts::of(&text);
    p.entries.truncate(4);
    p.checkpoints.truncate(1);
    let cp_ts = p.checkpoints[0].ts_ms;
    let final_ts = parts_final_ts(&text);
    p.header = p.header.replace(&format!("\"exported_ms\":{final_ts}"), &format!("\"exported_ms\":{cp_ts}"));
    assert!(audit::verify_export(&p.text(), &log.pinned_opts()).valid);
    let held = VerifyOptions { expected_checkpoints: vec![log.checkpoints[1].clone()], ..log.pinned_opts() };
    expect(&p.text(), &held, FailureReason::Rollback, Some(4), None);
}

fn parts_final_ts(text: &str) -> u64 {
    Parts::of(text).checkpoints.last().unwrap().ts_ms
}

#[test]
fn reordered_entries_are_detected() {
    let (log, text) = sample("alice", 6);
    let mut p = Parts::of(&text);
    p.entries.swap(4, 5);
    expect(&p.text(), &none(), FailureReason::EntryOutOfOrder, Some(4), Some(6));
    expect(&p.text(), &log.full_opts(), FailureReason::EntryOutOfOrder, Some(4), Some(6));
    // One entry moved to the end.
    let mut p = Parts::of(&text);
    let e = p.entries.remove(2);
    p.entries.push(e);
    expect(&p.text(), &none(), FailureReason::EntryOutOfOrder, Some(2), Some(4));
    // The first two swapped.
    let mut p = Parts::of(&text);
    p.entries.swap(0, 1);
    expect(&p.text(), &none(), FailureReason::EntryOutOfOrder, Some(0), Some(2));
}

#[test]
fn an_inserted_entry_is_detected() {
    let (log, text) = sample("alice", 7);
    // A fabricated entry 4 placed before the real one, linking correctly to
    // entry 3 (anyone can compute a hash): the real entry 4 is a second one.
    let mut p = Parts::of(&text);
    let mut fake = p.entries[4].clone();
    fake.event = EventKind::KeyRotate;
    fake.prev = b64(entry_hash(&p.entries[3]).unwrap());
    p.entries.insert(4, fake.clone());
    expect(&p.text(), &none(), FailureReason::EntryInserted, Some(4), Some(7));
    expect(&p.text(), &log.full_opts(), FailureReason::MacMismatch, Some(4), Some(6));
    // A replayed copy of an entry right after itself.
    let mut p = Parts::of(&text);
    let dup = p.entries[3].clone();
    p.entries.insert(4, dup);
    expect(&p.text(), &none(), FailureReason::EntryInserted, Some(3), Some(6));
    // The fabricated entry with everything after it renumbered: the real
    // entry 4, now numbered 5, still links past the insertion.
    let mut p = Parts::of(&text);
    p.entries.insert(4, fake);
    for (i, e) in p.entries.iter_mut().enumerate().skip(5) {
        e.seq = i as u64;
    }
    expect(&p.text(), &none(), FailureReason::EntryInserted, Some(4), Some(6));
}

#[test]
fn an_entry_moved_from_another_users_log_is_detected() {
    let (alice, text) = sample("alice", 8);
    let (_bob, bob_text) = sample("bob", 9);
    let bob_parts = Parts::of(&bob_text);
    // Bob's entry 5 in place of Alice's.
    let mut p = Parts::of(&text);
    p.entries[5] = bob_parts.entries[5].clone();
    let r = expect(&p.text(), &none(), FailureReason::ScopeMismatch, Some(5), Some(7));
    assert!(r.first_failure.unwrap().detail.contains("user:bob"));
    // Relabelled as Alice's: it does not link into her chain.
    p.entries[5].scope = alice.scope.clone();
    expect(&p.text(), &none(), FailureReason::LinkMismatch, Some(5), Some(7));
    expect(&p.text(), &alice.full_opts(), FailureReason::LinkMismatch, Some(5), Some(7));
    // ... and relinked: the MAC (Bob's key) and the checkpoints say no.
    relink(&mut p.entries, &alice.scope, 5);
    expect(&p.text(), &alice.full_opts(), FailureReason::MacMismatch, Some(5), Some(7));
    expect(&p.text(), &none(), FailureReason::CheckpointHeadMismatch, Some(7), Some(12));
    // Bob's first entry as Alice's first: it starts from Bob's genesis.
    let mut p = Parts::of(&text);
    p.entries[0] = bob_parts.entries[0].clone();
    p.entries[0].scope = alice.scope.clone();
    expect(&p.text(), &none(), FailureReason::BadGenesis, Some(0), Some(2));
    // Bob's whole export relabelled as Alice's in the header.
    let relabelled = bob_text.replacen("\"scope\":\"user:bob\"", "\"scope\":\"user:alice\"", 1);
    expect(&relabelled, &none(), FailureReason::ScopeMismatch, Some(0), Some(2));
    // Bob's genuine export against Alice's pinned key.
    expect(&bob_text, &alice.pinned_opts(), FailureReason::AuditKeyMismatch, None, Some(1));
}

/// An attacker with a key of their own rewrites the header and re-signs
/// every checkpoint. Self-consistent, so only a pin catches it.
#[test]
fn a_replaced_audit_key_is_detected() {
    let (log, text) = sample("alice", 10);
    let evil = AuditSigningKey::generate(&mut support::audit::rng(666)).unwrap();
    let p = Parts::of(&text);
    let resigned: Vec<Checkpoint> = p
        .checkpoints
        .iter()
        .map(|c| {
            let state: ChainState = serde_json::from_value(serde_json::json!({
                "v": 1, "scope": c.scope.to_string(), "next_seq": c.size, "head": c.head, "mac_key": b64([1u8; 32])
            }))
            .unwrap();
            Checkpoint::sign(&evil, &state, c.ts_ms).unwrap()
        })
        .collect();
    let forged = audit::write_export(&log.scope, evil.public(), &p.entries, &resigned).unwrap();

    let r = audit::verify_export(&forged, &none());
    assert!(r.valid, "consistent under its own key: {r}");
    assert!(r.warnings[0].contains(evil.kid().as_str()), "the report names the key it trusted");

    expect(&forged, &log.pinned_opts(), FailureReason::AuditKeyMismatch, None, Some(1));
    let held = VerifyOptions { expected_checkpoints: vec![log.checkpoints[0].clone()], ..Default::default() };
    expect(&forged, &held, FailureReason::AuditKeyMismatch, None, None);

    // The header's kid alone changed: not the key's thumbprint.
    let rekid = text.replacen(log.key.kid().as_str(), evil.kid().as_str(), 1);
    expect(&rekid, &none(), FailureReason::KidMismatch, None, Some(1));
    // The header's key swapped but the checkpoints left signed by the real key.
    let p2 = Parts::of(&text);
    let swapped = audit::write_export(&log.scope, evil.public(), &p2.entries, &p2.checkpoints).unwrap();
    expect(&swapped, &none(), FailureReason::CheckpointKeyMismatch, None, Some(11));
}

#[test]
fn a_forged_checkpoint_signature_is_detected() {
    let (log, text) = sample("alice", 11);
    // A flipped bit in the signature of the checkpoint over 4 entries.
    let mut p = Parts::of(&text);
    let mut sig = unb64(&p.checkpoints[0].sig);
    sig[10] ^= 1;
    p.checkpoints[0].sig = b64(sig);
    expect(&p.text(), &none(), FailureReason::BadCheckpointSignature, None, Some(11));
    expect(&p.text(), &log.full_opts(), FailureReason::BadCheckpointSignature, None, Some(11));
    // The final checkpoint's size lowered (to make room for a cut tail)
    // without a new signature.
    let mut p = Parts::of(&text);
    p.checkpoints[2].size = 8;
    expect(&p.text(), &none(), FailureReason::BadCheckpointSignature, None, Some(13));
    // Signed by another key under the real kid.
    let other = AuditSigningKey::generate(&mut support::audit::rng(12)).unwrap();
    let mut p = Parts::of(&text);
    let state: ChainState = serde_json::from_value(serde_json::json!({
        "v": 1, "scope": "user:alice", "next_seq": 9, "head": p.checkpoints[2].head, "mac_key": b64([1u8; 32])
    }))
    .unwrap();
    let mut cp = Checkpoint::sign(&other, &state, p.checkpoints[2].ts_ms).unwrap();
    cp.kid = log.key.kid().clone();
    p.checkpoints[2] = cp;
    expect(&p.text(), &none(), FailureReason::BadCheckpointSignature, None, Some(13));
    // The same signature in its other valid ECDSA form, (r, n - s): the
    // signer writes low-s only, and the high-s twin is refused, so one log
    // has one encoding.
    let mut p = Parts::of(&text);
    let raw = unb64(&p.checkpoints[0].sig);
    let sig = p256::ecdsa::Signature::from_slice(&raw).unwrap();
    assert!(sig.normalize_s().is_none(), "the signer writes low-s");
    let (r, s_) = sig.split_scalars();
    let twin = p256::ecdsa::Signature::from_scalars(r, -*s_).unwrap();
    p.checkpoints[0].sig = b64(twin.to_bytes());
    expect(&p.text(), &none(), FailureReason::BadCheckpointSignature, None, Some(11));
    // A checkpoint of another scope.
    let mut p = Parts::of(&text);
    p.checkpoints[1].scope = AuditScope::Instance;
    expect(&p.text(), &none(), FailureReason::ScopeMismatch, None, Some(12));
}

#[test]
fn a_rollback_to_an_older_export_is_detected() {
    let (mut log, old) = sample("alice", 13);
    for i in 0..3 {
        log.append(
            AuditRecord::new(EventKind::LeaseToken, Outcome::Ok).with_id("jti", format!("late-{i}")),
            1_800_000_000_000 + i,
        );
    }
    let new = log.export(1_800_000_000_100);
    let newest = log.checkpoints.last().unwrap().clone();
    assert_eq!(newest.size, 12);
    // Both verify on their own.
    assert!(audit::verify_export(&old, &log.full_opts()).valid);
    assert!(audit::verify_export(&new, &log.full_opts()).valid);
    // The old copy, to a verifier who saw the newer checkpoint.
    let held = VerifyOptions { expected_checkpoints: vec![newest.clone()], ..log.full_opts() };
    let r = expect(&old, &held, FailureReason::Rollback, Some(9), None);
    assert!(r.first_failure.unwrap().detail.contains("covers 12 entries"));
    // The newer export extends every older checkpoint.
    let all_old = Parts::of(&old).checkpoints;
    let held = VerifyOptions { expected_checkpoints: all_old, ..log.pinned_opts() };
    let r = audit::verify_export(&new, &held);
    assert!(r.valid, "{r}");
    assert_eq!(r.expected_checkpoints_verified, 3);
}

/// The store was rolled back to a copy of the state after 4 entries and the
/// KMS went on from there: both histories are signed with the real key.
#[test]
fn a_fork_against_a_held_checkpoint_is_detected() {
    let mut log = Log::user("alice", 14);
    for i in 0..4 {
        log.append(AuditRecord::new(EventKind::JwtSign, Outcome::Ok).with_id("jti", format!("j{i}")), i);
    }
    let saved = copy_state(&log.state);
    let saved_entries = log.entries.clone();
    log.append(AuditRecord::new(EventKind::LeaseCreate, Outcome::Ok).with_id("lease_id", "A"), 10);
    log.append(AuditRecord::new(EventKind::LeaseToken, Outcome::Ok).with_id("lease_id", "A"), 11);
    let branch_a = log.checkpoint(12);

    log.state = saved;
    log.entries = saved_entries;
    log.checkpoints.clear();
    log.append(AuditRecord::new(EventKind::LeaseCreate, Outcome::Ok).with_id("lease_id", "B"), 20);
    log.append(AuditRecord::new(EventKind::LeaseRevoke, Outcome::Ok).with_id("lease_id", "B"), 21);
    log.append(AuditRecord::new(EventKind::Export, Outcome::Ok), 22);
    let branch_b = log.export(23);
    assert!(audit::verify_export(&branch_b, &log.full_opts()).valid);

    let held = VerifyOptions { expected_checkpoints: vec![branch_a], ..log.full_opts() };
    let r = expect(&branch_b, &held, FailureReason::Fork, Some(5), None);
    assert!(r.first_failure.unwrap().detail.contains("forked"));
}

#[test]
fn a_non_contiguous_sequence_number_is_detected() {
    let (log, text) = sample("alice", 15);
    let mut p = Parts::of(&text);
    p.entries[6].seq = 7;
    expect(&p.text(), &none(), FailureReason::SeqNotContiguous, Some(6), Some(8));
    expect(&p.text(), &log.full_opts(), FailureReason::SeqNotContiguous, Some(6), Some(8));
    // Renumbered from there on and relinked: still a gap where it starts.
    let mut p = Parts::of(&text);
    for e in p.entries.iter_mut().skip(6) {
        e.seq += 1;
    }
    relink(&mut p.entries, &log.scope, 6);
    expect(&p.text(), &none(), FailureReason::SeqNotContiguous, Some(6), Some(8));
    // A chain that does not start at 0.
    let mut p = Parts::of(&text);
    p.entries[0].seq = 1;
    expect(&p.text(), &none(), FailureReason::SeqNotContiguous, Some(0), Some(2));
}

#[test]
fn a_wrong_genesis_is_detected() {
    let (_, text) = sample("alice", 16);
    for other in [AuditScope::Instance, AuditScope::User(kms_core::ids::UserId::parse("bob").unwrap())] {
        let mut p = Parts::of(&text);
        p.entries[0].prev = b64(genesis_hash(&other));
        expect(&p.text(), &none(), FailureReason::BadGenesis, Some(0), Some(2));
    }
    // An empty export must still have its single checkpoint on the genesis.
    let mut log = Log::user("carol", 17);
    let empty = log.export(5);
    assert!(audit::verify_export(&empty, &log.full_opts()).valid);
    let mut p = Parts::of(&empty);
    p.checkpoints[0].head = b64(genesis_hash(&AuditScope::Instance));
    expect(&p.text(), &none(), FailureReason::BadCheckpointSignature, None, Some(2));
}

#[test]
fn a_mac_mismatch_is_detected_when_the_key_is_given() {
    let (log, text) = sample("alice", 18);
    // Verified with another user's K_0.
    let (bob, _) = sample("bob", 19);
    let wrong = VerifyOptions { mac_key0: Some(bob.mac_key0()), ..log.pinned_opts() };
    expect(&text, &wrong, FailureReason::MacMismatch, Some(0), Some(2));

    // The unsigned tail truncated at rest: a thief deletes the three failed
    // unlocks after the last checkpoint and rolls the stored state back, but
    // holds only K_9, not K_6. The KMS then appends and exports normally.
    let mut log = Log::user("dave", 20);
    for i in 0..6 {
        log.append(AuditRecord::new(EventKind::JwtSign, Outcome::Ok), i);
    }
    log.checkpoint(6);
    for i in 0..3 {
        log.append(AuditRecord::new(EventKind::Unlock, Outcome::Failed).with_reason("unlock_failed"), 7 + i);
    }
    let mut stored = serde_json::to_value(&log.state).unwrap();
    log.entries.truncate(6);
    stored["next_seq"] = 6.into();
    stored["head"] = b64(entry_hash(&log.entries[5]).unwrap()).into();
    log.state = serde_json::from_value(stored).unwrap();
    log.append(AuditRecord::new(EventKind::Export, Outcome::Ok), 20);
    let text = log.export(21);
    // A third party sees a consistent log ...
    assert!(audit::verify_export(&text, &log.pinned_opts()).valid);
    // ... the user, who can derive K_0, sees where it was cut.
    expect(&text, &log.full_opts(), FailureReason::MacMismatch, Some(6), Some(8));
}

#[test]
fn format_damage_is_reported_with_its_line() {
    let (log, text) = sample("alice", 21);
    let ls = lines(&text);

    // Cut in the middle of line 5, or just the final newline missing.
    let cut = &text[..text.find(&ls[4]).unwrap() + 40];
    expect(cut, &none(), FailureReason::Truncated, None, Some(5));
    expect(text.strip_suffix('\n').unwrap(), &none(), FailureReason::Truncated, None, Some(13));
    // Cut at a line boundary: the checkpoints are gone.
    let at_boundary = join(&ls[..10]);
    expect(&at_boundary, &none(), FailureReason::MissingFinalCheckpoint, Some(0), None);
    let at_boundary = join(&ls[..11]);
    expect(&at_boundary, &none(), FailureReason::MissingFinalCheckpoint, Some(4), Some(11));

    // A garbled line.
    let mut g = ls.clone();
    g[3] = g[3].replacen('{', "[", 1);
    expect(&join(&g), &none(), FailureReason::MalformedLine, None, Some(4));
    let mut g = ls.clone();
    g[3].insert(20, '\u{0}');
    expect(&join(&g), &none(), FailureReason::MalformedLine, None, Some(4));
    let mut g = ls.clone();
    g.insert(5, String::new());
    expect(&join(&g), &none(), FailureReason::MalformedLine, None, Some(6));
    let mut g = ls.clone();
    g[2].push('}');
    expect(&join(&g), &none(), FailureReason::MalformedLine, None, Some(3));

    // Duplicate header, right after the first or among the entries.
    let mut d = ls.clone();
    d.insert(1, ls[0].clone());
    expect(&join(&d), &none(), FailureReason::DuplicateHeader, None, Some(2));
    let mut d = ls.clone();
    d.insert(6, ls[0].clone());
    expect(&join(&d), &none(), FailureReason::DuplicateHeader, None, Some(7));

    // Unknown line types.
    let mut u = ls.clone();
    u.insert(2, r#"{"type":"comment","text":"all good"}"#.to_owned());
    let r = expect(&join(&u), &none(), FailureReason::UnknownLineType, None, Some(3));
    assert!(r.first_failure.unwrap().detail.contains("comment"));
    let mut u = ls.clone();
    u.insert(2, r#"{"seq":1}"#.to_owned());
    expect(&join(&u), &none(), FailureReason::UnknownLineType, None, Some(3));

    // No header; an entry after a checkpoint.
    expect(&join(&ls[1..]), &none(), FailureReason::MissingHeader, None, Some(1));
    expect("", &none(), FailureReason::MissingHeader, None, Some(1));
    let mut m = ls.clone();
    let e = m.remove(9);
    m.insert(10, e);
    expect(&join(&m), &none(), FailureReason::MisplacedLine, None, Some(11));

    // Not canonical: a space, reordered members, an escaped character.
    let mut c = ls.clone();
    c[4] = c[4].replacen("\"seq\":", "\"seq\": ", 1);
    expect(&join(&c), &none(), FailureReason::NonCanonical, None, Some(5));
    let mut c = ls.clone();
    c[4] = c[4].replacen("{\"type\":\"entry\",", "{ \"type\":\"entry\",", 1);
    expect(&join(&c), &none(), FailureReason::NonCanonical, None, Some(5));
    let mut c = ls.clone();
    c[1] = c[1].replacen("\"setup\"", "\"s\\u0065tup\"", 1);
    expect(&join(&c), &none(), FailureReason::NonCanonical, None, Some(2));
    let mut c = ls.clone();
    c[0] = c[0].replacen(r#"{"kty":"EC","crv":"P-256","#, r#"{"crv":"P-256","kty":"EC","#, 1);
    expect(&join(&c), &none(), FailureReason::NonCanonical, None, Some(1));
    let crlf = text.replace('\n', "\r\n");
    expect(&crlf, &none(), FailureReason::NonCanonical, None, Some(1));

    // Header fields.
    let v2 = text.replacen("\"version\":1,", "\"version\":2,", 1);
    expect(&v2, &none(), FailureReason::UnsupportedVersion, None, Some(1));
    let fmt = text.replacen("kms-audit-export", "kms-audit-exports", 1);
    expect(&fmt, &none(), FailureReason::InvalidField, None, Some(1));
    let first = text.replacen("\"first_seq\":0,", "\"first_seq\":1,", 1);
    expect(&first, &none(), FailureReason::InvalidField, None, Some(1));
    let mut h = ls.clone();
    h[0] = set_count(&h[0], ENTRIES + 1);
    expect(&join(&h), &none(), FailureReason::CountMismatch, None, Some(1));
    let final_ts = parts_final_ts(&text);
    let when = text.replacen(&format!("\"exported_ms\":{final_ts}"), &format!("\"exported_ms\":{}", final_ts + 1), 1);
    expect(&when, &none(), FailureReason::ExportTimeMismatch, None, Some(1));

    // An entry line with a field out of its caps.
    let mut f = ls.clone();
    f[1] = f[1].replacen("\"method\":\"passphrase\"", "\"method\":\"Passphrase\"", 1);
    expect(&join(&f), &none(), FailureReason::InvalidField, None, Some(2));

    // An entry appended after the final checkpoint was signed (placed before
    // the checkpoints, correctly linked and counted).
    let mut p = Parts::of(&text);
    let mut extra = p.entries[8].clone();
    extra.seq = 9;
    extra.prev = b64(entry_hash(&p.entries[8]).unwrap());
    p.entries.push(extra);
    expect(&p.text(), &none(), FailureReason::MissingFinalCheckpoint, Some(9), Some(14));
    expect(&p.text(), &log.full_opts(), FailureReason::MacMismatch, Some(9), Some(11));
}

#[test]
fn expected_checkpoints_of_another_scope_are_refused() {
    let (alice, text) = sample("alice", 22);
    let (bob, _) = sample("bob", 23);
    let held = VerifyOptions { expected_checkpoints: vec![bob.checkpoints[0].clone()], ..alice.pinned_opts() };
    expect(&text, &held, FailureReason::ScopeMismatch, None, None);
    // Unchanged text and options verify (the test above fails for its reason).
    assert!(audit::verify_export(&text, &alice.pinned_opts()).valid);
}

#[test]
fn limits_are_enforced() {
    let big = "x".repeat(audit::MAX_EXPORT_BYTES + 1);
    expect(&big, &none(), FailureReason::TooLarge, None, None);
    let (_, text) = sample("alice", 24);
    let mut ls = lines(&text);
    ls[3] = format!("{}{}", ls[3], " ".repeat(audit::MAX_LINE_BYTES));
    expect(&join(&ls), &none(), FailureReason::LineTooLong, None, Some(4));
}

/// Each expected checkpoint costs a signature check, and `audit_verify`
/// needs no session: more than the cap are refused where they enter. The
/// RPC params do not decode (so no call is ever built), and the verifier,
/// which the CLI and the browser call directly, refuses them before it even
/// reads the export.
#[test]
fn more_expected_checkpoints_than_the_cap_are_refused_before_any_work() {
    const CAP: usize = kms_core::audit::MAX_EXPECTED_CHECKPOINTS;
    assert_eq!(CAP, 1024);
    let (log, text) = sample("alice", 25);
    let cp = log.checkpoints[0].clone();
    let params =
        |n: usize| serde_json::json!({"export": text, "expected_checkpoints": vec![cp.clone(); n]}).to_string();

    let Err(e) = kms_core::rpc::Call::from_parts("audit_verify", &params(CAP + 1)) else {
        panic!("accepted at decoding");
    };
    assert_eq!(e.code, kms_core::ErrorCode::InvalidInput);
    assert!(e.message.contains("expected_checkpoints") && e.message.contains(&CAP.to_string()), "{}", e.message);
    // The elements past the cap are not even read: garbage there changes
    // nothing.
    let mut v: serde_json::Value = serde_json::from_str(&params(CAP)).unwrap();
    v["expected_checkpoints"].as_array_mut().unwrap().push(serde_json::json!(cp.clone()));
    v["expected_checkpoints"].as_array_mut().unwrap().push(serde_json::json!("not a checkpoint"));
    let Err(e2) = kms_core::rpc::Call::from_parts("audit_verify", &v.to_string()) else {
        panic!("accepted at decoding");
    };
    assert_eq!(e2.message, e.message);
    // At the cap, the params decode.
    assert!(kms_core::rpc::Call::from_parts("audit_verify", &params(CAP)).is_ok());

    // The verifier refuses too, before reading the export: a broken export
    // is reported as the oversized option, not as its own damage.
    let over = VerifyOptions { expected_checkpoints: vec![cp.clone(); CAP + 1], ..none() };
    let r = expect("not an export", &over, FailureReason::TooLarge, None, None);
    assert!(r.first_failure.unwrap().detail.contains(&CAP.to_string()));
    let at_cap = VerifyOptions { expected_checkpoints: vec![cp; CAP], ..log.pinned_opts() };
    let r = audit::verify_export(&text, &at_cap);
    assert!(r.valid, "{r}");
    assert_eq!(r.expected_checkpoints_verified, CAP);
}
