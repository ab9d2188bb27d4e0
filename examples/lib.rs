//! Runnable examples live beside this file: `walkthrough.rs` is the main one.
