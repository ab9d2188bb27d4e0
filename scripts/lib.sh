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
