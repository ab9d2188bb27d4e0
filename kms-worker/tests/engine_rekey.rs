//! `rekey` after a compromise. The attacker of these tests took a copy of
//! the store and learnt the passphrase before the re-key; afterwards it may
//! get hold of records written since (a second copy, without the new
//! passphrase). Nothing made after the re-key may open with what it had.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use kms_core::audit::{self, AuditKeyRecord, ChainMark, VerifyOptions};
use kms_core::secret::{MasterSecret, Passphrase};
use kms_core::unlock::{passphrase, EnrollmentRecord, MethodParams};
use kms_core::vapid::{vapid_sealing_key, VapidKeyRecord};
use kms_core::ErrorCode;
use serde_json::{json, Value};
use support::*;

const PRF: [u8; 32] = [7u8; 32];
const AUD: &str = "https://fcm.googleapis.com";

fn session(v: &Value) -> String {
    v["session"].as_str().unwrap().to_owned()
}

/// alice with a passphrase (PASS_A), a PRF passkey and a gate passkey, and
/// a VAPID key. Returns the session and the three enrollment ids.
fn alice(h: &mut Harness) -> (String, [String; 3]) {
    let setup = h.setup_passphrase("alice", PASS_A);
    let pass_id = setup.enrollment.id.as_str().to_owned();
    let prf = h.add_prf("alice", &setup.session, b"prf-key", &PRF).unwrap();
    let auth = authenticator(3);
    let gate = h.rpc_ok(
        "add_enrollment",
        json!({"user": "alice", "session": setup.session, "enrollment": auth.gate_enrollment()}),
    );
    let s = setup.session.as_str().to_owned();
    h.rpc_ok("vapid_generate", json!({"user": "alice", "session": s}));
    (s, [pass_id, prf["id"].as_str().unwrap().to_owned(), gate["id"].as_str().unwrap().to_owned()])
}

fn rekey_params(s: &str, ids: &[String; 3], pass: &str) -> Value {
    json!({
        "user": "alice",
        "session": s,
        "rewrap": [
            {"enrollment_id": ids[0], "credential": {"kind": "passphrase", "passphrase": pass}},
            {"enrollment_id": ids[1], "credential": {"kind": "passkey_prf", "prf_output": b64(PRF)}},
            {"enrollment_id": ids[2], "credential": {"kind": "passkey_gate"}},
        ],
    })
}

/// The master secret a copy's passphrase record and its passphrase give,
/// computed outside the engine, as an attacker would.
fn master_from(snapshot: &Snapshot, eid: &str, pass: &str) -> Result<MasterSecret, kms_core::CoreError> {
    let record = EnrollmentRecord::decode(&snapshot[&enrollment_key("alice", eid)]).unwrap();
    let MethodParams::Passphrase(params) = &record.params else { panic!("not a passphrase record") };
    let out = passphrase::pbkdf2_native(&Passphrase::new(pass), params).unwrap();
    passphrase::unlock(&record, &uid("alice"), &eid_of(eid), &out)
}

fn eid_of(s: &str) -> kms_core::ids::EnrollmentId {
    kms_core::ids::EnrollmentId::parse(s).unwrap()
}

/// Every sealed record of alice in `snapshot` that the old master secret
/// opens: VAPID keys, the audit key, the chain mark.
fn opened_by(old: &MasterSecret, snapshot: &Snapshot) -> Vec<String> {
    let user = uid("alice");
    let vapid = vapid_sealing_key(old, &user).unwrap();
    let audit_key = audit::key::audit_sealing_key(old, &user).unwrap();
    let k0 = audit::audit_mac_key0(old, &user).unwrap();
    let mut opened = Vec::new();
    for (key, bytes) in snapshot.iter().filter(|(k, _)| k.starts_with("users/alice/")) {
        let opens = if key.starts_with("users/alice/vapid/") {
            serde_json::from_slice::<VapidKeyRecord>(bytes).unwrap().open(&vapid, &user).is_ok()
        } else if key == "users/alice/audit/key" {
            serde_json::from_slice::<AuditKeyRecord>(bytes).unwrap().open(&audit_key, &user).is_ok()
        } else if key == "users/alice/audit/mark" {
            serde_json::from_slice::<ChainMark>(bytes).unwrap().open(&user, &k0).is_ok()
        } else {
            false
        };
        if opens {
            opened.push(key.clone());
        }
    }
    opened
}

#[test]
fn a_copy_from_before_a_rekey_with_the_old_passphrase_opens_nothing_made_after() {
    let mut h = Harness::new(701);
    let (s, ids) = alice(&mut h);
    let copy = h.store.snapshot();
    let old = master_from(&copy, &ids[0], PASS_A).expect("the copy opens with the old passphrase");
    // What the copy opens today: every VAPID key, the audit key, the mark.
    let before = opened_by(&old, &copy);
    assert_eq!(before.len(), 3, "{before:?}");

    let r = h.rpc_ok("rekey", rekey_params(&s, &ids, PASS_B));
    assert_eq!(r["enrollments"].as_array().unwrap().len(), 3, "{r}");
    assert_eq!(r["resealed_keys"], json!(2), "{r}");
    let s2 = session(&r);
    // A key made after the re-key.
    h.rpc_ok("vapid_rotate", json!({"user": "alice", "session": s2}));
    let after = h.store.snapshot();

    // Nothing sealed since opens with the old master secret: neither the
    // keys re-sealed by the re-key nor the one made after it.
    assert_eq!(opened_by(&old, &after), Vec::<String>::new());
    // The new passphrase record does not open with the old passphrase, and
    // its master secret is another one.
    assert!(master_from(&after, &ids[0], PASS_A).is_err());
    let new = master_from(&after, &ids[0], PASS_B).unwrap();
    assert_eq!(opened_by(&new, &after).len(), 4, "two VAPID keys, the audit key, the mark");
    assert!(opened_by(&new, &copy).is_empty(), "the new master opens nothing of the copy either");

    // The engine agrees: the old passphrase fails, the new one and the
    // passkey work, and the earlier session has ended.
    expect_code(h.unlock_passphrase("alice", PASS_A), ErrorCode::UnlockFailed);
    h.clock.advance(120_000);
    h.unlock_passphrase("alice", PASS_B).unwrap();
    h.unlock_prf("alice", b"prf-key", &PRF).unwrap();
    let e = h.rpc_err("sign_jwt", json!({"user": "alice", "session": s, "claims": {"aud": AUD, "sub": "mailto:a@b.example", "exp": h.now() / 1000 + 60}}));
    assert_eq!(e["code"], json!("locked"), "{e}");
    h.rpc_ok(
        "sign_jwt",
        json!({"user": "alice", "session": s2, "claims": {"aud": AUD, "sub": "mailto:a@b.example", "exp": h.now() / 1000 + 60}}),
    );
}

#[test]
fn the_audit_log_goes_on_in_a_new_epoch_that_the_old_key_cannot_check() {
    let mut h = Harness::new(702);
    let (s, ids) = alice(&mut h);
    let old = master_from(&h.store.snapshot(), &ids[0], PASS_A).unwrap();
    let r = h.rpc_ok("rekey", rekey_params(&s, &ids, PASS_B));
    let s2 = session(&r);
    let export =
        h.rpc_ok("audit_export", json!({"user": "alice", "session": s2}))["export"].as_str().unwrap().to_owned();
    let new = master_from(&h.store.snapshot(), &ids[0], PASS_B).unwrap();
    let rekey_seq = export
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["event"] == json!("rekey"))
        .map(|v| v["seq"].as_u64().unwrap())
        .expect("a rekey entry");
    assert!(rekey_seq > 0);

    // The new K_0 checks every MAC from the re-key on.
    let k0 = |m: &MasterSecret| Some(audit::audit_mac_key0(m, &uid("alice")).unwrap());
    let report = audit::verify_export(&export, &VerifyOptions { mac_key0: k0(&new), ..Default::default() });
    assert!(report.valid, "{report:?}");
    assert!(report.macs_checked);
    assert!(report.warnings.iter().any(|w| w.contains(&format!("MACs checked from seq {rekey_seq}"))), "{report:?}");
    // The old K_0 cannot vouch for the rekey entry or anything after it.
    let report = audit::verify_export(&export, &VerifyOptions { mac_key0: k0(&old), ..Default::default() });
    assert!(!report.valid);
    assert_eq!(report.first_failure.as_ref().unwrap().seq, Some(rekey_seq), "{report:?}");
    // The engine's own verifier, in the new session, agrees.
    let v = h.rpc_ok("audit_verify", json!({"export": export}));
    assert_eq!(v["valid"], json!(true), "{v}");
    assert_eq!(v["macs_checked"], json!(true), "{v}");

    // The chain keeps being checked across the epoch: with the mark (after
    // a reload), and without it (a writer deleted it: the check starts at
    // genesis and resumes at the authentic rekey entry).
    h.restart(kms_worker::KmsConfig::default());
    h.unlock_passphrase("alice", PASS_B).unwrap();
    h.delete_raw("users/alice/audit/mark");
    h.clock.advance(1000);
    h.unlock_passphrase("alice", PASS_B).unwrap();
    // ...and a rewrite after the re-key is still found from there.
    h.delete_raw("users/alice/audit/mark");
    let page = "users/alice/audit/page/000000000000";
    let mut entries: Vec<Value> = serde_json::from_slice(&h.get_raw(page).unwrap()).unwrap();
    let last = entries.len() - 1;
    assert!(entries[last]["seq"].as_u64().unwrap() > rekey_seq);
    entries[last]["ts_ms"] = json!(1);
    h.put_raw(page, serde_json::to_vec(&entries).unwrap());
    h.clock.advance(1000);
    let e = expect_code(h.unlock_passphrase("alice", PASS_B), ErrorCode::Integrity);
    assert!(e.message.contains(&format!("seq {last}")), "{e}");
}

#[test]
fn a_rekey_names_every_enrollment_or_changes_nothing() {
    let mut h = Harness::new(703);
    let (s, ids) = alice(&mut h);
    let before = h.snapshot();
    let pass = json!({"enrollment_id": ids[0], "credential": {"kind": "passphrase", "passphrase": PASS_B}});
    let prf = json!({"enrollment_id": ids[1], "credential": {"kind": "passkey_prf", "prf_output": b64(PRF)}});
    let gate = json!({"enrollment_id": ids[2], "credential": {"kind": "passkey_gate"}});
    let other_prf =
        json!({"enrollment_id": ids[1], "credential": {"kind": "passkey_prf", "prf_output": b64([8u8; 32])}});
    let old_pass = json!({"enrollment_id": ids[0], "credential": {"kind": "passphrase", "passphrase": PASS_A}});
    let short = json!({"enrollment_id": ids[0], "credential": {"kind": "passphrase", "passphrase": "short"}});
    let prf_as_pass = json!({"enrollment_id": ids[1], "credential": {"kind": "passphrase", "passphrase": PASS_B}});
    let gate_as_pass = json!({"enrollment_id": ids[2], "credential": {"kind": "passphrase", "passphrase": PASS_B}});
    let cases = [
        // The PRF passkey, or the gate passkey, neither kept nor removed.
        (json!({"rewrap": [pass, gate]}), "invalid_input"),
        (json!({"rewrap": [pass, prf]}), "invalid_input"),
        // A PRF output of another passkey.
        (json!({"rewrap": [pass, gate, other_prf]}), "invalid_input"),
        // The old passphrase: whoever took the copy may know it.
        (json!({"rewrap": [old_pass, prf, gate]}), "invalid_input"),
        // A credential of the wrong kind.
        (json!({"rewrap": [pass, gate, prf_as_pass]}), "invalid_input"),
        (json!({"rewrap": [pass, prf, gate_as_pass]}), "invalid_input"),
        // Named twice.
        (json!({"rewrap": [pass, prf, gate], "remove": [ids[1]]}), "invalid_input"),
        (json!({"rewrap": [pass, pass, prf, gate]}), "invalid_input"),
        // A passphrase under the policy.
        (json!({"rewrap": [short, prf, gate]}), "invalid_input"),
        // Unknown enrollment.
        (json!({"rewrap": [pass, prf, gate], "remove": ["AAAAAAAAAAAAAAAAAAAAAA"]}), "not_found"),
        // Nothing would remain.
        (json!({"remove": [ids[0], ids[1], ids[2]]}), "forbidden"),
    ];
    for (plan, code) in cases {
        let mut params = plan.clone();
        params["user"] = json!("alice");
        params["session"] = json!(s);
        let e = h.rpc_err("rekey", params);
        assert_eq!(e["code"], json!(code), "{plan}: {e}");
        assert_eq!(h.snapshot(), before, "{plan}: nothing changed");
    }
    // Without a session, nothing is read.
    let mut params = rekey_params(&s, &ids, PASS_B);
    params["session"] = json!(b64([9u8; 32]));
    let e = h.rpc_err("rekey", params);
    assert_eq!(e["code"], json!("locked"), "{e}");
    assert_eq!(h.snapshot(), before);

    // With consent, the PRF passkey goes; the gate passkey, named, is
    // wrapped again under a fresh gate key.
    let old_gate = h.record(&enrollment_key("alice", &ids[2]))["params"]["gate_key"].clone();
    let r = h.rpc_ok("rekey", json!({"user": "alice", "session": s, "rewrap": [pass, gate], "remove": [ids[1]]}));
    assert_eq!(r["removed"], json!([ids[1]]), "{r}");
    assert_eq!(r["enrollments"].as_array().unwrap().len(), 2, "{r}");
    assert!(h.get_raw(&enrollment_key("alice", &ids[1])).is_none());
    assert_ne!(h.record(&enrollment_key("alice", &ids[2]))["params"]["gate_key"], old_gate);
    expect_code(h.unlock_prf("alice", b"prf-key", &PRF), ErrorCode::NotFound);
}

#[test]
fn a_rekey_is_audited_with_what_it_did() {
    let mut h = Harness::new(704);
    let (s, ids) = alice(&mut h);
    let r = h.rpc_ok("rekey", rekey_params(&s, &ids, PASS_B));
    let export = h.rpc_ok("audit_export", json!({"user": "alice", "session": session(&r)}))["export"]
        .as_str()
        .unwrap()
        .to_owned();
    let entry: Value = export
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["event"] == json!("rekey"))
        .unwrap();
    assert_eq!(entry["outcome"], json!("ok"));
    assert_eq!(entry["ids"], json!({"removed": "0", "resealed_keys": "2", "rewrapped": "3"}));
    // A refused re-key is audited too, as an ordinary entry.
    let e = h.rpc_err("rekey", json!({"user": "alice", "session": session(&r), "remove": [ids[0], ids[1], ids[2]]}));
    assert_eq!(e["code"], json!("forbidden"), "{e}");
    let export = h.rpc_ok("audit_export", json!({"user": "alice", "session": session(&r)}))["export"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused: Vec<Value> = export
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == json!("rekey") && v["outcome"] != json!("ok"))
        .collect();
    assert_eq!(refused.len(), 1, "{export}");
    let new = master_from(&h.store.snapshot(), &ids[0], PASS_B).unwrap();
    let report = audit::verify_export(
        &export,
        &VerifyOptions { mac_key0: Some(audit::audit_mac_key0(&new, &uid("alice")).unwrap()), ..Default::default() },
    );
    assert!(report.valid, "{report:?}");
}

#[test]
fn a_session_of_another_engine_from_before_the_rekey_seals_and_wraps_nothing() {
    // Two engines over one store: two tabs, or the CLI beside a server.
    let mut h = Harness::new(705);
    let (s, ids) = alice(&mut h);
    let mut other = Harness::over(706, kms_worker::KmsConfig::default(), h.store.clone(), h.store.clone());
    let stale = session(&other.unlock_passphrase("alice", PASS_A).unwrap());
    let r = h.rpc_ok("rekey", rekey_params(&s, &ids, PASS_B));
    let after = h.snapshot();

    // The other engine's session holds the old master secret: it must not
    // wrap it again (which would undo the re-key), nor seal a new key under
    // it, nor add an enrollment for it.
    let calls = [
        (
            "change_passphrase",
            json!({"user": "alice", "session": stale, "enrollment_id": ids[0], "new_passphrase": PASS_WRONG}),
        ),
        ("vapid_rotate", json!({"user": "alice", "session": stale})),
        (
            "add_enrollment",
            json!({"user": "alice", "session": stale, "enrollment": {"kind": "passphrase", "passphrase": PASS_WRONG}}),
        ),
    ];
    for (method, params) in calls {
        let e = other.rpc_err(method, params);
        assert_eq!(e["code"], json!("locked"), "{method}: {e}");
        assert_eq!(other.snapshot(), after, "{method}: nothing changed");
    }
    // The session ended there; unlocking again gives the new secret.
    other.clock.advance(1000);
    let fresh = session(&other.unlock_passphrase("alice", PASS_B).unwrap());
    other.rpc_ok("vapid_rotate", json!({"user": "alice", "session": fresh}));
    // And the re-keying engine's own session goes on.
    h.rpc_ok("audit_export", json!({"user": "alice", "session": session(&r)}));
}
