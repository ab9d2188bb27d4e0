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

const HOST_A: &str = "http://localhost:8080";
const HOST_B: &str = "http://localhost:8082";

/// `KmsWorker::bind`: the app's id, or the error's message.
async fn bind(worker: &KmsWorker, host: &str) -> Result<String, String> {
    match JsFuture::from(worker.bind(host.into())).await {
        Ok(app) => Ok(app.as_string().unwrap()),
        Err(e) => Err(js_sys::Reflect::get(&e, &"message".into()).unwrap().as_string().unwrap()),
    }
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
    let options = json!({"db_name": db, "allowed_hosts": [HOST_A, HOST_B]}).to_string();
    let passphrase = "a passphrase typed in the iframe";

    let worker = KmsWorker::open(options.clone()).await.unwrap();
    // Until the frame names its host, only `info` is answered.
    let early = call(
        &worker,
        1,
        "setup",
        json!({"user": "alice", "enrollment": {"kind": "passphrase", "passphrase": passphrase}}),
    )
    .await;
    assert_eq!(early["error"]["code"], json!("invalid_input"), "{early}");
    let info = call(&worker, 1, "info", json!({})).await;
    // The relying party is the worker's own host, not something it was told.
    let location = js_sys::Reflect::get(&js_sys::global(), &"location".into()).unwrap();
    let hostname = js_sys::Reflect::get(&location, &"hostname".into()).unwrap().as_string().unwrap();
    assert_eq!(info["result"]["rp_id"], json!(hostname));
    bind(&worker, HOST_A).await.unwrap();
    assert!(bind(&worker, HOST_A).await.unwrap_err().contains("already serves"));
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

    // A frame serving another host, over the same database: alice is not
    // there for it.
    let other = KmsWorker::open(options.clone()).await.unwrap();
    assert!(bind(&other, "https://evil.example").await.unwrap_err().contains("not in allowed_hosts"));
    bind(&other, HOST_B).await.unwrap();
    let unknown = call(&other, 1, "list_enrollments", json!({"user": "alice"})).await;
    assert_eq!(unknown["error"]["code"], json!("not_found"), "{unknown}");
    drop(other);

    // A new engine over the same database (a worker restart, a reload): the
    // user, the key and the unlock are still there; the session is not.
    let worker = KmsWorker::open(options).await.unwrap();
    bind(&worker, HOST_A).await.unwrap();
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
        (r#"{"allowed_hosts": ["http://a.test"], "host_groups": {"g": ["http://b.test"]}}"#, "not in allowed_hosts"),
    ];
    for (options, expected) in cases {
        let err = wasm_bindgen::JsValue::from(KmsWorker::open(options.into()).await.expect_err(options));
        let message = js_sys::Reflect::get(&err, &"message".into()).unwrap().as_string().unwrap();
        assert!(message.contains(expected), "{options}: {message}");
    }
}

// ---- the WebCrypto provider against the native one

mod provider {
    use kms_core::crypto::aead;
    use kms_core::crypto::p256_key::KeyFormat;
    use kms_core::ids::UserId;
    use kms_worker::crypto::web::WebCrypto;
    use kms_worker::crypto::{CryptoProvider, NativeCrypto, OpenError};
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;
    use wasm_bindgen_futures::JsFuture;
    use wasm_bindgen_test::wasm_bindgen_test;
    use zeroize::Zeroizing;

    const SALT: &[u8] = b"enrollment salt";
    const INFO: &[u8] = b"kms/v1/wrap/passphrase\0alice\0enr-1";

    fn ikm() -> Zeroizing<[u8; 32]> {
        Zeroizing::new([0x42; 32])
    }

    fn alice() -> UserId {
        UserId::parse("alice").unwrap()
    }

    /// Every handle the WebCrypto provider gave out refuses `exportKey`
    /// and says it is not extractable.
    async fn all_non_extractable(web: &WebCrypto) {
        let keys = web.recorded_keys();
        assert!(!keys.is_empty());
        let crypto = js_sys::Reflect::get(&js_sys::global(), &"crypto".into()).unwrap();
        let subtle: web_sys::SubtleCrypto =
            wasm_bindgen::JsCast::unchecked_into(js_sys::Reflect::get(&crypto, &"subtle".into()).unwrap());
        for key in keys {
            assert!(!key.extractable(), "an extractable handle");
            for format in ["raw", "pkcs8", "jwk"] {
                if let Ok(p) = subtle.export_key(format, &key) {
                    assert!(JsFuture::from(p).await.is_err(), "exportKey({format}) gave the key out");
                }
            }
        }
    }

    #[wasm_bindgen_test]
    async fn a_master_secret_sealed_on_either_side_opens_on_the_other() {
        let (native, web) = (NativeCrypto, WebCrypto::from_global().unwrap().recording());
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let (wn, ww) =
            (native.wrap_key(ikm(), SALT, INFO).await.unwrap(), web.wrap_key(ikm(), SALT, INFO).await.unwrap());

        // Native seals, WebCrypto opens: the same wrapping key from the same
        // input, the same master (its subkeys' bytes agree).
        let (nm, sealed) = native.new_master(&wn, b"aad", &mut rng).await.unwrap();
        let wm = web.unwrap_master(&ww, b"aad", &sealed).await.unwrap().unwrap();
        let purpose = "audit-mac";
        assert_eq!(
            *native.subkey_bytes(&nm, &alice(), purpose).await.unwrap(),
            *web.subkey_bytes(&wm, &alice(), purpose).await.unwrap()
        );
        // WebCrypto seals (new, and re-wrapped), native opens.
        let (wm2, sealed2) = web.new_master(&ww, b"aad2", &mut rng).await.unwrap();
        let nm2 = native.unwrap_master(&wn, b"aad2", &sealed2).await.unwrap().unwrap();
        assert_eq!(
            *native.subkey_bytes(&nm2, &alice(), purpose).await.unwrap(),
            *web.subkey_bytes(&wm2, &alice(), purpose).await.unwrap()
        );
        let rewrapped = web.rewrap_master(&wm, &ww, b"aad3", &mut rng).await.unwrap();
        let again = native.unwrap_master(&wn, b"aad3", &rewrapped).await.unwrap().unwrap();
        assert_eq!(
            *native.subkey_bytes(&again, &alice(), purpose).await.unwrap(),
            *native.subkey_bytes(&nm, &alice(), purpose).await.unwrap()
        );
        // Another context, another key: not authentic, on both sides.
        assert_eq!(web.unwrap_master(&ww, b"other", &sealed).await.unwrap().err(), Some(OpenError::NotAuthentic));
        let other = web.wrap_key(Zeroizing::new([7; 32]), SALT, INFO).await.unwrap();
        assert_eq!(web.unwrap_master(&other, b"aad", &sealed).await.unwrap().err(), Some(OpenError::NotAuthentic));
        all_non_extractable(&web).await;
    }

    #[wasm_bindgen_test]
    async fn a_signing_key_sealed_on_either_side_opens_and_signs_on_the_other() {
        let (native, web) = (NativeCrypto, WebCrypto::from_global().unwrap().recording());
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let (nm, sealed) =
            native.new_master(&native.wrap_key(ikm(), SALT, INFO).await.unwrap(), b"m", &mut rng).await.unwrap();
        let wm =
            web.unwrap_master(&web.wrap_key(ikm(), SALT, INFO).await.unwrap(), b"m", &sealed).await.unwrap().unwrap();
        let ns = native.subkey(&nm, &alice(), "vapid-seal").await.unwrap();
        let ws = web.subkey(&wm, &alice(), "vapid-seal").await.unwrap();

        // Native generates and seals; WebCrypto opens it and signs.
        let (new, public) = native.generate_signer(&mut rng).await.unwrap();
        let (sealed_key, _) = native.seal_new_signer(new, &ns, b"k", &mut rng).await.unwrap();
        let signer = web.open_signer(&ws, b"k", &sealed_key, KeyFormat::Pkcs8, &public).await.unwrap().unwrap();
        let sig = web.sign(&signer, b"message").await.unwrap();
        assert!(public.verify(b"message", &sig), "a WebCrypto signature verifies natively");

        // WebCrypto generates and seals; native opens it.
        let (new, wpublic) = web.generate_signer(&mut rng).await.unwrap();
        let (wsealed, wsigner) = web.seal_new_signer(new, &ws, b"k2", &mut rng).await.unwrap();
        let opened = native.open_signer(&ns, b"k2", &wsealed, KeyFormat::Pkcs8, &wpublic).await.unwrap().unwrap();
        let sig = native.sign(&opened, b"m2").await.unwrap();
        assert!(wpublic.verify(b"m2", &sig));
        assert!(wpublic.verify(b"m3", &web.sign(&wsigner, b"m3").await.unwrap()));

        // Re-sealed for a lease by WebCrypto, opened natively under the lease key.
        let (nl, wl) =
            (native.wrap_key(ikm(), b"lease", b"l").await.unwrap(), web.wrap_key(ikm(), b"lease", b"l").await.unwrap());
        let leased = web
            .reseal_signer(&ws, b"k", &sealed_key, KeyFormat::Pkcs8, &public, &wl, b"lease-aad", &mut rng)
            .await
            .unwrap()
            .unwrap();
        assert!(native.open_signer(&nl, b"lease-aad", &leased, KeyFormat::Pkcs8, &public).await.unwrap().is_ok());

        // Refusals: another context is not authentic; another public key,
        // or authentic bytes that are no key, are not the key.
        assert_eq!(
            web.open_signer(&ws, b"kx", &sealed_key, KeyFormat::Pkcs8, &public).await.unwrap().err(),
            Some(OpenError::NotAuthentic)
        );
        assert_eq!(
            web.open_signer(&ws, b"k", &sealed_key, KeyFormat::Pkcs8, &wpublic).await.unwrap().err(),
            Some(OpenError::NotTheKey)
        );
        let junk = aead::seal(&ns, b"j", &[0x30; 138], &mut rng).unwrap();
        assert_eq!(
            web.open_signer(&ws, b"j", &junk, KeyFormat::Pkcs8, &public).await.unwrap().err(),
            Some(OpenError::NotTheKey)
        );
        all_non_extractable(&web).await;
    }
}

// ---- one record format: a store written with WebCrypto opens natively

mod web_store {
    use kms_core::env::ManualClock;
    use kms_storage::{IndexedDbStore, KeyPrefix, Store};
    use kms_worker::crypto::web::WebCrypto;
    use kms_worker::crypto::CryptoProvider;
    use kms_worker::web::WebCryptoPbkdf2;
    use kms_worker::{Kms, KmsConfig, NativeCrypto, Platform};
    use rand_core::OsRng;
    use serde_json::{json, Value};
    use wasm_bindgen_test::wasm_bindgen_test;

    const AUD: &str = "https://fcm.googleapis.com";
    const PASSPHRASE: &str = "web fixture passphrase 1";
    /// 2026-12-06T12:00:00Z.
    const NOW_MS: u64 = 1_796_558_400_000;

    async fn engine<P: CryptoProvider>(db: &str, crypto: P) -> Kms<ManualClock, OsRng, P> {
        let store = IndexedDbStore::open(db).await.unwrap();
        let platform = Platform::native(ManualClock::new(NOW_MS), OsRng)
            .with_pbkdf2(Box::new(WebCryptoPbkdf2::from_global().unwrap()))
            .with_crypto(crypto);
        Kms::new(Box::new(store), platform, KmsConfig::default()).unwrap()
    }

    async fn call<P: CryptoProvider>(kms: &mut Kms<ManualClock, OsRng, P>, method: &str, params: Value) -> Value {
        let request = json!({"v": 1, "id": 1, "method": method, "params": params}).to_string();
        let response: Value = serde_json::from_slice(&kms.handle_json(request.as_bytes()).await).unwrap();
        assert!(response.get("error").is_none(), "{method}: {response}");
        response["result"].clone()
    }

    /// The WebCrypto engine writes a store (setup, a VAPID key, a signed
    /// token, a lease); the native provider, compiled to WASM over the same
    /// IndexedDB, unlocks it, signs with the same key and issues under the
    /// lease. The records are printed (`KMS-WEB-STORE`), which is how
    /// `tests/fixtures/web-store.json` was made for the native x86 test
    /// (`tests/engine_web_store.rs`).
    #[wasm_bindgen_test]
    async fn a_store_written_with_webcrypto_opens_with_the_native_provider() {
        let db = "kms-web-store";
        IndexedDbStore::delete(db).await.unwrap();
        let mut web = engine(db, WebCrypto::from_global().unwrap()).await;
        let setup = call(
            &mut web,
            "setup",
            json!({"user": "alice", "enrollment": {"kind": "passphrase", "passphrase": PASSPHRASE}}),
        )
        .await;
        let s = setup["session"].clone();
        let key = call(&mut web, "vapid_generate", json!({"user": "alice", "session": s})).await;
        let claims = json!({"aud": AUD, "sub": "mailto:ops@example.com", "exp": NOW_MS / 1000 + 3600});
        call(&mut web, "sign_jwt", json!({"user": "alice", "session": s, "claims": claims})).await;
        let lease = call(
            &mut web,
            "lease_create",
            json!({"user": "alice", "session": s, "lease": {"relay": "relay-1", "audiences": [AUD], "lifetime_s": 604_800}}),
        )
        .await;
        drop(web);

        // The records as the WebCrypto engine left them, for the native
        // fixture.
        let store = IndexedDbStore::open(db).await.unwrap();
        let mut records = serde_json::Map::new();
        for family in ["users", "instance"] {
            for (k, v) in store.list(&KeyPrefix::new(family).unwrap(), 4096).await.unwrap() {
                records.insert(k.as_str().to_owned(), json!(kms_core::b64::encode(v)));
            }
        }
        drop(store);
        let fixture = json!({
            "user": "alice", "passphrase": PASSPHRASE, "now_ms": NOW_MS,
            "vapid_kid": key["kid"], "vapid_public_key": key["public_key"],
            "lease_credential": lease["credential"], "records": records,
        });
        wasm_bindgen_test::console_log!("KMS-WEB-STORE {fixture}");

        let mut native = engine(db, NativeCrypto).await;
        let unlocked = call(
            &mut native,
            "unlock",
            json!({"user": "alice", "credential": {"kind": "passphrase", "passphrase": PASSPHRASE}}),
        )
        .await;
        let s = unlocked["session"].clone();
        let signed = call(&mut native, "sign_jwt", json!({"user": "alice", "session": s, "claims": claims})).await;
        let public = kms_core::vapid::VapidPublicKey::from_sec1_b64(key["public_key"].as_str().unwrap()).unwrap();
        let verify = |jwt: &str| {
            let (input, sig) = jwt.rsplit_once('.').unwrap();
            let sig: [u8; 64] = kms_core::testing::encoding::unb64(sig).try_into().unwrap();
            assert!(public.as_p256().verify(input.as_bytes(), &sig), "{jwt}");
        };
        verify(signed["jwt"].as_str().unwrap());
        let issued = call(
            &mut native,
            "lease_issue",
            json!({"user": "alice", "credential": lease["credential"], "request": {"aud": AUD, "sub": "mailto:ops@example.com", "count": 2}}),
        )
        .await;
        for t in issued["tokens"].as_array().unwrap() {
            verify(t["jwt"].as_str().unwrap());
        }
        let export = call(&mut native, "audit_export", json!({"user": "alice", "session": s})).await;
        let report = call(&mut native, "audit_verify", json!({"export": export["export"]})).await;
        assert_eq!(report["valid"], json!(true), "{report}");
        drop(native);
    }
}
