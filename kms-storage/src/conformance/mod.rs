//! The conformance suite every [`Store`] backend must pass.
//!
//! Public and not `cfg(test)`: backends in other crates (IndexedDB, run in a
//! browser) run the same cases. The suite never panics — a failed check is a
//! returned [`ConformanceFailure`] — so it also works where a panic aborts
//! instead of unwinding (wasm).
//!
//! Each case expects a fresh, empty store.

mod cases;

use std::fmt;

use futures::future::LocalBoxFuture;

use crate::Store;

/// A case that did not hold, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConformanceFailure {
    /// The failing case's name (see [`Case::name`]).
    pub case: &'static str,
    /// What was expected and what happened.
    pub detail: String,
}

impl fmt::Display for ConformanceFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conformance case `{}` failed: {}", self.case, self.detail)
    }
}

impl std::error::Error for ConformanceFailure {}

/// The body of a case: `Err(detail)` when the store misbehaves.
type CaseFn = for<'a> fn(&'a dyn Store) -> LocalBoxFuture<'a, Result<(), String>>;

/// One named conformance case.
pub struct Case {
    name: &'static str,
    run: CaseFn,
}

impl Case {
    /// The case's name, e.g. `batch_is_atomic_on_conflict`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Runs the case against `store`, which must be fresh and empty.
    pub async fn run(&self, store: &dyn Store) -> Result<(), ConformanceFailure> {
        (self.run)(store).await.map_err(|detail| ConformanceFailure { case: self.name, detail })
    }
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Case").field(&self.name).finish()
    }
}

/// Every case, in a stable order.
pub fn cases() -> &'static [Case] {
    cases::ALL
}

/// Runs every case, each on a fresh store from `store_factory`, and stops at
/// the first failure.
///
/// A backend whose stores are opened asynchronously (IndexedDB) iterates
/// [`cases`] itself instead.
pub async fn run_all(store_factory: &dyn Fn() -> Box<dyn Store>) -> Result<(), ConformanceFailure> {
    for case in cases() {
        let store = store_factory();
        case.run(store.as_ref()).await?;
    }
    Ok(())
}
