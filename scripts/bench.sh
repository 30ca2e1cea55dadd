#!/usr/bin/env bash
# The decision path's goal table (issue 11, BENCHMARKS.md) in one run, every row beside the
# baseline it is judged against, on this machine's shared cores:
#   1. engine-only evaluations/s of loan_approval on all cores (no Kafka)       baseline
#   2. the raw produce -> consume round trip of the same broker                  baseline
#   3. decisions/s through release dl-worker(s) with authentication (a real OIDC token),
#      replay protection (Redis), signing, the ledger and checkpoints on, 4 partitions
#   4. latency produce -> result consumed at RATE/s offered
#   5. one request at a time on an idle stack
#   6. projection lag ledger -> PostgreSQL at RATE/s once the projector caught up with row 3,
#      and its rows/s beside a plain INSERT ... SELECT of the same rows
#   7. the run's ledger verified, and `dlctl bench verify` on 1M synthetic signed records
#   8. the HTTP gateway under wrk (POST /v1/decisions, waiting for the result)
#   9. criterion: one evaluation beside bare regorus; bearer-token verification (cache)
#  10. `dlctl projection rebuild` of a synthetic signed ledger into an empty database, beside
#      INSERT ... SELECT and COPY of the same rows (scripts/bench-rebuild.sh)
# Usage: scripts/bench.sh [COUNT] [RATE]   (defaults 20000 and 5000/s)
# DL_BENCH_CRITERION=0 skips row 9 (it compiles the bench profile); DL_BENCH_VERIFY_RECORDS
# sets row 7's synthetic ledger size (default 1000000); DL_BENCH_REBUILD_RECORDS row 10's
# (default 1000000; 0 skips it); DL_BENCH_WORKERS and DL_BENCH_PROJECTORS the replicas of each
# (default 1); DL_BENCH_NO_BUILD=1 uses the release binaries already built. Run it on another
# broker with e.g.
# DL_BROKER=noida DL_STACK_DIR=.stack-noida scripts/bench.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
COUNT=${1:-20000}
RATE=${2:-5000}
TARGET=${CARGO_TARGET_DIR:-target}
STACK=${DL_STACK_DIR:-.stack}
scripts/stack.sh up >/dev/null
# shellcheck disable=SC1091
. "$STACK/env"
command -v wrk >/dev/null || { echo "installing wrk (apt)"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
# DL_BENCH_NO_BUILD=1 runs the release binaries already in $TARGET (e.g. an earlier commit's,
# kept aside with CARGO_TARGET_DIR, for a before/after comparison in one sitting).
[ "${DL_BENCH_NO_BUILD:-0}" = 1 ] || cargo build --release --bins --quiet
B=$TARGET/release
RUN=bench-$(date +%s)
W="$STACK/$RUN"
mkdir -p "$W"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
section() { printf '\n== %s (load average %s)\n' "$1" "$(cut -d' ' -f1-3 /proc/loadavg)"; }

# shellcheck source=scripts/bench-topics.sh
. scripts/bench-topics.sh
bench_topics "$RUN" "$W" "$B"
# Authentication against the local OIDC provider, replay protection in the stack's Redis.
scripts/oidc/local.sh up >/dev/null
export DL_AUTH_CONFIG="$STACK/oidc/auth.json"
token() { scripts/oidc/local.sh token; }
# The projection goes to a database of its own.
DB=${RUN//-/_}
psql "$DATABASE_URL" -qc "CREATE DATABASE $DB" >/dev/null
export DATABASE_URL=${DATABASE_URL%/*}/$DB

WORKER_PORT=$(free_port) PROJECTOR_PORT=$(free_port) GATEWAY_PORT=$(free_port) GATEWAY_METRICS=$(free_port)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true' EXIT
# DL_BENCH_WORKERS replicas of the worker share the 4 partitions (one consumer group), each
# with its own chains and its own transactions; the first one's metrics are printed at the end.
for i in $(seq "${DL_BENCH_WORKERS:-1}"); do
  port=$WORKER_PORT; [ "$i" = 1 ] || port=$(free_port)
  DL_METRICS_ADDR=127.0.0.1:$port DL_WORKER_ID="$RUN-$i" DL_GROUP_ID="$RUN-worker" RUST_LOG=warn \
    "$B/dl-worker" >"$W/worker-$i.log" 2>&1 &
  PIDS+=($!)
done
for _ in $(seq 300); do [ -f "$STACK/signer/signing-key.pem" ] && break; sleep 0.1; done
# DL_BENCH_PROJECTORS replicas of the projector share the ledger's partitions the same way.
for i in $(seq "${DL_BENCH_PROJECTORS:-1}"); do
  port=$PROJECTOR_PORT; [ "$i" = 1 ] || port=$(free_port)
  DL_METRICS_ADDR=127.0.0.1:$port DL_PROJECTOR_GROUP_ID="$RUN-projector" RUST_LOG=warn \
    "$B/dl-projector" >"$W/projector-$i.log" 2>&1 &
  PIDS+=($!)
done

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), broker ${DL_BROKER_KIND:-?}, run $RUN"

section "1. engine only (loan_approval, all cores, no Kafka)"
"$B/dlctl" bench engine --seconds 5 | tee "$W/engine.txt"
ENGINE=$(grep -oE '= [0-9]+/s' "$W/engine.txt" | grep -oE '[0-9]+' | head -1)

section "2. raw broker round trip, $COUNT messages of 200 bytes, then $RATE/s"
"$B/dlctl" bench broker --count "$COUNT" --json | tee "$W/broker-full.json"
"$B/dlctl" bench broker --count "$((RATE * 5))" --rate "$RATE" --json | tee "$W/broker-rate.json"
"$B/dlctl" bench broker --count 40 --rate 4 --json | tee "$W/broker-idle.json"

pipeline() { # label, dlctl bench pipeline arguments...
  local label=$1; shift
  DL_TOKEN=$(token) "$B/dlctl" bench pipeline --json "$@" | tee "$W/pipeline-$label.json"
}
section "3. pipeline warm-up (group join, chain recovery, token cache)"
pipeline warmup --count 1000 >/dev/null
# CPU seconds (user + system) used so far by the processes named $1 (pgrep -f pattern).
cpu_of() { local t=0 p; for p in $(pgrep -f "$1" || true); do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo "$t"; }
# The broker, Redis and PostgreSQL are shared: their numbers include whatever else uses them.
CPU_NAMES=("tansu|noida" "$B/dl-worker" "$B/dl-projector" "redis-server|postgres")
cpu_all() { local n; for n in "${CPU_NAMES[@]}"; do printf '%s ' "$(cpu_of "$n")"; done; }
section "3. pipeline, $COUNT decisions as fast as they come (auth + replay + signing + ledger + checkpoints)"
CPU_BEFORE=$(cpu_all); WALL_BEFORE=$(date +%s.%N)
FULL_FROM=$(date -u +%FT%T.%N)
pipeline full --count "$COUNT"
FULL_TO=$(date -u +%FT%T.%N)
CPU_AFTER=$(cpu_all); WALL_AFTER=$(date +%s.%N)
python3 - "$CPU_BEFORE" "$CPU_AFTER" "$WALL_BEFORE" "$WALL_AFTER" <<'PY' | tee "$W/cpu.txt"
import os, sys
hz = os.sysconf("SC_CLK_TCK")
before, after = map(int, sys.argv[1].split()), map(int, sys.argv[2].split())
wall = float(sys.argv[4]) - float(sys.argv[3])
names = ["broker", "dl-worker", "dl-projector", "redis + postgres"]
shares = [(n, (a - b) / hz / wall) for n, b, a in zip(names, before, after)]
print("   CPU during the full-speed run (cores busy, of %d): " % os.cpu_count() + ", ".join(f"{n} {c:.2f}" for n, c in shares))
PY
# The lag at RATE/s is the steady state's: the projector first catches up with the full-speed
# run (its catch-up time is printed), so the backlog of row 3 is not counted as lag of row 6.
projected() { psql "$DATABASE_URL" -tAc "SELECT count(*) FROM ledger_records WHERE kind = 'DECISION_RECORDED'" 2>/dev/null || echo 0; }
wait_projected() { # decisions, seconds
  local i n
  for i in $(seq "$2"); do n=$(projected); [ "${n:-0}" -ge "$1" ] && { echo "$i"; return; }; sleep 1; done
  echo "more than $2"
}
echo "   projector caught up with the full-speed run after $(wait_projected "$((COUNT + 1000))" 120) s"
section "4. pipeline at $RATE decisions/s offered"
RATE_FROM=$(date -u +%FT%T.%N)
pipeline rate --count "$((RATE * 10))" --rate "$RATE"
RATE_TO=$(date -u +%FT%T.%N)
section "4. pipeline at $RATE decisions/s while loan_approval 1.1.0 is published, approved and activated"
mkdir -p "$W/next" && cp -r examples/loan_approval "$W/next/" && sed -i 's/^version: .*/version: 1.1.0/' "$W/next/loan_approval/function.yaml"
(sleep 2 && DL_BIN=$B scripts/release-functions.sh "$W/next" >/dev/null && echo "   (1.1.0 activated at $(date +%T.%N | cut -c1-12))") &
RELEASE=$!
pipeline activation --count "$((RATE * 5))" --rate "$RATE"
wait "$RELEASE"
section "5. one request at a time on an idle stack (4/s)"
sleep 2
pipeline idle --count 40 --rate 4

section "6. projection lag and rate"
wait_projected "$((COUNT + RATE * 15 + 1040))" 120 >/dev/null
psql "$DATABASE_URL" -tA -F' ' >"$W/projection.txt" <<SQL
SELECT 'lag_at_rate_ms',
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM projected_at - recorded_at) * 1000)::numeric, 1),
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM projected_at - recorded_at) * 1000)::numeric, 1),
       count(*)
FROM ledger_records WHERE recorded_at BETWEEN '$RATE_FROM' AND '$RATE_TO';
SELECT 'projected_full_rows_per_s',
       round(count(*) / greatest(extract(epoch FROM max(projected_at) - min(projected_at)), 0.001))::text, count(*), 0
FROM ledger_records WHERE recorded_at BETWEEN '$FULL_FROM' AND '$FULL_TO';
SQL
cat "$W/projection.txt"
# Baseline: the same rows copied by one multi-row INSERT ... SELECT into an empty table of the
# same shape and indexes, timed by PostgreSQL itself.
psql "$DATABASE_URL" -qc "CREATE TABLE bench_copy (LIKE ledger_records INCLUDING ALL)" >/dev/null
psql "$DATABASE_URL" -tA >"$W/insert.txt" <<SQL
\\timing on
INSERT INTO bench_copy SELECT * FROM ledger_records WHERE recorded_at BETWEEN '$FULL_FROM' AND '$FULL_TO';
SQL
cat "$W/insert.txt"

section "7. ledger verification: this run's ledger from the broker, then 1M synthetic records"
/usr/bin/time -f '%e s elapsed' "$B/dlctl" ledger verify --topic "$DL_LEDGER_TOPIC" 2>&1 | tail -2 | tee "$W/verify-run.txt"
"$B/dlctl" bench verify --records "${DL_BENCH_VERIFY_RECORDS:-1000000}" | tee "$W/verify-bench.txt"

section "8. gateway: wrk, POST /v1/decisions waiting for the result, 64 connections, 20 s"
DL_GATEWAY_ADDR=127.0.0.1:$GATEWAY_PORT DL_METRICS_ADDR=127.0.0.1:$GATEWAY_METRICS RUST_LOG=warn \
  "$B/dl-gateway" >"$W/gateway.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -sf "127.0.0.1:$GATEWAY_METRICS/readyz" >/dev/null && break; sleep 0.2; done
cat >"$W/decide.lua" <<LUA
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["authorization"] = "Bearer $(token)"
wrk.body = '{"function_id": "loan_approval", "input": {"amount": 3000, "customer_score": 720, "customer_tier": "standard", "employment_status": "employed"}}'
done = function(summary, latency, requests)
  io.write(string.format("GATEWAY %d requests, %d non-2xx/3xx, %d errors, %.0f req/s, p50 %.1f ms, p99 %.1f ms\n",
    summary.requests, summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
LUA
wrk -t2 -c16 -d3s -s "$W/decide.lua" "http://127.0.0.1:$GATEWAY_PORT/v1/decisions" >/dev/null
wrk -t2 -c64 -d20s --latency -s "$W/decide.lua" "http://127.0.0.1:$GATEWAY_PORT/v1/decisions" | tee "$W/gateway.txt"

if [ "${DL_BENCH_CRITERION:-1}" != 0 ]; then
  section "9. criterion: one evaluation beside bare regorus; bearer-token verification"
  cargo bench -q -p dl-function --bench evaluate -- --warm-up-time 1 --measurement-time 3 2>/dev/null |
    grep -E '^[a-z_/]+ +time:|^[a-z_/]+$|time:' | tee "$W/criterion-evaluate.txt"
  cargo bench -q -p dl-auth --bench verify -- --warm-up-time 1 --measurement-time 3 2>/dev/null |
    grep -E 'time:|^[a-z_/]+$' | tee "$W/criterion-auth.txt"
fi

if [ "${DL_BENCH_REBUILD_RECORDS:-1000000}" != 0 ]; then
  section "10. projection rebuild: ${DL_BENCH_REBUILD_RECORDS:-1000000} synthetic signed ledger records into an empty database"
  DL_BENCH_NO_BUILD=1 DL_BENCH_OUT="$W/rebuild" scripts/bench-rebuild.sh "${DL_BENCH_REBUILD_RECORDS:-1000000}"
fi

echo
echo "== worker stage times over the run (seconds per batch, mean) and batches"
curl -s "127.0.0.1:$WORKER_PORT/metrics" | python3 -c '
import sys, re
sums, counts = {}, {}
for line in sys.stdin:
    m = re.match(r"(dl_worker_(?:stage|batch|commit)_seconds)_(sum|count)(\{[^}]*\})? ([0-9.e+-]+)", line)
    if m:
        key = m.group(1) + (m.group(3) or "")
        (sums if m.group(2) == "sum" else counts)[key] = float(m.group(4))
for k in sorted(sums):
    if counts.get(k):
        print(f"   {k}: {sums[k] / counts[k] * 1000:.1f} ms over {counts[k]:.0f}")
'

python3 - "$W" "$ENGINE" "$RATE" <<'PY'
import json, re, sys, pathlib
w, engine, rate = pathlib.Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
j = lambda name: json.loads((w / name).read_text().strip().splitlines()[-1])
full, at, idle = j("pipeline-full.json"), j("pipeline-rate.json"), j("pipeline-idle.json")
bfull, brate, bidle = j("broker-full.json"), j("broker-rate.json"), j("broker-idle.json")
proj = {l.split()[0]: l.split()[1:] for l in (w / "projection.txt").read_text().split("\n") if l.strip()}
ins_ms = float(re.search(r"Time: ([0-9.]+) ms", (w / "insert.txt").read_text()).group(1))
ins_rows = int(proj["projected_full_rows_per_s"][1])
verify = (w / "verify-bench.txt").read_text()
gw = re.search(r"GATEWAY .*", (w / "gateway.txt").read_text())
rows = [
    ("decisions/s, auth + replay + signing + ledger + checkpoints, 4 partitions", "≥ 10,000/s and ≥ 50 % of engine",
     f"{full['per_second']:,.0f}/s = {full['per_second'] / engine * 100:.0f} % of engine", f"engine {engine:,.0f}/s; broker {bfull['per_second']:,.0f} msg/s"),
    (f"latency at {rate}/s offered, produce → result", "p99 ≤ 50 ms, p50 ≤ 15 ms",
     f"{at['per_second']:,.0f}/s done; p50 {at['p50_ms']:.1f} ms, p99 {at['p99_ms']:.1f} ms", f"broker p50 {brate['p50_ms']:.1f}, p99 {brate['p99_ms']:.1f} ms"),
    ("one request on an idle stack (4/s)", "p50 ≤ 20 ms", f"p50 {idle['p50_ms']:.1f} ms, p99 {idle['p99_ms']:.1f} ms",
     f"broker p50 {bidle['p50_ms']:.1f} ms"),
    (f"projection lag ledger → PostgreSQL at {rate}/s", "p99 ≤ 1 s",
     f"p50 {proj['lag_at_rate_ms'][0]} ms, p99 {proj['lag_at_rate_ms'][1]} ms ({proj['lag_at_rate_ms'][2]} rows)", ""),
    ("projector rows/s (full-speed run)", "beside INSERT … SELECT", f"{proj['projected_full_rows_per_s'][0]} rows/s",
     f"INSERT … SELECT {ins_rows / (ins_ms / 1000):,.0f} rows/s"),
    ("CPU during the full-speed run", "", (w / "cpu.txt").read_text().strip().split(": ", 1)[-1], ""),
    ("`dlctl bench verify`, synthetic signed ledger", "1M in ≤ 15 s", " / ".join(l.strip() for l in verify.splitlines() if "records" in l)[:200], ""),
    ("gateway POST /v1/decisions (wrk, 64 connections)", "≥ 2,000 req/s at p99 ≤ 100 ms", gw.group(0)[8:] if gw else "?", ""),
]
if (w / "rebuild" / "summary.json").exists():
    r = json.loads((w / "rebuild" / "summary.json").read_text())
    rows.append((f"`dlctl projection rebuild`, {r['records']:,} synthetic signed records", "0 chain breaks; beside INSERT … SELECT",
                 f"{r['rebuild_seconds']:.0f} s = {r['rebuild_records_per_second']:,.0f} records/s, {r['chain_breaks']} chain breaks",
                 f"INSERT … SELECT ledger_records + decisions {r['insert_select_both_rows_per_second']:,.0f} records/s; COPY ledger_records {r['copy_ledger_records_rows_per_second']:,.0f} rows/s"))
print("\n== goal table")
print("| what | goal | measured | baseline (same run) |\n|---|---|---|---|")
for r in rows:
    print("| " + " | ".join(r) + " |")
PY
