//! Storage for the KMS's sealed records: one [`Store`] trait, its backends,
//! and the conformance suite they all pass.
//!
//! # What this crate owns
//!
//! - The [`Store`] trait: `get`, `list` by whole-segment prefix, and an
//!   atomic [`WriteBatch`] commit with optimistic preconditions
//!   (`expect_absent`, `expect_value`) checked in the same transaction.
//! - The key grammar ([`StoreKey`], [`KeyPrefix`]): narrow ASCII paths that
//!   sort identically in every backend.
//! - Every size cap ([`limits`]): values, batches, listings.
//! - The backends: [`MemoryStore`] (volatile) and, with the default `sqlite`
//!   feature, [`SqliteStore`] (durable, crash-safe, file mode 0600).
//! - [`conformance`]: the suite any backend, in any crate, must pass.
//! - [`testing`]: failure injection for the tests of code built on a store.
//!
//! # What it refuses to do
//!
//! - Understand values. They are opaque, already-sealed blobs: this crate
//!   never encrypts, decrypts, parses or logs them, and never puts them in an
//!   error or a `Debug` output.
//! - Return a partial view: a listing that exceeds its limit fails with
//!   [`StoreError::TooMany`] rather than being truncated.
//! - Half-apply a batch: a batch is written whole or not at all.
//! - Accept anything unbounded: every key, value, batch and listing is capped.
//! - Open a database written by a newer schema version.
//! - Be shared across threads: futures are not `Send` (IndexedDB's are not),
//!   and the engine is single-threaded.

mod batch;
#[cfg(feature = "testing")]
pub mod conformance;
mod error;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod indexeddb;
mod key;
pub mod limits;
mod memory;
#[cfg(feature = "sqlite")]
mod sqlite;
mod store;
mod subtree;
#[cfg(feature = "testing")]
pub mod testing;

pub use batch::{Expect, WriteBatch};
pub use error::StoreError;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub use indexeddb::{IndexedDbStore, IDB_SCHEMA_VERSION};
pub use key::{KeyPrefix, StoreKey, MAX_KEY_LEN, MAX_SEGMENTS, MAX_SEGMENT_LEN};
pub use memory::MemoryStore;
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteStore, APPLICATION_ID, SCHEMA_VERSION};
pub use store::Store;
pub use subtree::Subtree;
