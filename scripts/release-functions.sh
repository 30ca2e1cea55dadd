#!/usr/bin/env bash
# Releases function packages through the registry, as two development approvers: publish,
# owner approval, reviewer approval, activate. Idempotent: versions already ACTIVE are skipped.
#
#   scripts/release-functions.sh [package-folder-parent ...]   (default: examples)
#
# Uses DL_BROKERS and DL_REGISTRY_TOPIC (default registry.events). The approver keys live in
# ${DL_STACK_DIR:-.stack}/approvers (created on first use, 0600) and DL_APPROVERS_FILE points the
# services at their public keys. In production each approver holds their own key and signs with
# `dlctl function approve` (docs/registry.md); this script is for the local stack and benchmarks.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN=${DL_BIN:-target/debug}
APPROVERS="${DL_STACK_DIR:-.stack}/approvers"
if [ ! -f "$APPROVERS/approvers.yaml" ]; then
  mkdir -p "$APPROVERS" && chmod 700 "$APPROVERS"
  {
    echo "approvers:"
    for who in demo-owner:owner demo-reviewer:reviewer; do
      id=${who%%:*} role=${who##*:}
      printf '  - id: %s\n    roles: [%s]\n    keys:\n      - key_id: %s-1\n        public_key: |\n' "$id" "$role" "$id"
      "$BIN/dlctl" keygen --out "$APPROVERS/$id.pem" | grep '^          '
    done
  } >"$APPROVERS/approvers.yaml.tmp"
  mv "$APPROVERS/approvers.yaml.tmp" "$APPROVERS/approvers.yaml"
fi
export DL_APPROVERS_FILE="$APPROVERS/approvers.yaml"
active=$("$BIN/dlctl" function list --json |
  python3 -c 'import json,sys; print(" ".join(v["id"] + "@" + v["version"] for v in json.load(sys.stdin) if v["state"] == "ACTIVE"))')
for parent in "${@:-examples}"; do
  for dir in "$parent"/*/; do
    [ -f "$dir/function.yaml" ] || continue
    id=$(sed -n 's/^id: *//p' "$dir/function.yaml")
    version=$(sed -n 's/^version: *//p' "$dir/function.yaml")
    case " $active " in *" $id@$version "*) echo "$id $version is ACTIVE already"; continue ;; esac
    "$BIN/dlctl" function publish "$dir" --author demo-author
    "$BIN/dlctl" function approve "$id" "$version" --role owner --approver demo-owner --key "$APPROVERS/demo-owner.pem"
    "$BIN/dlctl" function approve "$id" "$version" --role reviewer --approver demo-reviewer --key "$APPROVERS/demo-reviewer.pem"
    "$BIN/dlctl" function activate "$id" "$version" --by demo-owner
  done
done
