//! The conformance suite against a real IndexedDB, in headless Chromium,
//! inside a dedicated worker (where the KMS runs): every case on a fresh
//! database, plus what only a browser database can show, that records
//! survive closing and reopening (a worker restart or a page reload).
//!
//! Run by `scripts/test-browser.sh` through wasm-bindgen-test-runner.

#![cfg(all(target_arch = "wasm32", target_os = "unknown"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use kms_storage::conformance::cases;
use kms_storage::{IndexedDbStore, KeyPrefix, Store, StoreKey, WriteBatch};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_dedicated_worker);

#[wasm_bindgen_test]
async fn every_conformance_case_passes_on_indexeddb() {
    for (i, case) in cases().iter().enumerate() {
        let name = format!("kms-conformance-{i}-{}", case.name());
        IndexedDbStore::delete(&name).await.unwrap();
        let store = IndexedDbStore::open(&name).await.unwrap();
        let outcome = case.run(&store).await;
        store.close();
        IndexedDbStore::delete(&name).await.unwrap();
        if let Err(failure) = outcome {
            panic!("{failure}");
        }
    }
}

#[wasm_bindgen_test]
async fn records_survive_closing_and_reopening() {
    let name = "kms-reopen";
    IndexedDbStore::delete(name).await.unwrap();
    let key = StoreKey::new("users/alice/meta").unwrap();
    {
        let store = IndexedDbStore::open(name).await.unwrap();
        let mut batch = WriteBatch::new();
        batch.expect_absent(&key).unwrap();
        batch.put(&key, b"sealed".to_vec()).unwrap();
        store.commit(batch).await.unwrap();
        store.close();
    }
    let store = IndexedDbStore::open(name).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap().as_deref(), Some(&b"sealed"[..]));
    let listed = store.list(&KeyPrefix::new("users/alice").unwrap(), 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    store.close();
    IndexedDbStore::delete(name).await.unwrap();
}
