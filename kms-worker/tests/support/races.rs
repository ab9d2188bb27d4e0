//! Concurrent writers: a store that commits an interloper's batch just
//! before the engine's next commit, the batches to arm it with, and the
//! check of the user record's enrollment epoch.

use std::cell::RefCell;
use std::rc::Rc;

use async_trait::async_trait;
use kms_storage::{MemoryStore, Store, StoreKey, WriteBatch};
use serde_json::{json, Value};

use super::{user_key, Snapshot};

/// A store that lets a test play a concurrent writer: a batch armed with
/// [`RacingStore::before_next_commit`] is committed to the shared records
/// just before the engine's next commit, i.e. after the engine read what it
/// read and before it writes. The engine's preconditions must then refuse
/// to overwrite the interloper's change.
#[derive(Debug)]
pub struct RacingStore {
    inner: Rc<MemoryStore>,
    interloper: RefCell<Option<WriteBatch>>,
}

impl RacingStore {
    pub fn new(inner: Rc<MemoryStore>) -> Self {
        Self { inner, interloper: RefCell::new(None) }
    }

    /// Commits `batch` right before the engine's next commit.
    pub fn before_next_commit(&self, batch: WriteBatch) {
        *self.interloper.borrow_mut() = Some(batch);
    }

    /// Whether the armed batch is still waiting (the engine never committed).
    pub fn armed(&self) -> bool {
        self.interloper.borrow().is_some()
    }
}

#[async_trait(?Send)]
impl Store for RacingStore {
    async fn get(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, kms_storage::StoreError> {
        self.inner.get(key).await
    }

    async fn list(
        &self,
        prefix: &kms_storage::KeyPrefix,
        limit: usize,
    ) -> Result<Vec<(StoreKey, Vec<u8>)>, kms_storage::StoreError> {
        self.inner.list(prefix, limit).await
    }

    async fn commit(&self, batch: WriteBatch) -> Result<(), kms_storage::StoreError> {
        let interloper = self.interloper.borrow_mut().take();
        if let Some(first) = interloper {
            self.inner.commit(first).await.expect("the interloper's commit");
        }
        self.inner.commit(batch).await
    }
}

/// A batch putting `value` under `key`.
pub fn put_batch(key: &str, value: Vec<u8>) -> WriteBatch {
    let mut b = WriteBatch::new();
    b.put(&StoreKey::new(key).expect("key"), value).expect("put");
    b
}

/// A batch deleting `key`.
pub fn delete_batch(key: &str) -> WriteBatch {
    let mut b = WriteBatch::new();
    b.delete(&StoreKey::new(key).expect("key")).expect("delete");
    b
}

/// Asserts that `user`'s record differs between the snapshots only by one
/// more enrollment change (its `enrollment_epoch`, the counter that makes
/// concurrent enrollment changes conflict).
#[track_caller]
pub fn assert_epoch_bumped(before: &Snapshot, after: &Snapshot, user: &str) {
    let key = user_key(user);
    let parse = |s: &Snapshot| -> Value { serde_json::from_slice(&s[&key]).expect("user record") };
    let (mut b, a) = (parse(before), parse(after));
    let epoch = b["enrollment_epoch"].as_u64().unwrap_or(0);
    b["enrollment_epoch"] = json!(epoch + 1);
    assert_eq!(a, b, "the user record changes by its enrollment epoch only");
}
