//! The bad-input catalog: every RPC method, each with its malformed
//! variants (a field missing, null, of the wrong type, empty, huge, full of
//! control and bidirectional characters, an id of nothing, another user's
//! name or session, a member too many; params of the wrong type), sent to
//! an engine over a real SQLite store. For every case: a typed error with a
//! documented code, no panic, every record outside the audit log
//! byte-identical, and, for a request that decoded and whose method is
//! audited, the refusal in the log (an entry, or the count of a repeated
//! refusal, `kms_core::audit::repeat`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeMap;

use futures::executor::block_on;
use kms_core::env::ManualClock;
use kms_core::ErrorCode;
use kms_storage::{KeyPrefix, SqliteStore, Store};
use kms_worker::{Kms, KmsConfig, Platform};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::{json, Value};

const PASS: &str = "correct horse battery staple";
const FCM: &str = "https://fcm.googleapis.com";

/// Methods whose refusals are audited (`audit_hint` in the engine).
const AUDITED: [&str; 18] = [
    "setup",
    "unlock",
    "lock",
    "add_enrollment",
    "remove_enrollment",
    "change_passphrase",
    "vapid_generate",
    "vapid_rotate",
    "sign_jwt",
    "audit_export",
    "subscription_add",
    "subscription_remove",
    "lease_create",
    "lease_revoke",
    "lease_extend",
    "lease_issue",
    "lease_courier",
    "user_delete",
];

struct Engine {
    kms: Kms<ManualClock, ChaCha20Rng>,
    /// A second connection to the same file, to read what is stored.
    reader: SqliteStore,
    next_id: u64,
}

impl Engine {
    fn rpc(&mut self, method: &str, params: Option<Value>) -> Value {
        self.next_id += 1;
        let mut req = json!({"v": 1, "id": self.next_id, "method": method});
        if let Some(p) = params {
            req["params"] = p;
        }
        let out = block_on(self.kms.handle_json(req.to_string().as_bytes()));
        serde_json::from_slice(&out).expect("every answer is JSON")
    }

    fn ok(&mut self, method: &str, params: Value) -> Value {
        let r = self.rpc(method, Some(params));
        r.get("result").cloned().unwrap_or_else(|| panic!("{method}: {r}"))
    }

    /// Every stored record, by key: (outside the audit log, inside it).
    fn snapshot(&self) -> (BTreeMap<String, Vec<u8>>, BTreeMap<String, Vec<u8>>) {
        let (mut plain, mut audit) = (BTreeMap::new(), BTreeMap::new());
        for root in ["users", "instance"] {
            let rows = block_on(self.reader.list(&KeyPrefix::new(root).unwrap(), 4096)).unwrap();
            for (k, v) in rows {
                let k = k.as_str().to_owned();
                if k.split('/').any(|s| s == "audit") {
                    audit.insert(k, v);
                } else {
                    plain.insert(k, v);
                }
            }
        }
        (plain, audit)
    }
}

/// The valid request of each method, with required members only (so that
/// removing any of them makes it malformed), for alice.
fn templates(alice: &Fixture) -> Vec<(&'static str, Value)> {
    let (u, s) = ("alice", alice.session.as_str());
    vec![
        ("setup", json!({"user": "carol", "enrollment": {"kind": "passphrase", "passphrase": PASS}})),
        ("unlock", json!({"user": u, "credential": {"kind": "passphrase", "passphrase": PASS}})),
        ("lock", json!({"user": u, "session": s})),
        ("session_status", json!({"user": u, "session": s})),
        ("list_enrollments", json!({"user": u})),
        ("prf_begin", json!({"user": u})),
        ("gate_begin", json!({"user": u})),
        (
            "add_enrollment",
            json!({"user": u, "session": s, "enrollment": {"kind": "passphrase", "passphrase": "another long passphrase"}}),
        ),
        ("remove_enrollment", json!({"user": u, "session": s, "enrollment_id": alice.enrollment_id})),
        ("change_passphrase", json!({"user": u, "session": s, "new_passphrase": "another long passphrase"})),
        ("vapid_generate", json!({"user": u, "session": s})),
        ("vapid_rotate", json!({"user": u, "session": s})),
        ("vapid_public", json!({"user": u})),
        (
            "sign_jwt",
            json!({"user": u, "session": s, "claims": {"aud": FCM, "exp": alice.exp, "sub": "mailto:ops@example.com"}}),
        ),
        ("audit_export", json!({"user": u, "session": s})),
        ("audit_verify", json!({"export": "x"})),
        (
            "subscription_add",
            json!({"user": u, "session": s, "subscription": {"endpoint": "https://fcm.googleapis.com/fcm/send/x", "keys": {"p256dh": "x", "auth": "x"}}}),
        ),
        ("subscription_list", json!({"user": u, "session": s})),
        ("subscription_remove", json!({"user": u, "session": s, "subscription_id": "x"})),
        ("lease_create", json!({"user": u, "session": s, "lease": {"relay": "relay-1", "audiences": [FCM]}})),
        ("lease_list", json!({"user": u, "session": s})),
        ("lease_revoke", json!({"user": u, "session": s, "lease_id": alice.lease_id})),
        ("lease_extend", json!({"user": u, "session": s, "lease_id": alice.lease_id, "lifetime_s": 7200})),
        (
            "lease_issue",
            json!({"user": u, "credential": alice.credential, "request": {"aud": FCM, "sub": "mailto:ops@example.com"}}),
        ),
        ("lease_courier", json!({"user": u, "lease_id": alice.lease_id, "sealed": "AAAA"})),
        ("user_delete", json!({"user": u, "session": s, "confirm": u})),
    ]
}

/// Values that are wrong in place of any member (some only for some).
/// `with_session`: the request carries alice's session, so bob's name in it
/// is another user's.
fn wrong_values(field: &str, bob: &Fixture, with_session: bool) -> Vec<(String, Value)> {
    let mut v: Vec<(String, Value)> = vec![
        ("null".into(), Value::Null),
        ("true".into(), json!(true)),
        ("a negative number".into(), json!(-1)),
        ("a huge number".into(), json!(1e300)),
        ("a fraction".into(), json!(0.5)),
        ("an array".into(), json!([])),
        ("an object of nothing".into(), json!({})),
        ("an empty string".into(), json!("")),
        ("control and bidi characters".into(), json!("\u{0}\u{7}\u{202e}\u{2066}")),
        ("70,000 characters".into(), json!("a".repeat(70_000))),
    ];
    // (A path is a fine passphrase.)
    if !field.contains("passphrase") {
        v.push(("a path".into(), json!("../../etc/passwd")));
    }
    // Strings where a number goes, numbers where a string goes.
    v.push(("a number as text or a number".into(), if field == "lifetime_s" { json!("7200") } else { json!(12345) }));
    match field {
        "user" if with_session => v.push(("another user's name".into(), json!("bob"))),
        "session" => v.push(("another user's session".into(), json!(bob.session))),
        "lease_id" => v.push(("another user's lease".into(), json!(bob.lease_id))),
        "enrollment_id" => v.push(("another user's enrollment".into(), json!(bob.enrollment_id))),
        "credential" => v.push(("another user's lease credential".into(), json!(bob.credential))),
        _ => {}
    }
    v
}

struct Fixture {
    session: String,
    enrollment_id: String,
    lease_id: String,
    credential: String,
    exp: u64,
}

fn user(e: &mut Engine, name: &str, now_ms: u64) -> Fixture {
    let s = e.ok("setup", json!({"user": name, "enrollment": {"kind": "passphrase", "passphrase": PASS}}));
    let session = s["session"].as_str().unwrap().to_owned();
    e.ok("vapid_generate", json!({"user": name, "session": session}));
    let l = e.ok(
        "lease_create",
        json!({"user": name, "session": session, "lease": {"relay": "relay-1", "audiences": [FCM]}}),
    );
    Fixture {
        enrollment_id: s["enrollment"]["id"].as_str().unwrap().to_owned(),
        lease_id: l["lease"]["id"].as_str().unwrap().to_owned(),
        credential: l["credential"].as_str().unwrap().to_owned(),
        exp: now_ms / 1000 + 3600,
        session,
    }
}

#[test]
fn every_method_refuses_its_malformed_variants_and_changes_nothing_but_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kms.sqlite");
    let now_ms =
        u64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()).unwrap();
    let kms = Kms::new(
        Box::new(SqliteStore::open(&path).unwrap()),
        Platform::native(ManualClock::new(now_ms), ChaCha20Rng::seed_from_u64(77)),
        KmsConfig { session_ttl_ms: 24 * 3600 * 1000, ..KmsConfig::default() },
    )
    .unwrap();
    let mut e = Engine { kms, reader: SqliteStore::open(&path).unwrap(), next_id: 0 };
    let alice = user(&mut e, "alice", now_ms);
    let bob = user(&mut e, "bob", now_ms);

    let mut cases: Vec<(String, &str, Option<Value>)> = Vec::new();
    for (method, valid) in templates(&alice) {
        // The params themselves of the wrong type.
        for (name, params) in [
            ("params null", json!(null)),
            ("params an array", json!([])),
            ("params text", json!("x")),
            ("params a number", json!(7)),
        ] {
            cases.push((format!("{method}: {name}"), method, Some(params)));
        }
        cases.push((format!("{method}: no params"), method, None));
        let mut extra = valid.clone();
        extra["zzz_unknown"] = json!(1);
        cases.push((format!("{method}: a member too many"), method, Some(extra)));
        for field in valid.as_object().unwrap().keys() {
            let mut missing = valid.clone();
            missing.as_object_mut().unwrap().remove(field);
            cases.push((format!("{method}: without {field}"), method, Some(missing)));
            for (name, value) in wrong_values(field, &bob, valid.get("session").is_some()) {
                // A real guess at another user's passphrase is not malformed.
                if method == "unlock" && field == "user" && name == "another user's name" {
                    continue;
                }
                let mut bad = valid.clone();
                bad[field.as_str()] = value;
                cases.push((format!("{method}: {field} as {name}"), method, Some(bad)));
            }
        }
    }
    for method in ["no_such_method", "", "setup\u{0}", "SETUP"] {
        cases.push((format!("unknown method {method:?}"), method, Some(json!({}))));
    }
    assert!(cases.len() >= 500, "{} cases", cases.len());

    let mut by_code: BTreeMap<String, usize> = BTreeMap::new();
    for (name, method, params) in &cases {
        let (plain_before, audit_before) = e.snapshot();
        let r = e.rpc(method, params.clone());
        let (plain_after, audit_after) = e.snapshot();
        let decoded_and_audited = match (r.get("error"), r.get("result")) {
            (Some(err), None) => {
                let code = err["code"].as_str().unwrap_or_default().to_owned();
                // A documented code is one of the protocol's `ErrorCode`s.
                assert!(
                    serde_json::from_value::<ErrorCode>(err["code"].clone()).is_ok(),
                    "{name}: undocumented code in {r}"
                );
                assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()), "{name}: no message in {r}");
                *by_code.entry(code.clone()).or_default() += 1;
                code != "invalid_input" && AUDITED.contains(method)
            }
            // audit_verify answers a report, not an error, for an export
            // that does not verify.
            (None, Some(report)) if *method == "audit_verify" => {
                assert_eq!(report["valid"], json!(false), "{name}: {r}");
                *by_code.entry("report: not valid".into()).or_default() += 1;
                false
            }
            _ => panic!("{name}: not refused: {r}"),
        };
        assert!(plain_before == plain_after, "{name}: a record outside the log changed ({r})");
        if decoded_and_audited {
            assert!(audit_before != audit_after, "{name}: the refusal is not in the log ({r})");
        }
    }
    // Both users are whole: they still sign, with their own keys.
    for (name, f) in [("alice", &alice), ("bob", &bob)] {
        let claims = json!({"aud": FCM, "exp": f.exp, "sub": "mailto:ops@example.com"});
        e.ok("sign_jwt", json!({"user": name, "session": f.session, "claims": claims}));
    }
    let verified = e.ok("audit_export", json!({"user": "alice", "session": alice.session}));
    let report = e.ok("audit_verify", json!({"export": verified["export"]}));
    assert_eq!(report["valid"], json!(true), "{report}");
    eprintln!("{} malformed requests: {by_code:?}", cases.len());
}
