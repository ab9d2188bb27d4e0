#!/usr/bin/env bash
# Every test: formatting and lints when the tools are there, then the whole
# workspace's tests (unit, integration, known-answer vectors, the CLI).
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
say "cargo test --workspace"
cargo test --workspace
say "all tests passed in $(( $(date +%s) - started )) s"
