#!/usr/bin/env bash
# Records the `pulumi preview --json` fixtures of `slipway preview-summary` from the REAL engine:
# the pinned Pulumi CLI, the compiled program and the policy pack, on the local stack, against an
# embedded cluster of this script's own and a throwaway file backend. Re-run it when Pulumi, the
# provider or the program move, then update the expected summaries in
# test/unit/previewSummary.test.ts.
#
#   scripts/record-preview-fixtures.sh [--name CLUSTER] [--port PORT]
#
# Writes test/fixtures/preview/<case>.json (the preview) and <case>.policy.jsonl (the policy events
# of the engine's --event-log: `preview --json` leaves policy violations out) for the cases
# no-changes, blue-green-switch, replacement and policy-failure.
# The repository's stack files are never changed: the project is copied to a temporary directory
# and each case edits that copy with `pulumi config set --path`.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$SLIPWAY_ROOT"

name=slipway-fixtures
port=36431
while [[ $# -gt 0 ]]; do
  case "$1" in
    --name) name="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    *) die "unknown argument $1 (usage: $0 [--name CLUSTER] [--port PORT])" ;;
  esac
done

[[ -f dist/index.js && -f policy/dist/policy/index.js ]] || die "run make build first"
out="$SLIPWAY_ROOT/test/fixtures/preview"
mkdir -p "$out"
start="$(now_s)"

work="$(mktemp -d)"
state="$(mktemp -d)"
cleanup() {
  "$SLIPWAY_ROOT/scripts/cluster.sh" stop --name "$name" >/dev/null 2>&1 || true
  rm -rf "$work" "$state"
}
trap cleanup EXIT

KUBECONFIG="$(scripts/cluster.sh start --name "$name" --port "$port")"
export KUBECONFIG
use_local_pulumi "$state"

cp Pulumi.yaml Pulumi.local.yaml package.json "$work/"
ln -s "$SLIPWAY_ROOT/dist" "$work/dist"
ln -s "$SLIPWAY_ROOT/node_modules" "$work/node_modules"
cd "$work"
pulumi stack init local >/dev/null
set_config() { pulumi config set --stack local --path "slipway:$1" "$2" >/dev/null; }
set_int() { pulumi config set --stack local --path --type int "slipway:$1" "$2" >/dev/null; }

# The base state: both colors at full size, so flipping activeColor is a valid switch (the idle
# color must serve at once), and green runs a different digest than blue. The green digest is a
# synthetic test value, not a published image.
GREEN_IMAGE="ghcr.io/stefanprodan/podinfo@sha256:$(printf '0123456789abcdef%.0s' 1 2 3 4)"
set_int "services[0].green.replicas" 2
set_config "services[0].green.image" "$GREEN_IMAGE"
step="$(now_s)"
pulumi up --stack local --yes --skip-preview --diff=false >"$work/up.log" 2>&1 ||
  die "pulumi up of the base state failed: $(cat "$work/up.log")"
took "pulumi up (base state)" "$step"

# preview CASE: the JSON preview with the policy pack. A failing preview (policy-failure) still
# writes its JSON, so its exit code is not fatal here. Local paths are replaced so the fixtures
# do not depend on where they were recorded.
unlocal() { sed -e "s#$work#/project#g" -e "s#$SLIPWAY_ROOT#/slipway#g" -e "s#$state#/state#g" "$1"; }
preview() {
  local file="$out/$1.json" events="$work/events.jsonl"
  step="$(now_s)"
  rm -f "$events"
  # --event-log is only offered with PULUMI_DEBUG_COMMANDS (Pulumi 3.163).
  PULUMI_DEBUG_COMMANDS=true pulumi preview --stack local --json --event-log "$events" --policy-pack "$SLIPWAY_ROOT/policy" \
    >"$work/preview.json" 2>"$work/preview.err" || true
  [[ -s "$work/preview.json" ]] || die "pulumi preview wrote no JSON: $(cat "$work/preview.err")"
  unlocal "$work/preview.json" >"$file"
  node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' "$file" ||
    die "$file is not JSON"
  grep '"policyEvent"' "$events" | unlocal /dev/stdin >"$out/$1.policy.jsonl" || true
  took "preview $1" "$step"
}

preview no-changes

set_config "services[0].activeColor" green
preview blue-green-switch
set_config "services[0].activeColor" blue

# Renaming the registry's namespace replaces the namespace and everything in it.
set_config "registry.namespace" slipway-registry-next
preview replacement
pulumi config rm --stack local --path "slipway:registry.namespace" >/dev/null

# A service moved to the prod stage with one replica and no image provenance breaks mandatory
# prod rules (prod-replicas, prod-disruption-budget, oci-annotations).
set_config "services[0].stage" prod
set_int "services[0].blue.replicas" 1
preview policy-failure

took "recording preview fixtures" "$start"
