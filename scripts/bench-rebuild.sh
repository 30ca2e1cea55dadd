#!/usr/bin/env bash
# Projection rebuild at scale (issue 14, BENCHMARKS.md "Projection rebuild", docs/operations.md
# "Backup and disaster recovery"), in one run on the local stack:
#   1. `dlctl bench ledger-topic`: RECORDS synthetic signed ledger records into a new topic,
#      one chain per partition (key certificates, signed decisions, rejections, checkpoints),
#      certified by a fresh local certifier key;
#   2. an empty database, and `dlctl projection rebuild` into it (the release dl-projector from
#      offset 0, trusting that key): records/s, and the rebuilt database's chain breaks (must be 0);
#   3. the baselines in the same database, the same rows: one multi-row INSERT ... SELECT of the
#      rebuilt ledger_records (then decisions) into empty tables of the same shape and indexes,
#      timed by PostgreSQL; and the same ledger_records streamed by COPY out | COPY in.
# Usage: scripts/bench-rebuild.sh [RECORDS]   (default 1000000)
# DL_BENCH_REBUILD_PARTITIONS (default 4); DL_BENCH_OUT: folder for the results (default
# $STACK/rebuild-<time>); DL_BENCH_KEEP=1 keeps the topic and the database; DL_BENCH_NO_BUILD=1
# uses the release binaries as they are (scripts/bench.sh builds them).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RECORDS=${1:-1000000}
PARTITIONS=${DL_BENCH_REBUILD_PARTITIONS:-4}
TARGET=${CARGO_TARGET_DIR:-target}
STACK=${DL_STACK_DIR:-.stack}
[ -f "$STACK/env" ] || scripts/stack.sh up >/dev/null
# shellcheck disable=SC1091
. "$STACK/env"
[ "${DL_BENCH_NO_BUILD:-0}" = 1 ] || cargo build --release --quiet -p dlctl -p projector
B=$TARGET/release
RUN=rebuild-$(date +%s)
W=${DL_BENCH_OUT:-$STACK/$RUN}
mkdir -p "$W"
TOPIC=$RUN.ledger
DB=${RUN//-/_}
ADMIN_URL=$DATABASE_URL
URL=${DATABASE_URL%/*}/$DB
# Only the synthetic ledger: no registry, no explanation views, and its own certifier key,
# which the rebuild's projector (started by dlctl with this environment) trusts.
unset DL_APPROVERS_FILE DL_CERTIFIER_KEYS DL_TRUSTED_CERTIFIERS DL_ALLOW_UNSIGNED
export DL_SIGNER=local DL_SIGNER_KEY_FILE=$W/certifier.pem RUST_LOG=${RUST_LOG:-warn}

cleanup() {
  [ "${DL_BENCH_KEEP:-0}" = 1 ] && return
  psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
  # Best effort: the topic is big (the broker of the local stack keeps it in memory).
  "$STACK/venv/bin/python" - "$DL_BROKERS" "$TOPIC" <<'PY' >/dev/null 2>&1 || true
import sys
from confluent_kafka.admin import AdminClient
admin = AdminClient({"bootstrap.servers": sys.argv[1]})
for f in admin.delete_topics([sys.argv[2]]).values():
    f.result(30)
PY
}
trap cleanup EXIT

echo "machine: $(nproc) cores, broker ${DL_BROKER_KIND:-?}, load average $(cut -d' ' -f1-3 /proc/loadavg), run $RUN"
echo "-- $RECORDS synthetic signed ledger records into $TOPIC ($PARTITIONS partitions)"
"$B/dlctl" bench ledger-topic --records "$RECORDS" --topic "$TOPIC" --partitions "$PARTITIONS" --json | tee "$W/produce.json"

echo "-- dlctl projection rebuild into the empty database $DB (load average $(cut -d' ' -f1-3 /proc/loadavg))"
psql "$ADMIN_URL" -qc "CREATE DATABASE $DB" >/dev/null
REBUILD_FROM=$(date +%s.%N)
"$B/dlctl" projection rebuild --database-url "$URL" --ledger-topic "$TOPIC" --explain-topic "" \
  --registry-topic "" --shadow-topic "" --projector-bin "$B/dl-projector" --json >"$W/rebuild.json"
echo "$REBUILD_FROM $(date +%s.%N)" >"$W/rebuild-wall.txt"
psql "$URL" -tA -F' ' >"$W/integrity.txt" <<'SQL'
SELECT 'chain_breaks', count(*) FROM chain_breaks;
SELECT 'unverified', (SELECT count(*) FROM signing_keys WHERE NOT verified)
     + (SELECT count(*) FROM checkpoints WHERE NOT verified)
     + (SELECT count(*) FROM decisions WHERE signature_verified IS FALSE);
SELECT 'decisions', count(*) FROM decisions;
SQL

echo "-- baselines: the same rows by INSERT ... SELECT and by COPY (load average $(cut -d' ' -f1-3 /proc/loadavg))"
psql "$URL" -q <<'SQL'
CREATE TABLE bench_records (LIKE ledger_records INCLUDING ALL);
CREATE TABLE bench_decisions (LIKE decisions INCLUDING ALL);
CREATE TABLE bench_copy (LIKE ledger_records INCLUDING ALL);
SQL
psql "$URL" -tA >"$W/insert.txt" <<'SQL'
\timing on
INSERT INTO bench_records SELECT * FROM ledger_records;
INSERT INTO bench_decisions SELECT * FROM decisions;
SQL
COPY_FROM=$(date +%s.%N)
psql "$URL" -qc "COPY ledger_records TO STDOUT (FORMAT binary)" | psql "$URL" -qc "COPY bench_copy FROM STDIN (FORMAT binary)"
COPY_TO=$(date +%s.%N)
echo "$COPY_FROM $COPY_TO" >"$W/copy.txt"

python3 - "$W" <<'PY' | tee "$W/summary.txt"
import json, re, sys, pathlib
w = pathlib.Path(sys.argv[1])
produce = json.loads((w / "produce.json").read_text().strip().splitlines()[-1])
rebuild = json.loads((w / "rebuild.json").read_text())
integrity = dict(l.split() for l in (w / "integrity.txt").read_text().splitlines() if l.strip())
times = [float(t) / 1000 for t in re.findall(r"Time: ([0-9.]+) ms", (w / "insert.txt").read_text())]
copy_from, copy_to = map(float, (w / "copy.txt").read_text().split())
wall_from, wall_to = map(float, (w / "rebuild-wall.txt").read_text().split())
n, s = rebuild["ledger_records"], rebuild["seconds"]
decisions = int(integrity["decisions"])
summary = {
    "records": n, "partitions": produce["partitions"],
    "produce_seconds": produce["seconds"], "produce_records_per_second": produce["records_per_second"],
    "rebuild_seconds": s, "rebuild_records_per_second": n / s,
    "rebuild_command_seconds": wall_to - wall_from,
    "chain_breaks": int(integrity["chain_breaks"]), "unverified": int(integrity["unverified"]),
    "insert_select_ledger_records_seconds": times[0], "insert_select_ledger_records_rows_per_second": n / times[0],
    "insert_select_decisions_seconds": times[1],
    "insert_select_both_rows_per_second": n / (times[0] + times[1]),
    "copy_ledger_records_seconds": copy_to - copy_from, "copy_ledger_records_rows_per_second": n / (copy_to - copy_from),
}
(w / "summary.json").write_text(json.dumps(summary))
print(f"produced {n:,} records ({produce['partitions']} chains) in {produce['seconds']:.1f} s = {produce['records_per_second']:,.0f} records/s")
print(f"rebuild: {n:,} ledger records ({decisions:,} decisions and rejections) projected in {s:.1f} s = {n / s:,.0f} records/s; "
      f"chain breaks {summary['chain_breaks']}, unverified {summary['unverified']}")
print(f"the whole command (migrations, projector start and stop, table checksums): {wall_to - wall_from:.1f} s")
print(f"baseline INSERT ... SELECT: ledger_records {times[0]:.1f} s = {n / times[0]:,.0f} rows/s; "
      f"+ decisions {times[1]:.1f} s: both {times[0] + times[1]:.1f} s = {n / (times[0] + times[1]):,.0f} records/s")
print(f"baseline COPY out | COPY in (binary): ledger_records {copy_to - copy_from:.1f} s = {n / (copy_to - copy_from):,.0f} rows/s")
print(f"rebuild / INSERT ... SELECT of both tables: {(times[0] + times[1]) / s * 100:.0f} %")
PY
[ "$(sed -n 's/^chain_breaks //p' "$W/integrity.txt")" = 0 ] || { echo "the rebuilt projection has chain breaks"; exit 1; }
