//! Test doubles for code built on a [`Store`], kept out of `cfg(test)` so
//! other crates' tests can use them.

use std::cell::Cell;

use crate::{KeyPrefix, Store, StoreError, StoreKey, WriteBatch};

/// The message of every injected failure.
pub const INJECTED_FAILURE: &str = "injected failure";

/// Wraps a store and fails chosen operations on demand, without touching
/// the wrapped store, to prove that an engine operation whose write fails
/// leaves the state as it was.
///
/// Arming methods take `&self` so a test can arm a store the engine already
/// holds through an `Rc`.
#[derive(Debug, Default)]
pub struct FailingStore<S> {
    inner: S,
    /// Commits still allowed to succeed before the armed failure; `None` when
    /// no commit failure is armed.
    commits_before_failure: Cell<Option<usize>>,
    fail_next_read: Cell<bool>,
    commits: Cell<usize>,
}

impl<S: Store> FailingStore<S> {
    /// Wraps `inner`; nothing fails until armed.
    pub fn new(inner: S) -> Self {
        Self { inner, commits_before_failure: Cell::new(None), fail_next_read: Cell::new(false), commits: Cell::new(0) }
    }

    /// The next commit fails with `Backend("injected failure")` and writes
    /// nothing.
    pub fn fail_next_commit(&self) {
        self.fail_commit_after(0);
    }

    /// The next `n` commits go through, the one after fails like
    /// [`Self::fail_next_commit`]. For engine operations that commit more
    /// than once.
    pub fn fail_commit_after(&self, n: usize) {
        self.commits_before_failure.set(Some(n));
    }

    /// The next `get` or `list` fails with `Backend("injected failure")`.
    pub fn fail_next_read(&self) {
        self.fail_next_read.set(true);
    }

    /// Disarms every pending failure.
    pub fn disarm(&self) {
        self.commits_before_failure.set(None);
        self.fail_next_read.set(false);
    }

    /// Commits that reached the wrapped store and succeeded.
    pub fn successful_commits(&self) -> usize {
        self.commits.get()
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Unwraps the store.
    pub fn into_inner(self) -> S {
        self.inner
    }

    fn injected() -> StoreError {
        StoreError::Backend(INJECTED_FAILURE.to_owned())
    }

    fn take_read_failure(&self) -> bool {
        self.fail_next_read.replace(false)
    }

    /// Whether this commit must fail; counts down an armed failure.
    fn take_commit_failure(&self) -> bool {
        match self.commits_before_failure.get() {
            None => false,
            Some(0) => {
                self.commits_before_failure.set(None);
                true
            }
            Some(n) => {
                self.commits_before_failure.set(Some(n.saturating_sub(1)));
                false
            }
        }
    }
}

#[async_trait::async_trait(?Send)]
impl<S: Store> Store for FailingStore<S> {
    async fn get(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        if self.take_read_failure() {
            return Err(Self::injected());
        }
        self.inner.get(key).await
    }

    async fn list(&self, prefix: &KeyPrefix, limit: usize) -> Result<Vec<(StoreKey, Vec<u8>)>, StoreError> {
        if self.take_read_failure() {
            return Err(Self::injected());
        }
        self.inner.list(prefix, limit).await
    }

    async fn commit(&self, batch: WriteBatch) -> Result<(), StoreError> {
        if self.take_commit_failure() {
            return Err(Self::injected());
        }
        self.inner.commit(batch).await?;
        self.commits.set(self.commits.get().saturating_add(1));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;
    use futures::executor::block_on;

    fn put(key: &str) -> WriteBatch {
        let mut b = WriteBatch::new();
        b.put(&StoreKey::new(key).unwrap(), vec![1]).unwrap();
        b
    }

    #[test]
    fn fails_exactly_the_armed_commit_and_writes_nothing() {
        block_on(async {
            let s = FailingStore::new(MemoryStore::new());
            s.commit(put("a")).await.unwrap();
            s.fail_commit_after(1);
            s.commit(put("b")).await.unwrap();
            let before = s.inner().snapshot();
            assert_eq!(s.commit(put("c")).await, Err(StoreError::Backend(INJECTED_FAILURE.into())));
            assert_eq!(s.inner().snapshot(), before);
            s.commit(put("c")).await.unwrap();
            assert_eq!(s.successful_commits(), 3);
            s.fail_next_commit();
            s.disarm();
            s.commit(put("d")).await.unwrap();
        });
    }

    #[test]
    fn fails_the_next_read_once() {
        block_on(async {
            let s = FailingStore::new(MemoryStore::new());
            let k = StoreKey::new("a").unwrap();
            s.fail_next_read();
            assert!(s.get(&k).await.is_err());
            assert_eq!(s.get(&k).await, Ok(None));
            s.fail_next_read();
            assert!(s.list(&KeyPrefix::new("a").unwrap(), 1).await.is_err());
            assert!(s.list(&KeyPrefix::new("a").unwrap(), 1).await.is_ok());
        });
    }
}
