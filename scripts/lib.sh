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

# ---- the browser toolchain (../shared/TOOLCHAIN.md); each step skips what
# is already there.

TOOLS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.cache/tools"

# The exact wasm-bindgen version of Cargo.lock: the CLI must match it.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

# rustup's wasm32 target (Debian's rustc-web is the documented fallback, not
# automated here: rustup has worked on every machine of this kind).
need_wasm_target() {
  if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then return; fi
  say "adding the wasm32-unknown-unknown target"
  timeout 300 rustup target add wasm32-unknown-unknown
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

# Node.js and npm (Debian's, when the machine has none), then the pinned
# npm packages of the browser tests (playwright-core drives Debian's
# Chromium: no browser download; typescript checks the declarations).
need_node_modules() {
  if ! command -v npm >/dev/null 2>&1; then
    say "installing nodejs and npm (Debian packages)"
    local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nodejs npm
  fi
  local dir="$1"
  if [ -d "$dir/node_modules/playwright-core" ] && [ -d "$dir/node_modules/typescript" ]; then return; fi
  say "installing the browser tests' npm packages (playwright-core, typescript)"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
}
