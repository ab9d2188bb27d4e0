#!/usr/bin/env bash
# The native walkthrough: the KMS on embedded defaults (a temporary
# store, one user, a VAPID key, a JWT verified by an independent library).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_cargo
say "building (the first build takes a few minutes)"
cargo build --release -p kms-examples --example walkthrough
say "running the walkthrough"
exec cargo run --release -q -p kms-examples --example walkthrough
