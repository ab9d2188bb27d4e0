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
#    the same e2e tests run at the same time in headless Firefox ESR (over
#    WebDriver BiDi) and in WebKitGTK (WebKitWebDriver under Xvfb);
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
say "end-to-end tests in three engines at once: headless Chromium (Playwright), headless Firefox ESR (WebDriver BiDi), WebKitGTK (WebKitWebDriver and selenium-webdriver under Xvfb)"
say "Firefox and WebKit skip the passkey tests and what needs IntersectionObserver v2, each with its reason; each engine's output is printed when that engine ends (and kept in target/e2e-logs/)"
# Each test starts its own servers on free ports and its own browser
# profile in its own temporary folder, so the three runs share only the
# built bundle and binaries (read), npm's cache (packages.test.mjs) and
# the machine's cores. Run one after another they took 11 to 16 minutes of
# a 30-minute budget, most of it waiting (the guard's half-second arming,
# throttles, relay refreshes), so they overlap; each engine still runs its
# files one at a time. Each run is a process group of its own (setsid), so
# that an interrupted test command stops all three with their browsers.
e2e_logs=target/e2e-logs
rm -rf "$e2e_logs"
mkdir -p "$e2e_logs"
declare -A e2e_engine_of=()
e2e_pids=()
stop_e2e() {
  local pid
  # The group, and the pid itself in case it had not reached setsid yet.
  for pid in "${e2e_pids[@]}"; do kill -- "-$pid" "$pid" 2>/dev/null || true; done
}
trap 'stop_e2e; rm -rf "$browser_tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
e2e_start=$(date +%s)
for engine in chromium firefox webkit; do
  prefix=()
  [ "$engine" = webkit ] && prefix=(xvfb-run -a -s '-screen 0 1280x1024x24')
  (cd tests/browser && KMS_E2E_ENGINE=$engine exec setsid "${prefix[@]}" node --test --test-concurrency=1 e2e/) \
    > "$e2e_logs/$engine.log" 2>&1 &
  e2e_pids+=($!)
  e2e_engine_of[$!]=$engine
done
e2e_failed=()
e2e_times=()
running=("${e2e_pids[@]}")
while [ ${#running[@]} -gt 0 ]; do
  rc=0
  ended=
  wait -n -p ended "${running[@]}" || rc=$?
  if [ -z "$ended" ]; then
    # A run killed by a signal leaves bash's job table once reported, and
    # `wait -n` then names no pid; `wait` on the pid still has its status.
    ended=${running[0]}
    rc=0
    wait "$ended" || rc=$?
  fi
  engine=${e2e_engine_of[$ended]}
  secs=$(( $(date +%s) - e2e_start ))
  say "end-to-end in $engine: exit $rc after $secs s"
  cat "$e2e_logs/$engine.log"
  e2e_times+=("$engine $secs s")
  [ "$rc" = 0 ] || e2e_failed+=("$engine")
  still=()
  for pid in "${running[@]}"; do [ "$pid" = "$ended" ] || still+=("$pid"); done
  running=("${still[@]}")
done
e2e_pids=()
say "end-to-end: $(( $(date +%s) - e2e_start )) s in all (${e2e_times[*]})"
if [ ${#e2e_failed[@]} -gt 0 ]; then
  say "end-to-end failed in: ${e2e_failed[*]} (logs in $e2e_logs/)"
  exit 1
fi
say "the Rust browser client (BrowserKms) in headless Chromium"
bash scripts/test-browser-rust.sh
say "the README's main job: scripts/demo.sh starts the demo, Ctrl-C stops it"
(cd tests/browser && node --test script/)
