# Shared shell helpers for slipway's scripts. Source it; it sets paths and loads pinned versions.
# shellcheck shell=bash

SLIPWAY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../tools/versions.env
source "$SLIPWAY_ROOT/tools/versions.env"

SLIPWAY_CACHE="${SLIPWAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/slipway}"
SLIPWAY_TOOLS="$SLIPWAY_CACHE/tools"
SLIPWAY_BIN="$SLIPWAY_CACHE/bin"
# Pulumi's own home (plugins, workspaces) is kept apart from the user's ~/.pulumi.
export PULUMI_HOME="${PULUMI_HOME_OVERRIDE:-$SLIPWAY_CACHE/pulumi-home}"
# Nothing may reach for the network: no plugin downloads, no update checks.
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() {
  printf 'slipway: %s\n' "$*" >&2
  exit 1
}

# now_s: seconds since the epoch, for step timings.
now_s() { date +%s; }
# took NAME START: prints how long a step took.
took() { log "$1 took $(($(now_s) - $2))s"; }

# The local stack's Pulumi environment: file backend and passphrase under the cache, never in the
# repo. The passphrase only protects a throwaway local stack; it is documented in docs/configuration.md.
SLIPWAY_LOCAL_PASSPHRASE="slipway-local"
use_local_pulumi() {
  local state_dir="${1:-${SLIPWAY_STATE_DIR:-$SLIPWAY_CACHE/state/pulumi}}"
  mkdir -p "$state_dir"
  export PATH="$SLIPWAY_BIN:$PATH"
  export PULUMI_BACKEND_URL="file://$state_dir"
  export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE:-$SLIPWAY_LOCAL_PASSPHRASE}"
}
