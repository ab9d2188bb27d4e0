//! The JSON boundary: every malformed request gets a well-formed
//! `invalid_input` response that echoes no secret and changes nothing, and
//! no input at all makes `handle_json` panic or answer anything but a
//! well-formed response.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::panic::{catch_unwind, AssertUnwindSafe};

use futures::executor::block_on;
use kms_core::rpc::{Call, MAX_REQUEST_BYTES};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde_json::{json, Value};
use support::*;

/// A harness with one user, so "unchanged" is not vacuous.
fn populated(seed: u64) -> Harness {
    let mut h = Harness::new(seed);
    let s = h.setup_prf("alice", b"alice-cred", &prf_bytes(1)).session;
    h.ok::<Value>(Call::VapidGenerate(Harness::session_params("alice", &s)));
    h
}

#[test]
fn malformed_requests_get_invalid_input_and_change_nothing() {
    let mut h = populated(601);
    let before = h.snapshot();

    let mut oversized = br#"{"v":1,"id":17,"method":"list_enrollments","params":{"user":"alice"}}"#.to_vec();
    // Valid JSON, made too large with whitespace alone.
    oversized.resize(MAX_REQUEST_BYTES + 1, b' ');
    let mut at_limit = br#"{"v":1,"id":18,"method":"list_enrollments","params":{"user":"alice"}}"#.to_vec();
    at_limit.resize(MAX_REQUEST_BYTES, b' ');

    let cases: Vec<(&str, Vec<u8>, Value)> = vec![
        ("empty", b"".to_vec(), json!(null)),
        ("truncated", b"{\"v\":1,\"id\":1,".to_vec(), json!(null)),
        ("not UTF-8", b"\xff\xfe{}".to_vec(), json!(null)),
        ("trailing garbage", br#"{"v":1,"id":2,"method":"info"} x"#.to_vec(), json!(null)),
        ("an array", br#"[{"v":1,"id":3,"method":"info"}]"#.to_vec(), json!(null)),
        ("a string", br#""info""#.to_vec(), json!(null)),
        ("null", b"null".to_vec(), json!(null)),
        ("missing id", br#"{"v":1,"method":"info","params":{}}"#.to_vec(), json!(null)),
        ("negative id", br#"{"v":1,"id":-1,"method":"info"}"#.to_vec(), json!(null)),
        ("object id", br#"{"v":1,"id":{"a":1},"method":"info"}"#.to_vec(), json!(null)),
        ("missing v", br#"{"id":7,"method":"info","params":{}}"#.to_vec(), json!(7)),
        ("v 2", br#"{"v":2,"id":"x","method":"info","params":{}}"#.to_vec(), json!("x")),
        ("v as a string", br#"{"v":"1","id":9,"method":"info"}"#.to_vec(), json!(9)),
        ("unknown method", br#"{"v":1,"id":10,"method":"export_master_secret","params":{}}"#.to_vec(), json!(10)),
        ("method not a string", br#"{"v":1,"id":11,"method":5}"#.to_vec(), json!(11)),
        ("missing method", br#"{"v":1,"id":12}"#.to_vec(), json!(12)),
        ("user of the wrong type", br#"{"v":1,"id":13,"method":"list_enrollments","params":{"user":5}}"#.to_vec(), json!(13)),
        ("user not an id", br#"{"v":1,"id":14,"method":"list_enrollments","params":{"user":"../bob"}}"#.to_vec(), json!(14)),
        (
            "unknown params field",
            br#"{"v":1,"id":15,"method":"list_enrollments","params":{"user":"alice","admin":true}}"#.to_vec(),
            json!(15),
        ),
        ("params a string", br#"{"v":1,"id":16,"method":"list_enrollments","params":"alice"}"#.to_vec(), json!(16)),
        ("missing params", br#"{"v":1,"id":19,"method":"list_enrollments"}"#.to_vec(), json!(19)),
        ("unknown envelope field", br#"{"v":1,"id":20,"method":"info","params":{},"debug":true}"#.to_vec(), json!(20)),
        (
            "setup with an unknown field",
            format!(
                r#"{{"v":1,"id":21,"method":"setup","params":{{"user":"mallory","enrollment":{{"kind":"passphrase","passphrase":"{PASS_A}"}},"role":"admin"}}}}"#
            )
            .into_bytes(),
            json!(21),
        ),
        (
            "unlock of an unknown kind",
            br#"{"v":1,"id":22,"method":"unlock","params":{"user":"alice","credential":{"kind":"master_key","key":"AA"}}}"#.to_vec(),
            json!(22),
        ),
        ("oversized (its id was read: the answer carries it)", oversized, json!(17)),
    ];
    for (name, bytes, id) in cases {
        let resp = h.raw(&bytes);
        assert_eq!(resp["id"], id, "{name}: {resp}");
        assert_eq!(resp["error"]["code"], "invalid_input", "{name}: {resp}");
        assert!(resp.get("result").is_none(), "{name}");
        assert_eq!(h.snapshot(), before, "{name}");
    }
    assert_eq!(h.kdf_runs(), 0, "no malformed request reaches a KDF");

    // Control: at exactly the limit, the same request is served.
    let resp = h.raw(&at_limit);
    assert_eq!(resp["id"], json!(18));
    assert_eq!(resp["result"]["enrollments"].as_array().unwrap().len(), 1, "{resp}");
}

#[test]
fn a_secret_in_a_wrongly_typed_field_is_never_echoed() {
    let mut h = populated(602);
    const SECRET: &str = "hunter2-Correct-Horse-Battery";
    const SPACED: &str = "hunter two correct horse battery";
    let before = h.snapshot();
    let requests: Vec<Value> = vec![
        json!({"v": 1, "id": 1, "method": "setup", "params": {"user": "bob", "enrollment": SECRET}}),
        json!({"v": 1, "id": 2, "method": "setup", "params": SECRET}),
        json!({"v": 1, "id": 3, "method": "setup", "params": {"user": "bob", "enrollment": {"kind": SECRET, "passphrase": SECRET}}}),
        json!({"v": 1, "id": 4, "method": "setup", "params": {"user": "bob", "enrollment": {"kind": "passphrase", "passphrase": [SECRET]}}}),
        json!({"v": 1, "id": 5, "method": "setup", "params": {"user": "bob", "enrollment": {"kind": "passphrase", "passphrase": PASS_A}, "label": [SECRET]}}),
        json!({"v": 1, "id": 6, "method": "unlock", "params": {"user": "alice", "credential": SECRET}}),
        json!({"v": 1, "id": 7, "method": "unlock", "params": {"user": "alice", "credential": {"kind": "passphrase", "passphrase": {"p": SECRET}}}}),
        json!({"v": 1, "id": 8, "method": "unlock", "params": {"user": "alice", "enrollment_id": SPACED, "credential": {"kind": "passphrase", "passphrase": SPACED}}}),
        json!({"v": 1, "id": 9, "method": "unlock", "params": {"user": SPACED, "credential": {"kind": "passphrase", "passphrase": SPACED}}}),
        json!({"v": 1, "id": 10, "method": "change_passphrase", "params": {"user": "alice", "session": SECRET, "new_passphrase": 5}}),
        json!({"v": 1, "id": 11, "method": "change_passphrase", "params": {"user": "alice", "session": SPACED, "new_passphrase": PASS_A}}),
        json!({"v": 1, "id": 12, "method": "sign_jwt", "params": {"user": "alice", "session": "x", "claims": {"aud": "https://a.example", "sub": "mailto:a@b.c", "exp": SECRET}}}),
        json!({"v": 1, "id": 13, "method": "unlock", "params": {"user": "alice", "credential": {"kind": "passkey_prf", "credential_id": b64(b"alice-cred"), "prf_output": [SECRET]}}}),
        json!({"v": 1, "id": 14, "method": "unlock", "params": {"user": "alice", "credential": {"kind": "passkey_gate", "ceremony_id": "c", "assertion": {"id": "x", "rawId": SECRET, "type": "public-key", "response": {}}}}}),
        json!({"v": SECRET, "id": 15, "method": "info"}),
        json!({"v": 1, "id": {"secret": SECRET}, "method": "info"}),
        json!({"v": 1, "id": SECRET.repeat(3), "method": "info"}),
    ];
    for req in requests {
        let resp = h.raw(req.to_string().as_bytes());
        let text = resp.to_string();
        let code = resp["error"]["code"].as_str().unwrap_or_else(|| panic!("expected an error for {req}: {resp}"));
        assert!(matches!(code, "invalid_input" | "locked" | "not_found"), "{req}: {resp}");
        for secret in [SECRET, SPACED, "hunter2", "hunter two", PASS_A] {
            assert!(!text.contains(secret), "the response echoes {secret:?}: {text}");
        }
    }
    assert_eq!(h.snapshot(), before);
    assert_eq!(h.kdf_runs(), 0);
}

#[test]
fn params_must_be_an_object_not_a_positional_array() {
    let mut h = populated(604);
    let s = h.setup_prf("bob", b"bob-cred", &prf_bytes(2)).session;
    let before = h.snapshot();
    for (method, params) in [
        ("list_enrollments", json!(["alice"])),
        ("vapid_public", json!(["alice"])),
        ("session_status", json!(["bob", s])),
        ("vapid_generate", json!(["bob", s])),
    ] {
        let req = json!({"v": 1, "id": 1, "method": method, "params": params});
        let resp = h.raw(req.to_string().as_bytes());
        assert_eq!(resp["error"]["code"], "invalid_input", "{method} with positional params: {resp}");
    }
    assert_eq!(h.snapshot(), before);
}

// ------------------------------------------------------------------ fuzzing

/// Valid requests for every method, against the state `fuzz_state` built.
fn templates(h: &mut Harness) -> Vec<Value> {
    let alice = h.setup_passphrase("alice", PASS_A).session;
    h.ok::<Value>(Call::VapidGenerate(Harness::session_params("alice", &alice)));
    let bob = h.setup_prf("bob", b"bob-cred", &prf_bytes(2)).session;
    let auth = authenticator(77);
    h.ok::<Value>(Call::Setup(kms_core::rpc::SetupParams {
        user: uid("carol"),
        enrollment: auth.gate_enrollment(),
        label: None,
    }));
    let gate = h.rpc_ok("gate_begin", json!({"user": "carol"}));
    let assertion = auth.assert(&unb64(gate["challenge"].as_str().unwrap()), 1).to_json();
    let offer = h.prf_begin("dave");
    let exp = h.now() / 1000 + 3600;
    let params = vec![
        ("info", json!({})),
        ("setup", json!({"user": "erin", "enrollment": {"kind": "passphrase", "passphrase": PASS_B}, "label": "x"})),
        (
            "setup",
            json!({"user": "dave", "enrollment": {"kind": "passkey_prf", "ceremony_id": offer.ceremony_id, "credential_id": b64(b"d"), "prf_output": b64(prf_bytes(4))}}),
        ),
        (
            "setup",
            json!({"user": "frank", "enrollment": {"kind": "passkey_gate", "credential_id": b64(b"f"), "public_key": b64(authenticator(78).public_key_sec1())}}),
        ),
        ("unlock", json!({"user": "alice", "credential": {"kind": "passphrase", "passphrase": PASS_A}})),
        (
            "unlock",
            json!({"user": "bob", "credential": {"kind": "passkey_prf", "credential_id": b64(b"bob-cred"), "prf_output": b64(prf_bytes(2))}}),
        ),
        (
            "unlock",
            json!({"user": "carol", "credential": {"kind": "passkey_gate", "ceremony_id": gate["ceremony_id"], "assertion": assertion}}),
        ),
        ("lock", json!({"user": "bob", "session": bob})),
        ("session_status", json!({"user": "alice", "session": alice})),
        ("list_enrollments", json!({"user": "alice"})),
        ("prf_begin", json!({"user": "alice"})),
        ("gate_begin", json!({"user": "carol"})),
        (
            "add_enrollment",
            json!({"user": "alice", "session": alice, "enrollment": {"kind": "passphrase", "passphrase": PASS_B}}),
        ),
        ("remove_enrollment", json!({"user": "alice", "session": alice, "enrollment_id": "AAAAAAAAAAAAAAAAAAAAAA"})),
        ("change_passphrase", json!({"user": "alice", "session": alice, "new_passphrase": PASS_B})),
        ("vapid_generate", json!({"user": "alice", "session": alice})),
        ("vapid_rotate", json!({"user": "alice", "session": alice})),
        ("vapid_public", json!({"user": "alice"})),
        (
            "sign_jwt",
            json!({"user": "alice", "session": alice, "claims": {"aud": "https://fcm.googleapis.com", "sub": "mailto:a@b.c", "exp": exp, "jti": "j"}}),
        ),
    ];
    params.into_iter().enumerate().map(|(i, (m, p))| json!({"v": 1, "id": i, "method": m, "params": p})).collect()
}

fn random_value(rng: &mut ChaCha20Rng, depth: u32) -> Value {
    match rng.next_u32() % if depth > 2 { 7 } else { 9 } {
        0 => Value::Null,
        1 => json!(rng.next_u32().is_multiple_of(2)),
        2 => json!(rng.next_u64()),
        3 => json!(-(i64::from(rng.next_u32()))),
        4 => json!(f64::from(rng.next_u32()) / 7.0),
        5 => json!(""),
        6 => {
            let len = (rng.next_u32() % 80) as usize;
            json!((0..len).map(|_| char::from(b' ' + (rng.next_u32() % 95) as u8)).collect::<String>())
        }
        7 => Value::Array((0..rng.next_u32() % 4).map(|_| random_value(rng, depth + 1)).collect()),
        _ => {
            let keys = ["v", "id", "user", "kind", "session", "passphrase", "assertion", "x"];
            Value::Object(
                (0..rng.next_u32() % 4)
                    .map(|_| (keys[(rng.next_u32() % 8) as usize].to_owned(), random_value(rng, depth + 1)))
                    .collect(),
            )
        }
    }
}

/// Replaces one randomly chosen node of `v` by a random value.
fn mutate_value(v: &mut Value, rng: &mut ChaCha20Rng) {
    let children = match v {
        Value::Object(m) => m.len(),
        Value::Array(a) => a.len(),
        _ => 0,
    };
    if children == 0 || rng.next_u32().is_multiple_of(4) {
        *v = random_value(rng, 0);
        return;
    }
    let i = (rng.next_u32() as usize) % children;
    match v {
        Value::Object(m) => {
            if rng.next_u32().is_multiple_of(8) {
                let k = m.keys().nth(i).cloned().unwrap();
                m.remove(&k);
            } else if let Some(child) = m.values_mut().nth(i) {
                mutate_value(child, rng);
            }
        }
        Value::Array(a) => mutate_value(&mut a[i], rng),
        _ => {}
    }
}

/// Applies one to four byte-level edits.
fn mutate_bytes(b: &mut Vec<u8>, rng: &mut ChaCha20Rng) {
    for _ in 0..=(rng.next_u32() % 4) {
        let len = b.len().max(1);
        let at = (rng.next_u32() as usize) % len;
        match rng.next_u32() % 6 {
            0 if !b.is_empty() => b[at] ^= 1 << (rng.next_u32() % 8),
            1 if !b.is_empty() => b[at] = (rng.next_u32() & 0xff) as u8,
            2 if !b.is_empty() => {
                let end = (at + 1 + (rng.next_u32() as usize) % 16).min(b.len());
                b.drain(at..end);
            }
            3 => {
                let tokens: [&[u8]; 10] = [b"{", b"}", b"[", b"]", b"\"", b",", b":", b"null", b"\\u0000", b"1e999"];
                let t = tokens[(rng.next_u32() % 10) as usize];
                let at = at.min(b.len());
                b.splice(at..at, t.iter().copied());
            }
            4 if !b.is_empty() => {
                let end = (at + 1 + (rng.next_u32() as usize) % 32).min(b.len());
                let slice = b[at..end].to_vec();
                let to = (rng.next_u32() as usize) % (b.len() + 1);
                b.splice(to..to, slice);
            }
            _ => b.truncate(at),
        }
    }
}

#[test]
fn handle_json_is_total_on_random_and_mutated_input() {
    // The fuzz loop only needs the KDF to be deterministic, not slow.
    let mut h = Harness::with_fake_kdf(603);
    let templates = templates(&mut h);
    let mut rng = ChaCha20Rng::seed_from_u64(0xF022);
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();

    let mut run = |h: &mut Harness, input: &[u8]| {
        let out = catch_unwind(AssertUnwindSafe(|| block_on(h.kms.handle_json(input))))
            .unwrap_or_else(|_| panic!("handle_json panicked on {:?}", String::from_utf8_lossy(input)));
        let resp = check_envelope(&out);
        let text = String::from_utf8_lossy(&out);
        assert!(!text.contains(PASS_A) && !text.contains(PASS_B), "a passphrase in a response: {text}");
        let key = match resp.get("error") {
            Some(e) => e["code"].as_str().unwrap().to_owned(),
            None => "ok".to_owned(),
        };
        *outcomes.entry(key).or_default() += 1;
    };

    // The templates themselves are valid requests.
    for t in &templates {
        run(&mut h, t.to_string().as_bytes());
    }
    // Random bytes.
    for _ in 0..1500 {
        let len = (rng.next_u32() % 256) as usize;
        let mut b = vec![0u8; len];
        rng.fill_bytes(&mut b);
        run(&mut h, &b);
    }
    // Random JSON values.
    for _ in 0..1000 {
        let v = random_value(&mut rng, 0);
        run(&mut h, v.to_string().as_bytes());
    }
    // Structural mutations of valid requests: type confusion at every depth.
    for _ in 0..2000 {
        let mut v = templates[(rng.next_u32() as usize) % templates.len()].clone();
        for _ in 0..=(rng.next_u32() % 2) {
            mutate_value(&mut v, &mut rng);
        }
        run(&mut h, v.to_string().as_bytes());
    }
    // Byte-level mutations of valid requests.
    for _ in 0..2000 {
        let mut b = templates[(rng.next_u32() as usize) % templates.len()].to_string().into_bytes();
        mutate_bytes(&mut b, &mut rng);
        run(&mut h, &b);
    }

    // The corpus reached past the envelope: some requests succeeded and
    // some failed for reasons other than their shape.
    assert!(outcomes.get("ok").copied().unwrap_or(0) > 30, "{outcomes:?}");
    assert!(outcomes.get("invalid_input").copied().unwrap_or(0) > 1000, "{outcomes:?}");
    assert!(outcomes.len() >= 5, "{outcomes:?}");
}
