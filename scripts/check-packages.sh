#!/usr/bin/env bash
# The crates' release check: `cargo package` of the four publishable crates,
# each built from its own .crate file against the others packed beside it
# (docs/versioning.md, section 3). A build of its own (about 3 minutes on
# this project's 2-core machine), so .ci/run calls it after the test
# command, beside the fuzz budget and the reproducibility check.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_cargo
started=$(date +%s)
say "cargo package: the four publishable crates, each built from its own .crate file (docs/versioning.md)"
# Cargo verifies each crate against the others through a local overlay
# registry, and takes a registry crate's build for unchanged when its
# version is (registry crates never change): a build of our crates from an
# earlier run, of the same version, would be used again, stale. So the
# verification builds in a target directory of its own, where every kms-*
# crate comes from that registry, and their builds (not their
# dependencies') are removed first, with the unpacked sources in the cargo
# home.
verify_dir="${CARGO_TARGET_DIR:-target}/package-verify"
rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/kms-{core,storage,worker,client}-[0-9]* \
  "$verify_dir"/debug/.fingerprint/kms-* "$verify_dir"/debug/deps/*kms_*
# --allow-dirty: a change not yet committed is packed as it stands.
# No debug info: nothing here is debugged, and it would triple the size.
CARGO_PROFILE_DEV_DEBUG=false cargo package --allow-dirty --quiet --target-dir "$verify_dir" -p kms-core -p kms-storage -p kms-worker -p kms-client
say "the four crates pack and build from their .crate files ($(( $(date +%s) - started )) s)"
