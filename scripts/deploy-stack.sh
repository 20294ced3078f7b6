#!/usr/bin/env bash
# The deploy workflow's step for one stack after a merge: every digest or activeColor change
# between BASE and HEAD goes through `slipway release`/`slipway promote` (readiness checks, the
# switch and automatic rollback), then `pulumi up` applies the rest with the policy pack.
#
#   scripts/deploy-stack.sh STACK BASE_REF
#
# Needs the built CLI (make build), pulumi on PATH and the stack's backend (PULUMI_BACKEND_URL).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$SLIPWAY_ROOT"

stack="${1:?usage: $0 STACK BASE_REF}"
base_ref="${2:?usage: $0 STACK BASE_REF}"
file="Pulumi.$stack.yaml"
[[ -f "$file" ]] || die "no stack file $file for stack $stack"
start="$(now_s)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# services FILE OUT: slipway:services of a stack file as JSON; none when the key is absent (a
# failing `pulumi config get` of a present key is fatal, so releases are never skipped silently).
services() {
  if grep -q '^  slipway:services:' "$1"; then
    pulumi config get slipway:services --json --stack "$stack" --config-file "$1" >"$2"
  else
    echo '[]' >"$2"
  fi
}

if git cat-file -e "$base_ref:$file" 2>/dev/null; then
  git show "$base_ref:$file" >"$tmp/base.yaml"
  services "$tmp/base.yaml" "$tmp/base.json"
else
  echo '[]' >"$tmp/base.json"
fi
services "$file" "$tmp/head.json"

# A gitops stack's release commits each phase; CI runners have no git identity of their own.
git config user.email >/dev/null || git config user.email "slipway-deploy@users.noreply.github.com"
git config user.name >/dev/null || git config user.name "slipway deploy"

./slipway deploy-plan --stack "$stack" --base "$tmp/base.json" --head "$tmp/head.json" >"$tmp/steps"
while read -r -a step; do
  [[ ${#step[@]} -gt 0 ]] || continue
  log "slipway ${step[*]}"
  ./slipway "${step[@]}"
done <"$tmp/steps"

log "pulumi up --stack $stack"
pulumi up --stack "$stack" --yes --policy-pack policy --diff=false
took "deploying $stack" "$start"
