//! Helpers shared by kms-core's integration tests, one module a subject.
//! A test file takes them with `mod support;` (files under `tests/support/`
//! are not test targets of their own, so cargo builds no empty binary).
//!
//! - `audit`: real audit chains from a seeded RNG, and the line surgery an
//!   attacker would do on an export (the `audit_*.rs` tests).
//! - `lease`: a user with a VAPID key, leases at a fixed time, and an
//!   independent JWT check (the `lease_*.rs` tests).
//!
//! What the tests of other crates need too (a software WebAuthn
//! authenticator, base64url and hex) is `kms_core::testing`, behind the
//! `testing` feature this crate's dev-dependencies turn on.

// Each test binary uses a different part of these modules.
#![allow(dead_code)]

pub mod audit;
pub mod lease;
