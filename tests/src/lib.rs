//! Cross-crate integration tests live beside this folder (`flow.rs`).
