//! Runnable examples live beside this file; see `walkthrough.rs`.
