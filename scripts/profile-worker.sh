#!/usr/bin/env bash
# A flamegraph of the release dl-worker deciding at full speed, with the setup of
# scripts/bench.sh row 3 (authentication with a real OIDC token, replay protection, signing,
# the ledger and checkpoints; 4 partitions): `perf record` (Debian's linux-perf) for 10 s of a
# 60,000-decision run, folded by inferno (crates.io), rayon/std plumbing frames folded away
# so the stacks read dl_worker -> dl_function/dl_signer/... -> regorus/ed25519.
# Usage: scripts/profile-worker.sh [OUT.svg]   (default docs/flamegraph-worker.svg)
# DL_BENCH_NO_BUILD=1 profiles the release binaries already built.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT=${1:-docs/flamegraph-worker.svg}
STACK=${DL_STACK_DIR:-.stack}
B=${CARGO_TARGET_DIR:-target}/release
command -v perf >/dev/null || { echo "installing linux-perf (apt)"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf >/dev/null; }
command -v inferno-flamegraph >/dev/null || PATH=$HOME/.cargo/bin:$PATH
command -v inferno-flamegraph >/dev/null || cargo install --locked --quiet inferno
[ "${DL_BENCH_NO_BUILD:-0}" = 1 ] || cargo build --release --bins --quiet
scripts/stack.sh up >/dev/null
# shellcheck disable=SC1091
. "$STACK/env"
RUN=profile-$(date +%s)
W="$STACK/$RUN"
mkdir -p "$W"
# shellcheck source=scripts/bench-topics.sh
. scripts/bench-topics.sh
bench_topics "$RUN" "$W" "$B"
scripts/oidc/local.sh up >/dev/null
export DL_AUTH_CONFIG="$STACK/oidc/auth.json"
DL_METRICS_ADDR=127.0.0.1:0 DL_WORKER_ID="$RUN" DL_GROUP_ID="$RUN-worker" RUST_LOG=warn \
  "$B/dl-worker" >"$W/worker.log" 2>&1 &
WORKER=$!
trap 'kill "$WORKER" 2>/dev/null || true' EXIT
pipeline() { DL_TOKEN=$(scripts/oidc/local.sh token) "$B/dlctl" bench pipeline --json --count "$1"; }
pipeline 1000 >/dev/null # warm-up: group join, chain recovery, token cache
perf record -q -F 199 --call-graph dwarf,16384 -o "$W/perf.data" -p "$WORKER" -- sleep 10 2>"$W/perf.log" &
PERF=$!
sleep 0.5
pipeline 60000 | tee "$W/pipeline.json"
wait "$PERF" || true
perf script -i "$W/perf.data" 2>/dev/null | inferno-collapse-perf >"$W/folded.txt"
python3 - "$W/folded.txt" >"$W/folded-clean.txt" <<'PY'
import collections, re, sys
plumbing = re.compile(r"^<*(rayon|rayon_core|std::panicking|std::panic|std::sys|std::thread|core::ops|core::option|core::panic|core::iter|core::result|alloc::vec|<core::|<alloc::|<rayon)")
stacks = collections.Counter()
for line in open(sys.argv[1]):
    stack, n = line.rstrip("\n").rsplit(" ", 1)
    stacks[";".join(f for f in stack.split(";") if not plumbing.match(f))] += int(n)
for stack, n in stacks.items():
    print(stack, n)
PY
inferno-flamegraph --width 1400 --minwidth 3 --hash \
  --title "dl-worker at full speed (auth + replay + signing + ledger + checkpoints), perf 199 Hz for 10 s, $(date -u +%F); rayon/std plumbing folded away" \
  <"$W/folded-clean.txt" >"$OUT"
echo "flamegraph: $OUT (folded stacks: $W/folded.txt)"
