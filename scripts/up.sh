#!/usr/bin/env bash
# make up: the local stack with the real Pulumi engine, on the embedded cluster or, when
# KUBECONFIG is set, on the user's own cluster. Prints the stack outputs.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$SLIPWAY_ROOT"

start="$(now_s)"
if [[ -z "${KUBECONFIG:-}" ]]; then
  KUBECONFIG="$(scripts/cluster.sh kubeconfig)"
  export KUBECONFIG
  log "using the embedded cluster ($KUBECONFIG)"
else
  log "using your cluster from KUBECONFIG=$KUBECONFIG (context: $(kubectl config current-context 2>/dev/null || echo '?'))"
fi

use_local_pulumi
pulumi stack select local --create >/dev/null
step="$(now_s)"
log "pulumi up --stack local"
pulumi up --stack local --yes --skip-preview --diff=false
took "pulumi up" "$step"
pulumi stack output --stack local --show-secrets=false
took "make up" "$start"
