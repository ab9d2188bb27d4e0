//! Runs the conformance suite against every backend of this crate.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
// Test helpers outside #[test] fns are not covered by clippy.toml's
// allow-*-in-tests: a panic here is a failed test, not a crashed KMS.

use futures::executor::block_on;
use kms_storage::conformance::{cases, run_all, ConformanceFailure};
use kms_storage::{MemoryStore, Store};

/// Runs every case (not just up to the first failure) so one run shows all
/// that is wrong.
fn run_every_case(factory: &dyn Fn() -> Box<dyn Store>) {
    let failures: Vec<ConformanceFailure> = block_on(async {
        let mut failures = Vec::new();
        for case in cases() {
            let store = factory();
            if let Err(f) = case.run(store.as_ref()).await {
                failures.push(f);
            }
        }
        failures
    });
    let report: Vec<String> = failures.iter().map(ToString::to_string).collect();
    assert!(failures.is_empty(), "{}", report.join("\n"));
}

#[test]
fn memory_store_conforms() {
    run_every_case(&|| Box::new(MemoryStore::new()));
}

/// A view under a two-segment prefix (what an app's engine gets) conforms
/// too: no case needs the two segments the prefix takes.
#[test]
fn a_subtree_view_conforms() {
    use kms_storage::{KeyPrefix, Subtree};
    let failures: Vec<String> = block_on(async {
        let mut failures = Vec::new();
        for case in cases() {
            let store = Subtree::new(MemoryStore::new(), &KeyPrefix::new("apps/AAAAAAAAAAAAAAAAAAAAAA").unwrap());
            if let Err(f) = case.run(&store).await {
                failures.push(f.to_string());
            }
        }
        failures
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Nothing written through a view is seen outside its prefix, and nothing
/// outside it is seen through the view.
#[test]
fn a_subtree_view_reaches_only_its_subtree() {
    use std::rc::Rc;

    use kms_storage::{KeyPrefix, StoreKey, Subtree, WriteBatch};
    block_on(async {
        let root = Rc::new(MemoryStore::new());
        let a = Subtree::new(Rc::clone(&root), &KeyPrefix::new("apps/a").unwrap());
        let b = Subtree::new(Rc::clone(&root), &KeyPrefix::new("apps/b").unwrap());
        let key = StoreKey::new("users/alice/meta").unwrap();
        let mut batch = WriteBatch::new();
        batch.put(&key, b"A's alice".to_vec()).unwrap();
        a.commit(batch).await.unwrap();
        let mut batch = WriteBatch::new();
        batch.put(&key, b"root alice".to_vec()).unwrap();
        root.commit(batch).await.unwrap();

        assert_eq!(a.get(&key).await.unwrap().as_deref(), Some(&b"A's alice"[..]));
        assert_eq!(b.get(&key).await.unwrap(), None);
        assert_eq!(root.get(&key).await.unwrap().as_deref(), Some(&b"root alice"[..]));
        assert_eq!(
            root.get(&StoreKey::new("apps/a/users/alice/meta").unwrap()).await.unwrap().as_deref(),
            Some(&b"A's alice"[..])
        );
        // Listings return the view's own keys, and only those.
        let users = KeyPrefix::new("users").unwrap();
        assert_eq!(a.list(&users, 10).await.unwrap(), vec![(key.clone(), b"A's alice".to_vec())]);
        assert!(b.list(&users, 10).await.unwrap().is_empty());
        // A precondition names the view's key: B's "absent" holds although
        // A and the root hold the same path.
        let mut batch = WriteBatch::new();
        batch.expect_absent(&key).unwrap().put(&key, b"B's alice".to_vec()).unwrap();
        b.commit(batch).await.unwrap();
        assert_eq!(a.get(&key).await.unwrap().as_deref(), Some(&b"A's alice"[..]));
        // A key too deep for the view is refused, not cut.
        let deep = StoreKey::new("a/b/c/d/e/f/g").unwrap();
        assert!(matches!(a.get(&deep).await, Err(kms_storage::StoreError::InvalidKey(_))));
    });
}

#[test]
fn run_all_passes_on_a_conforming_store() {
    assert_eq!(block_on(run_all(&|| Box::new(MemoryStore::new()))), Ok(()));
}

#[test]
fn case_names_are_unique() {
    let mut names: Vec<&str> = cases().iter().map(|c| c.name()).collect();
    let total = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), total);
    assert!(total >= 20, "{total} cases");
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use std::cell::Cell;

    use kms_storage::SqliteStore;

    use super::run_every_case;

    #[test]
    fn sqlite_in_memory_conforms() {
        run_every_case(&|| Box::new(SqliteStore::open_in_memory().unwrap()));
    }

    #[test]
    fn sqlite_file_conforms() {
        let dir = tempfile::tempdir().unwrap();
        let n = Cell::new(0u32);
        run_every_case(&|| {
            n.set(n.get() + 1);
            let path = dir.path().join(format!("case{}.db", n.get()));
            Box::new(SqliteStore::open(&path).unwrap())
        });
    }
}
