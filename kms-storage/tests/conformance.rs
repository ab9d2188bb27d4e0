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
