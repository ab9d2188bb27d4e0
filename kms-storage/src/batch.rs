//! [`WriteBatch`]: the only way to change a store.
//!
//! Every change goes through a batch so that an engine operation touching
//! several records (a key and its index entry, a rotation) is all-or-nothing,
//! and so that optimistic preconditions are checked in the same transaction
//! as the writes they guard.
//!
//! The caps of [`crate::limits`] are enforced here, as each operation is
//! added: a batch that exists is a batch every backend can take, so no
//! backend can forget a check.

use std::collections::BTreeMap;
use std::fmt;

use crate::limits::{MAX_BATCH_BYTES, MAX_BATCH_OPS, MAX_VALUE_LEN};
use crate::{StoreError, StoreKey};

/// A precondition on one key, checked against the state before the batch.
#[derive(Clone, PartialEq, Eq)]
pub enum Expect {
    /// The key must hold no value.
    Absent,
    /// The key must hold exactly these bytes (compare-and-swap style).
    Value(Vec<u8>),
}

impl Expect {
    /// Whether the precondition holds when the key currently holds `current`.
    pub fn holds(&self, current: Option<&[u8]>) -> bool {
        match (self, current) {
            (Self::Absent, None) => true,
            (Self::Value(expected), Some(current)) => expected.as_slice() == current,
            (Self::Absent, Some(_)) | (Self::Value(_), None) => false,
        }
    }
}

// Values are sealed secrets: Debug shows their length only.
impl fmt::Debug for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Absent => f.write_str("Absent"),
            Self::Value(v) => write!(f, "Value(<{} bytes>)", v.len()),
        }
    }
}

/// A set of writes and preconditions applied atomically by
/// [`crate::Store::commit`].
///
/// Semantics every backend implements:
/// - all preconditions are checked against the state *before* the batch; if
///   any fails nothing is written and the commit returns
///   [`StoreError::Conflict`] naming the first failing key;
/// - writes to the same key override each other in order: the last `put` or
///   `delete` of a key wins;
/// - deleting a missing key is not an error;
/// - an empty batch is a no-op.
///
/// Caps, checked as operations are added (a refused operation leaves the
/// batch as it was): values up to [`MAX_VALUE_LEN`] bytes (`TooLarge`), at
/// most [`MAX_BATCH_OPS`] operations (`TooMany`), at most
/// [`MAX_BATCH_BYTES`] bytes of keys and values in all (`TooLarge`).
#[derive(Clone, Default)]
pub struct WriteBatch {
    expectations: Vec<(StoreKey, Expect)>,
    /// Final state per key: `Some` to put, `None` to delete. A map gives
    /// last-write-wins by construction, whatever order a backend applies it.
    writes: BTreeMap<StoreKey, Option<Vec<u8>>>,
    ops: usize,
    /// Bytes ever added (overridden writes included): a conservative bound
    /// that never needs recomputing.
    bytes: usize,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Puts `value` under `key`, replacing any value.
    pub fn put(&mut self, key: &StoreKey, value: Vec<u8>) -> Result<&mut Self, StoreError> {
        self.admit(key, Some(&value))?;
        self.writes.insert(key.clone(), Some(value));
        Ok(self)
    }

    /// Deletes `key`; a missing key is fine.
    pub fn delete(&mut self, key: &StoreKey) -> Result<&mut Self, StoreError> {
        self.admit(key, None)?;
        self.writes.insert(key.clone(), None);
        Ok(self)
    }

    /// Requires `key` to hold no value before the batch.
    pub fn expect_absent(&mut self, key: &StoreKey) -> Result<&mut Self, StoreError> {
        self.admit(key, None)?;
        self.expectations.push((key.clone(), Expect::Absent));
        Ok(self)
    }

    /// Requires `key` to hold exactly `value` before the batch (an absent key
    /// does not match, not even an empty `value`).
    pub fn expect_value(&mut self, key: &StoreKey, value: Vec<u8>) -> Result<&mut Self, StoreError> {
        self.admit(key, Some(&value))?;
        self.expectations.push((key.clone(), Expect::Value(value)));
        Ok(self)
    }

    /// Number of operations added (overridden writes included).
    pub fn len(&self) -> usize {
        self.ops
    }

    /// Whether no operation was added.
    pub fn is_empty(&self) -> bool {
        self.ops == 0
    }

    /// The preconditions, in the order they were added.
    pub fn expectations(&self) -> impl Iterator<Item = (&StoreKey, &Expect)> {
        self.expectations.iter().map(|(k, e)| (k, e))
    }

    /// The net writes, one per key, sorted by key: `Some(value)` to put,
    /// `None` to delete.
    pub fn writes(&self) -> impl Iterator<Item = (&StoreKey, Option<&[u8]>)> {
        self.writes.iter().map(|(k, v)| (k, v.as_deref()))
    }

    /// The net writes, by value (avoids copying values into an in-memory
    /// backend).
    pub fn into_writes(self) -> impl Iterator<Item = (StoreKey, Option<Vec<u8>>)> {
        self.writes.into_iter()
    }

    /// Checks the caps for one more operation and counts it.
    fn admit(&mut self, key: &StoreKey, value: Option<&[u8]>) -> Result<(), StoreError> {
        let value_len = value.map_or(0, <[u8]>::len);
        if value_len > MAX_VALUE_LEN {
            return Err(StoreError::TooLarge { size: value_len, max: MAX_VALUE_LEN });
        }
        if self.ops >= MAX_BATCH_OPS {
            return Err(StoreError::TooMany { max: MAX_BATCH_OPS });
        }
        let bytes = self.bytes.saturating_add(key.as_str().len()).saturating_add(value_len);
        if bytes > MAX_BATCH_BYTES {
            return Err(StoreError::TooLarge { size: bytes, max: MAX_BATCH_BYTES });
        }
        self.ops = self.ops.saturating_add(1);
        self.bytes = bytes;
        Ok(())
    }
}

// Values are sealed secrets: Debug shows keys, kinds and lengths only.
impl fmt::Debug for WriteBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Write<'a>(&'a Option<Vec<u8>>);
        impl fmt::Debug for Write<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.0 {
                    Some(v) => write!(f, "Put(<{} bytes>)", v.len()),
                    None => f.write_str("Delete"),
                }
            }
        }
        f.debug_struct("WriteBatch")
            .field("expectations", &self.expectations)
            .field("writes", &self.writes.iter().map(|(k, v)| (k, Write(v))).collect::<Vec<_>>())
            .field("ops", &self.ops)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> StoreKey {
        StoreKey::new(s).unwrap()
    }

    #[test]
    fn last_write_wins_and_counts_every_op() {
        let mut b = WriteBatch::new();
        assert!(b.is_empty());
        b.put(&key("a"), vec![1]).unwrap().put(&key("a"), vec![2]).unwrap();
        b.delete(&key("b")).unwrap().put(&key("b"), vec![3]).unwrap();
        b.put(&key("c"), vec![4]).unwrap().delete(&key("c")).unwrap();
        b.expect_absent(&key("d")).unwrap().expect_value(&key("a"), vec![9]).unwrap();
        assert_eq!(b.len(), 8);
        let writes: Vec<_> = b.writes().map(|(k, v)| (k.as_str().to_owned(), v.map(<[u8]>::to_vec))).collect();
        assert_eq!(writes, [("a".into(), Some(vec![2])), ("b".into(), Some(vec![3])), ("c".into(), None)]);
        let exp: Vec<_> = b.expectations().map(|(k, e)| (k.as_str(), e.clone())).collect();
        assert_eq!(exp, [("d", Expect::Absent), ("a", Expect::Value(vec![9]))]);
    }

    #[test]
    fn expect_holds() {
        assert!(Expect::Absent.holds(None));
        assert!(!Expect::Absent.holds(Some(&[])));
        assert!(Expect::Value(vec![]).holds(Some(&[])));
        assert!(!Expect::Value(vec![]).holds(None));
        assert!(!Expect::Value(vec![1, 2]).holds(Some(&[1])));
        assert!(!Expect::Value(vec![1]).holds(Some(&[1, 2])));
    }

    #[test]
    fn value_cap() {
        let mut b = WriteBatch::new();
        b.put(&key("a"), vec![0; MAX_VALUE_LEN]).unwrap();
        let over = MAX_VALUE_LEN + 1;
        assert_eq!(
            b.put(&key("b"), vec![0; over]).unwrap_err(),
            StoreError::TooLarge { size: over, max: MAX_VALUE_LEN }
        );
        assert!(b.expect_value(&key("b"), vec![0; over]).is_err());
        assert_eq!(b.len(), 1, "a refused op leaves the batch as it was");
    }

    #[test]
    fn op_cap() {
        let mut b = WriteBatch::new();
        for i in 0..MAX_BATCH_OPS {
            b.delete(&key(&format!("k{i}"))).unwrap();
        }
        assert_eq!(b.expect_absent(&key("x")).unwrap_err(), StoreError::TooMany { max: MAX_BATCH_OPS });
        assert_eq!(b.len(), MAX_BATCH_OPS);
    }

    #[test]
    fn byte_cap() {
        let mut b = WriteBatch::new();
        let mut i = 0;
        let err = loop {
            match b.put(&key(&format!("k{i:02}")), vec![0; MAX_VALUE_LEN]) {
                Ok(_) => i += 1,
                Err(e) => break e,
            }
        };
        assert!(matches!(err, StoreError::TooLarge { max: MAX_BATCH_BYTES, .. }), "{err:?}");
        assert_eq!(i, 15);
    }

    #[test]
    fn debug_hides_values() {
        let mut b = WriteBatch::new();
        b.put(&key("a"), b"hunter2".to_vec()).unwrap();
        b.expect_value(&key("a"), b"hunter1".to_vec()).unwrap();
        let s = format!("{b:?}");
        assert!(!s.contains("hunter") && !s.contains("104"), "{s}");
        assert!(s.contains("<7 bytes>"), "{s}");
    }
}
