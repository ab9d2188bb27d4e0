//! What this workspace's `Cargo.lock` must keep, and why (a `cargo update`
//! would undo it without a word).
//!
//! `idna_adapter` stays on its 1.0 line: the `idna` crate (under `url`)
//! takes its Unicode back end from whichever 1.x version the lock names, and
//! 1.0 has none. The browser engine is 44 KB smaller gzipped for it, and
//! kms-core refuses non-ASCII and escaped hosts itself (`kms_core::weburl`),
//! so no input reaches the part that is missing.

use std::path::Path;

/// The versions the lock file names for `package`.
fn locked_versions(lock: &str, package: &str) -> Vec<String> {
    let mut versions = Vec::new();
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == format!("name = \"{package}\"") {
            if let Some(v) = lines.next().and_then(|l| l.trim().strip_prefix("version = \"")) {
                versions.push(v.trim_end_matches('"').to_owned());
            }
        }
    }
    versions
}

/// The workspace's lock, and the fuzz targets' (which should run the back
/// end the builds ship).
#[test]
fn idna_adapter_stays_on_the_line_without_unicode_tables() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root");
    for lock_path in ["Cargo.lock", "fuzz/Cargo.lock"] {
        let lock = std::fs::read_to_string(root.join(lock_path)).expect(lock_path);
        let versions = locked_versions(&lock, "idna_adapter");
        assert!(!versions.is_empty(), "{lock_path} names no idna_adapter: does url still use idna?");
        for v in &versions {
            assert!(
                v.starts_with("1.0."),
                "{lock_path} has idna_adapter {v}: run `cargo update -p idna_adapter --precise 1.0.0` where it is (Cargo.toml, at `url`, says why)"
            );
        }
    }
}
