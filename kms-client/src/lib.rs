//! # kms-client
//!
//! The typed client of the KMS RPC protocol, over any [`Transport`], and the
//! `kms` command-line tool (`src/bin/kms.rs`).
//!
//! The client owns no secrets beyond what a call carries: a passphrase
//! travels in one request and is wiped when the request is dropped; a session
//! token is a bearer capability the caller keeps. Errors keep the engine's
//! stable `code` so callers can switch on it.

pub mod client;
pub mod error;
pub mod relay;
pub mod transport;

pub use client::KmsClient;
pub use error::ClientError;
pub use transport::{InProcess, Transport};

#[cfg(not(target_arch = "wasm32"))]
pub mod cli;
#[cfg(not(target_arch = "wasm32"))]
pub mod native;
