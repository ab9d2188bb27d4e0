#!/usr/bin/env bash
# The main job: the two-origin Web Push demo on loopback. Builds what is
# needed (the WASM bundle, kms-serve, kms-relay; the first build takes a
# few minutes), then starts
#   the demo PWA       http://localhost:8080   (examples/demo)
#   the KMS origin     http://localhost:8081   (iframe, worker, WASM; strict headers)
#   the push service   http://localhost:8082   (local stand-in for FCM and the like)
#   the relay          http://localhost:8083   (examples/relay)
# and waits. Ctrl-C stops every process it started. KMS_DEMO_PORT moves the
# four ports (default 8080, then +1, +2, +3).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_cargo

# `wait -n` with process ids (stop everything when one server dies) needs
# bash 5.1.
if [ "${BASH_VERSINFO[0]}" -lt 5 ] || { [ "${BASH_VERSINFO[0]}" -eq 5 ] && [ "${BASH_VERSINFO[1]}" -lt 1 ]; }; then
  echo "scripts/demo.sh needs bash 5.1 or newer (this is $BASH_VERSION)" >&2; exit 2
fi

base="${KMS_DEMO_PORT:-8080}"
# Four ports from base: 1 to 65532, written without a leading zero (bash
# would read 08080 as octal).
if ! [[ "$base" =~ ^[1-9][0-9]{0,4}$ ]] || [ "$base" -gt 65532 ]; then
  echo "KMS_DEMO_PORT must be a port from 1 to 65532 (the demo uses it and the next three)" >&2; exit 2
fi
host="http://localhost:$base"
kms="http://localhost:$((base + 1))"
push="http://localhost:$((base + 2))"
relay="http://localhost:$((base + 3))"

say "step 1/3: the WASM bundle and the demo page (scripts/build-web.sh)"
bash scripts/build-web.sh
say "step 2/3: kms-serve and kms-relay (cargo build -p kms-examples --bins)"
cargo build -p kms-examples --bins
printf '{"kmsOrigin":"%s","pushService":"%s","relay":"%s"}\n' "$kms" "$push" "$relay" > target/web/demo/demo-config.json

pids=()
stop() {
  trap - INT TERM EXIT
  if [ "${#pids[@]}" -gt 0 ]; then
    say "stopping ${#pids[@]} processes"
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# Waits for a process's "ready" line in its log; fails if it exits first.
wait_ready() {
  local pid="$1" log="$2" name="$3"
  for _ in $(seq 1 100); do
    if grep -q ': ready' "$log" 2>/dev/null; then return; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$name did not start:" >&2; cat "$log" >&2; exit 1
    fi
    sleep 0.1
  done
  echo "$name did not report ready in 10 s:" >&2; cat "$log" >&2; exit 1
}

say "step 3/3: starting the servers"
logs="$(mktemp -d)"
"${CARGO_TARGET_DIR:-target}/debug/kms-serve" \
  --host "127.0.0.1:$base=target/web/demo" \
  --kms "127.0.0.1:$((base + 1))=target/web/kms" \
  --push "127.0.0.1:$((base + 2))" \
  --allow-host "$host" --allow-loopback-push >"$logs/serve.log" 2>&1 &
pids+=("$!")
wait_ready "$!" "$logs/serve.log" kms-serve
"${CARGO_TARGET_DIR:-target}/debug/kms-relay" --listen "127.0.0.1:$((base + 3))" --allow-origin "$host" \
  --allow-loopback-push >"$logs/relay.log" 2>&1 &
pids+=("$!")
wait_ready "$!" "$logs/relay.log" kms-relay

cat <<TEXT

  The demo is running. Open the app in Chrome or Chromium:

      $host

  the KMS origin     $kms   (the iframe inside the app)
  the push service   $push   (local: no internet needed)
  the relay          $relay
  server logs        $logs

  Walk through the steps on the page: set up, create the VAPID key,
  subscribe, grant the relay a lease, lock, send, rotate, export the audit
  log. Ctrl-C here stops everything.

TEXT
wait -n "${pids[@]}" || true
echo "a server stopped; logs in $logs" >&2
exit 1
