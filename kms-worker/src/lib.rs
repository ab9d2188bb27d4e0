//! # kms-worker
//!
//! The engine behind the RPC boundary. [`Kms`] takes a store and a
//! [`Platform`] (clock, random generator, PBKDF2 provider), answers RPC requests, keeps sessions and pending
//! WebAuthn ceremonies in memory, and persists everything else through the
//! store as records that are sealed where they hold secrets.
//!
//! The engine owns the order of operations: it checks throttling before any
//! KDF runs, writes every multi-record change as one atomic batch with
//! preconditions (so a concurrent writer cannot be silently overwritten), and
//! writes nothing when an operation fails, with one deliberate exception: a
//! failed unlock records the failure in the enrollment's throttle state,
//! which is what makes the back-off survive a reload.
//!
//! It refuses to know its platform: natively it runs in-process (the `kms`
//! CLI, tests); in the browser the same engine runs in a WASM worker.

pub mod apps;
pub mod config;
pub mod crypto;
mod engine;
pub mod error;
pub mod layout;
pub mod pbkdf2;
pub mod platform;
pub mod records;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub mod web;

pub use config::KmsConfig;
pub use crypto::{CryptoProvider, NativeCrypto};
pub use engine::Kms;
pub use pbkdf2::{NativePbkdf2, Pbkdf2Provider};
pub use platform::Platform;
