//! Runnable examples live beside this file: `walkthrough.rs` is the main one.
//!
//! [`serve`] (the `serve/` folder) is `kms-serve`, the static HTTP server of
//! the loopback origins the browser tests and the demo run on.

pub mod serve;
