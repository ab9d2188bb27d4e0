//! [`MemoryStore`]: a volatile store for tests and for sessions that must
//! leave nothing behind.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Bound;

use crate::limits::ListCollector;
use crate::{KeyPrefix, Store, StoreError, StoreKey, WriteBatch};

/// A store in a `BTreeMap`. Nothing survives the value being dropped.
///
/// The map sits in a `RefCell` because [`Store`] takes `&self`. No borrow
/// is ever held across an `.await` or a call out of this module, so a
/// borrow conflict is impossible; the fallible `try_borrow` is used anyway so
/// that even a future mistake surfaces as an error, not a panic.
#[derive(Default)]
pub struct MemoryStore {
    records: RefCell<BTreeMap<StoreKey, Vec<u8>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of every record, keyed by the key's string. Tests compare two
    /// snapshots to prove that a failed operation changed nothing.
    pub fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        // `try_borrow` cannot fail (see the type's docs); if it ever did, an
        // empty map makes the "unchanged" comparison of a test fail loudly
        // rather than pass.
        self.records
            .try_borrow()
            .map(|records| records.iter().map(|(k, v)| (k.as_str().to_owned(), v.clone())).collect())
            .unwrap_or_default()
    }

    fn busy() -> StoreError {
        StoreError::Backend("memory store re-entered during an operation".to_owned())
    }
}

// Values are sealed secrets: Debug shows the record count only.
impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("MemoryStore");
        match self.records.try_borrow() {
            Ok(records) => d.field("records", &records.len()),
            Err(_) => d.field("records", &"<busy>"),
        };
        d.finish()
    }
}

#[async_trait::async_trait(?Send)]
impl Store for MemoryStore {
    async fn get(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        let records = self.records.try_borrow().map_err(|_| Self::busy())?;
        Ok(records.get(key).cloned())
    }

    async fn list(&self, prefix: &KeyPrefix, limit: usize) -> Result<Vec<(StoreKey, Vec<u8>)>, StoreError> {
        let records = self.records.try_borrow().map_err(|_| Self::busy())?;
        let mut out = ListCollector::new(limit);
        // The prefix itself, then the `[prefix/, prefix0)` range: exactly the
        // keys under the prefix, in key order, without scanning the rest.
        if let Some((key, value)) = records.get_key_value(prefix.as_str()) {
            out.push(key.clone(), value.clone())?;
        }
        let (start, end) = prefix.descendant_range();
        let range = (Bound::Included(start.as_str()), Bound::Excluded(end.as_str()));
        for (key, value) in records.range::<str, _>(range) {
            out.push(key.clone(), value.clone())?;
        }
        Ok(out.finish())
    }

    async fn commit(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let mut records = self.records.try_borrow_mut().map_err(|_| Self::busy())?;
        // Check every precondition before touching anything: that is what
        // makes the batch all-or-nothing here.
        for (key, expect) in batch.expectations() {
            if !expect.holds(records.get(key).map(Vec::as_slice)) {
                return Err(StoreError::Conflict { key: key.to_string() });
            }
        }
        for (key, value) in batch.into_writes() {
            match value {
                Some(value) => records.insert(key, value),
                None => records.remove(&key),
            };
        }
        Ok(())
    }
}
