#!/usr/bin/env bash
# Installs the pinned npm dependencies of the local OIDC provider (oidc-provider, jose) from
# package-lock.json. Idempotent: does nothing when node_modules is already complete.
set -euo pipefail
cd "$(dirname "$0")"
# Serialise concurrent callers (several test binaries may start providers at once).
exec 9>.install.lock
flock 9
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "install.sh: node and npm are required (Debian: apt-get install -y nodejs npm)" >&2
  exit 1
fi
if [ -f node_modules/.package-lock.json ] && [ -d node_modules/oidc-provider ] && [ -d node_modules/jose ] \
   && [ node_modules/.package-lock.json -nt package-lock.json ]; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
