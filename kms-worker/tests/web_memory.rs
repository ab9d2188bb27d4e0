//! What an attacker who can read the worker's WASM memory finds: with the
//! WebCrypto provider, none of the long-lived secrets; with the native
//! provider, all of them. In headless Chromium, in a dedicated worker, over
//! a real IndexedDB.
//!
//! The store is `tests/fixtures/native-store.json`, written by the native
//! engine; its secrets (`needles`, XOR 0x5a, so the test never holds them
//! unmasked) are known. The engine unlocks it, signs, issues tokens under
//! its lease, grants a lease, rotates the VAPID key, signs again, exports
//! the audit log and sets up a second user; then, with the engine and its
//! session still alive, the whole linear memory is searched for every
//! needle. The same run with the native provider must find them: that is
//! what shows the search can see a key when there is one.
//!
//! This is its own test binary (its own WASM instance): no other test's
//! leftovers are in the memory it searches.

#![cfg(all(target_arch = "wasm32", target_os = "unknown"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use js_sys::{Array, Function, Uint8Array};
use kms_core::env::ManualClock;
use kms_core::testing::encoding::{hex, unb64};
use kms_storage::{IndexedDbStore, Store, StoreKey, WriteBatch};
use kms_worker::crypto::web::WebCrypto;
use kms_worker::crypto::CryptoProvider;
use kms_worker::web::WebCryptoPbkdf2;
use kms_worker::{Kms, KmsConfig, Platform};
use rand_core::OsRng;
use serde_json::{json, Value};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_dedicated_worker);

const FIXTURE: &str = include_str!("fixtures/native-store.json");
const MASK: u8 = 0x5a;
const AUD: &str = "https://fcm.googleapis.com";

/// The needles' names, and the masked bytes as JS arrays.
fn needles(fx: &Value) -> (Vec<String>, Array) {
    let map = fx["needles"].as_object().unwrap();
    let names = map.keys().cloned().collect();
    let arrays = map.values().map(|v| JsValue::from(Uint8Array::from(hex(v.as_str().unwrap()).as_slice()))).collect();
    (names, arrays)
}

/// Which needles occur anywhere in this instance's linear memory. The
/// search runs in JS over a view of the memory and unmasks one byte at a
/// time in a register: no unmasked copy of a needle is ever stored.
fn search(fx: &Value) -> Vec<String> {
    let (names, masked) = needles(fx);
    let find = Function::new_with_args(
        "memory, needles, mask",
        "const mem = new Uint8Array(memory.buffer); const found = [];
         for (let n = 0; n < needles.length; n++) {
           const nd = needles[n]; const first = nd[0] ^ mask; const last = mem.length - nd.length;
           outer: for (let i = 0; i <= last; i++) {
             if (mem[i] !== first) continue;
             for (let j = 1; j < nd.length; j++) { if (mem[i + j] !== (nd[j] ^ mask)) continue outer; }
             found.push(n); break;
           }
         }
         return found;",
    );
    let found = find.call3(&JsValue::NULL, &wasm_bindgen::memory(), &masked, &JsValue::from(MASK)).unwrap();
    let found: Array = found.dyn_into().unwrap();
    found.iter().map(|i| names[i.as_f64().unwrap() as usize].clone()).collect()
}

async fn call<P: CryptoProvider>(kms: &mut Kms<ManualClock, OsRng, P>, method: &str, params: Value) -> Value {
    let request = json!({"v": 1, "id": 1, "method": method, "params": params}).to_string();
    let response: Value = serde_json::from_slice(&kms.handle_json(request.as_bytes()).await).unwrap();
    assert!(response.get("error").is_none(), "{method}: {response}");
    response["result"].clone()
}

/// The fixture in a fresh IndexedDB database, and an engine over it with
/// `crypto`, driven through every operation that touches a secret key.
/// Returns the engine, still holding its session, and what the search found
/// halfway (the fixture's VAPID key just used, so cached in the session).
async fn exercise<P: CryptoProvider>(fx: &Value, db: &str, crypto: P) -> (Kms<ManualClock, OsRng, P>, Vec<String>) {
    IndexedDbStore::delete(db).await.unwrap();
    let store = IndexedDbStore::open(db).await.unwrap();
    let mut batch = WriteBatch::new();
    for (key, value) in fx["records"].as_object().unwrap() {
        batch.put(&StoreKey::new(key).unwrap(), unb64(value.as_str().unwrap())).unwrap();
    }
    store.commit(batch).await.unwrap();
    let clock = ManualClock::new(fx["now_ms"].as_u64().unwrap() + 60_000);
    let platform = Platform::native(clock, OsRng)
        .with_pbkdf2(Box::new(WebCryptoPbkdf2::from_global().unwrap()))
        .with_crypto(crypto);
    let mut kms = Kms::new(Box::new(store), platform, KmsConfig::default()).unwrap();

    let pass = fx["passphrase"].clone();
    let unlocked =
        call(&mut kms, "unlock", json!({"user": "alice", "credential": {"kind": "passphrase", "passphrase": pass}}))
            .await;
    let s = unlocked["session"].clone();
    let claims =
        json!({"aud": AUD, "sub": "mailto:ops@example.com", "exp": fx["now_ms"].as_u64().unwrap() / 1000 + 3600});
    call(&mut kms, "sign_jwt", json!({"user": "alice", "session": s, "claims": claims})).await;
    let issued = call(
        &mut kms,
        "lease_issue",
        json!({"user": "alice", "credential": fx["lease_credential"], "request": {"aud": AUD, "sub": "mailto:ops@example.com", "count": 3}}),
    )
    .await;
    assert_eq!(issued["tokens"].as_array().unwrap().len(), 3);
    let halfway = search(fx);
    call(
        &mut kms,
        "lease_create",
        json!({"user": "alice", "session": s, "lease": {"relay": "relay-2", "audiences": [AUD]}}),
    )
    .await;
    // Re-wraps of the master secret: a new enrollment, a new passphrase.
    let second = json!({"kind": "passphrase", "passphrase": "a second passphrase for alice"});
    let added = call(&mut kms, "add_enrollment", json!({"user": "alice", "session": s, "enrollment": second})).await;
    call(
        &mut kms,
        "change_passphrase",
        json!({"user": "alice", "session": s, "enrollment_id": added["id"], "new_passphrase": "alice's new passphrase"}),
    )
    .await;
    call(&mut kms, "vapid_rotate", json!({"user": "alice", "session": s})).await;
    call(&mut kms, "sign_jwt", json!({"user": "alice", "session": s, "claims": claims})).await;
    call(&mut kms, "audit_export", json!({"user": "alice", "session": s})).await;
    call(
        &mut kms,
        "setup",
        json!({"user": "bob", "enrollment": {"kind": "passphrase", "passphrase": "bob's own passphrase"}}),
    )
    .await;
    (kms, halfway)
}

#[wasm_bindgen_test]
async fn no_long_lived_secret_is_in_wasm_memory_with_webcrypto_and_all_are_with_the_native_provider() {
    let fx: Value = serde_json::from_str(FIXTURE).unwrap();
    let all: Vec<String> = fx["needles"].as_object().unwrap().keys().cloned().collect();
    assert!(search(&fx).is_empty(), "the needles are in memory before anything ran");

    // WebCrypto: every handle non-extractable, no secret in memory, halfway
    // or at the end.
    let web = WebCrypto::from_global().unwrap().recording();
    let (kms, halfway) = exercise(&fx, "kms-memory-web", web.clone()).await;
    assert!(halfway.is_empty(), "with the WebCrypto provider, halfway, the worker's memory holds {halfway:?}");
    let found = search(&fx);
    assert!(found.is_empty(), "with the WebCrypto provider, the worker's memory holds {found:?}");
    let keys = web.recorded_keys();
    assert!(keys.len() >= 10, "only {} keys recorded", keys.len());
    for key in &keys {
        assert!(!key.extractable(), "an extractable key is held");
    }
    drop(kms);

    // The native provider, same operations: halfway, the search finds the
    // master secret and the VAPID private key the session holds. (Keys the
    // native provider opens for one call are zeroized when dropped, so what
    // is still found at the end depends on what was used last.)
    let (kms, halfway) = exercise(&fx, "kms-memory-native", kms_worker::NativeCrypto).await;
    let has = |name: &str| halfway.iter().any(|n| n == name);
    assert!(
        has("master_secret") && (has("vapid_private_scalar") || has("vapid_private_scalar_le")),
        "the search missed the native provider's secrets (found {halfway:?} of {all:?})"
    );
    drop(kms);
}
