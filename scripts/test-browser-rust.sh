#!/usr/bin/env bash
# The Rust browser client (kms-client/src/browser.rs, `BrowserKms`) in
# headless Chromium: kms-client/tests/browser.rs runs in a page of origin
# http://127.0.0.1:<page port> and talks to the KMS frame of
# http://localhost:<kms port> (the release bundle of scripts/build-web.sh,
# served by kms-serve with that page origin on its allowlist), and to a
# second KMS, http://localhost:<foreign port>, that allows another host only.
# Every port is picked by the system (port 0) and read back from what the
# process that holds it announces.
#
# The page's origin must be known before the test starts: the KMS's
# allowlist and its frame-ancestors name it exactly. wasm-bindgen-test-runner
# 0.2.100 serves headless tests on a port it picks itself (127.0.0.1:0);
# WASM_BINDGEN_TEST_ADDRESS only changes the URL the browser is sent to
# (it binds the server only in the interactive NO_HEADLESS mode). So this
# script first starts a forwarder (scripts/tcp-forward.mjs, Node.js) on a
# free port, the page port, and configures the KMS origins with it; cargo
# then runs this script as the test runner (`--runner`), which starts
# wasm-bindgen-test-runner with WASM_BINDGEN_TEST_ADDRESS set to the page
# port, finds the port of the runner's server in /proc (by the runner's
# pid) and hands it to the forwarder, which forwards every connection there.
#
# Usage: scripts/test-browser-rust.sh [test name filter]
# Each tool is installed when missing (docs/browser.md, section 8). The
# repository path must not contain spaces (cargo splits the runner command
# on whitespace).
set -euo pipefail

# The only host the second KMS allows: an origin no page of the test has
# (nothing listens there; nothing connects there either).
FOREIGN_HOST=http://127.0.0.1:18199

if [ "${1:-}" = "--runner" ]; then
  shift
  # The forwarder's runner part: the runner's port goes to the file the
  # forwarder reads (KMS_TEST_FORWARD_FILE, set below).
  exec node "$(dirname "$0")/tcp-forward.mjs" run "$KMS_TEST_FORWARD_FILE" wasm-bindgen-test-runner "$@"
fi

cd "$(dirname "$0")/.."
. scripts/lib.sh
need_cargo
need_wasm_target
need_wasm_bindgen
need_chromium
need_node

target="${CARGO_TARGET_DIR:-target}"
# The bundle is always in target/web (scripts/build-web.sh); binaries are
# where cargo puts them ($target).
if [ ! -f target/web/kms/kms.html ] || [ ! -d target/web/kms/pkg ]; then
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
cp -r target/web/kms "$work/kms"

# wait_announced NAME PID LOG PATTERN: once LOG has a line matching
# PATTERN (an extended regex), prints the line's third field (the port or
# the URL of an announcement); fails if the process stops first or after 10 s.
wait_announced() {
  local line
  for _ in $(seq 1 100); do
    line=$(grep -E -m1 "$4" "$3" || true)
    if [ -n "$line" ]; then
      echo "$line" | awk '{print $3}'
      return 0
    fi
    if ! kill -0 "$2" 2>/dev/null; then
      cat "$3" >&2
      echo "test-browser-rust: $1 stopped before it was ready" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "test-browser-rust: $1 not ready after 10 s" >&2
  return 1
}

# The page port: the forwarder listens on a port the system picks, held
# until the end, and forwards to the runner's port once that is known.
export KMS_TEST_FORWARD_FILE="$work/runner-port"
node scripts/tcp-forward.mjs listen "$KMS_TEST_FORWARD_FILE" >"$work/forward.log" 2>&1 &
forwarder=$!
pids+=("$forwarder")
PAGE_PORT=$(wait_announced forwarder "$forwarder" "$work/forward.log" '^tcp-forward: listening [0-9]+$')

# start_kms NAME ALLOWED_HOST: a KMS origin on a port the system picks, in
# the background; prints its origin (http://localhost:<port>) once ready.
start_kms() {
  local log="$work/$1.log"
  "$target/debug/kms-serve" --kms "127.0.0.1:0=$work/kms" --allow-host "$2" >"$log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  wait_announced "kms-serve ($1)" "$pid" "$log" '^kms-serve: ready' >/dev/null
  grep -E -m1 '^kms-serve: kms http://localhost:[0-9]+ ' "$log" | awk '{print $3}'
}
# Not in $(...): the pids of the servers are kept for the cleanup.
start_kms kms "http://127.0.0.1:$PAGE_PORT" >"$work/kms.origin"
start_kms foreign "$FOREIGN_HOST" >"$work/foreign.origin"
KMS_ORIGIN=$(cat "$work/kms.origin")
FOREIGN_ORIGIN=$(cat "$work/foreign.origin")
say "KMS origins: $KMS_ORIGIN for this page, $FOREIGN_ORIGIN for another host"

export CHROMEDRIVER=/usr/bin/chromedriver
export WASM_BINDGEN_TEST_TIMEOUT=120
# Where the browser goes: this script's forwarder (see the top).
export WASM_BINDGEN_TEST_ADDRESS="http://127.0.0.1:$PAGE_PORT"
# The runner's page is cross-origin isolated by default (COEP require-corp),
# which refuses the KMS iframe (its responses are CORP same-origin).
export WASM_BINDGEN_TEST_NO_ORIGIN_ISOLATION=1
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER="$PWD/scripts/test-browser-rust.sh --runner"
# Read by tests/browser.rs at build time (option_env!).
export KMS_TEST_KMS_ORIGIN="$KMS_ORIGIN"
export KMS_TEST_FOREIGN_KMS_ORIGIN="$FOREIGN_ORIGIN"

say "kms-client's BrowserKms in headless Chromium (page http://127.0.0.1:$PAGE_PORT)"
# --no-default-features: without `cli`, the native-only `kms` tool.
wasm_cargo test "${WASM_TEST_SELECTION[@]}" --test browser "$@"
