#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time each (docs/reliability.md, "Fuzzing").
#
#   scripts/fuzz.sh [seconds] [target ...]   default 30 s per target, every target
#
# Toolchain: nightly when rustup has it; otherwise the stable toolchain (`-s none` needs no
# unstable rustc flag; RUSTC_BOOTSTRAP=1 is set in case a dependency asks for one), checked by
# building. cargo-fuzz is installed from crates.io (`cargo install cargo-fuzz --locked`, about
# 2 minutes) when missing, unless FUZZ_NO_INSTALL=1. Exit status 2, after a line starting with
# `SKIP`, when neither works (no toolchain, no cargo-fuzz and no registry): scripts/test.sh then
# goes on. Builds go to fuzz/target (fuzz/ is its own workspace; git-ignored).
#
# Each target starts from its committed seed corpus
# (fuzz/corpus/<target>/, read only); what the run adds goes to a temporary directory, so the
# committed seeds stay small. A crash, a failed assertion, a timeout (FUZZ_UNIT_TIMEOUT s per
# input) or an out-of-memory leaves its input in fuzz/artifacts/<target>/ and makes the script
# exit non-zero after running the other targets. Prints a table: target, seconds, executions,
# corpus size, result.
#
# Environment: FUZZ_SANITIZER (default none: the targets are safe Rust, so the sanitizer would
# only slow them down; `address` checks the C code under ring too, and needs nightly),
# FUZZ_UNIT_TIMEOUT (default 10), FUZZ_RSS_LIMIT_MB (default 2048), FUZZ_JOBS (build jobs,
# default 2), FUZZ_TOOLCHAIN (nightly or stable: skip the detection), FUZZ_CODEGEN_UNITS (e.g. 16:
# a faster build, somewhat slower runs; default cargo-fuzz's 1).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT/fuzz"

seconds=${1:-30}
shift || true
sanitizer=${FUZZ_SANITIZER:-none}
timeout=${FUZZ_UNIT_TIMEOUT:-10}
rss=${FUZZ_RSS_LIMIT_MB:-2048}

skip() { echo "SKIP fuzz: $*" >&2; exit 2; }

toolchain=${FUZZ_TOOLCHAIN:-}
if [ -z "$toolchain" ]; then
  # Asked of rustup's list: `cargo +nightly` could try to download a missing toolchain.
  if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then toolchain=nightly; else toolchain=stable; fi
fi
if [ "$toolchain" = stable ]; then
  [ "$sanitizer" = none ] || skip "sanitizer $sanitizer needs the nightly toolchain, which is missing"
  export RUSTC_BOOTSTRAP=1
fi
cargo +"$toolchain" --version >/dev/null 2>&1 || skip "no $toolchain toolchain (rustup toolchain list)"

if ! cargo fuzz --version >/dev/null 2>&1; then
  [ "${FUZZ_NO_INSTALL:-}" = 1 ] && skip "cargo-fuzz is missing (cargo install cargo-fuzz --locked)"
  install_start=$(date +%s)
  echo "[fuzz] cargo install cargo-fuzz --locked" >&2
  cargo +stable install cargo-fuzz --locked >&2 || skip "cargo-fuzz is missing and could not be installed"
  echo "[fuzz] cargo-fuzz installed in $(( $(date +%s) - install_start )) s" >&2
fi
echo "[fuzz] toolchain $toolchain ($(cargo +"$toolchain" --version)), $(cargo fuzz --version)" >&2
# Build options shared by `build` and `run` (different ones would make `run` build again).
opts=(-s "$sanitizer")
if [ -n "${FUZZ_CODEGEN_UNITS:-}" ]; then opts+=(--codegen-units "$FUZZ_CODEGEN_UNITS"); fi
fuzz() { local cmd=$1; shift; cargo +"$toolchain" fuzz "$cmd" "${opts[@]}" "$@"; }

if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo +"$toolchain" fuzz list); fi

build_start=$(date +%s)
build_log=$(mktemp)
if ! CARGO_BUILD_JOBS=${FUZZ_JOBS:-2} fuzz build 2> >(tee "$build_log" >&2); then
  # Only a build that fails for want of nightly is a SKIP; a compile error fails like a crash.
  if [ "$toolchain" = stable ] && grep -qE "only accepted on the nightly|#!\[feature|unstable feature|-Z.*nightly" "$build_log"; then
    rm -f "$build_log"
    skip "the targets need the nightly toolchain, which is missing"
  fi
  rm -f "$build_log"
  echo "fuzz.sh: building the targets failed" >&2; exit 1
fi
rm -f "$build_log"
echo "[fuzz] built in $(( $(date +%s) - build_start )) s" >&2

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
rows=()
for t in "${targets[@]}"; do
  mkdir -p "$work/$t" "artifacts/$t"
  log="$work/$t.log"
  echo "[fuzz] $t for ${seconds} s" >&2
  start=$(date +%s)
  status=ok
  if ! fuzz run "$t" "$work/$t" "corpus/$t" -- \
      -max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb="$rss" \
      -print_final_stats=1 -artifact_prefix="artifacts/$t/" >"$log" 2>&1; then
    status="FAILED (see fuzz/artifacts/$t/)"
    failed=1
    grep -E "^==[0-9]+==|panicked|ERROR|SUMMARY|Test unit written" "$log" | head -n 20 >&2 || true
  fi
  took=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  units=$(find "$work/$t" "corpus/$t" -type f | wc -l)
  rows+=("$(printf '%-22s %6s %12s %8s  %s' "$t" "$took" "${execs:-?}" "$units" "$status")")
done

printf '\n%-22s %6s %12s %8s  %s\n' target seconds executions corpus result
printf '%s\n' "${rows[@]}"
exit "$failed"
