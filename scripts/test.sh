#!/usr/bin/env bash
# Runs every test of the project on a fresh Debian machine (the README's second command; .ci/run
# calls exactly this). It installs and starts the local stack (scripts/stack.sh), builds the
# services the end-to-end tests run as processes, then runs the formatting check, the Prometheus
# rules' unit tests (promtool), clippy, `cargo test --workspace` and every fuzz target briefly
# (scripts/fuzz.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# A fresh machine builds everything once: incremental caches only cost disk there.
if [[ "${CI:-}" == "true" ]]; then export CARGO_INCREMENTAL=0; fi
avail_gb=$(( $(df -Pk . | awk 'NR==2 {print $4}') / 1024 / 1024 ))
if (( avail_gb < 8 )); then
  echo "test.sh: warning: only ${avail_gb} GB free here; the build, the stack and the tests need about 8 GB" >&2
fi

scripts/stack.sh up
# shellcheck disable=SC1091
. .stack/env

step() { printf '\n== %s\n' "$*"; }

step "format"
cargo fmt --all -- --check

# The Prometheus rules of docker-compose.yml (docs/operations.md, "Alerts"): valid, and each
# file's unit test (series that fire and that do not fire every alert) passes. promtool comes
# with scripts/stack.sh (the prometheus package). The metric names they and the Grafana
# dashboards use are checked against the services' /metrics by tests/tests/metrics.rs.
step "prometheus rules"
promtool check rules deploy/prometheus/rules/*.yml
promtool test rules deploy/prometheus/tests/*.yml

step "build services (the end-to-end tests run them as processes)"
cargo build --workspace --bins

step "clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "tests"
status=0
cargo test --workspace --no-fail-fast -- --test-threads=2 || status=$?

# Every fuzz target briefly from its committed seed corpus (docs/reliability.md, "Fuzzing"):
# FUZZ_CI_SECONDS each (default 10). The first build of fuzz/ (its own workspace, fuzz/target)
# and, when missing, the install of cargo-fuzz come first. A crash fails CI; a machine without
# a toolchain that builds the targets prints a SKIP line and goes on.
step "fuzz (every target ${FUZZ_CI_SECONDS:-10} s)"
fuzz_started=$(date +%s)
fuzz_status=0
scripts/fuzz.sh "${FUZZ_CI_SECONDS:-10}" || fuzz_status=$?
echo "fuzz step took $(( $(date +%s) - fuzz_started )) s"
case $fuzz_status in
  0) ;;
  2) echo "SKIP fuzz: no toolchain builds the fuzz targets here (see the line above)" ;;
  *) status=$fuzz_status ;;
esac
exit "$status"
