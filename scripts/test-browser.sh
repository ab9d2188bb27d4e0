#!/usr/bin/env bash
# The browser half of the tests, in headless Chromium:
# 1. wasm-bindgen tests inside a dedicated worker: the storage conformance
#    suite against a real IndexedDB, WebCrypto PBKDF2 against the pbkdf2
#    crate, the exported engine over IndexedDB;
# 2. the TypeScript declarations compiled against a PWA's usage, and the JS
#    client type-checked against them (--checkJs --strict);
# 3. the demo page's RFC 8291 decryption (Node, the RFC's example);
# 4. the two npm packages packed (scripts/build-packages.sh), then
#    end-to-end Playwright tests of the release bundle on three loopback
#    origins served by kms-serve (host, KMS, a third one), of the
#    getting-started section installed from the packed tarballs, and of the
#    demo (PWA, KMS, local push service, kms-relay) with a screenshot per step;
#    then the same e2e tests in headless Firefox ESR (over WebDriver BiDi);
# 5. the Rust browser client; 6. scripts/demo.sh itself, started and stopped.
# Each tool is installed when missing (docs/browser.md, section 8).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_cargo
need_wasm_target
need_wasm_bindgen
need_chromium
need_firefox
need_webkit
need_node_modules tests/browser

export CHROMEDRIVER=/usr/bin/chromedriver
# chromedriver leaves each session's 10 MB profile (scoped_dir*) in TMPDIR
# when wasm-bindgen-test-runner stops it; keep them in a folder that goes.
browser_tmp=$(mktemp -d)
trap 'rm -rf "$browser_tmp"' EXIT
export TMPDIR="$browser_tmp"
export WASM_BINDGEN_TEST_TIMEOUT=120
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
if wasm_has_clippy; then
  say "cargo clippy for wasm32 (the browser-only code; warnings are errors)"
  wasm_cargo clippy "${WASM_TEST_SELECTION[@]}" --lib -- -D warnings
else
  say "no clippy on the fallback toolchain: wasm32 lints skipped"
fi
say "IndexedDB conformance, WebCrypto PBKDF2, the WebCrypto provider, the WASM engine and its memory, in a dedicated worker (headless Chromium)"
wasm_cargo test "${WASM_TEST_SELECTION[@]}" --test indexeddb --test web --test web_memory

say "TypeScript: a PWA's usage against the declarations (tests/browser/types), and kms-client.js itself (tsc --checkJs --strict)"
(cd tests/browser && node_modules/.bin/tsc -p types && node_modules/.bin/tsc -p ../../kms-client/js)

say "the demo page's push decryption (RFC 8291 example and refusals) and the KMS frame's message decoder (a seeded property test), Node"
(cd tests/browser && node --test unit/)

bash scripts/build-web.sh
say "the npm packages (scripts/build-packages.sh: @kms-web/client and @kms-web/origin, npm pack)"
KMS_WEB_BUILT=1 bash scripts/build-packages.sh
build_kms_serve
say "end-to-end tests (Playwright, headless Chromium): the KMS origins, then the demo"
e2e_start=$(date +%s)
(cd tests/browser && node --test --test-concurrency=1 e2e/)
say "the same end-to-end tests in headless Firefox ESR (WebDriver BiDi; the passkey tests and what needs IntersectionObserver v2 are skipped, each with its reason)"
firefox_start=$(date +%s)
(cd tests/browser && KMS_E2E_ENGINE=firefox node --test --test-concurrency=1 e2e/)
say "the same end-to-end tests in WebKitGTK (WebKitWebDriver and selenium-webdriver under Xvfb; no WebAuthn there: the passkey tests are skipped, as is what needs IntersectionObserver v2)"
webkit_start=$(date +%s)
(cd tests/browser && KMS_E2E_ENGINE=webkit xvfb-run -a -s '-screen 0 1280x1024x24' node --test --test-concurrency=1 e2e/)
say "end-to-end: Chromium $(( firefox_start - e2e_start )) s, Firefox $(( webkit_start - firefox_start )) s, WebKit $(( $(date +%s) - webkit_start )) s"
say "the Rust browser client (BrowserKms) in headless Chromium"
bash scripts/test-browser-rust.sh
say "the README's main job: scripts/demo.sh starts the demo, Ctrl-C stops it"
(cd tests/browser && node --test script/)
