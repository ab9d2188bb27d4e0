#!/usr/bin/env bash
# Every test: formatting and lints when the tools are there, the crates'
# dependency boundaries (scripts/check-deps.sh), the whole workspace's tests
# (unit, integration, known-answer vectors, the CLI), the crates packed for a
# registry (cargo package), then the browser tests (scripts/test-browser.sh: WASM in headless Chromium,
# TypeScript declarations, Playwright end-to-end).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_cargo
started=$(date +%s)
if cargo fmt --version >/dev/null 2>&1; then
  say "cargo fmt --check"
  cargo fmt --all -- --check
fi
if cargo clippy --version >/dev/null 2>&1; then
  say "cargo clippy (warnings are errors)"
  cargo clippy --workspace --all-targets -- -D warnings
fi
say "dependency boundaries (scripts/check-deps.sh)"
bash scripts/check-deps.sh
say "cargo test --workspace"
cargo test --workspace
say "cargo package: the four publishable crates, each built from its own .crate file (docs/versioning.md)"
# Cargo verifies each crate against the others through a local overlay
# registry, and takes a registry crate's build for unchanged when its
# version is (registry crates never change): a build of our crates from an
# earlier run, of the same version, would be used again, stale. So the
# verification builds in a target directory of its own, where every kms-*
# crate comes from that registry, and their builds (not their
# dependencies') are removed first, with the unpacked sources in the cargo
# home.
verify_dir="${CARGO_TARGET_DIR:-target}/package-verify"
rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/kms-{core,storage,worker,client}-[0-9]* \
  "$verify_dir"/debug/.fingerprint/kms-* "$verify_dir"/debug/deps/*kms_*
# --allow-dirty: a change not yet committed is packed as it stands.
# No debug info: nothing here is debugged, and it would triple the size.
CARGO_PROFILE_DEV_DEBUG=false cargo package --allow-dirty --quiet --target-dir "$verify_dir" -p kms-core -p kms-storage -p kms-worker -p kms-client
if [ "${KMS_SKIP_BROWSER:-}" = 1 ]; then
  say "KMS_SKIP_BROWSER=1: browser tests skipped"
else
  bash scripts/test-browser.sh
fi
say "all tests passed in $(( $(date +%s) - started )) s"
