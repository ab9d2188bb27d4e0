//! The browser backend: one IndexedDB database of the KMS origin, one object
//! store `records` with out-of-line string keys and `Uint8Array` values.
//!
//! - A batch is one `readwrite` transaction: its preconditions are read and
//!   checked inside it, and on a mismatch it is aborted, so nothing is
//!   written (IndexedDB transactions are atomic and isolated).
//! - A listing is one `readonly` transaction (the prefix key itself, then the
//!   keys and values of the `[prefix/, prefix0)` range), so it sees one
//!   consistent state.
//! - Keys are ASCII (see [`crate::StoreKey`]), so IndexedDB's order (by
//!   UTF-16 code unit) is byte order, the order every backend lists in.
//! - The database version is the schema version: a database created by a
//!   newer build (a higher version) is refused by IndexedDB itself when this
//!   build opens it at its own version, and reported as a backend error.
//!
//! Works in a dedicated worker (rexie reaches `indexedDB` through the global
//! scope, not `window`).

use js_sys::Uint8Array;
use rexie::{KeyRange, Rexie, TransactionMode};
use wasm_bindgen::{JsCast, JsValue};

use crate::limits::{check_stored_value, ListCollector};
use crate::{KeyPrefix, Store, StoreError, StoreKey, WriteBatch};

/// The IndexedDB version this build creates and understands.
pub const IDB_SCHEMA_VERSION: u32 = 1;
const RECORDS: &str = "records";

/// A store in one IndexedDB database.
pub struct IndexedDbStore {
    db: Rexie,
    name: String,
}

impl std::fmt::Debug for IndexedDbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexedDbStore").field("name", &self.name).finish_non_exhaustive()
    }
}

fn backend(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("IndexedDB {what}: {e}"))
}

fn key_value(key: &StoreKey) -> JsValue {
    JsValue::from_str(key.as_str())
}

/// A stored value as bytes; anything but a `Uint8Array` was not written by
/// this crate.
fn bytes_of(value: JsValue) -> Result<Vec<u8>, StoreError> {
    let array = value.dyn_into::<Uint8Array>().map_err(|_| StoreError::Corrupt("a value is not bytes".into()))?;
    let bytes = array.to_vec();
    check_stored_value(&bytes)?;
    Ok(bytes)
}

impl IndexedDbStore {
    /// Opens (creating if needed) the database `name` of this origin.
    pub async fn open(name: &str) -> Result<Self, StoreError> {
        let db = Rexie::builder(name)
            .version(IDB_SCHEMA_VERSION)
            .add_object_store(rexie::ObjectStore::new(RECORDS))
            .build()
            .await
            .map_err(|e| {
                // Only a VersionError means a newer build's database; any
                // other failure (storage refused, quota, a private mode) is
                // said as the browser said it.
                let text = e.to_string();
                let what = if text.contains("VersionError") {
                    "open (the database was written by a newer build of the KMS)"
                } else {
                    "open"
                };
                backend(what, text)
            })?;
        Ok(Self { db, name: name.to_owned() })
    }

    /// Deletes the database `name` (tests; waits until other connections of
    /// the origin close).
    pub async fn delete(name: &str) -> Result<(), StoreError> {
        Rexie::delete(name).await.map_err(|e| backend("delete", e))
    }

    /// Closes the connection.
    pub fn close(self) {
        self.db.close();
    }
}

#[async_trait::async_trait(?Send)]
impl Store for IndexedDbStore {
    async fn get(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.db.transaction(&[RECORDS], TransactionMode::ReadOnly).map_err(|e| backend("transaction", e))?;
        let store = tx.store(RECORDS).map_err(|e| backend("store", e))?;
        let value = store.get(key_value(key)).await.map_err(|e| backend("get", e))?;
        value.map(bytes_of).transpose()
    }

    async fn list(&self, prefix: &KeyPrefix, limit: usize) -> Result<Vec<(StoreKey, Vec<u8>)>, StoreError> {
        let mut out = ListCollector::new(limit);
        let fetch = u32::try_from(out.fetch_limit()).unwrap_or(u32::MAX);
        let tx = self.db.transaction(&[RECORDS], TransactionMode::ReadOnly).map_err(|e| backend("transaction", e))?;
        let store = tx.store(RECORDS).map_err(|e| backend("store", e))?;
        let own = store.get(JsValue::from_str(prefix.as_str())).await.map_err(|e| backend("get", e))?;
        let (start, end) = prefix.descendant_range();
        let range = KeyRange::bound(&JsValue::from_str(&start), &JsValue::from_str(&end), Some(false), Some(true))
            .map_err(|e| backend("key range", e))?;
        let keys = store.get_all_keys(Some(range.clone()), Some(fetch)).await.map_err(|e| backend("keys", e))?;
        let values = store.get_all(Some(range), Some(fetch)).await.map_err(|e| backend("values", e))?;
        if keys.len() != values.len() {
            return Err(backend("list", "keys and values disagree inside one transaction"));
        }
        if let Some(value) = own {
            let key = StoreKey::new(prefix.as_str()).map_err(|_| StoreError::Corrupt("a stored key".into()))?;
            out.push(key, bytes_of(value)?)?;
        }
        for (key, value) in keys.into_iter().zip(values) {
            let key = key
                .as_string()
                .and_then(|k| StoreKey::new(&k).ok())
                .ok_or_else(|| StoreError::Corrupt("a stored key is not a valid key".into()))?;
            out.push(key, bytes_of(value)?)?;
        }
        Ok(out.finish())
    }

    async fn commit(&self, batch: WriteBatch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let tx = self.db.transaction(&[RECORDS], TransactionMode::ReadWrite).map_err(|e| backend("transaction", e))?;
        let store = tx.store(RECORDS).map_err(|e| backend("store", e))?;
        for (key, expect) in batch.expectations() {
            let stored = store.get(key_value(key)).await.map_err(|e| backend("get", e))?;
            let stored = stored.map(bytes_of).transpose()?;
            if !expect.holds(stored.as_deref()) {
                // Nothing was written yet; aborting makes sure nothing will be.
                let _ = tx.abort().await;
                return Err(StoreError::Conflict { key: key.to_string() });
            }
        }
        for (key, value) in batch.writes() {
            let r = match value {
                Some(v) => store.put(&Uint8Array::from(v).into(), Some(&key_value(key))).await.map(|_| ()),
                None => store.delete(key_value(key)).await,
            };
            if let Err(e) = r {
                let _ = tx.abort().await;
                return Err(backend("write", e));
            }
        }
        let done = tx.done().await.map_err(|e| backend("commit", e))?;
        if done.is_committed() {
            Ok(())
        } else {
            Err(backend("commit", "the transaction was aborted; nothing was written"))
        }
    }
}
