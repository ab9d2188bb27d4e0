#!/usr/bin/env bash
# The browser benchmark: builds the release bundle and kms-serve, then runs
# tests/browser/bench/bench.mjs in headless Chromium, and
# tests/browser/bench/unlock-engines.mjs in Chromium, Firefox ESR and
# WebKitGTK, and prints the figures of docs/benchmarks.md (browser section). Run it on an otherwise idle
# machine; nothing here is a pass/fail test.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_cargo
need_chromium
need_firefox
need_webkit
need_node_modules tests/browser
bash scripts/build-web.sh
build_kms_serve
say "browser benchmark (headless Chromium, release WASM)"
node tests/browser/bench/bench.mjs
say "the first unlock of a browser process, in each engine (tests/browser/bench/unlock-engines.mjs)"
KMS_E2E_ENGINE=chromium node tests/browser/bench/unlock-engines.mjs
KMS_E2E_ENGINE=firefox node tests/browser/bench/unlock-engines.mjs
KMS_E2E_ENGINE=webkit xvfb-run -a -s '-screen 0 1280x1024x24' node tests/browser/bench/unlock-engines.mjs
