//! Test support for the tests of every crate in the workspace, in one
//! place: a software WebAuthn authenticator ([`authenticator`]) and
//! base64url/hex helpers that panic on bad input ([`encoding`]),
//! the subscription JSON a browser hands over ([`push`]), and the bytes of
//! secrets for the tests that must look for them ([`secrets`]).
//!
//! Compiled only with the `testing` feature, which only dev-dependencies
//! enable (see `Cargo.toml`); nothing else in this crate uses it, and the
//! KMS's own builds never compile it.

// Helpers for tests: a panic here is a failed test (as clippy.toml allows
// inside `#[test]`), never a crashed KMS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

pub mod authenticator;
pub mod encoding;
pub mod push;
pub mod secrets;
