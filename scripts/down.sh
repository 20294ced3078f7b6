#!/usr/bin/env bash
# make down: destroy the local stack, then stop the embedded cluster (a cluster of your own, from
# KUBECONFIG, is left running).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$SLIPWAY_ROOT"

use_local_pulumi
own_cluster=true
if [[ -z "${KUBECONFIG:-}" ]]; then
  own_cluster=false
  if scripts/cluster.sh status >/dev/null 2>&1; then
    KUBECONFIG="$(scripts/cluster.sh kubeconfig)"
    export KUBECONFIG
  fi
fi
if pulumi stack select local >/dev/null 2>&1; then
  pulumi destroy --stack local --yes --skip-preview
fi
$own_cluster || scripts/cluster.sh stop
