#!/usr/bin/env bash
# The fuzz budget: every cargo-fuzz target (fuzz/fuzz_targets/) runs for
# KMS_FUZZ_SECONDS (60 by default) from its committed corpus
# (fuzz/corpus/<target>/, which the run grows; commit what it adds). A
# crash fails the run; cargo-fuzz keeps the input in fuzz/artifacts/<target>/
# to be added to the corpus as a regression input once fixed. .ci/run calls
# this after the test command.
#
# cargo-fuzz needs a nightly toolchain. This installs it (and cargo-fuzz)
# when missing; where that cannot be done (no network to the Rust
# distribution servers), it says so and stops without failing: the same
# decoders are still exercised by the property tests of the test command
# (kms-core/tests/, kms-client/tests/), on stable.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_cargo
secs="${KMS_FUZZ_SECONDS:-60}"

skip() {
  echo "fuzz: $1; the fuzz budget is skipped (the decoders' property tests ran in the test command)" >&2
  exit 0
}

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  say "installing the nightly toolchain (cargo-fuzz needs it)"
  timeout 900 rustup toolchain install nightly --profile minimal || skip "the nightly toolchain could not be installed"
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  say "installing cargo-fuzz"
  timeout 900 cargo install cargo-fuzz --locked || skip "cargo-fuzz could not be installed"
fi

cd fuzz
started=$(date +%s)
# `-s none`: the code forbids `unsafe`, and libFuzzer's coverage guidance
# needs no sanitizer to find panics, overflows in debug assertions and
# runaway allocations (the RSS limit below).
say "building the fuzz targets"
cargo +nightly fuzz build -s none
for target in $(cargo +nightly fuzz list); do
  mkdir -p "corpus/$target"
  say "fuzzing $target for $secs s"
  cargo +nightly fuzz run -s none "$target" "corpus/$target" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1
done
say "fuzz budget done in $(( $(date +%s) - started )) s: no crash"
