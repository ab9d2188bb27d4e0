#!/usr/bin/env bash
# Is the browser bundle reproducible? Builds it twice, with the README's
# build (scripts/build-web.sh), in two fresh clones of HEAD at different
# paths with their own target directories, and compares every file of
# target/web/kms/ and target/web/client/ by SHA-256. Prints the differing
# files and fails when there are any. Takes two WASM release builds (about
# 2 minutes on this project's 2-core machine with a warm cargo registry);
# .ci/run calls it after the fuzz budget. Both builds share the cargo home,
# so its mapping out of the WASM is not exercised here.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_cargo
need_wasm_target
need_wasm_bindgen

started=$(date +%s)
commit=$(git rev-parse HEAD)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
say "building the kms tool once, for both builds' manifests"
cargo build -q -p kms-client --bin kms
case "${CARGO_TARGET_DIR:-target}" in
  /*) kms_cli="${CARGO_TARGET_DIR}/debug/kms" ;;
  *) kms_cli="$(pwd)/${CARGO_TARGET_DIR:-target}/debug/kms" ;;
esac
cp "$kms_cli" "$work/kms"

for side in one two/at/another/depth; do
  say "building the bundle of $commit in $work/$side"
  git clone -q . "$work/$side"
  (cd "$work/$side" && git checkout -q "$commit" \
    && CARGO_TARGET_DIR="$work/$side/target" KMS_CLI="$work/kms" bash scripts/build-web.sh >"$work/$(basename "$side").log" 2>&1) \
    || { cat "$work/$(basename "$side").log" >&2; exit 1; }
  (cd "$work/$side/target/web" && find kms client -type f -print0 | sort -z | xargs -0 sha256sum) >"$work/$(basename "$side").sums"
done

if diff -u "$work/one.sums" "$work/depth.sums" >"$work/diff"; then
  say "reproducible: $(wc -l <"$work/one.sums") files identical in both builds ($(( $(date +%s) - started )) s)"
else
  say "NOT reproducible: these files differ between the two builds"
  grep '^[-+][0-9a-f]' "$work/diff" | awk '{print $2}' | sort -u >&2
  exit 1
fi
