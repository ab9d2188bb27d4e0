#!/usr/bin/env bash
# Builds the browser bundle: the engine compiled to WASM (release), bound by
# wasm-bindgen for ES modules, next to the KMS origin's pages, into
# target/web/kms/ (what a deployer serves on the KMS origin), and the JS
# client into target/web/client/ (what a PWA copies or imports). Then
# `kms release manifest` fills kms.html's integrity values and writes
# target/web/kms/manifest.json (docs/browser.md section 6.2).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_cargo
need_wasm_target
need_wasm_bindgen

out=target/web
say "building the WASM engine (profile wasm-release, wasm32-unknown-unknown)"
# Paths inside the WASM (the panic locations of dependencies) name the
# cargo home, the checkout and the target directory: mapped to fixed names,
# so the bundle does not depend on where it is built
# (scripts/check-reproducible.sh). Only the wasm32 artifacts see these
# flags (`--target` keeps them off build scripts), and only this profile,
# so no other build is invalidated.
mkdir -p "${CARGO_TARGET_DIR:-target}"
target_abs=$(cd "${CARGO_TARGET_DIR:-target}" && pwd)
# One flag per field (0x1f-separated): paths with spaces stay whole. The
# last matching prefix wins, so a target directory inside the checkout
# maps to /target.
sep=$'\x1f'
CARGO_ENCODED_RUSTFLAGS="--remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo${sep}--remap-path-prefix=$PWD=/src${sep}--remap-path-prefix=$target_abs=/target" \
  wasm_cargo build --profile wasm-release --target wasm32-unknown-unknown -p kms-worker --lib
rm -rf "$out/kms" "$out/client" "$out/demo"
mkdir -p "$out/kms" "$out/client" "$out/demo"
say "binding it for the browser (wasm-bindgen --target web)"
# Cargo's output is under CARGO_TARGET_DIR when it is set; the bundle always
# goes to target/web (what kms-serve, the demo and the tests serve).
wasm-bindgen --target web --no-typescript --out-dir "$out/kms/pkg" \
  "${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/wasm-release/kms_worker.wasm"
cp kms-worker/web/kms.html kms-worker/web/kms.css kms-worker/web/kms-frame.js kms-worker/web/frame-guard.js kms-worker/web/frame-confirm.js kms-worker/web/frame-messages.js kms-worker/web/frame-config.js kms-worker/web/integrity-probe.js "$out/kms/"
# The engine's worker is one file, the glue and then kms-worker.js, which
# the frame checks and runs from a blob: URL of the checked bytes
# (docs/browser.md section 6.2); the glue is not served on its own.
# kms-worker.js calls the glue's `__wbg_init` (its default export): stop
# here if a wasm-bindgen version names it otherwise.
grep -q '^export default __wbg_init;' "$out/kms/pkg/kms_worker.js" \
  || { echo "build-web.sh: the wasm-bindgen glue no longer exports __wbg_init; update kms-worker/web/kms-worker.js" >&2; exit 1; }
cat "$out/kms/pkg/kms_worker.js" kms-worker/web/kms-worker.js > "$out/kms/kms-engine.js"
rm "$out/kms/pkg/kms_worker.js"
cp kms-client/js/kms-client.js kms-client/js/kms-client.d.ts kms-client/js/kms-rpc.d.ts "$out/client/" 2>/dev/null || \
  cp kms-client/js/kms-client.js "$out/client/"
# The demo PWA (examples/demo) with the client beside it; scripts/demo.sh
# and the e2e tests add its demo-config.json.
cp examples/demo/* "$out/demo/"
cp kms-client/js/kms-client.js "$out/demo/"
say "writing the bundle's manifest and kms.html's integrity values (kms release manifest)"
# KMS_CLI: a `kms` binary built already (scripts/check-reproducible.sh
# builds one for both of its clones).
kms_cli="${KMS_CLI:-}"
if [ -z "$kms_cli" ]; then
  cargo build -q -p kms-client --bin kms
  kms_cli="${CARGO_TARGET_DIR:-target}/debug/kms"
fi
commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
"$kms_cli" release manifest "$out/kms" --commit "$commit" --profile wasm-release \
  --tool "cargo=$("${WASM_CARGO[@]}" --version | awk '{print $2}')" \
  --tool "wasm-bindgen=$(wasm-bindgen --version | awk '{print $2}')"
raw=$(stat -c %s "$out/kms/pkg/kms_worker_bg.wasm")
gz=$(gzip -9 -c "$out/kms/pkg/kms_worker_bg.wasm" | wc -c)
say "bundle ready in $out/kms: kms_worker_bg.wasm $raw bytes raw, $gz gzipped"
