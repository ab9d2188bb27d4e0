//! Shared helpers of the engine's integration tests, one file a job; a test
//! file takes them all with `mod support; use support::*;`.
//!
//! - `kdf`: PBKDF2 providers (a logging real one, a fast fake for fuzzing).
//! - `harness`: an engine over an inspectable in-memory store with a manual
//!   clock and a seeded RNG, call helpers for both entry points (`call(Call)`
//!   and `handle_json`), common flows, direct store reads and edits (to play
//!   the attacker who can write the store).
//! - `values`: ids, base64url, store keys, snapshot diffs, PRF outputs.
//! - `webauthn`: the workspace's software WebAuthn authenticator for gate
//!   mode, bound to this harness's origin.
//! - `jwt`: VAPID JWTs checked independently of the engine.
//! - `races`: a store that lets a test play a concurrent writer.

// Each test binary uses a different part of this module (and of the
// re-exports below).
#![allow(dead_code, unused_imports)]

mod harness;
mod jwt;
mod kdf;
mod races;
mod values;
mod webauthn;

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use kms_core::env::ManualClock;
use kms_worker::Kms;
use rand_chacha::ChaCha20Rng;

pub use harness::*;
pub use jwt::*;
pub use kdf::*;
pub use races::*;
pub use values::*;
pub use webauthn::*;

/// The engine type every test drives.
pub type Engine = Kms<ManualClock, ChaCha20Rng>;
/// What `MemoryStore::snapshot` returns.
pub type Snapshot = BTreeMap<String, Vec<u8>>;

/// Default session lifetime (5 minutes), restated so a changed default
/// fails the tests instead of silently moving with them.
pub const SESSION_TTL_MS: u64 = 5 * 60 * 1000;
/// The PBKDF2 floor.
pub const FLOOR_ITERATIONS: u32 = 600_000;
/// The origin and RP ID of the default configuration.
pub const ORIGIN: &str = "http://localhost:8081";
pub const RP_ID: &str = "localhost";

/// Passphrases used across the tests (all at least 12 characters).
pub const PASS_A: &str = "correct horse battery staple";
pub const PASS_B: &str = "tr0ub4dor&3-but-longer";
pub const PASS_WRONG: &str = "definitely not the passphrase";

/// Now, in milliseconds, rounded down to a whole second. The clock starts
/// at the real time because jsonwebtoken checks `exp` against the system
/// clock; whole seconds keep JWT `exp` arithmetic exact.
pub fn real_now_ms() -> u64 {
    let ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or_default();
    let ms = u64::try_from(ms).unwrap_or(u64::MAX);
    ms - ms % 1000
}
