#!/usr/bin/env bash
# The README's first command: sets up the local stack on a fresh Debian machine (no Docker),
# builds the services, applies the topology, starts a worker, a projector, an explainer, an
# auditor and the HTTP gateway, sends the example requests (over Kafka and over HTTP), and shows
# their results, the projected rows, redacted explanations, the audit report and the ledger
# verification.
#
#   scripts/demo.sh        set up, run, show (services keep running in the background)
#   scripts/demo.sh stop   stop the services and the stack
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
STACK=.stack

stop_services() {
  local s pid
  for s in worker projector explainer auditor gateway; do
    if [ -f "$STACK/$s.pid" ] && kill -0 "$(cat "$STACK/$s.pid")" 2>/dev/null; then
      pid=$(cat "$STACK/$s.pid")
      kill "$pid"
      # Services finish their current batch on SIGTERM: wait, so the next start finds its port free.
      for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$STACK/$s.pid"
  done
}

if [ "${1:-}" = stop ]; then
  stop_services
  scripts/stack.sh down
  exit 0
fi

scripts/stack.sh up
# shellcheck disable=SC1091
. "$STACK/env"
echo "== building the services"
cargo build --bins --quiet
BIN=target/debug

echo "== applying the topology (idempotent)"
"$BIN/dlctl" topology apply --file topology/topics.yaml

echo "== releasing the example functions through the registry (publish, owner + reviewer approval, activate)"
scripts/release-functions.sh examples
export DL_APPROVERS_FILE="$STACK/approvers/approvers.yaml"

echo "== starting dl-worker (metrics on 127.0.0.1:9101), dl-projector (:9102), dl-explainer (:9103), dl-auditor (:9104), dl-gateway (API on :8080, metrics :9105)"
stop_services
DL_METRICS_ADDR=127.0.0.1:9101 nohup "$BIN/dl-worker" >"$STACK/worker.log" 2>&1 &
echo $! >"$STACK/worker.pid"
# The worker creates the local signer key on first start; the projector verifies with it.
for _ in $(seq 300); do [ -f "$STACK/signer/signing-key.pem" ] && break; sleep 0.1; done
DL_METRICS_ADDR=127.0.0.1:9102 nohup "$BIN/dl-projector" >"$STACK/projector.log" 2>&1 &
echo $! >"$STACK/projector.pid"
# The explainer's pseudonym key (development; docker-compose.yml mounts the same file).
if [ ! -s "$STACK/pseudonym.key" ]; then
  (umask 077 && python3 -c 'import secrets; print(secrets.token_hex(32))' >"$STACK/pseudonym.key")
fi
DL_METRICS_ADDR=127.0.0.1:9103 DL_PSEUDONYM_KEY_FILE="$STACK/pseudonym.key" \
  nohup "$BIN/dl-explainer" >"$STACK/explainer.log" 2>&1 &
echo $! >"$STACK/explainer.pid"
DL_METRICS_ADDR=127.0.0.1:9104 DL_AUDIT_EVERY_SECS=30 nohup "$BIN/dl-auditor" >"$STACK/auditor.log" 2>&1 &
echo $! >"$STACK/auditor.pid"
DL_METRICS_ADDR=127.0.0.1:9105 DL_GATEWAY_ADDR=127.0.0.1:8080 nohup "$BIN/dl-gateway" >"$STACK/gateway.log" 2>&1 &
echo $! >"$STACK/gateway.pid"

decide() { # function input [extra args]
  local f=$1 input=$2; shift 2
  echo "-- dlctl decide --function $f --input '$input' $*"
  "$BIN/dlctl" decide --timeout 60 --function "$f" --input "$input" "$@" |
    python3 -c 'import json,sys; r=json.load(sys.stdin); print(json.dumps({k: r[k] for k in ("status","function_version","output","rejection","ledger")}, indent=1))'
}

BEFORE=$(psql "$DATABASE_URL" -tAc "SELECT count(*) FROM audit_decisions" 2>/dev/null || echo 0)
echo "== sending the prototype's acceptance cases (the first waits for the worker to join its group)"
decide loan_approval '{"amount": 3000, "customer_score": 720, "customer_tier": "standard", "employment_status": "employed"}'
decide loan_approval '{"amount": 7000, "customer_score": 700, "customer_tier": "premium"}'
decide loan_approval '{"amount": 15000, "customer_score": 600}'
REFUND_ID="demo-refund-$(date +%s)"
decide refund_policy '{"issue": "late", "customer": {"tier": "gold", "id": "131052-308T"}, "order_amount": 1000}' --request-id "$REFUND_ID"
decide refund_policy '{"issue": "damaged", "customer": {"tier": "platinum"}, "order_amount": 40}'
decide healthcare_eligibility '{"patient_age": 40, "patient_residency_status": "citizen", "medical_condition": "chronic", "treatment_cost": 20000}'
echo "== and two bad requests: an unknown function and an input that violates the schema"
decide no_such_function '{}'
decide loan_approval '{"amount": "a lot"}'

echo "== projected rows (PostgreSQL view audit_decisions)"
for _ in $(seq 1 40); do
  n=$(psql "$DATABASE_URL" -tAc "SELECT count(*) FROM audit_decisions" 2>/dev/null || echo 0)
  [ "${n:-0}" -ge $((BEFORE + 8)) ] && break
  sleep 0.5
done
psql "$DATABASE_URL" -c "SELECT function_id, function_version, status, rejection_code, output->>'reason' AS reason, chain_id, ledger_sequence FROM audit_decisions ORDER BY decided_at DESC LIMIT 8"
psql "$DATABASE_URL" -c "SELECT * FROM audit_daily_outcomes ORDER BY function_id, status"

echo "== the refund decision explained to the customer (customer.id is redact-listed: erased here)"
"$BIN/dlctl" explain "$REFUND_ID" --audience subject
echo "== and to an auditor (the id is a keyed pseudonym: joinable, not readable)"
"$BIN/dlctl" explain "$REFUND_ID" --audience auditor | python3 -c 'import json,sys; v=json.load(sys.stdin); print(json.dumps({k: v[k] for k in ("input","redaction")}, indent=1))'

echo "== the same over HTTP (dl-gateway): ask for a decision, then its explanation for the customer"
python3 - <<'PY'
import json, time, urllib.request
def call(method, path, body=None):
    req = urllib.request.Request("http://127.0.0.1:8080" + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)
for _ in range(100):  # the gateway may still be starting
    try:
        call("GET", "/openapi.json"); break
    except OSError:
        time.sleep(0.2)
r = call("POST", "/v1/decisions", {"function_id": "refund_policy",
         "input": {"issue": "damaged", "customer": {"tier": "silver", "id": "010594Y9032"}, "order_amount": 200}})
print("POST /v1/decisions ->", json.dumps({k: r[k] for k in ("status", "decision_id", "output")}))
path = "/v1/decisions/%s/explanation" % r["decision_id"]
for _ in range(100):
    try:
        e = call("GET", path); break
    except urllib.error.HTTPError as err:
        if err.code != 404: raise
        time.sleep(0.3)
print("GET", path, "->", json.dumps({k: e[k] for k in ("input", "redaction")}))
PY

echo "== audit: metrics per function version, then every decision replayed with its recorded package"
"$BIN/dlctl" audit report
"$BIN/dlctl" audit replay --record

echo "== ledger verification"
"$BIN/dlctl" ledger verify

cat <<MSG

The stack keeps running: service logs in $STACK/, the HTTP API on http://127.0.0.1:8080
(/openapi.json), metrics on http://127.0.0.1:9101/metrics, :9102 ... :9105, database: $DATABASE_URL
Try:  . $STACK/env && $BIN/dlctl decide --function risk_assessment --input '{"amount": 12000, "account_age_days": 10, "transaction_count": 2, "country": "XX", "time_of_day": "night", "device_type": "mobile"}'
Stop: scripts/demo.sh stop
MSG
