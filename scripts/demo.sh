#!/usr/bin/env bash
# The README's first command: sets up the local stack on a fresh Debian machine (no Docker),
# builds the services, applies the topology, starts the local OIDC provider, a worker and the HTTP
# gateway with authentication and replay protection on, a projector, an explainer and an auditor,
# sends the example requests (over Kafka and over HTTP, each with a development access token from
# the provider; one without, to show its rejection), and shows their results, the projected rows,
# redacted explanations, the audit report and the ledger verification.
#
#   scripts/demo.sh        set up, run, show (services keep running in the background)
#   scripts/demo.sh stop   stop the services, the OIDC provider and the stack
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
  scripts/oidc/local.sh down
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

echo "== starting the local OIDC provider (scripts/oidc/local.sh; development clients, tokens valid 300 s)"
scripts/oidc/local.sh up
# shellcheck disable=SC1091
. "$STACK/oidc/env"
# The worker and the gateway verify every caller's token against this issuer; the worker also
# rejects replays (request ids are single-use per caller, kept in Redis: REDIS_URL from the stack).
export DL_AUTH_CONFIG="$STACK/oidc/auth.json"
echo "issuer $DL_OIDC_ISSUER, DL_AUTH_CONFIG=$DL_AUTH_CONFIG, replay protection in $REDIS_URL"
token() { scripts/oidc/local.sh token "$@"; }

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
DL_METRICS_ADDR=127.0.0.1:9105 DL_GATEWAY_ADDR=127.0.0.1:8080 DL_GATEWAY_ROLES="$STACK/oidc/roles.json" nohup "$BIN/dl-gateway" >"$STACK/gateway.log" 2>&1 &
echo $! >"$STACK/gateway.pid"

decide() { # function input [extra args]; with a fresh development token (DL_TOKEN)
  local f=$1 input=$2; shift 2
  echo "-- DL_TOKEN=\$(scripts/oidc/local.sh token) dlctl decide --function $f --input '$input' $*"
  DL_TOKEN=$(token) "$BIN/dlctl" decide --timeout 60 --function "$f" --input "$input" "$@" |
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
echo "== authentication is on: the same request without a token is rejected by the worker"
echo "-- dlctl decide --function loan_approval --input '{\"amount\": 3000, \"customer_score\": 720}'   (no DL_TOKEN)"
env -u DL_TOKEN "$BIN/dlctl" decide --timeout 60 --function loan_approval --input '{"amount": 3000, "customer_score": 720}' |
  python3 -c 'import json,sys; r=json.load(sys.stdin); print(json.dumps({k: r[k] for k in ("status","rejection")}, indent=1))'

echo "== projected rows (PostgreSQL view audit_decisions)"
for _ in $(seq 1 40); do
  n=$(psql "$DATABASE_URL" -tAc "SELECT count(*) FROM audit_decisions" 2>/dev/null || echo 0)
  [ "${n:-0}" -ge $((BEFORE + 9)) ] && break
  sleep 0.5
done
psql "$DATABASE_URL" -c "SELECT function_id, function_version, status, rejection_code, output->>'reason' AS reason, chain_id, ledger_sequence FROM audit_decisions ORDER BY decided_at DESC LIMIT 9"
psql "$DATABASE_URL" -c "SELECT * FROM audit_daily_outcomes ORDER BY function_id, status"

echo "== the refund decision explained to the customer (customer.id is redact-listed: erased here)"
"$BIN/dlctl" explain "$REFUND_ID" --audience subject
echo "== and to an auditor (the id is a keyed pseudonym: joinable, not readable)"
"$BIN/dlctl" explain "$REFUND_ID" --audience auditor | python3 -c 'import json,sys; v=json.load(sys.stdin); print(json.dumps({k: v[k] for k in ("input","redaction")}, indent=1))'

echo "== replay protection is on: the refund request sent again (same request id, new token) is a REPLAY"
decide refund_policy '{"issue": "late", "customer": {"tier": "gold", "id": "131052-308T"}, "order_amount": 1000}' --request-id "$REFUND_ID"

echo "== the same over HTTP (dl-gateway): without a token (401), then with one: ask for a decision and its explanation for the customer"
python3 - <<'PY'
import base64, json, os, time, urllib.error, urllib.parse, urllib.request
def token():  # client_credentials grant, as `scripts/oidc/local.sh token` does
    req = urllib.request.Request(os.environ["DL_OIDC_ISSUER"] + "/token", method="POST",
        data=urllib.parse.urlencode({"grant_type": "client_credentials", "scope": "decisions:submit"}).encode(),
        headers={"authorization": "Basic " + base64.b64encode(b"dlctl-test:dlctl-test-secret").decode()})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)["access_token"]
def call(method, path, body=None, auth=True):
    headers = {"content-type": "application/json"}
    if auth:
        headers["authorization"] = "Bearer " + token()
    req = urllib.request.Request("http://127.0.0.1:8080" + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers=headers)
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)
for _ in range(100):  # the gateway may still be starting
    try:
        call("GET", "/openapi.json", auth=False); break
    except OSError:
        time.sleep(0.2)
ask = {"function_id": "refund_policy",
       "input": {"issue": "damaged", "customer": {"tier": "silver", "id": "010594Y9032"}, "order_amount": 200}}
try:
    call("POST", "/v1/decisions", ask, auth=False)
    raise SystemExit("the gateway accepted a request without a token")
except urllib.error.HTTPError as err:
    print("POST /v1/decisions without a token ->", err.code, json.dumps(json.load(err)))
r = call("POST", "/v1/decisions", ask)
print("POST /v1/decisions with a token ->", json.dumps({k: r[k] for k in ("status", "decision_id", "output")}))
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

Authentication is on (worker and gateway; DL_AUTH_CONFIG=$DL_AUTH_CONFIG). Get a development
access token (valid 300 s) from the local OIDC provider ($DL_OIDC_ISSUER), as the development
caller dlctl-test that the example functions allow (scripts/oidc/local.sh token does the same):
  TOKEN=\$(curl -s -u dlctl-test:dlctl-test-secret -d grant_type=client_credentials -d scope=decisions:submit $DL_OIDC_ISSUER/token | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
Then:
  curl -s localhost:8080/v1/decisions -H "authorization: Bearer \$TOKEN" -H 'content-type: application/json' -d '{"function_id": "refund_policy", "input": {"issue": "late", "customer": {"tier": "gold"}, "order_amount": 1000}}'
  . $STACK/env && DL_TOKEN=\$TOKEN $BIN/dlctl decide --function risk_assessment --input '{"amount": 12000, "account_age_days": 10, "transaction_count": 2, "country": "XX", "time_of_day": "night", "device_type": "mobile"}'
The auditor role (audit report, auditor explanations over HTTP): client dl-auditor-client:dl-auditor-secret.
Stop: scripts/demo.sh stop
MSG
