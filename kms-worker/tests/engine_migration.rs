//! Stores written before the crypto providers: their keys were sealed as the
//! bare 32-byte scalar (format 1). `tests/fixtures/legacy-store.json` is such
//! a store, written by the `kms` CLI of that time (setup, `vapid generate`,
//! `lease create`). The engine still reads it, re-seals the VAPID and audit
//! keys as PKCS#8 (format 2) in the first unlock's own write, and keeps
//! serving the old lease until it ends.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use serde_json::{json, Value};
use support::*;

const FIXTURE: &str = include_str!("fixtures/legacy-store.json");
const AUD: &str = "https://fcm.googleapis.com";

struct Legacy {
    fx: Value,
    h: Harness,
}

fn legacy() -> Legacy {
    let fx: Value = serde_json::from_str(FIXTURE).unwrap();
    let h = Harness::new(4100);
    h.clock.set(fx["now_ms"].as_u64().unwrap());
    for (key, value) in fx["records"].as_object().unwrap() {
        h.put_raw(key, unb64(value.as_str().unwrap()));
    }
    Legacy { fx, h }
}

fn vapid_key_path(fx: &Value) -> String {
    format!("users/alice/vapid/{}", fx["vapid_kid"].as_str().unwrap())
}

fn unlock(l: &mut Legacy) -> String {
    let pass = l.fx["passphrase"].as_str().unwrap().to_owned();
    let out = l.h.unlock_passphrase("alice", &pass).unwrap();
    out["session"].as_str().unwrap().to_owned()
}

/// The public key's JWK coordinates `(x, y)`.
fn coordinates(h: &mut Harness) -> (String, String) {
    let keys = h.rpc_ok("vapid_public", json!({"user": "alice"}));
    let jwk = &keys["current"]["jwk"];
    (jwk["x"].as_str().unwrap().to_owned(), jwk["y"].as_str().unwrap().to_owned())
}

#[test]
fn the_first_unlock_reseals_the_old_keys_in_its_own_write() {
    let mut l = legacy();
    let vapid_path = vapid_key_path(&l.fx);
    let old_vapid = l.h.record(&vapid_path);
    let old_audit = l.h.record("users/alice/audit/key");
    assert_eq!((old_vapid["v"].clone(), old_audit["v"].clone()), (json!(1), json!(1)), "the fixture is format 1");

    let s = unlock(&mut l);

    let vapid = l.h.record(&vapid_path);
    let audit = l.h.record("users/alice/audit/key");
    assert_eq!((vapid["v"].clone(), audit["v"].clone()), (json!(2), json!(2)));
    // The same keys: same kid, same public half; only the sealed blob changed.
    for field in ["kid", "public_key", "version", "status", "created_ms"] {
        assert_eq!(vapid[field], old_vapid[field], "{field}");
    }
    assert_eq!(
        (audit["kid"].clone(), audit["public_key"].clone()),
        (old_audit["kid"].clone(), old_audit["public_key"].clone())
    );
    assert_eq!(unb64(vapid["sealed"].as_str().unwrap()).len(), 12 + 138 + 16, "nonce, PKCS#8, tag");
    assert_eq!(vapid["public_key"], l.fx["vapid_public_key"]);

    // The unlock's own entry says so, and the export (signed by the
    // re-sealed audit key, pinned to the old public key) verifies.
    let out = l.h.rpc_ok("audit_export", json!({"user": "alice", "session": s}));
    let text = out["export"].as_str().unwrap();
    let unlock_entry = text
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .rfind(|v| v["type"] == "entry" && v["event"] == "unlock")
        .unwrap();
    assert_eq!(unlock_entry["ids"]["resealed_keys"], "2");
    let report = l.h.rpc_ok("audit_verify", json!({"export": text, "expected_public_key": old_audit["public_key"]}));
    assert_eq!(report["valid"], json!(true), "{report}");
    assert_eq!(report["audit_kid"], old_audit["kid"]);

    // A second unlock finds nothing left to re-seal.
    let before = l.h.snapshot();
    let _ = unlock(&mut l);
    assert_eq!(l.h.snapshot(), before);
}

#[test]
fn the_old_key_still_signs_and_the_old_lease_still_issues() {
    let mut l = legacy();
    let s = unlock(&mut l);
    let (x, y) = coordinates(&mut l.h);
    let exp = l.h.now() / 1000 + 3600;
    let signed = l.h.rpc_ok(
        "sign_jwt",
        json!({"user": "alice", "session": s, "claims": {"aud": AUD, "sub": "mailto:ops@example.com", "exp": exp}}),
    );
    verify_jwt_signature(signed["jwt"].as_str().unwrap(), &x, &y, AUD).unwrap();
    assert_eq!(signed["kid"], l.fx["vapid_kid"]);

    // The lease record is still format 1 (no `sealed_format`): only its
    // credential opens it, and the relay holds that; its first use
    // re-seals it.
    let lease_path = format!("users/alice/leases/{}", l.fx["lease_id"].as_str().unwrap());
    assert!(l.h.record(&lease_path).get("sealed_format").is_none());
    let issued = l.h.rpc_ok(
        "lease_issue",
        json!({"user": "alice", "credential": l.fx["lease_credential"],
               "request": {"aud": AUD, "sub": "mailto:ops@example.com", "count": 3}}),
    );
    let tokens = issued["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 3);
    for t in tokens {
        verify_jwt_signature(t["jwt"].as_str().unwrap(), &x, &y, AUD).unwrap();
    }
    let lease = l.h.record(&lease_path);
    assert_eq!(lease["sealed_format"], json!(2), "re-sealed as PKCS#8 by its first use");
    assert_eq!(unb64(lease["sealed_key"].as_str().unwrap()).len(), 12 + 138 + 16);
    let again = l.h.rpc_ok(
        "lease_issue",
        json!({"user": "alice", "credential": l.fx["lease_credential"],
               "request": {"aud": AUD, "sub": "mailto:ops@example.com"}}),
    );
    verify_jwt_signature(again["tokens"][0]["jwt"].as_str().unwrap(), &x, &y, AUD).unwrap();
    // A wrong credential for the old lease is still just a wrong credential.
    let cred = l.fx["lease_credential"].as_str().unwrap();
    let (head, _) = cred.rsplit_once('.').unwrap();
    let wrong = format!("{head}.{}", kms_core::b64::encode([7u8; 32]));
    let e = l.h.rpc_err(
        "lease_issue",
        json!({"user": "alice", "credential": wrong, "request": {"aud": AUD, "sub": "mailto:ops@example.com"}}),
    );
    assert_eq!((e["code"].as_str(), e["message"].as_str()), (Some("forbidden"), Some("invalid lease credential")));
}

#[test]
fn a_new_lease_on_the_migrated_key_is_sealed_as_pkcs8() {
    let mut l = legacy();
    let s = unlock(&mut l);
    let granted = l.h.rpc_ok(
        "lease_create",
        json!({"user": "alice", "session": s, "lease": {"relay": "relay-2", "audiences": [AUD]}}),
    );
    let id = granted["lease"]["id"].as_str().unwrap();
    let record = l.h.record(&format!("users/alice/leases/{id}"));
    assert_eq!(record["sealed_format"], json!(2));
    let (x, y) = coordinates(&mut l.h);
    let issued = l.h.rpc_ok(
        "lease_issue",
        json!({"user": "alice", "credential": granted["credential"],
               "request": {"aud": AUD, "sub": "mailto:ops@example.com"}}),
    );
    verify_jwt_signature(issued["tokens"][0]["jwt"].as_str().unwrap(), &x, &y, AUD).unwrap();
}

/// A damaged old-format VAPID record does not lock the user out: the
/// unlock re-seals what opens, leaves the rest as it was, and says so in
/// its audit entry. (Before, one record that did not open failed every
/// unlock.)
#[test]
fn a_damaged_old_vapid_record_is_skipped_not_fatal() {
    let mut l = legacy();
    let vapid_path = vapid_key_path(&l.fx);
    let mut damaged = l.h.record(&vapid_path);
    let mut sealed = unb64(damaged["sealed"].as_str().unwrap());
    *sealed.last_mut().unwrap() ^= 1;
    damaged["sealed"] = json!(kms_core::b64::encode(sealed));
    l.h.put_record(&vapid_path, &damaged);
    l.h.put_raw("users/alice/vapid/not-a-record", b"{".to_vec());

    let s = unlock(&mut l);
    assert_eq!(l.h.record(&vapid_path), damaged, "left as it was");
    assert_eq!(l.h.record("users/alice/audit/key")["v"], json!(2), "the audit key was re-sealed");
    let out = l.h.rpc_ok("audit_export", json!({"user": "alice", "session": s}));
    let entry = out["export"]
        .as_str()
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .rfind(|v| v["type"] == "entry" && v["event"] == "unlock")
        .unwrap();
    assert_eq!(
        (entry["ids"]["resealed_keys"].clone(), entry["ids"]["reseal_skipped"].clone()),
        (json!("1"), json!("2"))
    );
}
