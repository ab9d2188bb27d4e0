#!/usr/bin/env bash
# Every test: formatting and lints when the tools are there, the crates'
# dependency boundaries (scripts/check-deps.sh), the whole workspace's tests
# (unit, integration, known-answer vectors, the CLI), then the browser tests
# (scripts/test-browser.sh: WASM in headless Chromium, TypeScript
# declarations, Playwright end-to-end). The crates' release check (cargo
# package, scripts/check-packages.sh) is one of CI's long checks.
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
if [ "${KMS_SKIP_BROWSER:-}" = 1 ]; then
  say "KMS_SKIP_BROWSER=1: browser tests skipped"
else
  bash scripts/test-browser.sh
fi
say "all tests passed in $(( $(date +%s) - started )) s"
