# Sourced by the bench and profile scripts (not run on its own).
#
# bench_topics RUN DIR BIN [TOPIC ...]: points the services at topics of their own, RUN.<topic>
# (DL_REQUESTS_TOPIC, DL_RESULTS_TOPIC, DL_LEDGER_TOPIC, DL_DLQ_TOPIC, DL_REGISTRY_TOPIC,
# DL_EXPLAIN_TOPIC for "views", and DL_<TOPIC>_TOPIC for each extra TOPIC), creates them with
# BIN/dlctl (requests, results, ledger and the extra ones with 4 partitions; dlq, registry and
# views with 1; the topology file goes to DIR), and releases the example functions through that
# registry (DL_APPROVERS_FILE is set).
bench_topics() {
  local run=$1 dir=$2 bin=$3 t var
  shift 3
  local wide=(requests results ledger "$@") narrow=(dlq registry views)
  {
    echo "topics:"
    for t in "${wide[@]}"; do echo "  - {name: $run.$t, partitions: 4}"; done
    for t in "${narrow[@]}"; do echo "  - {name: $run.$t, partitions: 1}"; done
  } >"$dir/topics.yaml"
  for t in "${wide[@]}" "${narrow[@]}"; do
    var="DL_${t^^}_TOPIC"
    [ "$t" = views ] && var=DL_EXPLAIN_TOPIC
    export "$var=$run.$t"
  done
  "$bin/dlctl" topology apply --file "$dir/topics.yaml" >/dev/null
  DL_BIN=$bin scripts/release-functions.sh examples >/dev/null
  export DL_APPROVERS_FILE="${DL_STACK_DIR:-.stack}/approvers/approvers.yaml"
}
