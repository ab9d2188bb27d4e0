#!/usr/bin/env bash
# The browser half of the tests: the storage conformance suite against a real
# IndexedDB, inside a dedicated worker of headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_cargo
need_wasm_target
need_wasm_bindgen
need_chromium

webdriver_json="$TOOLS_DIR/webdriver.json"
cat > "$webdriver_json" <<'JSON'
{"goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
  "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]}}
JSON
export CHROMEDRIVER=/usr/bin/chromedriver
export WASM_BINDGEN_TEST_WEBDRIVER_JSON="$webdriver_json"
export WASM_BINDGEN_TEST_TIMEOUT=120
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
say "IndexedDB conformance, WebCrypto PBKDF2 and the WASM engine, in a dedicated worker (headless Chromium)"
cargo test --target wasm32-unknown-unknown -p kms-storage --no-default-features --test indexeddb
cargo test --target wasm32-unknown-unknown -p kms-worker --test web
