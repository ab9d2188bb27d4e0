//! # kms-core
//!
//! The pure part of the KMS: the rules of key custody and the cryptography
//! that enforces them. Bytes and commands come in, results go out.
//!
//! This crate owns: per-user master secrets and their wraps (passphrase,
//! passkey PRF, passkey gate), sessions, unlock throttling, per-user VAPID
//! keys and ES256 JWTs (RFC 8292), and the RPC message types.
//!
//! It refuses to do I/O: no storage, no clock, no randomness of its own, no
//! threads, no platform. The clock ([`env::Clock`]) and the random generator
//! (`rand_core::CryptoRngCore`) are passed in by the caller, and records are
//! returned to the caller to store (see `kms-worker`).

pub mod audit;
pub mod b64;
pub mod crypto;
pub mod env;
pub mod error;
pub mod ids;
pub mod lease;
pub mod origin;
pub mod push;
pub mod rpc;
pub mod secret;
pub mod session;
#[cfg(feature = "testing")]
pub mod testing;
pub mod throttle;
pub mod unlock;
pub mod vapid;
pub mod weburl;

pub use error::{CoreError, ErrorCode, Result};
