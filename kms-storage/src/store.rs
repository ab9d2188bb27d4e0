//! The [`Store`] trait every backend implements, and its forwarding impls.

use std::rc::Rc;

use crate::{KeyPrefix, StoreError, StoreKey, WriteBatch};

/// A key-value store of sealed records.
///
/// Object-safe, so the engine can hold an `Rc<dyn Store>`. Its futures are
/// not `Send`: IndexedDB futures are not, and the engine is single-threaded
/// anyway.
///
/// Every backend passes [`crate::conformance`]; the semantics below are the
/// ones that suite checks.
#[async_trait::async_trait(?Send)]
pub trait Store {
    /// The value under `key`, or `None`.
    async fn get(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError>;

    /// All `(key, value)` pairs whose key lies under `prefix` (whole
    /// segments, the prefix itself included; see [`KeyPrefix::contains`]),
    /// sorted by key.
    ///
    /// At most `limit` of them (lowered to [`crate::limits::MAX_LIST_LEN`]):
    /// if more exist the call fails with [`StoreError::TooMany`], and if
    /// their bytes pass [`crate::limits::MAX_LIST_BYTES`] with
    /// [`StoreError::TooLarge`]. Callers never silently get a truncated view.
    async fn list(&self, prefix: &KeyPrefix, limit: usize) -> Result<Vec<(StoreKey, Vec<u8>)>, StoreError>;

    /// Applies every operation of `batch` atomically: all of them or none
    /// (see [`WriteBatch`] for the exact semantics). Preconditions are
    /// checked inside the same transaction as the writes; if any fails,
    /// nothing is written and [`StoreError::Conflict`] is returned.
    async fn commit(&self, batch: WriteBatch) -> Result<(), StoreError>;
}

#[async_trait::async_trait(?Send)]
impl<S: Store + ?Sized> Store for Rc<S> {
    async fn get(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).get(key).await
    }
    async fn list(&self, prefix: &KeyPrefix, limit: usize) -> Result<Vec<(StoreKey, Vec<u8>)>, StoreError> {
        (**self).list(prefix, limit).await
    }
    async fn commit(&self, batch: WriteBatch) -> Result<(), StoreError> {
        (**self).commit(batch).await
    }
}

#[async_trait::async_trait(?Send)]
impl<S: Store + ?Sized> Store for Box<S> {
    async fn get(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).get(key).await
    }
    async fn list(&self, prefix: &KeyPrefix, limit: usize) -> Result<Vec<(StoreKey, Vec<u8>)>, StoreError> {
        (**self).list(prefix, limit).await
    }
    async fn commit(&self, batch: WriteBatch) -> Result<(), StoreError> {
        (**self).commit(batch).await
    }
}

#[async_trait::async_trait(?Send)]
impl<S: Store + ?Sized> Store for &S {
    async fn get(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).get(key).await
    }
    async fn list(&self, prefix: &KeyPrefix, limit: usize) -> Result<Vec<(StoreKey, Vec<u8>)>, StoreError> {
        (**self).list(prefix, limit).await
    }
    async fn commit(&self, batch: WriteBatch) -> Result<(), StoreError> {
        (**self).commit(batch).await
    }
}
