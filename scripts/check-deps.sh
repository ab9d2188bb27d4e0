#!/usr/bin/env bash
# Crates carry only what they use: each feature boundary of the workspace is
# checked on the resolved dependency graph (`cargo tree`, normal edges), so a
# dependency cannot slip into a build that must not carry it. Run by
# scripts/test.sh; fails naming every crate found where it does not belong.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_cargo

failed=0
# forbid WHAT "CARGO TREE ARGS" CRATE...: none of CRATE is in that build.
forbid() {
  local what="$1" args="$2" tree dep
  shift 2
  # shellcheck disable=SC2086 # the arguments are words on purpose
  tree=$(cargo tree $args -e normal --prefix none --format '{p}' | sed 's/ .*//' | sort -u)
  for dep in "$@"; do
    if grep -qx -- "$dep" <<<"$tree"; then
      echo "dependency boundary broken: $what pulls in $dep" >&2
      failed=1
    fi
  done
}

# forbid_testing "CARGO TREE ARGS": no crate's `testing` feature (test doubles,
# the software authenticator) is on in that build.
forbid_testing() {
  local args="$1" on
  # shellcheck disable=SC2086 # the arguments are words on purpose
  on=$(cargo tree $args -e normal,features --prefix none | grep 'feature "testing"' | sort -u || true)
  if [ -n "$on" ]; then
    echo "dependency boundary broken: $args builds with: $on" >&2
    failed=1
  fi
}

# A page or a relay that talks to a KMS elsewhere: no engine, no CLI.
forbid "kms-client --no-default-features" "-p kms-client --no-default-features" \
  kms-worker kms-storage rusqlite clap rpassword directories
# An app that runs the engine in-process but has no terminal.
forbid "kms-client --features in-process" "-p kms-client --no-default-features --features in-process" \
  rusqlite clap rpassword directories
# The storage trait and the browser's store: no SQLite, no test doubles.
forbid "kms-storage --no-default-features" "-p kms-storage --no-default-features" rusqlite futures
# The engine: a store through the trait only, no test doubles, no CLI.
forbid "kms-worker" "-p kms-worker" rusqlite clap
# The rules and the crypto: no I/O crates, no test doubles (the software
# authenticator and its seeded RNG are behind kms-core's `testing` feature).
forbid "kms-core" "-p kms-core" rusqlite kms-storage ureq tiny_http rand_chacha

# No production build of a crate carries a `testing` feature.
for crate in kms-core kms-storage kms-worker kms-client kms-examples; do
  forbid_testing "-p $crate"
done

if [ "$failed" = 1 ]; then exit 1; fi
say "dependency boundaries hold"
