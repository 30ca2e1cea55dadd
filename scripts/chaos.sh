#!/usr/bin/env bash
# Runs the fault harness (tests/tests/faults.rs, docs/reliability.md "Faults") with a large N and
# rewrites the measured table in docs/reliability.md (between the chaos:begin/end markers).
#
#   scripts/chaos.sh [N] [rate]     default 5000 requests per fault at 200 per second
#
# Needs the stack (scripts/stack.sh up; this script sources .stack/env when it exists) and builds
# the service binaries; the agent's fault starts the local LLM (scripts/llm/install.sh, as the
# agent's tests do) and adds a row like the others (kill -9 agent, turns in flight). Environment: DL_CHAOS_OUTAGE_SECS (Redis and KMS outages, default 20),
# DL_CHAOS_STALL_SECS (the broker stall, default 20), DL_CHAOS_THREADS (faults run at once,
# default 1: recovery times are then not inflated by another fault's load), DL_CHAOS_FAULTS (a
# cargo test filter, default every fault). The table is rewritten even when a fault fails (its
# row says how); the exit status is cargo test's.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck disable=SC1091
if [ -f .stack/env ]; then . .stack/env; fi

n=${1:-5000}
rate=${2:-200}
table=$(mktemp)
trap 'rm -f "$table"' EXIT
export DL_CHAOS_N=$n DL_CHAOS_RATE=$rate DL_CHAOS_TABLE=$table
export DL_CHAOS_OUTAGE_SECS=${DL_CHAOS_OUTAGE_SECS:-20} DL_CHAOS_STALL_SECS=${DL_CHAOS_STALL_SECS:-20}
# The checker's bound on recovery grows with N (a bound on a hung run, not a measurement).
export DL_CHAOS_WITHIN_SECS=${DL_CHAOS_WITHIN_SECS:-$((300 + n / 5))}

cargo build --workspace --bins
mkdir -p target
started=$(date +%s)
set +e
cargo test -p dl-e2e --test faults -- --test-threads="${DL_CHAOS_THREADS:-1}" --nocapture ${DL_CHAOS_FAULTS:-} 2>&1 | tee target/chaos.log
status=${PIPESTATUS[0]}
set -e
minutes=$(( ($(date +%s) - started + 59) / 60 ))

python3 - docs/reliability.md "$table" "$n" "$rate" "$DL_CHAOS_OUTAGE_SECS" "$DL_CHAOS_STALL_SECS" \
  "${DL_BROKER_KIND:-tansu}" "$minutes" "$status" <<'PY'
import datetime, sys
doc, table, n, rate, outage, stall, broker, minutes, status = sys.argv[1:]
rows = [l.rstrip("\n") for l in open(table) if l.startswith("|")]
header = ("| fault | N | answered | missing | doubled | broker-visible doubles | PG rows | verify | ready | recovery s | notes |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|")
env = f"DL_CHAOS_OUTAGE_SECS={outage} DL_CHAOS_STALL_SECS={stall} "
body = "\n".join([
    "<!-- chaos:begin (written by scripts/chaos.sh; edits here are overwritten) -->",
    f"Measured {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on the development "
    f"machine (2 shared cores), broker `{broker}`, {len(rows)} faults in about {minutes} min, "
    f"cargo test exit status {status}:",
    "",
    "```",
    f"{env}scripts/chaos.sh {n} {rate}",
    "```",
    "",
    header,
    *rows,
    "<!-- chaos:end -->",
])
text = open(doc).read()
begin, end = text.find("<!-- chaos:begin"), text.find("<!-- chaos:end -->")
if begin < 0 or end < 0:
    sys.exit("docs/reliability.md has no chaos:begin/chaos:end markers")
text = text[:begin] + body + text[end + len("<!-- chaos:end -->"):]
open(doc, "w").write(text)
print(f"chaos.sh: {len(rows)} rows written to {doc}")
PY
exit "$status"
