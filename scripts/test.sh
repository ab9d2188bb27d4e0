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
# registry, and unpacks their sources into the cargo home once per version:
# an earlier run's sources of the same version would be used again,
# stale. Only those unpacked copies of our own crates are removed.
rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/kms-{core,storage,worker,client}-[0-9]*
# --allow-dirty: a change not yet committed is packed as it stands.
cargo package --allow-dirty --quiet -p kms-core -p kms-storage -p kms-worker -p kms-client
if [ "${KMS_SKIP_BROWSER:-}" = 1 ]; then
  say "KMS_SKIP_BROWSER=1: browser tests skipped"
else
  bash scripts/test-browser.sh
fi
say "all tests passed in $(( $(date +%s) - started )) s"
