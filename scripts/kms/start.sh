#!/usr/bin/env bash
# Starts a KMS-API server in the background and waits until it answers.
#
#   scripts/kms/start.sh moto|localstack PORT DIR
#
# PORT   TCP port on 127.0.0.1 (LocalStack binds 0.0.0.0 whatever it is told).
# DIR    a directory for its state, log (DIR/kms.log) and pid file (DIR/kms.pid).
#
# On success prints the endpoint (http://127.0.0.1:PORT) on stdout and exits 0. The server runs
# in its own session (setsid), so DIR/kms.pid is also its process-group id: stop it with
#   kill -- -"$(cat DIR/kms.pid)"
# Install first with scripts/kms/install.sh. Environment: DL_STACK_DIR (default <repo>/.stack),
# DL_KMS_START_TIMEOUT seconds to wait for readiness (default 60).
# Clients: region us-east-1, static credentials test/test.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
STACK=${DL_STACK_DIR:-$ROOT/.stack}
KIND=${1:-}
PORT=${2:-}
DIR=${3:-}
TIMEOUT=${DL_KMS_START_TIMEOUT:-60}

log() { printf '[kms-start] %s\n' "$*" >&2; }
usage() { log "usage: $0 moto|localstack PORT DIR"; exit 2; }

[ -n "$KIND" ] && [ -n "$PORT" ] && [ -n "$DIR" ] || usage
case "$PORT" in *[!0-9]*) usage ;; esac
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)

case "$KIND" in
  moto)
    V="$STACK/kms-venv"
    [ -x "$V/bin/moto_server" ] || { log "moto is not installed: run scripts/kms/install.sh moto"; exit 3; }
    HEALTH="http://127.0.0.1:$PORT/moto-api/"
    EXPECT=""
    setsid "$V/bin/moto_server" -H 127.0.0.1 -p "$PORT" </dev/null >"$DIR/kms.log" 2>&1 &
    ;;
  localstack)
    V="$STACK/localstack-venv"
    [ -x "$V/bin/python" ] || { log "LocalStack is not installed: run scripts/kms/install.sh localstack"; exit 3; }
    HEALTH="http://127.0.0.1:$PORT/_localstack/health"
    EXPECT='"kms": "(available|running)"'
    mkdir -p "$DIR/volume"
    GATEWAY_LISTEN="127.0.0.1:$PORT" SERVICES=kms SKIP_SSL_CERT_DOWNLOAD=1 DISABLE_EVENTS=1 \
      DNS_ADDRESS=0 FILESYSTEM_ROOT="$DIR" LOCALSTACK_VOLUME_DIR="$DIR/volume" \
      setsid "$V/bin/python" -m localstack.runtime.main </dev/null >"$DIR/kms.log" 2>&1 &
    ;;
  *) usage ;;
esac
PID=$!
echo "$PID" >"$DIR/kms.pid"

probe() { # prints the body of GET $HEALTH, fails when not reachable
  "$V/bin/python" - "$HEALTH" <<'PY'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
        sys.stdout.write(r.read().decode("utf-8", "replace"))
except Exception:
    sys.exit(1)
PY
}

for ((i = 0; i < TIMEOUT * 5; i++)); do
  if ! kill -0 "$PID" 2>/dev/null; then
    log "$KIND exited during start; last log lines:"; tail -n 20 "$DIR/kms.log" >&2; exit 1
  fi
  if body=$(probe 2>/dev/null); then
    if [ -z "$EXPECT" ] || grep -Eq "$EXPECT" <<<"$body"; then
      echo "http://127.0.0.1:$PORT"
      exit 0
    fi
  fi
  sleep 0.2
done
log "$KIND not ready on port $PORT after ${TIMEOUT}s; stopping it"
kill -- -"$PID" 2>/dev/null || true
exit 1
