//! The export format: round trip, exact layout, limits, totality (the
//! reader and the verifier never panic, and every single-byte change of a
//! valid export is detected), and a frozen fixture
//! (`vectors/audit_export_v1.jsonl`) that must keep verifying.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use kms_core::audit::{
    self, parse_export, verify_export, write_export, AuditPublicKey, AuditRecord, EventKind, ExportError,
    FailureReason, Outcome, VerifyOptions,
};
use proptest::prelude::*;
use support::audit::{join, lines, sample, Log};

#[test]
fn write_then_parse_round_trips() {
    let (log, text) = sample("alice", 1);
    let export = parse_export(&text).unwrap();
    assert_eq!(export.header.scope, log.scope);
    assert_eq!(export.header.audit_kid, *log.key.kid());
    assert_eq!(&export.header.audit_public_key, log.key.public());
    assert_eq!(export.header.first_seq, 0);
    assert_eq!(export.header.count, 9);
    assert_eq!(export.header.exported_ms, log.checkpoints.last().unwrap().ts_ms);
    assert_eq!(export.entries, log.entries);
    assert_eq!(export.checkpoints, log.checkpoints);
    let again =
        write_export(&export.header.scope, &export.header.audit_public_key, &export.entries, &export.checkpoints)
            .unwrap();
    assert_eq!(again, text);
}

#[test]
fn the_layout_is_as_documented() {
    let (log, text) = sample("alice", 2);
    assert!(text.ends_with('\n'));
    assert!(!text.contains('\r'));
    let ls = lines(&text);
    assert_eq!(ls.len(), 1 + 9 + 3);
    let jwk = log.key.public().jwk();
    assert_eq!(
        ls[0],
        format!(
            r#"{{"type":"header","format":"kms-audit-export","version":1,"scope":"user:alice","exported_ms":{},"audit_kid":"{}","audit_public_key":{{"kty":"EC","crv":"P-256","x":"{}","y":"{}"}},"first_seq":0,"count":9}}"#,
            log.checkpoints[2].ts_ms,
            log.key.kid(),
            jwk.x,
            jwk.y
        )
    );
    for (i, l) in ls[1..10].iter().enumerate() {
        let e = &log.entries[i];
        assert!(l.starts_with(&format!(r#"{{"type":"entry","seq":{i},"ts_ms":{},"scope":"user:alice","#, e.ts_ms)));
        // The canonical bytes are the line without its type member.
        assert_eq!(l.replacen(r#""type":"entry","#, "", 1).into_bytes(), e.canonical_bytes().unwrap());
    }
    for (l, c) in ls[10..].iter().zip(&log.checkpoints) {
        assert_eq!(
            *l,
            format!(
                r#"{{"type":"checkpoint","scope":"user:alice","size":{},"head":"{}","ts_ms":{},"kid":"{}","sig":"{}"}}"#,
                c.size, c.head, c.ts_ms, c.kid, c.sig
            )
        );
    }
    // JSON escaping of an id value with quotes and non-ASCII text.
    assert!(ls[6].contains(r#""relay":"relay \"A\" ü""#), "{}", ls[6]);
}

#[test]
fn errors_carry_their_line_and_code() {
    let (_, text) = sample("alice", 3);
    let mut ls = lines(&text);
    ls[4] = "{".to_owned();
    let err = parse_export(&join(&ls)).unwrap_err();
    assert!(matches!(err, ExportError::Malformed { line: 5, .. }), "{err:?}");
    assert_eq!(err.line(), Some(5));
    assert_eq!(err.reason(), FailureReason::MalformedLine);
    assert!(err.to_string().starts_with("line 5: "));
    let err = parse_export(&"x".repeat(audit::MAX_EXPORT_BYTES + 1)).unwrap_err();
    assert_eq!(err.line(), None);
    assert_eq!(err.reason().as_str(), "too_large");
    // A quoted unknown type is cut and cleaned.
    let mut ls = lines(&text);
    ls.insert(1, format!(r#"{{"type":"{}\n"}}"#, "z".repeat(200)));
    let err = parse_export(&join(&ls)).unwrap_err();
    let ExportError::UnknownLineType { line: 2, found } = &err else { panic!("{err:?}") };
    assert!(found.chars().count() < 50 && !found.contains('\n'), "{found}");
}

#[test]
fn the_checkpoint_limit_is_enforced() {
    let (_, text) = sample("alice", 4);
    let ls = lines(&text);
    let cp = ls.last().unwrap().clone();
    let mut many = ls.clone();
    // 3 checkpoints already; add copies up to one past the limit.
    for _ in 0..(audit::MAX_EXPORT_CHECKPOINTS - 2) {
        many.push(cp.clone());
    }
    assert!(join(&many).len() < audit::MAX_EXPORT_BYTES);
    let err = parse_export(&join(&many)).unwrap_err();
    assert_eq!(
        err,
        ExportError::TooManyCheckpoints {
            line: 10 + audit::MAX_EXPORT_CHECKPOINTS + 1,
            max: audit::MAX_EXPORT_CHECKPOINTS
        }
    );
    // At the limit exactly, it reads (and verifies: repeated checkpoints are
    // allowed).
    many.pop();
    let parsed = parse_export(&join(&many)).unwrap();
    assert_eq!(parsed.checkpoints.len(), audit::MAX_EXPORT_CHECKPOINTS);
    assert!(verify_export(&join(&many), &VerifyOptions::default()).valid);
}

/// Every single-bit flip anywhere in a valid export (header, entries,
/// checkpoints, separators) is detected: nothing in the file is unchecked.
#[test]
fn every_single_byte_change_is_detected() {
    let (log, text) = sample("alice", 5);
    let opts = log.pinned_opts();
    assert!(verify_export(&text, &opts).valid);
    let bytes = text.as_bytes();
    for flip in [0x01u8, 0x20] {
        for i in 0..bytes.len() {
            let mut m = bytes.to_vec();
            m[i] ^= flip;
            let Ok(s) = String::from_utf8(m) else { continue };
            let r = verify_export(&s, &opts);
            assert!(
                !r.valid,
                "byte {i} ^ {flip:#x} went unnoticed: {:?}",
                &s[i.saturating_sub(20)..(i + 20).min(s.len())]
            );
        }
    }
    // Without any pin, a flip is still caught (the key in the header must be
    // a point whose thumbprint is the kid, and everything else is signed).
    let r = verify_export(&text.replacen("\"count\":9", "\"count\":8", 1), &VerifyOptions::default());
    assert_eq!(r.first_failure.unwrap().reason, FailureReason::CountMismatch);
}

// ---- The frozen fixture ----------------------------------------------------

const FIXTURE: &str = include_str!("vectors/audit_export_v1.jsonl");
const FIXTURE_META: &str = include_str!("vectors/audit_export_v1.json");
const FIXTURE_SEED: u64 = 20_240_601;

/// The fixture's log: user `alice`, master secret then audit key drawn from
/// `ChaCha20Rng::seed_from_u64(FIXTURE_SEED)`, fixed records and times.
fn fixture_log() -> (Log, String) {
    let mut log = Log::user("alice", FIXTURE_SEED);
    let t = 1_717_200_000_000u64;
    log.append(
        AuditRecord::new(EventKind::Setup, Outcome::Ok).with_method("passphrase").with_id("enrollment_id", "Enr0"),
        t,
    );
    log.append(AuditRecord::new(EventKind::KeyGenerate, Outcome::Ok).with_id("kid", "vapid-kid-1"), t + 1);
    log.append(AuditRecord::new(EventKind::Lock, Outcome::Ok), t + 2);
    log.checkpoint(t + 3);
    log.append(
        AuditRecord::new(EventKind::Unlock, Outcome::Refused).with_method("passkey_prf").with_reason("throttled"),
        t + 60_000,
    );
    log.append(AuditRecord::new(EventKind::Unlock, Outcome::Ok).with_method("passkey_prf"), t + 120_000);
    log.checkpoint(t + 120_001);
    log.append(
        AuditRecord::new(EventKind::LeaseCreate, Outcome::Ok)
            .with_id("lease_id", "L1")
            .with_id("relay", "relay.example")
            .with_id("origin", "https://updates.push.services.mozilla.com"),
        t + 130_000,
    );
    log.append(
        AuditRecord::new(EventKind::LeaseToken, Outcome::Ok).with_id("lease_id", "L1").with_id("jti", "jti-0001"),
        t + 140_000,
    );
    log.append(AuditRecord::new(EventKind::Export, Outcome::Ok), t + 150_000);
    let text = log.export(t + 150_001);
    (log, text)
}

/// Set `KMS_REGENERATE_AUDIT_FIXTURE=1` to rewrite the fixture after a
/// deliberate format change (then bump the format version).
#[test]
fn the_v1_fixture_still_verifies() {
    let (log, regenerated) = fixture_log();
    if std::env::var_os("KMS_REGENERATE_AUDIT_FIXTURE").is_some() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors");
        std::fs::write(format!("{dir}/audit_export_v1.jsonl"), &regenerated).unwrap();
        let meta = serde_json::json!({
            "description": "kms-audit-export version 1 fixture, written by kms-core/tests/audit_export.rs (fixture_log)",
            "rng": format!("ChaCha20Rng::seed_from_u64({FIXTURE_SEED}): the master secret, then the audit signing key"),
            "scope": log.scope.to_string(),
            "audit_kid": log.key.kid().as_str(),
            "audit_public_key_sec1": log.key.public().to_sec1_b64(),
            "entries": log.entries.len(),
            "checkpoints": log.checkpoints.len(),
            "head": log.state.head_b64(),
        });
        std::fs::write(format!("{dir}/audit_export_v1.json"), serde_json::to_string_pretty(&meta).unwrap() + "\n")
            .unwrap();
        return;
    }
    let meta: serde_json::Value = serde_json::from_str(FIXTURE_META).unwrap();
    let key = AuditPublicKey::parse(meta["audit_public_key_sec1"].as_str().unwrap()).unwrap();
    assert_eq!(key.kid().as_str(), meta["audit_kid"].as_str().unwrap());

    // A third party with the pinned key.
    let opts = VerifyOptions { expected_public_key: Some(key.clone()), ..Default::default() };
    let r = verify_export(FIXTURE, &opts);
    assert!(r.valid, "{r}");
    assert_eq!(r.entries, meta["entries"].as_u64().unwrap());
    assert_eq!(r.checkpoints_verified as u64, meta["checkpoints"].as_u64().unwrap());
    assert_eq!(r.head.as_deref(), meta["head"].as_str());
    assert_eq!(r.scope.as_deref(), meta["scope"].as_str());
    // The user, with K_0 from the seeded master secret: every MAC.
    let opts = VerifyOptions { expected_public_key: Some(key), mac_key0: Some(log.mac_key0()), ..Default::default() };
    let r = verify_export(FIXTURE, &opts);
    assert!(r.valid && r.macs_checked, "{r}");
    // The writer still produces exactly these bytes.
    assert_eq!(regenerated, FIXTURE, "the export format changed; see this test's doc");
}

// ---- Totality --------------------------------------------------------------

fn valid_export() -> &'static str {
    FIXTURE
}

/// Lines that look like export lines, to get past the first checks.
fn line_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(r#"{"type":"header","format":"kms-audit-export","version":1}"#.to_owned()),
        Just(r#"{"type":"entry","seq":0}"#.to_owned()),
        Just(r#"{"type":"checkpoint"}"#.to_owned()),
        prop::sample::select(lines(FIXTURE)),
        "\\PC{0,80}",
        "[{}\":,a-z0-9\\[\\] ]{0,60}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,400}") {
        let r = verify_export(&s, &VerifyOptions::default());
        prop_assert!(!r.valid);
        prop_assert!(r.first_failure.is_some());
        let _ = parse_export(&s);
    }

    #[test]
    fn arbitrary_lines_never_panic(ls in prop::collection::vec(line_strategy(), 0..20), end in any::<bool>()) {
        let mut s = ls.join("\n");
        if end {
            s.push('\n');
        }
        let r = verify_export(&s, &VerifyOptions::default());
        if r.valid {
            prop_assert!(same_log_as_fixture(&s), "{}", s);
        }
        let _ = parse_export(&s);
    }

    #[test]
    fn a_random_byte_change_never_panics_and_is_detected(pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let text = valid_export();
        let i = pos.index(text.len());
        let mut m = text.as_bytes().to_vec();
        prop_assume!(m[i] != byte);
        m[i] = byte;
        let s = String::from_utf8_lossy(&m);
        let r = verify_export(&s, &VerifyOptions::default());
        prop_assert!(!r.valid, "byte {} set to {:#x} went unnoticed", i, byte);
        let _ = parse_export(&s);
    }

    #[test]
    fn random_line_deletions_and_duplications_are_detected(
        ops in prop::collection::vec((any::<prop::sample::Index>(), any::<bool>()), 1..4)
    ) {
        let mut ls = lines(valid_export());
        for (idx, dup) in ops {
            let i = idx.index(ls.len());
            if dup {
                let l = ls[i].clone();
                ls.insert(i, l);
            } else {
                ls.remove(i);
            }
            if ls.is_empty() {
                break;
            }
        }
        let s = join(&ls);
        let r = verify_export(&s, &VerifyOptions::default());
        // Only checkpoint lines other than the final one may be dropped or
        // repeated: they are extra evidence, not part of the log.
        prop_assert_eq!(r.valid, same_log_as_fixture(&s), "{}", r);
    }
}

/// Whether `s` has the fixture's header and entries, unchanged and in order,
/// and ends with the fixture's final checkpoint.
fn same_log_as_fixture(s: &str) -> bool {
    let not_cp = |t: &str| -> Vec<String> {
        t.split('\n').filter(|l| !l.starts_with(r#"{"type":"checkpoint""#)).map(str::to_owned).collect()
    };
    let last = lines(FIXTURE).last().unwrap().clone();
    not_cp(s) == not_cp(FIXTURE) && s.ends_with(&format!("{last}\n"))
}
