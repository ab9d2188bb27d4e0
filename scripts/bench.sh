#!/usr/bin/env bash
# Runs the native criterion benchmarks and prints each engine operation's
# cost as a ratio to the bare primitive measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p kms-worker --bench unlock_and_sign -- "$@"
cargo bench -p kms-core --bench audit_verify -- "$@"
python3 scripts/bench_report.py
