//! A store seen from one of its subtrees: every key `k` the caller names is
//! `<prefix>/k` in the store underneath, and nothing outside the prefix can
//! be named, listed or written through the view.
//!
//! The KMS gives each app (a host origin, or a named group of them) its own
//! subtree of one IndexedDB database: an engine serving app A over A's view
//! cannot reach a record of app B whatever key it builds, because the
//! mapping is applied here, under the engine, to every read, listing and
//! write.

use crate::{KeyPrefix, Store, StoreError, StoreKey, WriteBatch};

/// `inner` seen under `prefix`.
#[derive(Debug)]
pub struct Subtree<S> {
    inner: S,
    /// The prefix's segments (never empty).
    prefix: Vec<String>,
}

impl<S: Store> Subtree<S> {
    /// The view of `inner` under `prefix`. A key through the view has
    /// `prefix`'s segments fewer to use ([`crate::MAX_SEGMENTS`] and
    /// [`crate::MAX_KEY_LEN`] bound the whole key underneath): a key that
    /// does not fit is refused with [`StoreError::InvalidKey`], as any key
    /// over the limits is.
    pub fn new(inner: S, prefix: &KeyPrefix) -> Self {
        Self { inner, prefix: prefix.as_str().split('/').map(str::to_owned).collect() }
    }

    fn inner_key(&self, key: &StoreKey) -> Result<StoreKey, StoreError> {
        let segments: Vec<&str> = self.prefix.iter().map(String::as_str).chain(key.segments()).collect();
        StoreKey::from_segments(&segments)
    }

    fn inner_prefix(&self, prefix: &KeyPrefix) -> Result<KeyPrefix, StoreError> {
        let segments: Vec<&str> = self.prefix.iter().map(String::as_str).chain(prefix.as_str().split('/')).collect();
        KeyPrefix::from_segments(&segments)
    }

    /// The view's key of a key underneath (listings only return keys under
    /// the prefix; anything else is a backend bug).
    fn outer_key(&self, key: &StoreKey) -> Result<StoreKey, StoreError> {
        let mut segments = key.segments();
        for expected in &self.prefix {
            if segments.next() != Some(expected.as_str()) {
                return Err(StoreError::Corrupt("a listing returned a key outside its prefix".into()));
            }
        }
        StoreKey::from_segments(&segments.collect::<Vec<_>>())
    }
}

#[async_trait::async_trait(?Send)]
impl<S: Store> Store for Subtree<S> {
    async fn get(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(&self.inner_key(key)?).await
    }

    async fn list(&self, prefix: &KeyPrefix, limit: usize) -> Result<Vec<(StoreKey, Vec<u8>)>, StoreError> {
        let rows = self.inner.list(&self.inner_prefix(prefix)?, limit).await?;
        rows.into_iter().map(|(key, value)| Ok((self.outer_key(&key)?, value))).collect()
    }

    async fn commit(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let mut inner = WriteBatch::new();
        for (key, expect) in batch.expectations() {
            let key = self.inner_key(key)?;
            match expect {
                crate::Expect::Absent => inner.expect_absent(&key)?,
                crate::Expect::Value(v) => inner.expect_value(&key, v.clone())?,
            };
        }
        for (key, value) in batch.into_writes() {
            let key = self.inner_key(&key)?;
            match value {
                Some(v) => inner.put(&key, v)?,
                None => inner.delete(&key)?,
            };
        }
        // A conflict names the view's key, as the caller wrote it.
        self.inner.commit(inner).await.map_err(|e| match e {
            StoreError::Conflict { key } => {
                let outer = StoreKey::new(&key).and_then(|k| self.outer_key(&k));
                StoreError::Conflict { key: outer.map_or(key, |k| k.as_str().to_owned()) }
            }
            other => other,
        })
    }
}
