#!/usr/bin/env bash
# The browser benchmark: builds the release bundle and kms-serve, then runs
# tests/browser/bench/bench.mjs in headless Chromium and prints the figures
# of docs/benchmarks.md (browser section). Run it on an otherwise idle
# machine; nothing here is a pass/fail test.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_cargo
need_chromium
need_node_modules tests/browser
bash scripts/build-web.sh
build_kms_serve
say "browser benchmark (headless Chromium, release WASM)"
node tests/browser/bench/bench.mjs
