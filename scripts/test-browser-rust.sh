#!/usr/bin/env bash
# The Rust browser client (kms-client/src/browser.rs, `BrowserKms`) in
# headless Chromium: kms-client/tests/browser.rs runs in a page of origin
# http://127.0.0.1:18190 and talks to the KMS frame of http://localhost:18181
# (the release bundle of scripts/build-web.sh, served by kms-serve with that
# page origin on its allowlist), and to a second KMS, http://localhost:18182,
# that allows another host only.
#
# The page's origin must be known before the test starts: the KMS's
# allowlist and its frame-ancestors name it exactly. wasm-bindgen-test-runner
# 0.2.100 serves headless tests on a port it picks itself (127.0.0.1:0);
# WASM_BINDGEN_TEST_ADDRESS only changes the URL the browser is sent to
# (it binds the server only in the interactive NO_HEADLESS mode). So cargo
# runs this script as the test runner (`--runner`): it listens on the page
# port first, starts wasm-bindgen-test-runner with WASM_BINDGEN_TEST_ADDRESS
# set to that port, finds the port of the runner's server in /proc (by the
# runner's pid), and forwards every connection there (Node.js,
# scripts/tcp-forward.mjs).
#
# Usage: scripts/test-browser-rust.sh [test name filter]
# Uses the ports 18181, 18182 and 18190 on 127.0.0.1. Each tool is installed
# when missing (docs/browser.md, section 8). The repository path must not contain
# spaces (cargo splits the runner command on whitespace).
set -euo pipefail

PAGE_PORT=18190
KMS_PORT=18181
FOREIGN_PORT=18182
# The only host the second KMS allows: nothing listens there.
FOREIGN_HOST=http://127.0.0.1:18199

if [ "${1:-}" = "--runner" ]; then
  shift
  # The forwarder (scripts/tcp-forward.mjs): the page port, then the runner.
  exec node "$(dirname "$0")/tcp-forward.mjs" "$PAGE_PORT" wasm-bindgen-test-runner "$@"
fi

cd "$(dirname "$0")/.."
. scripts/lib.sh
need_cargo
need_wasm_target
need_wasm_bindgen
need_chromium
need_node

target="${CARGO_TARGET_DIR:-target}"
if [ ! -f "$target/web/kms/kms.html" ] || [ ! -d "$target/web/kms/pkg" ]; then
  bash scripts/build-web.sh
fi
build_kms_serve

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A copy of the bundle: a rebuild of target/web meanwhile does not pull the
# files from under the running servers.
cp -r "$target/web/kms" "$work/kms"

# start_kms NAME PORT ALLOWED_HOST: a KMS origin in the background, once ready.
start_kms() {
  local log="$work/$1.log"
  "$target/debug/kms-serve" --kms "127.0.0.1:$2=$work/kms" --allow-host "$3" >"$log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 1 100); do
    if grep -q '^kms-serve: ready' "$log"; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      cat "$log" >&2
      echo "test-browser-rust: kms-serve ($1, port $2) stopped before it was ready" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "test-browser-rust: kms-serve ($1, port $2) not ready after 10 s" >&2
  exit 1
}
say "starting the KMS origins (localhost:$KMS_PORT for this page, localhost:$FOREIGN_PORT for another host)"
start_kms kms "$KMS_PORT" "http://127.0.0.1:$PAGE_PORT"
start_kms foreign "$FOREIGN_PORT" "$FOREIGN_HOST"

export CHROMEDRIVER=/usr/bin/chromedriver
export WASM_BINDGEN_TEST_TIMEOUT=120
# Where the browser goes: this script's forwarder (see the top).
export WASM_BINDGEN_TEST_ADDRESS="http://127.0.0.1:$PAGE_PORT"
# The runner's page is cross-origin isolated by default (COEP require-corp),
# which refuses the KMS iframe (its responses are CORP same-origin).
export WASM_BINDGEN_TEST_NO_ORIGIN_ISOLATION=1
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER="$PWD/scripts/test-browser-rust.sh --runner"
# Read by tests/browser.rs at build time (option_env!).
export KMS_TEST_KMS_ORIGIN="http://localhost:$KMS_PORT"
export KMS_TEST_FOREIGN_KMS_ORIGIN="http://localhost:$FOREIGN_PORT"

say "kms-client's BrowserKms in headless Chromium (page http://127.0.0.1:$PAGE_PORT)"
# --no-default-features: without `cli`, the native-only `kms` tool.
wasm_cargo test "${WASM_TEST_SELECTION[@]}" --test browser "$@"
