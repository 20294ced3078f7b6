#!/usr/bin/env bash
# make up: the local stack with the real Pulumi engine, on the embedded cluster or, when
# KUBECONFIG is set, on the user's own cluster. Prints the stack outputs and how to reach each
# blue/green service.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$SLIPWAY_ROOT"

start="$(now_s)"
embedded=false
if [[ -z "${KUBECONFIG:-}" ]]; then
  KUBECONFIG="$(scripts/cluster.sh kubeconfig)"
  export KUBECONFIG
  # Service addresses are reachable from this host only through the real node's kube-proxy
  # (and routed nowhere else): without it, only the port-forward is offered.
  scripts/node.sh status >/dev/null 2>&1 && embedded=true
  log "using the embedded cluster ($KUBECONFIG)"
else
  log "using your cluster from KUBECONFIG=$KUBECONFIG (context: $(kubectl config current-context 2>/dev/null || echo '?'))"
fi

use_local_pulumi
pulumi stack select local --create >/dev/null

# The plan first, with the policy pack: an up never deletes or replaces a service's, the
# registry's, a stage's, the cluster's or an admission policy's objects unseen (a misspelt key
# plans exactly that), and a mandatory rule stops it as it stops CI.
step="$(now_s)"
plan="$(mktemp "${TMPDIR:-/tmp}/slipway-up-plan.XXXXXX")"
trap 'rm -f "$plan"' EXIT
log "pulumi preview --stack local --policy-pack policy"
if ! pulumi preview --stack local --json --policy-pack policy >"$plan" 2>/dev/null; then
  # The JSON leaves policy violations out: show the engine's own words.
  pulumi preview --stack local --policy-pack policy --diff=false >&2 || true
  die "the preview of the local stack failed (above); nothing was changed"
fi
allow=()
[[ "${SLIPWAY_ALLOW_DESTRUCTIVE:-}" == 1 ]] && allow=(--allow)
./slipway plan-check --stack local "${allow[@]}" "$plan" || exit 1
took "pulumi preview" "$step"

step="$(now_s)"
log "pulumi up --stack local --policy-pack policy"
pulumi up --stack local --yes --skip-preview --diff=false --policy-pack policy
took "pulumi up" "$step"
pulumi stack output --stack local --show-secrets=false

# reach_services: each service's live Service, and whether it answers from here. The host
# reaches Service addresses through the real node's kube-proxy; port-forward works anywhere.
reach_services() {
  local line namespace service ip port
  pulumi stack output --stack local --json |
    node -e 'const o = JSON.parse(require("fs").readFileSync(0, "utf8"));
      for (const s of o.blueGreen ?? []) console.log(`${o.stageNamespaces[s.stage]} ${s.liveService} ${s.name}`);' |
    while read -r namespace service line; do
      ip="$(kubectl -n "$namespace" get service "$service" -o jsonpath='{.spec.clusterIP}')"
      port="$(kubectl -n "$namespace" get service "$service" -o jsonpath='{.spec.ports[0].port}')"
      if $embedded && curl -sf --max-time 5 -o /dev/null "http://$ip:$port/"; then
        log "$line answers: curl http://$ip:$port/   (from this host; anywhere: kubectl -n $namespace port-forward service/$service $port --address 127.0.0.1, then curl http://127.0.0.1:$port/)"
      else
        log "$line: kubectl -n $namespace port-forward service/$service $port --address 127.0.0.1, then curl http://127.0.0.1:$port/"
      fi
    done
}
PATH="$SLIPWAY_BIN:$PATH" reach_services
took "make up" "$start"
