//! One record format on both platforms: `tests/fixtures/web-store.json` was
//! written in Chromium by the WebCrypto engine (master secret, wrapping
//! keys and VAPID key made and sealed by WebCrypto, keys never extractable;
//! `tests/web.rs`, `a_store_written_with_webcrypto_opens_with_the_native_provider`,
//! prints it). Here the native engine opens it: it unlocks, signs with the
//! same key, issues under the lease, re-wraps for a new passphrase and
//! exports an audit log that verifies.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use serde_json::{json, Value};
use support::*;

const FIXTURE: &str = include_str!("fixtures/web-store.json");
const AUD: &str = "https://fcm.googleapis.com";

/// The fixture, and an engine over its records a minute after it was made.
fn loaded(seed: u64) -> (Value, Harness) {
    let fx: Value = serde_json::from_str(FIXTURE).unwrap();
    let h = Harness::new(seed);
    h.clock.set(fx["now_ms"].as_u64().unwrap() + 60_000);
    for (key, value) in fx["records"].as_object().unwrap() {
        h.put_raw(key, unb64(value.as_str().unwrap()));
    }
    (fx, h)
}

fn coordinates(h: &mut Harness) -> (String, String) {
    let keys = h.rpc_ok("vapid_public", json!({"user": "alice"}));
    let jwk = &keys["current"]["jwk"];
    (jwk["x"].as_str().unwrap().to_owned(), jwk["y"].as_str().unwrap().to_owned())
}

#[test]
fn a_store_written_by_webcrypto_in_the_browser_works_natively() {
    let (fx, mut h) = loaded(4200);
    let vapid_path = format!("users/alice/vapid/{}", fx["vapid_kid"].as_str().unwrap());
    assert_eq!(h.record(&vapid_path)["v"], json!(2), "written as PKCS#8");
    // The chain mark was sealed by WebCrypto (`seal_bytes`): the native
    // provider opens it, so the unlock below checks only from there and
    // reports nothing.
    let mark: Value = serde_json::from_slice(&h.get_raw("users/alice/audit/mark").unwrap()).unwrap();
    assert!(mark["seq"].as_u64().unwrap() > 0, "{mark}");

    let pass = fx["passphrase"].as_str().unwrap();
    let s = h.unlock_passphrase("alice", pass).unwrap()["session"].as_str().unwrap().to_owned();
    let (x, y) = coordinates(&mut h);
    let exp = h.now() / 1000 + 3600;
    let claims = json!({"aud": AUD, "sub": "mailto:ops@example.com", "exp": exp});
    let signed = h.rpc_ok("sign_jwt", json!({"user": "alice", "session": s, "claims": claims}));
    verify_jwt_signature(signed["jwt"].as_str().unwrap(), &x, &y, AUD).unwrap();
    assert_eq!(signed["kid"], fx["vapid_kid"]);

    let issued = h.rpc_ok(
        "lease_issue",
        json!({"user": "alice", "credential": fx["lease_credential"],
               "request": {"aud": AUD, "sub": "mailto:ops@example.com", "count": 2}}),
    );
    for t in issued["tokens"].as_array().unwrap() {
        verify_jwt_signature(t["jwt"].as_str().unwrap(), &x, &y, AUD).unwrap();
    }

    // A re-wrap of the browser's master secret, natively, still unlocks.
    h.rpc_ok(
        "change_passphrase",
        json!({"user": "alice", "session": s, "new_passphrase": "a new passphrase, natively"}),
    );
    let s = h.unlock_passphrase("alice", "a new passphrase, natively").unwrap()["session"].as_str().unwrap().to_owned();
    let out = h.rpc_ok("audit_export", json!({"user": "alice", "session": s}));
    let report = h.rpc_ok("audit_verify", json!({"export": out["export"]}));
    assert_eq!(report["valid"], json!(true), "{report}");
}

/// The mark WebCrypto sealed really opens natively (a mark that did not
/// open would mean a full check from `K_0`, which passes an intact log just
/// as well): an entry edited before the mark and relinked shows at the
/// mark's position, as only a check that starts at the mark reports it.
#[test]
fn the_chain_mark_sealed_by_webcrypto_opens_with_the_native_provider() {
    let (fx, mut h) = loaded(4201);
    let mark: Value = serde_json::from_slice(&h.get_raw("users/alice/audit/mark").unwrap()).unwrap();
    let page_key = "users/alice/audit/page/000000000000";
    let mut entries: Vec<kms_core::audit::AuditEntry> = serde_json::from_slice(&h.get_raw(page_key).unwrap()).unwrap();
    entries[0].ts_ms += 1;
    for i in 1..entries.len() {
        entries[i].prev = kms_core::b64::encode(kms_core::audit::entry_hash(&entries[i - 1]).unwrap());
    }
    let mut state = h.record("users/alice/audit/state");
    state["head"] = json!(kms_core::b64::encode(kms_core::audit::entry_hash(entries.last().unwrap()).unwrap()));
    h.put_raw(page_key, serde_json::to_vec(&entries).unwrap());
    h.put_record("users/alice/audit/state", &state);
    let e =
        expect_code(h.unlock_passphrase("alice", fx["passphrase"].as_str().unwrap()), kms_core::ErrorCode::Integrity);
    // A full check would say seq 0 (mac_mismatch); the check from the mark
    // sees the head differ where the mark is.
    assert_eq!(e.first_bad_seq, mark["seq"].as_u64(), "{e:?}");
}
