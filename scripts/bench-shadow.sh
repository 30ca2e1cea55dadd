#!/usr/bin/env bash
# Worker throughput with live shadow evaluation off and at 1000 per mille (ADR 0032), on the
# local stack: loan_approval 1.0.0 ACTIVE, a 1.1.0 copy APPROVED and put in shadow between
# runs. Rounds alternate off / on so drift of the shared machine hits both alike. No
# authentication, no replay store: the worker's own cost is what is compared.
# Usage: scripts/bench-shadow.sh [COUNT] [ROUNDS]   (defaults 10000 and 2)
# DL_BIN: binaries (default target/release; build them first with cargo build --release --bins).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
COUNT=${1:-10000}
ROUNDS=${2:-2}
B=${DL_BIN:-target/release}
STACK=${DL_STACK_DIR:-.stack}
# shellcheck disable=SC1091
. "$STACK/env"
RUN=bench-shadow-$(date +%s)
W="$STACK/$RUN"
mkdir -p "$W"
# shellcheck source=scripts/bench-topics.sh
. scripts/bench-topics.sh
bench_topics "$RUN" "$W" "$B" shadow
# The candidate: the same package as 1.1.0, approved, not activated.
mkdir -p "$W/next" && cp -r examples/loan_approval "$W/next/" &&
  sed -i 's/^version: .*/version: 1.1.0/' "$W/next/loan_approval/function.yaml"
"$B/dlctl" function publish "$W/next/loan_approval" --author demo-author >/dev/null
for r in owner reviewer; do
  "$B/dlctl" function approve loan_approval 1.1.0 --role $r --approver demo-$r --key "$STACK/approvers/demo-$r.pem" >/dev/null
done
unset REDIS_URL DL_AUTH_CONFIG
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DL_METRICS_ADDR=127.0.0.1:$PORT DL_WORKER_ID="$RUN" DL_GROUP_ID="$RUN-worker" DL_SIGNER=local \
  DL_SIGNER_KEY_FILE="$W/signing-key.pem" RUST_LOG=warn "$B/dl-worker" >"$W/worker.log" 2>&1 &
WORKER=$!
trap 'kill $WORKER 2>/dev/null || true' EXIT
"$B/dlctl" bench pipeline --count 1000 --json >/dev/null # warm-up: group join, chain recovery
run() { "$B/dlctl" bench pipeline --count "$COUNT" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["per_second"])'; }
for i in $(seq "$ROUNDS"); do
  "$B/dlctl" function unshadow loan_approval --by demo-owner >/dev/null 2>&1 || true
  sleep 2
  echo "round $i shadow off: $(run) decisions/s"
  "$B/dlctl" function shadow loan_approval 1.1.0 --sample-per-mille 1000 --by demo-owner >/dev/null
  sleep 2
  echo "round $i shadow 1000 per mille: $(run) decisions/s"
done
curl -s "127.0.0.1:$PORT/metrics" | grep -E '^dl_shadow_evaluations_total|^dl_worker_stage_seconds_sum' || true
