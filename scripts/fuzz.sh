#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time each (docs/reliability.md, "Fuzzing").
#
#   scripts/fuzz.sh [seconds] [target ...]   default 30 s per target, every target
#
# Needs the nightly toolchain and cargo-fuzz (`rustup toolchain install nightly`,
# `cargo install cargo-fuzz`). Each target starts from its committed seed corpus
# (fuzz/corpus/<target>/, read only); what the run adds goes to a temporary directory, so the
# committed seeds stay small. A crash, a failed assertion, a timeout (FUZZ_UNIT_TIMEOUT s per
# input) or an out-of-memory leaves its input in fuzz/artifacts/<target>/ and makes the script
# exit non-zero after running the other targets. Prints a table: target, seconds, executions,
# corpus size, result.
#
# Environment: FUZZ_SANITIZER (default none: the targets are safe Rust, so the sanitizer would
# only slow them down; `address` checks the C code under ring too), FUZZ_UNIT_TIMEOUT (default 10),
# FUZZ_RSS_LIMIT_MB (default 2048), FUZZ_JOBS (build jobs, default 2).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT/fuzz"

seconds=${1:-30}
shift || true
sanitizer=${FUZZ_SANITIZER:-none}
timeout=${FUZZ_UNIT_TIMEOUT:-10}
rss=${FUZZ_RSS_LIMIT_MB:-2048}

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz.sh: the nightly toolchain is missing: rustup toolchain install nightly" >&2; exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: cargo-fuzz is missing: cargo install cargo-fuzz" >&2; exit 2
fi

if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo +nightly fuzz list); fi

build_start=$(date +%s)
CARGO_BUILD_JOBS=${FUZZ_JOBS:-2} cargo +nightly fuzz build -s "$sanitizer"
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
  if ! cargo +nightly fuzz run -s "$sanitizer" "$t" "$work/$t" "corpus/$t" -- \
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
