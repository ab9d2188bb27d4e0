# Shared by the scripts: find or explain the tools they need.
# shellcheck shell=bash

say() { printf '\033[1m==>\033[0m %s\n' "$*"; }

need_cargo() {
  if ! command -v cargo >/dev/null 2>&1; then
    for d in "$HOME/.cargo/bin" /usr/local/cargo/bin; do
      [ -x "$d/cargo" ] && export PATH="$d:$PATH"
    done
  fi
  if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo not found: install a stable Rust toolchain (1.89 or newer) first" >&2
    exit 1
  fi
}

# ---- the browser toolchain (docs/browser.md, section 8); each step skips what
# is already there.

TOOLS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.cache/tools"

# The exact wasm-bindgen version of Cargo.lock: the CLI must match it.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

# How wasm32 builds run: plain `cargo` with rustup's target (first choice),
# or Debian's toolchain with the standard library built from source (the
# fallback when rustup cannot add the target, about 2.4x slower). Every wasm32 cargo
# call of the scripts goes through `wasm_cargo`.
WASM_CARGO=(cargo)
WASM_BUILD_STD=()
need_wasm_target() {
  if [ "${KMS_WASM_FALLBACK:-}" != 1 ]; then
    if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then return; fi
    say "adding the wasm32-unknown-unknown target"
    if timeout 300 rustup target add wasm32-unknown-unknown; then return; fi
    say "rustup could not add the target: falling back to Debian's rustc-web"
  fi
  use_debian_wasm_toolchain
}

use_debian_wasm_toolchain() {
  if ! dpkg -s rustc-web cargo-web rust-web-src lld-22 >/dev/null 2>&1; then
    say "installing rustc-web, cargo-web, rust-web-src and lld-22 (Debian packages)"
    local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq rustc-web cargo-web rust-web-src lld-22
  fi
  rustup toolchain list | grep -q '^debian' || rustup toolchain link debian /usr
  # build-std is a nightly flag; Debian's stable compiler accepts it so.
  export RUSTC_BOOTSTRAP=1
  WASM_CARGO=(cargo +debian)
  WASM_BUILD_STD=(-Zbuild-std=std,panic_abort)
}

# `wasm_cargo <subcommand> <args...>`: a wasm32 cargo call on whichever
# toolchain need_wasm_target chose.
wasm_cargo() {
  local sub="$1"; shift
  "${WASM_CARGO[@]}" "$sub" "${WASM_BUILD_STD[@]}" "$@"
}

# The wasm32 test builds: one package selection and feature set for every
# wasm test run, so the three test binaries share one build (a narrower
# selection would resolve features differently and rebuild the tree).
WASM_TEST_SELECTION=(--target wasm32-unknown-unknown -p kms-storage -p kms-worker -p kms-client --no-default-features)

# kms-serve, built as `cargo test --workspace` builds it (the same feature
# unification, so right after the native tests this is free; a plain
# `cargo build -p kms-examples` would resolve kms-core's features without
# the dev-dependencies' and rebuild four crates).
build_kms_serve() {
  say "building kms-serve (with the workspace's test build)"
  cargo test --workspace --no-run -q
}

# Whether the chosen toolchain has clippy (Debian's fallback may not).
wasm_has_clippy() {
  "${WASM_CARGO[@]}" clippy --version >/dev/null 2>&1
}

need_wasm_bindgen() {
  local want; want="$(wasm_bindgen_version)"
  export PATH="$TOOLS_DIR/bin:$PATH"
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" = "$want" ]; then return; fi
  say "installing wasm-bindgen-cli $want into .cache/tools (about 4 minutes, once)"
  cargo install wasm-bindgen-cli --version "$want" --root "$TOOLS_DIR"
}

need_chromium() {
  if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then return; fi
  say "installing chromium and chromium-driver (Debian packages)"
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver
}

# Firefox ESR (Debian's), driven over WebDriver BiDi by the e2e tests'
# second run (tests/browser/e2e/harness.mjs, KMS_E2E_ENGINE=firefox).
need_firefox() {
  if [ -x /usr/bin/firefox-esr ]; then return; fi
  say "installing firefox-esr (Debian package)"
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq firefox-esr
}

# WebKitGTK's WebDriver (its MiniBrowser comes with it) and a virtual X
# server to show it in: WebKitGTK has no headless mode.
need_webkit() {
  if [ -x /usr/bin/WebKitWebDriver ] && command -v xvfb-run >/dev/null 2>&1 && command -v xauth >/dev/null 2>&1; then return; fi
  say "installing webkit2gtk-driver, xvfb and xauth (Debian packages)"
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq webkit2gtk-driver xvfb xauth
}

# Node.js and npm (Debian's, when the machine has none), then the pinned
# npm packages of the browser tests (playwright-core drives Debian's
# Chromium: no browser download; typescript checks the declarations).
need_node() {
  if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then return; fi
  say "installing nodejs and npm (Debian packages)"
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nodejs npm
}

need_node_modules() {
  need_node
  local dir="$1"
  if [ -d "$dir/node_modules/playwright-core" ] && [ -d "$dir/node_modules/playwright-core-bidi" ] \
    && [ -d "$dir/node_modules/selenium-webdriver" ] && [ -d "$dir/node_modules/typescript" ]; then return; fi
  say "installing the browser tests' npm packages (playwright-core, its BiDi line for Firefox, selenium-webdriver for WebKit, typescript)"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
}
