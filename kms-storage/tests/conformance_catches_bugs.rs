//! Proves the conformance suite has teeth: a store with one deliberate bug
//! must fail the case written to catch it, and the same store without the
//! bug must pass every case.
//!
//! Some bugs cannot be written against the public API at all (first write
//! wins inside a batch, a value over the cap reaching a backend, a batch over
//! the operation cap) because `WriteBatch` settles them before a backend
//! sees the batch; those are covered by `WriteBatch`'s own tests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
// Test helpers outside #[test] fns are not covered by clippy.toml's
// allow-*-in-tests: a panic here is a failed test, not a crashed KMS.

use std::cell::RefCell;
use std::collections::BTreeMap;

use futures::executor::block_on;
use kms_storage::conformance::cases;
use kms_storage::limits::{MAX_LIST_BYTES, MAX_LIST_LEN};
use kms_storage::{KeyPrefix, Store, StoreError, StoreKey, WriteBatch};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bug {
    None,
    GetReturnsEmptyForMissing,
    GetAlwaysNone,
    OverwriteIgnored,
    DeleteIgnored,
    DeleteMissingErrors,
    NonAtomic,
    ConflictNamesFirstExpectation,
    IgnoresExpectAbsent,
    ExpectValueMatchesAbsentAsEmpty,
    ExpectValueComparesPrefixOnly,
    PreconditionsSeeOwnWrites,
    StringPrefix,
    ExcludesPrefixItself,
    ListUnsorted,
    CaseInsensitiveOrder,
    TruncatesAtLimit,
    NoLimitClamp,
    NoListByteCap,
    EmptyValueIsDelete,
    LossyBytes,
    TruncatesLargeValues,
    BatchOfMoreThan100Fails,
    EmptyBatchErrors,
}

struct BuggyStore {
    bug: Bug,
    map: RefCell<BTreeMap<StoreKey, Vec<u8>>>,
}

impl BuggyStore {
    fn new(bug: Bug) -> Self {
        Self { bug, map: RefCell::new(BTreeMap::new()) }
    }

    fn check(&self, map: &BTreeMap<StoreKey, Vec<u8>>, batch: &WriteBatch) -> Result<(), StoreError> {
        let mut first = None;
        for (key, expect) in batch.expectations() {
            first.get_or_insert_with(|| key.to_string());
            let current = map.get(key).map(Vec::as_slice);
            let holds = match (self.bug, expect) {
                (Bug::IgnoresExpectAbsent, kms_storage::Expect::Absent) => true,
                (Bug::ExpectValueMatchesAbsentAsEmpty, kms_storage::Expect::Value(v)) if current.is_none() => {
                    v.is_empty()
                }
                (Bug::ExpectValueComparesPrefixOnly, kms_storage::Expect::Value(v)) => {
                    current.is_some_and(|c| c.starts_with(v))
                }
                _ => expect.holds(current),
            };
            if !holds {
                let key = if self.bug == Bug::ConflictNamesFirstExpectation {
                    first.clone().unwrap_or_default()
                } else {
                    key.to_string()
                };
                return Err(StoreError::Conflict { key });
            }
        }
        Ok(())
    }

    fn apply(&self, map: &mut BTreeMap<StoreKey, Vec<u8>>, batch: &WriteBatch) -> Result<(), StoreError> {
        let writes: Vec<(StoreKey, Option<Vec<u8>>)> =
            batch.writes().map(|(k, v)| (k.clone(), v.map(<[u8]>::to_vec))).collect();
        if self.bug == Bug::BatchOfMoreThan100Fails && writes.len() > 100 {
            return Err(StoreError::Backend("too big".into()));
        }
        for (key, value) in writes {
            match value {
                None if self.bug == Bug::DeleteIgnored => {}
                None => {
                    if map.remove(&key).is_none() && self.bug == Bug::DeleteMissingErrors {
                        return Err(StoreError::Backend("no such key".into()));
                    }
                }
                Some(v) if v.is_empty() && self.bug == Bug::EmptyValueIsDelete => {
                    map.remove(&key);
                }
                Some(_) if self.bug == Bug::OverwriteIgnored && map.contains_key(&key) => {}
                Some(mut v) => {
                    if self.bug == Bug::LossyBytes {
                        v = String::from_utf8_lossy(&v).into_owned().into_bytes();
                    }
                    if self.bug == Bug::TruncatesLargeValues {
                        v.truncate(1_000_000);
                    }
                    map.insert(key, v);
                }
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait(?Send)]
impl Store for BuggyStore {
    async fn get(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        let found = self.map.borrow().get(key).cloned();
        Ok(match self.bug {
            Bug::GetAlwaysNone => None,
            Bug::GetReturnsEmptyForMissing => Some(found.unwrap_or_default()),
            _ => found,
        })
    }

    async fn list(&self, prefix: &KeyPrefix, limit: usize) -> Result<Vec<(StoreKey, Vec<u8>)>, StoreError> {
        let p = prefix.as_str();
        let mut items: Vec<(StoreKey, Vec<u8>)> = self
            .map
            .borrow()
            .iter()
            .filter(|(k, _)| match self.bug {
                Bug::StringPrefix => k.as_str().starts_with(p),
                Bug::ExcludesPrefixItself => k.as_str().starts_with(&format!("{p}/")),
                _ => prefix.contains(k),
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        match self.bug {
            Bug::ListUnsorted => items.reverse(),
            Bug::CaseInsensitiveOrder => items.sort_by_key(|(k, _)| k.as_str().to_lowercase()),
            _ => {}
        }
        let limit = if self.bug == Bug::NoLimitClamp { limit } else { limit.min(MAX_LIST_LEN) };
        if items.len() > limit {
            if self.bug != Bug::TruncatesAtLimit {
                return Err(StoreError::TooMany { max: limit });
            }
            items.truncate(limit);
        }
        let bytes: usize = items.iter().map(|(k, v)| k.as_str().len() + v.len()).sum();
        if bytes > MAX_LIST_BYTES && self.bug != Bug::NoListByteCap {
            return Err(StoreError::TooLarge { size: bytes, max: MAX_LIST_BYTES });
        }
        Ok(items)
    }

    async fn commit(&self, batch: WriteBatch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return if self.bug == Bug::EmptyBatchErrors { Err(StoreError::Backend("empty".into())) } else { Ok(()) };
        }
        let mut map = self.map.borrow_mut();
        match self.bug {
            Bug::NonAtomic => {
                // Writes first, then the (correct) check, without rollback.
                let before = map.clone();
                self.apply(&mut map, &batch)?;
                self.check(&before, &batch)
            }
            Bug::PreconditionsSeeOwnWrites => {
                let mut next = map.clone();
                self.apply(&mut next, &batch)?;
                self.check(&next, &batch)?;
                *map = next;
                Ok(())
            }
            _ => {
                self.check(&map, &batch)?;
                let mut next = map.clone();
                self.apply(&mut next, &batch)?;
                *map = next;
                Ok(())
            }
        }
    }
}

fn case_fails(bug: Bug, case_name: &str) -> bool {
    let case = cases().iter().find(|c| c.name() == case_name).unwrap();
    block_on(case.run(&BuggyStore::new(bug))).is_err()
}

#[test]
fn the_bug_free_store_passes_everything() {
    for case in cases() {
        let result = block_on(case.run(&BuggyStore::new(Bug::None)));
        assert_eq!(result, Ok(()), "{}", case.name());
    }
}

#[test]
fn every_bug_is_caught_by_its_case() {
    let expectations = [
        (Bug::GetReturnsEmptyForMissing, "get_missing_is_none"),
        (Bug::GetAlwaysNone, "put_then_get"),
        (Bug::OverwriteIgnored, "overwrite"),
        (Bug::DeleteIgnored, "delete"),
        (Bug::DeleteMissingErrors, "delete_missing_is_ok"),
        (Bug::NonAtomic, "batch_is_atomic_on_conflict"),
        (Bug::ConflictNamesFirstExpectation, "batch_is_atomic_on_conflict"),
        (Bug::IgnoresExpectAbsent, "expect_absent_ok_and_conflict"),
        (Bug::ExpectValueMatchesAbsentAsEmpty, "expect_value_ok_and_conflict"),
        (Bug::ExpectValueComparesPrefixOnly, "expect_value_ok_and_conflict"),
        (Bug::PreconditionsSeeOwnWrites, "preconditions_see_state_before_batch"),
        (Bug::StringPrefix, "list_whole_segments_sorted"),
        (Bug::ExcludesPrefixItself, "list_whole_segments_sorted"),
        (Bug::ListUnsorted, "list_whole_segments_sorted"),
        (Bug::CaseInsensitiveOrder, "list_order_is_bytewise"),
        (Bug::TruncatesAtLimit, "list_limit_too_many"),
        (Bug::NoLimitClamp, "list_limit_clamped_to_max"),
        (Bug::NoListByteCap, "list_bytes_capped"),
        (Bug::EmptyValueIsDelete, "values_byte_exact"),
        (Bug::LossyBytes, "values_byte_exact"),
        (Bug::TruncatesLargeValues, "value_size_cap"),
        (Bug::DeleteIgnored, "put_and_delete_same_key_in_batch"),
        (Bug::OverwriteIgnored, "last_write_wins_in_batch"),
        (Bug::BatchOfMoreThan100Fails, "many_keys_in_one_batch"),
        (Bug::EmptyBatchErrors, "empty_batch_is_noop"),
    ];
    let missed: Vec<_> = expectations.iter().filter(|(bug, case)| !case_fails(*bug, case)).collect();
    assert!(missed.is_empty(), "bugs the suite missed: {missed:?}");
    // And every case catches at least one bug.
    for case in cases() {
        assert!(expectations.iter().any(|(_, c)| *c == case.name()), "no bug exercises case {}", case.name());
    }
}
