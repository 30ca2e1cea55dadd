#!/usr/bin/env bash
# A Java client of Decision Layer: Apache Avro (Debian's libavro-java) encodes the request in
# single-object encoding, kcat produces it with the caller's bearer token, then kcat reads the
# results and ledger topics and Avro decodes them.
#
#   decide.sh BROKERS FUNCTION_ID INPUT_JSON [REQUEST_ID]
#   env: DL_TOKEN (bearer token), REQUESTS_TOPIC, RESULTS_TOPIC, LEDGER_TOPIC (defaults decision.*)
# Prints the result record, then the ledger record of the decision, as JSON lines.
# Needs: apt-get install default-jdk-headless libavro-java kcat
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
schemas=$here/../../../schemas
brokers=$1 function=$2 input=$3 id=${4:-java-$(date +%s%N)}
requests=${REQUESTS_TOPIC:-decision.requests} results=${RESULTS_TOPIC:-decision.results}
ledger=${LEDGER_TOPIC:-decision.ledger}
cp=$(ls /usr/share/java/{avro,jackson-core-asl,jackson-mapper-asl,slf4j-api,commons-compress}.jar 2>/dev/null | paste -sd:)
build=${TMPDIR:-/tmp}/dl-java-client
mkdir -p "$build"
[ "$build/Decide.class" -nt "$here/Decide.java" ] || javac -nowarn -cp "$cp" -d "$build" "$here/Decide.java"
run() { java -cp "$cp:$build" Decide "$@"; }

run encode "$schemas" "$function" "$id" "$input" "$build/$id.avro"
auth=()
[ -n "${DL_TOKEN:-}" ] && auth=(-H "authorization=Bearer $DL_TOKEN")
kcat -P -b "$brokers" -t "$requests" -k "$id" "${auth[@]}" "$build/$id.avro"
rm -f "$build/$id.avro"

for _ in $(seq 60); do   # the result topic, from the beginning, until our request id shows up
  result=$(kcat -C -q -b "$brokers" -t "$results" -o beginning -e -X isolation.level=read_committed -f '%S\n%s' |
    run decode "$schemas" DecisionResult "\"request_id\": \"$id\"" | head -n1)
  [ -n "$result" ] && break
  sleep 1
done
[ -n "$result" ] || { echo "no result for $id" >&2; exit 1; }
echo "$result"
kcat -C -q -b "$brokers" -t "$ledger" -o beginning -e -X isolation.level=read_committed -f '%S\n%s' |
  run decode "$schemas" LedgerRecord "\"request_id\": \"$id\"" | head -n1
