//! The conformance cases. Each returns `Err(detail)` instead of panicking
//! (see the parent module) and checks a behaviour a buggy backend could get
//! wrong; `tests/conformance_catches_bugs.rs` proves the suite notices.

use std::fmt::Write as _;

use super::Case;
use crate::limits::{MAX_BATCH_OPS, MAX_LIST_BYTES, MAX_LIST_LEN, MAX_VALUE_LEN};
use crate::{KeyPrefix, Store, StoreError, StoreKey, WriteBatch};

/// Why a case failed. Its own type (not `String`) so `?` can turn a
/// [`StoreError`] into a failure: an unexpected store error fails the case.
pub(super) struct Detail(pub(super) String);

impl From<String> for Detail {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for Detail {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl From<StoreError> for Detail {
    fn from(e: StoreError) -> Self {
        Self(format!("unexpected store error: {e}"))
    }
}

type CaseResult = Result<(), Detail>;

/// Registers cases by function name, so a name can never drift from its
/// body.
macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        pub(super) static ALL: &[Case] = &[
            $(Case {
                name: stringify!($name),
                run: |store| Box::pin(async move { $name(store).await.map_err(|d| d.0) }),
            }),*
        ];
    };
}

cases![
    get_missing_is_none,
    put_then_get,
    overwrite,
    delete,
    delete_missing_is_ok,
    batch_is_atomic_on_conflict,
    expect_absent_ok_and_conflict,
    expect_value_ok_and_conflict,
    preconditions_see_state_before_batch,
    list_whole_segments_sorted,
    list_order_is_bytewise,
    list_limit_too_many,
    list_limit_clamped_to_max,
    list_bytes_capped,
    values_byte_exact,
    value_size_cap,
    last_write_wins_in_batch,
    put_and_delete_same_key_in_batch,
    many_keys_in_one_batch,
    empty_batch_is_noop,
];

/// `Err(format!(..))` unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(Detail(format!($($fmt)+)));
        }
    };
}

// ---- helpers -------------------------------------------------------------

/// Every test key lives under this root, so one listing shows the state.
const ROOT: &str = "conf";

fn key(path: &str) -> Result<StoreKey, Detail> {
    StoreKey::new(&format!("{ROOT}/{path}")).map_err(|e| Detail(format!("test key {path}: {e}")))
}

fn prefix(path: &str) -> Result<KeyPrefix, Detail> {
    KeyPrefix::new(&format!("{ROOT}/{path}")).map_err(|e| Detail(format!("test prefix {path}: {e}")))
}

/// A value summary for messages: test data, but large values would flood.
fn describe(value: Option<&[u8]>) -> String {
    match value {
        None => "absent".to_owned(),
        Some(v) if v.len() <= 16 => format!("{v:?}"),
        Some(v) => format!("{} bytes", v.len()),
    }
}

/// A distinct, non-trivial byte pattern of `len` bytes.
fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(31) as u8) ^ seed.wrapping_mul(17) ^ ((i >> 8) as u8)).collect()
}

/// Builds a batch; the builder's own errors are case failures.
fn batch(build: impl FnOnce(&mut WriteBatch) -> Result<(), Detail>) -> Result<WriteBatch, Detail> {
    let mut b = WriteBatch::new();
    build(&mut b).map_err(|d| Detail(format!("building a batch: {}", d.0)))?;
    Ok(b)
}

async fn commit(store: &dyn Store, b: WriteBatch, what: &str) -> CaseResult {
    store.commit(b).await.map_err(|e| Detail(format!("{what}: commit failed: {e}")))
}

async fn put(store: &dyn Store, k: &StoreKey, value: Vec<u8>) -> CaseResult {
    let b = batch(|b| {
        b.put(k, value)?;
        Ok(())
    })?;
    commit(store, b, &format!("put {k}")).await
}

async fn get(store: &dyn Store, k: &StoreKey) -> Result<Option<Vec<u8>>, Detail> {
    store.get(k).await.map_err(|e| Detail(format!("get {k} failed: {e}")))
}

async fn expect_stored(store: &dyn Store, k: &StoreKey, expected: Option<&[u8]>, when: &str) -> CaseResult {
    let got = get(store, k).await?;
    ensure!(got.as_deref() == expected, "{when}: {k} is {}, expected {}", describe(got.as_deref()), describe(expected));
    Ok(())
}

/// Every record under the root, as (key, value).
async fn state(store: &dyn Store) -> Result<Vec<(String, Vec<u8>)>, Detail> {
    let root = KeyPrefix::new(ROOT)?;
    let records = store.list(&root, MAX_LIST_LEN).await.map_err(|e| format!("listing the whole store failed: {e}"))?;
    Ok(records.into_iter().map(|(k, v)| (k.as_str().to_owned(), v)).collect())
}

fn describe_state(records: &[(String, Vec<u8>)]) -> String {
    let mut s = String::from("{");
    for (k, v) in records {
        let _ = write!(s, " {k}={}", describe(Some(v)));
    }
    s.push_str(" }");
    s
}

async fn expect_state(store: &dyn Store, expected: &[(String, Vec<u8>)], when: &str) -> CaseResult {
    let got = state(store).await?;
    ensure!(got == expected, "{when}: store holds {}, expected {}", describe_state(&got), describe_state(expected));
    Ok(())
}

/// Commits `b` and requires `Conflict` on `conflict_key` with the store
/// unchanged.
async fn expect_conflict(store: &dyn Store, b: WriteBatch, conflict_key: &StoreKey, what: &str) -> CaseResult {
    let before = state(store).await?;
    match store.commit(b).await {
        Err(StoreError::Conflict { key }) => {
            ensure!(key == conflict_key.as_str(), "{what}: conflict named {key}, expected {conflict_key}")
        }
        other => return Err(format!("{what}: expected Conflict on {conflict_key}, got {other:?}").into()),
    }
    expect_state(store, &before, &format!("{what}, after the conflict")).await
}

// ---- cases ---------------------------------------------------------------

async fn get_missing_is_none(store: &dyn Store) -> CaseResult {
    expect_stored(store, &key("missing")?, None, "fresh store").await?;
    put(store, &key("present")?, vec![1]).await?;
    expect_stored(store, &key("missing")?, None, "after another key was written").await?;
    expect_stored(store, &key("present/child")?, None, "child of a present key").await
}

async fn put_then_get(store: &dyn Store) -> CaseResult {
    let k = key("a")?;
    put(store, &k, b"value".to_vec()).await?;
    expect_stored(store, &k, Some(b"value"), "after put").await?;
    expect_stored(store, &key("b")?, None, "unrelated key after put").await
}

async fn overwrite(store: &dyn Store) -> CaseResult {
    let k = key("a")?;
    put(store, &k, b"first, longer value".to_vec()).await?;
    put(store, &k, b"second".to_vec()).await?;
    expect_stored(store, &k, Some(b"second"), "after overwrite with a shorter value").await?;
    put(store, &k, b"third, the longest value of them all".to_vec()).await?;
    expect_stored(store, &k, Some(b"third, the longest value of them all"), "after overwrite with a longer value")
        .await?;
    let expected = vec![(k.as_str().to_owned(), b"third, the longest value of them all".to_vec())];
    expect_state(store, &expected, "after overwrites, one record").await
}

async fn delete(store: &dyn Store) -> CaseResult {
    let (a, b) = (key("a")?, key("b")?);
    put(store, &a, vec![1]).await?;
    put(store, &b, vec![2]).await?;
    commit(
        store,
        batch(|x| {
            x.delete(&a)?;
            Ok(())
        })?,
        "delete a",
    )
    .await?;
    expect_stored(store, &a, None, "after delete").await?;
    expect_stored(store, &b, Some(&[2]), "other key after delete").await?;
    put(store, &a, vec![3]).await?;
    expect_stored(store, &a, Some(&[3]), "put after delete").await
}

async fn delete_missing_is_ok(store: &dyn Store) -> CaseResult {
    let b = batch(|x| {
        x.delete(&key("never")?)?;
        Ok(())
    })?;
    commit(store, b, "delete of a missing key").await?;
    expect_state(store, &[], "after deleting a missing key").await
}

async fn batch_is_atomic_on_conflict(store: &dyn Store) -> CaseResult {
    let (a, b, c, d) = (key("a")?, key("b")?, key("c")?, key("d")?);
    put(store, &a, vec![1]).await?;
    put(store, &c, vec![3]).await?;
    // Writes before and after the failing precondition, of every kind.
    let x = batch(|x| {
        x.put(&b, vec![2])?.put(&a, vec![9])?.delete(&c)?;
        x.expect_absent(&a)?;
        x.put(&d, vec![4])?;
        Ok(())
    })?;
    expect_conflict(store, x, &a, "batch with a failing expect_absent").await?;
    // A passing precondition first, then a failing one: the conflict names
    // the failing key and still nothing is written.
    let x = batch(|x| {
        x.put(&b, vec![2])?.expect_value(&a, vec![1])?.expect_value(&c, vec![99])?.delete(&a)?;
        Ok(())
    })?;
    expect_conflict(store, x, &c, "batch with a failing expect_value").await?;
    // The store is still usable after the conflicts.
    let x = batch(|x| {
        x.expect_value(&a, vec![1])?.put(&b, vec![2])?;
        Ok(())
    })?;
    commit(store, x, "batch after conflicts").await?;
    expect_stored(store, &b, Some(&[2]), "after a good batch following conflicts").await
}

async fn expect_absent_ok_and_conflict(store: &dyn Store) -> CaseResult {
    let k = key("k")?;
    let x = batch(|x| {
        x.expect_absent(&k)?.put(&k, vec![1])?;
        Ok(())
    })?;
    commit(store, x, "expect_absent on an absent key").await?;
    expect_stored(store, &k, Some(&[1]), "after expect_absent + put").await?;
    let x = batch(|x| {
        x.expect_absent(&k)?.put(&k, vec![2])?;
        Ok(())
    })?;
    expect_conflict(store, x, &k, "expect_absent on a present key").await?;
    // An empty value is present, not absent.
    let e = key("empty")?;
    put(store, &e, Vec::new()).await?;
    let x = batch(|x| {
        x.expect_absent(&e)?.delete(&e)?;
        Ok(())
    })?;
    expect_conflict(store, x, &e, "expect_absent on a key holding an empty value").await?;
    // After a delete the key is absent again.
    commit(
        store,
        batch(|x| {
            x.delete(&k)?;
            Ok(())
        })?,
        "delete",
    )
    .await?;
    let x = batch(|x| {
        x.expect_absent(&k)?.put(&k, vec![3])?;
        Ok(())
    })?;
    commit(store, x, "expect_absent after delete").await?;
    expect_stored(store, &k, Some(&[3]), "after expect_absent + put, again").await
}

async fn expect_value_ok_and_conflict(store: &dyn Store) -> CaseResult {
    let (k, missing) = (key("k")?, key("missing")?);
    put(store, &k, vec![1, 2, 3]).await?;
    let x = batch(|x| {
        x.expect_value(&k, vec![1, 2, 3])?.put(&k, vec![4])?;
        Ok(())
    })?;
    commit(store, x, "expect_value with the stored bytes").await?;
    expect_stored(store, &k, Some(&[4]), "after a successful compare-and-swap").await?;
    for (expected, why) in [
        (vec![1, 2, 3], "stale bytes"),
        (vec![5], "different bytes"),
        (vec![4, 0], "stored bytes plus one"),
        (vec![], "empty bytes"),
    ] {
        let x = batch(|x| {
            x.expect_value(&k, expected)?.put(&k, vec![7])?;
            Ok(())
        })?;
        expect_conflict(store, x, &k, &format!("expect_value with {why}")).await?;
    }
    let x = batch(|x| {
        x.expect_value(&k, vec![4])?.delete(&k)?;
        Ok(())
    })?;
    commit(store, x, "expect_value + delete").await?;
    for (expected, why) in [(vec![], "empty bytes"), (vec![4], "the deleted bytes")] {
        let x = batch(|x| {
            x.expect_value(&missing, expected)?.put(&missing, vec![1])?;
            Ok(())
        })?;
        expect_conflict(store, x, &missing, &format!("expect_value with {why} on an absent key")).await?;
    }
    // Empty stored value matched by empty expected bytes.
    put(store, &k, Vec::new()).await?;
    let x = batch(|x| {
        x.expect_value(&k, Vec::new())?.put(&k, vec![8])?;
        Ok(())
    })?;
    commit(store, x, "expect_value of an empty stored value").await?;
    expect_stored(store, &k, Some(&[8]), "after compare-and-swap from empty").await
}

async fn preconditions_see_state_before_batch(store: &dyn Store) -> CaseResult {
    let k = key("k")?;
    // The put earlier in the batch must not satisfy the precondition.
    let x = batch(|x| {
        x.put(&k, vec![1])?.expect_value(&k, vec![1])?;
        Ok(())
    })?;
    expect_conflict(store, x, &k, "expect_value satisfied only by the batch's own put").await?;
    put(store, &k, vec![1]).await?;
    // The delete earlier in the batch must not satisfy expect_absent.
    let x = batch(|x| {
        x.delete(&k)?.expect_absent(&k)?;
        Ok(())
    })?;
    expect_conflict(store, x, &k, "expect_absent satisfied only by the batch's own delete").await?;
    // The delete earlier in the batch must not break expect_value.
    let x = batch(|x| {
        x.delete(&k)?.expect_value(&k, vec![1])?;
        Ok(())
    })?;
    commit(store, x, "delete then expect_value of the old bytes").await?;
    expect_stored(store, &k, None, "after delete guarded by expect_value").await
}

async fn list_whole_segments_sorted(store: &dyn Store) -> CaseResult {
    // Written out of order, with near-miss neighbours on every side.
    let names = [
        "users/alice/b/c",
        "users/alicex/a",
        "users/alice",
        "users/alice.x",
        "users/bob/a",
        "users/alice-x/y",
        "users/alic",
        "users/alice/a",
        "users/alice+",
        "users/alice0",
        "other/users/alice/a",
        "users",
    ];
    let x = batch(|x| {
        for (i, n) in names.iter().enumerate() {
            x.put(&StoreKey::new(&format!("{ROOT}/{n}"))?, vec![i as u8])?;
        }
        Ok(())
    })?;
    commit(store, x, "writing the listing fixture").await?;
    let value_of = |name: &str| names.iter().position(|n| *n == name).map(|i| i as u8);
    for (p, expected) in [
        ("users/alice", &["users/alice", "users/alice/a", "users/alice/b/c"][..]),
        ("users/alice/b", &["users/alice/b/c"][..]),
        ("users/alice/b/c", &["users/alice/b/c"][..]),
        ("users/bob", &["users/bob/a"][..]),
        ("users/al", &[][..]),
        ("nope", &[][..]),
        (
            "users",
            &[
                "users",
                "users/alic",
                "users/alice",
                "users/alice+",
                "users/alice-x/y",
                "users/alice.x",
                "users/alice/a",
                "users/alice/b/c",
                "users/alice0",
                "users/alicex/a",
                "users/bob/a",
            ][..],
        ),
    ] {
        let got = store.list(&prefix(p)?, 100).await.map_err(|e| format!("list {p} failed: {e}"))?;
        let got_names: Vec<String> = got
            .iter()
            .map(|(k, _)| k.as_str().strip_prefix(&format!("{ROOT}/")).unwrap_or(k.as_str()).to_owned())
            .collect();
        ensure!(got_names == expected, "list {p}: got {got_names:?}, expected {expected:?}");
        for (k, v) in &got {
            let name = k.as_str().strip_prefix(&format!("{ROOT}/")).unwrap_or(k.as_str());
            ensure!(
                value_of(name) == Some(v.first().copied().unwrap_or(u8::MAX)) && v.len() == 1,
                "list {p}: {k} came back with the wrong value {}",
                describe(Some(v))
            );
        }
    }
    Ok(())
}

async fn list_order_is_bytewise(store: &dyn Store) -> CaseResult {
    // Every character class of the grammar; byte order puts '+' < '-' < '.'
    // < digits < '=' < '@' < upper < '_' < lower < '~'. A case-insensitive or
    // locale collation would get this wrong.
    let names =
        ["~", "a", "_", "Z", "B", "@", "=", "9", "0", ".d", "-", "+", "b", "A", "z", "a.", "a-", "a+", "a~", "aa"];
    let x = batch(|x| {
        for n in names {
            x.put(&key(&format!("sort/{n}"))?, n.as_bytes().to_vec())?;
        }
        Ok(())
    })?;
    commit(store, x, "writing the sort fixture").await?;
    let mut expected: Vec<String> = names.iter().map(|n| format!("{ROOT}/sort/{n}")).collect();
    expected.sort();
    let got = store.list(&prefix("sort")?, 100).await.map_err(|e| format!("list failed: {e}"))?;
    let got_keys: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
    ensure!(got_keys == expected, "got order {got_keys:?}, expected {expected:?}");
    Ok(())
}

async fn list_limit_too_many(store: &dyn Store) -> CaseResult {
    let x = batch(|x| {
        for i in 0..5 {
            x.put(&key(&format!("p/{i}"))?, vec![i])?;
        }
        x.put(&key("q/0")?, vec![0])?;
        Ok(())
    })?;
    commit(store, x, "writing 5 records").await?;
    let p = prefix("p")?;
    for limit in [5, 6, 100] {
        match store.list(&p, limit).await {
            Ok(items) => ensure!(items.len() == 5, "limit {limit}: got {} records, expected 5", items.len()),
            Err(e) => return Err(format!("limit {limit} with 5 records failed: {e}").into()),
        }
    }
    for limit in [4, 1, 0] {
        match store.list(&p, limit).await {
            Err(StoreError::TooMany { max }) => ensure!(max == limit, "limit {limit}: TooMany reported max {max}"),
            other => {
                return Err(
                    format!("limit {limit} with 5 records: expected TooMany, got {:?}", other.map(|v| v.len())).into()
                )
            }
        }
    }
    match store.list(&prefix("none")?, 0).await {
        Ok(items) => ensure!(items.is_empty(), "limit 0 on an empty prefix returned records"),
        Err(e) => return Err(format!("limit 0 on an empty prefix failed: {e}").into()),
    }
    Ok(())
}

async fn list_limit_clamped_to_max(store: &dyn Store) -> CaseResult {
    // One record more than MAX_LIST_LEN, so even `usize::MAX` must refuse.
    let total = MAX_LIST_LEN.saturating_add(1);
    let mut written = 0usize;
    while written < total {
        let end = written.saturating_add(MAX_BATCH_OPS).min(total);
        let x = batch(|x| {
            for i in written..end {
                x.put(&key(&format!("many/{i:05}"))?, Vec::new())?;
            }
            Ok(())
        })?;
        commit(store, x, "writing many records").await?;
        written = end;
    }
    match store.list(&prefix("many")?, usize::MAX).await {
        Err(StoreError::TooMany { max }) => {
            ensure!(max == MAX_LIST_LEN, "TooMany reported max {max}, expected {MAX_LIST_LEN}")
        }
        other => return Err(format!("{total} records: expected TooMany, got {:?}", other.map(|v| v.len())).into()),
    }
    commit(
        store,
        batch(|x| {
            x.delete(&key("many/00000")?)?;
            Ok(())
        })?,
        "deleting one",
    )
    .await?;
    match store.list(&prefix("many")?, usize::MAX).await {
        Ok(items) => ensure!(items.len() == MAX_LIST_LEN, "got {} records, expected {MAX_LIST_LEN}", items.len()),
        Err(e) => return Err(format!("listing exactly {MAX_LIST_LEN} records failed: {e}").into()),
    }
    Ok(())
}

async fn list_bytes_capped(store: &dyn Store) -> CaseResult {
    // 16 values at the cap exceed MAX_LIST_BYTES once keys are counted.
    let count = MAX_LIST_BYTES / MAX_VALUE_LEN;
    for half in [0..count / 2, count / 2..count] {
        let x = batch(|x| {
            for i in half {
                x.put(&key(&format!("big/{i:02}"))?, pattern(i as u8, MAX_VALUE_LEN))?;
            }
            Ok(())
        })?;
        commit(store, x, "writing large values").await?;
    }
    match store.list(&prefix("big")?, 100).await {
        Err(StoreError::TooLarge { max, .. }) => {
            ensure!(max == MAX_LIST_BYTES, "TooLarge reported max {max}, expected {MAX_LIST_BYTES}")
        }
        other => return Err(format!("{count} MiB listing: expected TooLarge, got {:?}", other.map(|v| v.len())).into()),
    }
    commit(
        store,
        batch(|x| {
            x.delete(&key("big/00")?)?;
            Ok(())
        })?,
        "deleting one",
    )
    .await?;
    let items = store
        .list(&prefix("big")?, 100)
        .await
        .map_err(|e| format!("listing {} MiB failed: {e}", count.saturating_sub(1)))?;
    ensure!(items.len() == count.saturating_sub(1), "got {} records", items.len());
    for (i, (k, v)) in (1..count).zip(&items) {
        ensure!(*v == pattern(i as u8, MAX_VALUE_LEN), "{k}: large value came back altered");
    }
    Ok(())
}

async fn values_byte_exact(store: &dyn Store) -> CaseResult {
    let all_bytes: Vec<u8> = (0..=255u8).collect();
    let reversed: Vec<u8> = (0..=255u8).rev().collect();
    let invalid_utf8 = vec![0xC3, 0x28, 0x00, 0xFF, 0xFE, 0xED, 0xA0, 0x80];
    let cases = [
        ("empty", Vec::new()),
        ("zero", vec![0]),
        ("zeros", vec![0; 64]),
        ("all_bytes", all_bytes),
        ("reversed", reversed),
        ("invalid_utf8", invalid_utf8),
        ("text", b"plain text".to_vec()),
    ];
    let x = batch(|x| {
        for (name, value) in &cases {
            x.put(&key(&format!("v/{name}"))?, value.clone())?;
        }
        Ok(())
    })?;
    commit(store, x, "writing byte patterns").await?;
    for (name, value) in &cases {
        expect_stored(store, &key(&format!("v/{name}"))?, Some(value), "get after put").await?;
    }
    let listed = store.list(&prefix("v")?, 100).await.map_err(|e| format!("list failed: {e}"))?;
    ensure!(listed.len() == cases.len(), "listed {} of {} values", listed.len(), cases.len());
    for (k, v) in &listed {
        let expected = cases.iter().find(|(name, _)| k.as_str().ends_with(&format!("/{name}"))).map(|(_, value)| value);
        ensure!(expected == Some(v), "{k} listed as {}", describe(Some(v)));
    }
    Ok(())
}

async fn value_size_cap(store: &dyn Store) -> CaseResult {
    let (at, over, small) = (key("at_cap")?, key("over_cap")?, key("small")?);
    let at_cap = pattern(7, MAX_VALUE_LEN);
    put(store, &at, at_cap.clone()).await?;
    let got = get(store, &at).await?;
    ensure!(got.as_ref() == Some(&at_cap), "value at the cap came back as {}", describe(got.as_deref()));
    let mut x = WriteBatch::new();
    x.put(&small, vec![1]).map_err(|e| format!("small put refused: {e}"))?;
    let size = MAX_VALUE_LEN.saturating_add(1);
    match x.put(&over, vec![0; size]) {
        Err(StoreError::TooLarge { size: s, max }) => {
            ensure!(s == size && max == MAX_VALUE_LEN, "TooLarge reported size {s} max {max}")
        }
        Err(e) => return Err(format!("one byte over the cap: expected TooLarge, got {e}").into()),
        Ok(_) => return Err("a value one byte over the cap was accepted".to_owned().into()),
    }
    // The refused put must not have entered the batch.
    commit(store, x, "batch after a refused put").await?;
    expect_stored(store, &over, None, "after the refused put").await?;
    expect_stored(store, &small, Some(&[1]), "the batch's other put").await?;
    expect_stored(store, &at, Some(&at_cap), "value at the cap, untouched").await
}

async fn last_write_wins_in_batch(store: &dyn Store) -> CaseResult {
    let (a, b, c) = (key("a")?, key("b")?, key("c")?);
    put(store, &c, vec![0]).await?;
    let x = batch(|x| {
        x.put(&a, vec![1])?.put(&a, vec![2])?.put(&a, vec![3])?;
        x.put(&b, vec![1])?.put(&c, vec![5])?.put(&b, vec![4])?;
        Ok(())
    })?;
    commit(store, x, "repeated puts").await?;
    expect_stored(store, &a, Some(&[3]), "after three puts of a").await?;
    expect_stored(store, &b, Some(&[4]), "after two interleaved puts of b").await?;
    expect_stored(store, &c, Some(&[5]), "after one put of c").await
}

async fn put_and_delete_same_key_in_batch(store: &dyn Store) -> CaseResult {
    let (fresh, existing, back) = (key("fresh")?, key("existing")?, key("back")?);
    put(store, &existing, vec![1]).await?;
    put(store, &back, vec![1]).await?;
    let x = batch(|x| {
        x.put(&fresh, vec![2])?.delete(&fresh)?;
        x.put(&existing, vec![2])?.delete(&existing)?;
        x.delete(&back)?.put(&back, vec![3])?;
        Ok(())
    })?;
    commit(store, x, "put/delete of the same keys").await?;
    expect_stored(store, &fresh, None, "put then delete of a new key").await?;
    expect_stored(store, &existing, None, "put then delete of an existing key").await?;
    expect_stored(store, &back, Some(&[3]), "delete then put").await
}

async fn many_keys_in_one_batch(store: &dyn Store) -> CaseResult {
    let x = batch(|x| {
        for i in 0..500u32 {
            x.put(&key(&format!("n/{i:03}"))?, i.to_be_bytes().to_vec())?;
        }
        Ok(())
    })?;
    commit(store, x, "500 puts").await?;
    let listed = store.list(&prefix("n")?, 500).await.map_err(|e| format!("listing 500 records failed: {e}"))?;
    ensure!(listed.len() == 500, "listed {} of 500 records", listed.len());
    for (i, (k, v)) in (0..500u32).zip(&listed) {
        ensure!(
            k.as_str() == format!("{ROOT}/n/{i:03}") && *v == i.to_be_bytes(),
            "record {i} listed as {k}={}",
            describe(Some(v))
        );
    }
    // A batch of exactly MAX_BATCH_OPS operations is accepted whole.
    let x = batch(|x| {
        for i in 0..MAX_BATCH_OPS {
            if i < 500 {
                x.delete(&key(&format!("n/{i:03}"))?)?;
            } else {
                x.put(&key(&format!("m/{i:04}"))?, vec![1])?;
            }
        }
        Ok(())
    })?;
    commit(store, x, "a batch of MAX_BATCH_OPS operations").await?;
    let n = store.list(&prefix("n")?, 500).await.map_err(|e| format!("list failed: {e}"))?;
    let m = store.list(&prefix("m")?, MAX_BATCH_OPS).await.map_err(|e| format!("list failed: {e}"))?;
    ensure!(
        n.is_empty() && m.len() == MAX_BATCH_OPS.saturating_sub(500),
        "after the full batch: {} old and {} new records",
        n.len(),
        m.len()
    );
    Ok(())
}

async fn empty_batch_is_noop(store: &dyn Store) -> CaseResult {
    commit(store, WriteBatch::new(), "empty batch on an empty store").await?;
    expect_state(store, &[], "after an empty batch").await?;
    put(store, &key("a")?, vec![1]).await?;
    commit(store, WriteBatch::new(), "empty batch").await?;
    expect_state(store, &[(key("a")?.as_str().to_owned(), vec![1])], "after an empty batch").await
}
