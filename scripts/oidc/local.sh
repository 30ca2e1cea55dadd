#!/usr/bin/env bash
# The local OIDC provider of the development stack (scripts/demo.sh): the same provider.mjs the
# tests use, kept running in the background on a port of 127.0.0.1 that stays the same across
# restarts (so the issuer in the config files and in your shell history stays valid).
#
#   scripts/oidc/local.sh up       install (npm ci, once), start (idempotent), write the configs:
#                                  $STACK/oidc/auth.json   DL_AUTH_CONFIG of the worker and gateway
#                                  $STACK/oidc/roles.json  DL_GATEWAY_ROLES (token role auditor -> auditor)
#                                  $STACK/oidc/env         exports DL_OIDC_ISSUER
#   scripts/oidc/local.sh token [client [secret]]
#                                  print a fresh access token (client_credentials grant, valid
#                                  300 s); default client dlctl-test, the development caller the
#                                  example functions allow; dl-auditor-client has the auditor role
#   scripts/oidc/local.sh down     stop it
#
# Development only: the clients and their secrets are fixed in provider.mjs and the signing keys
# live in the provider's memory (new keys on each start; services fetch them again by key id).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STACK=${DL_STACK_DIR:-$ROOT/.stack}
DIR="$STACK/oidc"
PID="$DIR/provider.pid"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

alive() { [ -f "$PID" ] && kill -0 "$(cat "$PID")" 2>/dev/null; }

issuer() { echo "http://127.0.0.1:$(cat "$DIR/port")"; }

up() {
  bash "$ROOT/scripts/oidc/install.sh"
  mkdir -p "$DIR"
  [ -s "$DIR/port" ] || free_port >"$DIR/port"
  [ -s "$DIR/admin.port" ] || free_port >"$DIR/admin.port"
  local iss; iss=$(issuer)
  if ! alive; then
    # A simple command in the background, so that $! is the node process itself.
    nohup node "$ROOT/scripts/oidc/provider.mjs" --port "$(cat "$DIR/port")" \
      --admin-port "$(cat "$DIR/admin.port")" --keep-running </dev/null >"$DIR/provider.log" 2>&1 &
    echo $! >"$PID"
  fi
  local i
  for ((i = 0; i < 300; i++)); do
    curl -fsS -o /dev/null "$iss/.well-known/openid-configuration" 2>/dev/null && break
    alive || { echo "local.sh: the OIDC provider exited, see $DIR/provider.log" >&2; exit 1; }
    sleep 0.1
  done
  curl -fsS -o /dev/null "$iss/.well-known/openid-configuration" ||
    { echo "local.sh: the OIDC provider does not answer on $iss" >&2; exit 1; }
  # Same shape as the tests' worker config (tests/src/oidc.rs `worker_config`).
  ISS=$iss python3 - "$DIR" <<'PY'
import json, os, sys
d, iss = sys.argv[1], os.environ["ISS"]
auth = {"auth": {"allow_insecure_http": True, "issuers": [{
    "issuer": iss, "discovery_url": iss + "/.well-known/openid-configuration",
    "audiences": ["urn:dl:decision-layer"], "algorithms": ["ES256"], "token_types": ["at+jwt"]}]}}
roles = {"issuers": {iss: {"auditor": "auditor"}}}
for name, doc in (("auth.json", auth), ("roles.json", roles)):
    with open(os.path.join(d, name), "w") as f:
        json.dump(doc, f, indent=1)
with open(os.path.join(d, "env"), "w") as f:
    f.write("export DL_OIDC_ISSUER=%s\n" % iss)
PY
}

token() {
  local client=${1:-dlctl-test} secret=${2:-}
  [ -n "$secret" ] || case "$client" in
    dlctl-test) secret=dlctl-test-secret ;;
    dl-test-client) secret=dl-test-secret ;;
    dl-auditor-client) secret=dl-auditor-secret ;;
    *) echo "local.sh: give the secret of $client" >&2; exit 2 ;;
  esac
  curl -fsS -u "$client:$secret" -d grant_type=client_credentials -d scope=decisions:submit \
    "$(issuer)/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

case "${1:-}" in
  up) up ;;
  token) shift; token "$@" ;;
  down)
    if alive; then kill "$(cat "$PID")"; fi
    rm -f "$PID"
    ;;
  *) echo "usage: $0 up|token [client [secret]]|down" >&2; exit 2 ;;
esac
