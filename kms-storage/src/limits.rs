//! Every size cap of the crate, and the listing collector that enforces the
//! listing caps the same way in every backend.
//!
//! Caps exist so that no caller (or corrupt database) can make the KMS
//! allocate without bound: records are small sealed blobs, so generous caps
//! cost nothing in normal use and stop runaway memory use in abnormal use.

use crate::{StoreError, StoreKey};

/// Largest value a record may hold: 1 MiB.
pub const MAX_VALUE_LEN: usize = 1 << 20;
/// Most operations (puts, deletes, preconditions) in one batch.
pub const MAX_BATCH_OPS: usize = 1024;
/// Most bytes (keys plus values, preconditions included) one batch may carry.
pub const MAX_BATCH_BYTES: usize = 16 << 20;
/// Most records one listing may return; a larger `limit` is lowered to this.
pub const MAX_LIST_LEN: usize = 4096;
/// Most bytes (keys plus values) one listing may return.
pub const MAX_LIST_BYTES: usize = 16 << 20;

/// Refuses a value read back from a backend that is larger than anything
/// [`crate::WriteBatch`] lets in: only corruption (or a foreign writer) can
/// have put it there.
pub fn check_stored_value(value: &[u8]) -> Result<(), StoreError> {
    if value.len() > MAX_VALUE_LEN {
        return Err(StoreError::Corrupt(format!(
            "a stored value is {} bytes, larger than the {MAX_VALUE_LEN} that can be written",
            value.len()
        )));
    }
    Ok(())
}

/// Gathers the records of one listing and enforces its caps.
///
/// A backend feeds it matching records in key order, at most
/// [`Self::fetch_limit`] of them, then calls [`Self::finish`]. Keeping this
/// in one place means every backend refuses an over-long listing the same
/// way, with `TooMany` instead of a silently truncated view.
#[derive(Debug)]
pub struct ListCollector {
    limit: usize,
    bytes: usize,
    items: Vec<(StoreKey, Vec<u8>)>,
}

impl ListCollector {
    /// A collector for a listing of at most `limit` records (lowered to
    /// [`MAX_LIST_LEN`]).
    pub fn new(limit: usize) -> Self {
        Self { limit: limit.min(MAX_LIST_LEN), bytes: 0, items: Vec::new() }
    }

    /// The effective limit, after lowering to [`MAX_LIST_LEN`].
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// How many records a backend should fetch at most: one more than the
    /// limit, so that the extra one proves the listing is too long.
    pub fn fetch_limit(&self) -> usize {
        self.limit.saturating_add(1)
    }

    /// Adds one record. Fails with `TooMany` once a record beyond the limit
    /// arrives, with `TooLarge` once the listing's bytes pass
    /// [`MAX_LIST_BYTES`], and with `Corrupt` on an impossible value.
    pub fn push(&mut self, key: StoreKey, value: Vec<u8>) -> Result<(), StoreError> {
        if self.items.len() >= self.limit {
            return Err(StoreError::TooMany { max: self.limit });
        }
        check_stored_value(&value)?;
        let bytes = self.bytes.saturating_add(key.as_str().len()).saturating_add(value.len());
        if bytes > MAX_LIST_BYTES {
            return Err(StoreError::TooLarge { size: bytes, max: MAX_LIST_BYTES });
        }
        self.bytes = bytes;
        self.items.push((key, value));
        Ok(())
    }

    /// The records, sorted by key. Sorting again costs little and means a
    /// backend whose native order drifts from byte order cannot leak that
    /// drift to callers.
    pub fn finish(self) -> Vec<(StoreKey, Vec<u8>)> {
        let mut items = self.items;
        items.sort_by(|a, b| a.0.cmp(&b.0));
        items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: usize) -> StoreKey {
        StoreKey::new(&format!("k{i:04}")).unwrap()
    }

    #[test]
    fn limit_is_clamped_and_enforced() {
        let c = ListCollector::new(usize::MAX);
        assert_eq!(c.limit(), MAX_LIST_LEN);
        assert_eq!(c.fetch_limit(), MAX_LIST_LEN + 1);
        let mut c = ListCollector::new(2);
        c.push(key(1), vec![]).unwrap();
        c.push(key(0), vec![]).unwrap();
        assert_eq!(c.push(key(2), vec![]), Err(StoreError::TooMany { max: 2 }));
        let keys: Vec<_> = c.finish().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, [key(0), key(1)]);
        let mut zero = ListCollector::new(0);
        assert_eq!(zero.push(key(0), vec![]), Err(StoreError::TooMany { max: 0 }));
    }

    #[test]
    fn bytes_are_capped() {
        let mut c = ListCollector::new(MAX_LIST_LEN);
        let per = MAX_VALUE_LEN;
        let mut i = 0;
        let err = loop {
            match c.push(key(i), vec![0; per]) {
                Ok(()) => i += 1,
                Err(e) => break e,
            }
        };
        assert!(matches!(err, StoreError::TooLarge { max: MAX_LIST_BYTES, .. }), "{err:?}");
        assert_eq!(i, MAX_LIST_BYTES / (per + 5));
    }

    #[test]
    fn oversize_stored_value_is_corrupt() {
        let mut c = ListCollector::new(1);
        assert!(matches!(c.push(key(0), vec![0; MAX_VALUE_LEN + 1]), Err(StoreError::Corrupt(_))));
        assert!(check_stored_value(&[0; 3]).is_ok());
    }
}
