#!/usr/bin/env bash
# Measures the pipeline and its two baselines in one run on this machine (BENCHMARKS.md):
#   1. engine-only evaluations/s of loan_approval on all cores (no Kafka),
#   2. the raw produce -> consume round trip of the same broker (same count and rate),
#   3. decisions end to end through a release dl-worker (requests -> results), at full speed and
#      at a fixed rate for latency.
# Usage: scripts/bench.sh [COUNT] [RATE]      (defaults 20000 and 2000/s)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
COUNT=${1:-20000}
RATE=${2:-2000}
TARGET=${CARGO_TARGET_DIR:-target}
scripts/stack.sh up >/dev/null
# shellcheck disable=SC1091
. "${DL_STACK_DIR:-.stack}/env"
cargo build --release --bins --quiet
B=$TARGET/release
RUN=bench-$(date +%s)
export DL_REQUESTS_TOPIC=$RUN.requests DL_RESULTS_TOPIC=$RUN.results DL_LEDGER_TOPIC=$RUN.ledger DL_DLQ_TOPIC=$RUN.dlq DL_REGISTRY_TOPIC=$RUN.registry
cat >"${DL_STACK_DIR:-.stack}/$RUN.yaml" <<YAML
topics:
  - {name: $DL_REQUESTS_TOPIC, partitions: 4}
  - {name: $DL_RESULTS_TOPIC, partitions: 4}
  - {name: $DL_LEDGER_TOPIC, partitions: 4}
  - {name: $DL_DLQ_TOPIC, partitions: 1}
  - {name: $DL_REGISTRY_TOPIC, partitions: 1}
YAML
"$B/dlctl" topology apply --file "${DL_STACK_DIR:-.stack}/$RUN.yaml" >/dev/null
DL_BIN=$B scripts/release-functions.sh examples >/dev/null
export DL_APPROVERS_FILE="${DL_STACK_DIR:-.stack}/approvers/approvers.yaml"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), broker ${DL_BROKER_KIND:-?}"
echo "== engine only (criterion-free loop, all cores)"
"$B/dlctl" bench engine --seconds 5
echo "== raw broker round trip, $COUNT messages of 200 bytes"
"$B/dlctl" bench broker --count "$COUNT"
"$B/dlctl" bench broker --count "$((RATE * 5))" --rate "$RATE"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
STARTED=$(date +%s.%N)
DL_METRICS_ADDR=127.0.0.1:$PORT DL_WORKER_ID="$RUN" DL_GROUP_ID="$RUN-worker" "$B/dl-worker" >"${DL_STACK_DIR:-.stack}/$RUN-worker.log" 2>&1 &
WORKER=$!
trap 'kill $WORKER 2>/dev/null || true' EXIT
echo "== pipeline warm-up (group join, chain recovery)"
"$B/dlctl" bench pipeline --count 1000 --requests-topic "$DL_REQUESTS_TOPIC" --results-topic "$DL_RESULTS_TOPIC" >/dev/null
echo "== pipeline, $COUNT decisions as fast as they come"
"$B/dlctl" bench pipeline --count "$COUNT" --requests-topic "$DL_REQUESTS_TOPIC" --results-topic "$DL_RESULTS_TOPIC"
echo "== pipeline at $RATE decisions/s for latency"
"$B/dlctl" bench pipeline --count "$((RATE * 5))" --rate "$RATE" --requests-topic "$DL_REQUESTS_TOPIC" --results-topic "$DL_RESULTS_TOPIC"
echo "== pipeline at $RATE decisions/s while loan_approval 1.1.0 is published, approved and activated"
NEXT="${DL_STACK_DIR:-.stack}/$RUN-next"
mkdir -p "$NEXT" && cp -r examples/loan_approval "$NEXT/" && sed -i 's/^version: .*/version: 1.1.0/' "$NEXT/loan_approval/function.yaml"
(sleep 2 && DL_BIN=$B scripts/release-functions.sh "$NEXT" >/dev/null && echo "   (1.1.0 activated at $(date +%T.%N | cut -c1-12))") &
RELEASE=$!
"$B/dlctl" bench pipeline --count "$((RATE * 5))" --rate "$RATE" --requests-topic "$DL_REQUESTS_TOPIC" --results-topic "$DL_RESULTS_TOPIC"
wait "$RELEASE"
grep 'version now evaluated' "${DL_STACK_DIR:-.stack}/$RUN-worker.log" | sed 's/\x1b\[[0-9;]*m//g' | grep -o 'function=.*' | sed 's/^/   worker: now evaluating /' | tail -1
echo "== signing and checkpoints over the whole run (worker metrics), then the run's ledger verified"
curl -s "http://127.0.0.1:$PORT/metrics" | python3 -c '
import sys, time
started = float(sys.argv[1]); m = {}
for line in sys.stdin:
    if line.startswith("#") or not line.strip(): continue
    name, value = line.rsplit(" ", 1); m[name] = m.get(name, 0) + float(value)
def get(name, label=""): return sum(v for k, v in m.items() if k.split("{")[0] == name and label in k)
seal_s, seal_n = get("dl_worker_stage_seconds_sum", "seal"), get("dl_worker_stage_seconds_count", "seal")
decided = get("dl_worker_messages_total", "decided")
cps, secs, rot = get("dl_worker_checkpoints_total"), time.time() - started, get("dl_worker_key_rotations_total")
print(f"   decisions signed: {decided:.0f}; seal stage (build + sign, parallel): {seal_s / max(decided, 1) * 1e6:.1f} us wall per decision over {seal_n:.0f} batches")
print(f"   checkpoints (signer calls): {cps:.0f} in {secs:.0f} s = {cps / secs:.2f}/s, plus {rot:.0f} key certification(s)")
' "$STARTED"
"$B/dlctl" ledger verify --topic "$DL_LEDGER_TOPIC" | tail -1
