#!/usr/bin/env bash
# Pipeline throughput with caller authentication + replay protection off versus on, in one run
# on the same broker (BENCHMARKS.md). Starts a private Redis and the local OIDC provider, gets a
# real token, and runs `dlctl bench pipeline` against a release dl-worker twice, each time on
# fresh topics. Usage: scripts/bench-auth.sh [COUNT]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
COUNT=${1:-20000}
TARGET=${CARGO_TARGET_DIR:-target}
scripts/stack.sh up >/dev/null
# shellcheck disable=SC1091
. "${DL_STACK_DIR:-.stack}/env"
cargo build --release --bins --quiet
B=$TARGET/release
W=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

RPORT=$(free_port)
redis-server --bind 127.0.0.1 --port "$RPORT" --save "" --appendonly no >"$W/redis.log" 2>&1 &
RPID=$!
bash scripts/oidc/install.sh >/dev/null
mkfifo "$W/oidc.in"
sleep 100000 >"$W/oidc.in" &
SPID=$!
node scripts/oidc/provider.mjs --port 0 --admin-port 0 <"$W/oidc.in" >"$W/oidc.out" 2>&1 &
OPID=$!
trap 'kill $OPID $RPID $SPID 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q DL_OIDC_READY "$W/oidc.out" 2>/dev/null && break; sleep 0.1; done
ISS=$(sed -n 's/^DL_OIDC_READY //p' "$W/oidc.out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["issuer"])')
cat >"$W/auth.json" <<JSON
{"auth": {"allow_insecure_http": true, "issuers": [{"issuer": "$ISS", "discovery_url": "$ISS/.well-known/openid-configuration", "audiences": ["urn:dl:decision-layer"], "algorithms": ["ES256"], "token_types": ["at+jwt"]}]}}
JSON
TOKEN=$(curl -s -u dl-test-client:dl-test-secret -d grant_type=client_credentials -d scope=decisions:submit "$ISS/token" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

run() { # label, token-arg, env assignments...
  local label=$1 token=$2; shift 2
  local run=bench-$label-$(date +%s)
  printf 'topics:\n' >"$W/$run.yaml"
  for t in requests results ledger dlq registry; do printf '  - {name: %s.%s, partitions: 4}\n' "$run" "$t" >>"$W/$run.yaml"; done
  "$B/dlctl" topology apply --file "$W/$run.yaml" >/dev/null
  export DL_REQUESTS_TOPIC=$run.requests DL_RESULTS_TOPIC=$run.results DL_LEDGER_TOPIC=$run.ledger DL_DLQ_TOPIC=$run.dlq DL_REGISTRY_TOPIC=$run.registry
  DL_BIN=$B scripts/release-functions.sh examples tests/fixtures/functions >/dev/null
  export DL_APPROVERS_FILE="${DL_STACK_DIR:-.stack}/approvers/approvers.yaml"
  local port; port=$(free_port)
  env DL_GROUP_ID="$run" DL_WORKER_ID="$run" \
    DL_METRICS_ADDR="127.0.0.1:$port" RUST_LOG=warn "$@" "$B/dl-worker" >"$W/worker-$label.log" 2>&1 &
  local wp=$!
  # shellcheck disable=SC2086
  "$B/dlctl" bench pipeline --count 2000 --function guarded_loan $token >/dev/null || true
  echo "== authentication + replay $label"
  # shellcheck disable=SC2086
  "$B/dlctl" bench pipeline --count "$COUNT" --function guarded_loan $token
  curl -s "127.0.0.1:$port/metrics" >"$W/metrics-$label.txt"
  kill "$wp"; wait "$wp" 2>/dev/null || true
  grep -E '^dl_worker_stage_seconds_(sum|count)|^dl_replay_redis_round_trips_total|^dl_worker_batch_messages_(sum|count)' "$W/metrics-$label.txt" || true
}
run off "" env -u REDIS_URL -u DL_AUTH_CONFIG
run on "--token $TOKEN" env REDIS_URL="redis://127.0.0.1:$RPORT/" DL_AUTH_CONFIG="$W/auth.json"
