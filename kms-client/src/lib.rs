//! # kms-client
//!
//! The typed client of the KMS RPC protocol, over any [`Transport`], and the
//! `kms` command-line tool (`src/bin/kms.rs`).
//!
//! The client owns no secrets beyond what a call carries: a passphrase
//! travels in one request and is wiped when the request is dropped; a session
//! token is a bearer capability the caller keeps. Errors keep the engine's
//! stable `code` so callers can switch on it.
//!
//! In a web page (wasm32), `browser::BrowserKms` talks to the KMS iframe
//! through the JS client instead: the frame keeps the sessions.

pub mod client;
pub mod error;
pub mod relay;
pub mod transport;

pub use client::KmsClient;
pub use error::ClientError;
#[cfg(feature = "in-process")]
pub use transport::InProcess;
pub use transport::Transport;

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub mod browser;
#[cfg(all(not(target_arch = "wasm32"), feature = "cli"))]
pub mod cli;
#[cfg(not(target_arch = "wasm32"))]
pub mod native;
