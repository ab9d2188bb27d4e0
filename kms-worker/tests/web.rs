//! The browser platform layer, in headless Chromium, inside a dedicated
//! worker (where the KMS runs): WebCrypto PBKDF2 gives the `pbkdf2` crate's
//! bytes, and the exported `KmsWorker` answers the protocol over a real
//! IndexedDB, state surviving a restart of the engine.
//!
//! Run by `scripts/test-browser.sh` through wasm-bindgen-test-runner.

#![cfg(all(target_arch = "wasm32", target_os = "unknown"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use kms_core::testing::encoding::hex;
use kms_storage::IndexedDbStore;
use kms_worker::web::{KmsWorker, WebCryptoPbkdf2};
use kms_worker::{NativePbkdf2, Pbkdf2Provider};
use serde_json::{json, Value};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_dedicated_worker);

#[wasm_bindgen_test]
async fn webcrypto_pbkdf2_matches_published_vectors_and_the_pbkdf2_crate() {
    let web = WebCryptoPbkdf2::from_global().unwrap();
    // PBKDF2-HMAC-SHA256 vectors (RFC 7914 section 11 and the widely
    // reproduced "password"/"salt" set), first 32 bytes.
    let vectors: &[(&[u8], &[u8], u32, &str)] = &[
        (b"passwd", b"salt", 1, "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"),
        (b"password", b"salt", 1, "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b"),
        (b"password", b"salt", 2, "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43"),
        (b"password", b"salt", 4096, "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"),
    ];
    for (password, salt, iterations, expected) in vectors {
        let out = web.pbkdf2_sha256(password, salt, *iterations).await.unwrap();
        assert_eq!(out.to_vec(), hex(expected), "iterations {iterations}");
    }
    // A passphrase of the kind users type (UTF-8), a random-looking salt and
    // the production iteration count: the same bytes both ways.
    let password = "correct horse battery staple, ünïcödé".as_bytes();
    let salt = hex("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
    let native = NativePbkdf2.pbkdf2_sha256(password, &salt, 600_000).await.unwrap();
    let webcrypto = web.pbkdf2_sha256(password, &salt, 600_000).await.unwrap();
    assert_eq!(*native, *webcrypto);
}

async fn call(worker: &KmsWorker, id: u64, method: &str, params: Value) -> Value {
    let request = json!({"v": 1, "id": id, "method": method, "params": params}).to_string();
    let response = JsFuture::from(worker.handle(request)).await.unwrap();
    let response: Value = serde_json::from_str(&response.as_string().unwrap()).unwrap();
    assert_eq!(response["id"], json!(id));
    response
}

#[wasm_bindgen_test]
async fn the_exported_worker_answers_the_protocol_over_indexeddb() {
    let db = "kms-web-worker-test";
    IndexedDbStore::delete(db).await.unwrap();
    let options = json!({"db_name": db}).to_string();
    let passphrase = "a passphrase typed in the iframe";

    let worker = KmsWorker::open(options.clone()).await.unwrap();
    let info = call(&worker, 1, "info", json!({})).await;
    // The relying party is the worker's own host, not something it was told.
    let location = js_sys::Reflect::get(&js_sys::global(), &"location".into()).unwrap();
    let hostname = js_sys::Reflect::get(&location, &"hostname".into()).unwrap().as_string().unwrap();
    assert_eq!(info["result"]["rp_id"], json!(hostname));
    let setup = call(
        &worker,
        2,
        "setup",
        json!({"user": "alice", "enrollment": {"kind": "passphrase", "passphrase": passphrase}}),
    )
    .await;
    let session = setup["result"]["session"].as_str().unwrap().to_owned();
    let key = call(&worker, 3, "vapid_generate", json!({"user": "alice", "session": session})).await;
    let kid = key["result"]["kid"].as_str().unwrap().to_owned();
    drop(worker);

    // A new engine over the same database (a worker restart, a reload): the
    // user, the key and the unlock are still there; the session is not.
    let worker = KmsWorker::open(options).await.unwrap();
    let locked = call(&worker, 4, "session_status", json!({"user": "alice", "session": session})).await;
    assert_eq!(locked["error"]["code"], json!("locked"));
    let wrong = call(
        &worker,
        5,
        "unlock",
        json!({"user": "alice", "credential": {"kind": "passphrase", "passphrase": "not the passphrase at all"}}),
    )
    .await;
    assert_eq!(wrong["error"]["code"], json!("unlock_failed"));
    let unlocked = call(
        &worker,
        6,
        "unlock",
        json!({"user": "alice", "credential": {"kind": "passphrase", "passphrase": passphrase}}),
    )
    .await;
    assert!(unlocked["result"]["session"].is_string(), "{unlocked}");
    let public = call(&worker, 7, "vapid_public", json!({"user": "alice"})).await;
    assert_eq!(public["result"]["current"]["kid"], json!(kid));
    let garbage = JsFuture::from(worker.handle("\u{0}not json".into())).await.unwrap();
    let garbage: Value = serde_json::from_str(&garbage.as_string().unwrap()).unwrap();
    assert_eq!(garbage["error"]["code"], json!("invalid_input"));
}

#[wasm_bindgen_test]
async fn bad_worker_options_are_refused_with_a_message() {
    let cases = [
        ("not json", "worker options:"),
        (r#"{"db_name": ""}"#, "db_name must be"),
        // The relying party is never an option.
        (r#"{"db_name": "kms", "rp_id": "evil.example"}"#, "unknown field `rp_id`"),
    ];
    for (options, expected) in cases {
        let err = wasm_bindgen::JsValue::from(KmsWorker::open(options.into()).await.expect_err(options));
        let message = js_sys::Reflect::get(&err, &"message".into()).unwrap().as_string().unwrap();
        assert!(message.contains(expected), "{options}: {message}");
    }
}
