#!/usr/bin/env bash
# Installs the KMS-API servers used by the tests and the local stack (idempotent, no Docker):
#
#   * moto's server (`moto[server]`, pins in moto-constraints.txt) into <repo>/.stack/kms-venv,
#     with whatever python3 is on PATH; always installed (a fresh Debian machine has it).
#   * LocalStack host mode (`localstack-core`, pins in localstack-py313-constraints.txt) into
#     <repo>/.stack/localstack-venv, only when a Python 3.13 interpreter exists (LocalStack fails
#     on 3.11). Looked for in $DL_PY313, /root/.pyenv/versions/3.13*/bin/python3, python3.13.
#
# Usage: scripts/kms/install.sh [moto|localstack|all]   (default: all)
# Environment: DL_STACK_DIR (default <repo>/.stack), DL_PY313 (a Python 3.13 interpreter).
# Exit status: 0 when moto is usable (LocalStack missing is reported, not an error).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
STACK=${DL_STACK_DIR:-$ROOT/.stack}
WHAT=${1:-all}

log() { printf '[kms-install] %s\n' "$*" >&2; }

find_py313() {
  local c
  for c in "${DL_PY313:-}" /root/.pyenv/versions/3.13*/bin/python3 "$(command -v python3.13 || true)"; do
    [ -n "$c" ] && [ -x "$c" ] || continue
    if "$c" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 13) else 1)' 2>/dev/null; then
      echo "$c"; return 0
    fi
  done
  return 1
}

install_moto() {
  local v="$STACK/kms-venv"
  if [ -x "$v/bin/moto_server" ] && "$v/bin/python" -c 'import moto, cryptography' 2>/dev/null; then
    log "moto already installed in $v"; return 0
  fi
  command -v python3 >/dev/null || { log "python3 is missing (apt-get install python3 python3-venv)"; return 1; }
  log "creating $v and installing moto[server] (pinned)"
  python3 -m venv "$v"
  "$v/bin/pip" install -q --disable-pip-version-check -c "$HERE/moto-constraints.txt" 'moto[server]'
  "$v/bin/python" -c 'import moto' && log "moto installed"
}

install_localstack() {
  local v="$STACK/localstack-venv" py
  if [ -x "$v/bin/python" ] && "$v/bin/python" -c 'import localstack.runtime.main, rolo, moto, service_identity' 2>/dev/null; then
    log "LocalStack already installed in $v"; return 0
  fi
  if ! py=$(find_py313); then
    log "no Python 3.13 interpreter: LocalStack skipped (set DL_PY313 to enable it)"; return 0
  fi
  log "creating $v with $py and installing localstack-core (pinned)"
  "$py" -m venv "$v"
  # The constraints file is the complete, tested environment (it includes the runtime extras
  # such as rolo, twisted and service_identity), so it is installed as the requirement list.
  "$v/bin/pip" install -q --disable-pip-version-check -r "$HERE/localstack-py313-constraints.txt"
  "$v/bin/python" -c 'import localstack.runtime.main, rolo, moto, service_identity' && log "LocalStack installed"
}

mkdir -p "$STACK"
case "$WHAT" in
  moto) install_moto ;;
  localstack) install_localstack ;;
  all) install_moto; install_localstack ;;
  *) log "usage: $0 [moto|localstack|all]"; exit 2 ;;
esac
