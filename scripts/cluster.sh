#!/usr/bin/env bash
# make cluster: slipway's embedded Kubernetes cluster. A real control plane (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler at the pinned version) plus kwok-simulated nodes, run by
# kwokctl's binary runtime from the binaries `make tools` put in $SLIPWAY_BIN. Nothing is
# downloaded, no container runtime is needed, and every port is bound to 127.0.0.1.
#
#   scripts/cluster.sh start [--name NAME] [--port PORT] [--real-node auto|on|off]
#                                                         create it, or restart it in place;
#                                                         prints the kubeconfig path
#   scripts/cluster.sh stop [--name NAME]                  stop every process, delete the cluster
#   scripts/cluster.sh status [--name NAME]                exit 0 running, 1 stopped, 2 broken
#   scripts/cluster.sh kubeconfig [--name NAME]            print the kubeconfig path
#
# --real-node (SLIPWAY_REAL_NODE): "on" joins the host's real node (scripts/node.sh) so containers
# run for real, "auto" does so where the host can and says so in a banner where it cannot, "off"
# (the default) keeps kwok's simulated nodes only.
#
# Environment: SLIPWAY_CLUSTER_NAME (default slipway), SLIPWAY_CLUSTER_PORT (API server port,
# default 36443), SLIPWAY_CLUSTER_TIMEOUT (seconds a start may take, default 120), SLIPWAY_BIN
# (directory of the binaries, default $SLIPWAY_CACHE/bin).
#
# State of cluster NAME, all under $SLIPWAY_CACHE/clusters/NAME/ (never in the repository):
#   kubeconfig            self-contained kubeconfig (certificates embedded)
#   kwokctl.yaml          the rendered kwokctl configuration (tools/kwok/kwokctl.yaml)
#   start.log             kwokctl's output of the last start
#   previous-logs/        logs of components that had stopped, saved before start restarted them
#   failed-logs/          component logs of a create that failed (the cluster itself is removed)
#   kwok/clusters/NAME/   kwokctl's cluster: kwok.yaml, pki/, etcd/, logs/, pids/, bin/
#
# A cluster whose processes are gone (e.g. after a reboot) or partly gone (a component crashed or
# was killed) is restarted in place by `start`, keeping its etcd data: the Pulumi state of the
# local stack still matches what the cluster holds. If that fails, start says how to recreate it.
set -euo pipefail

# lib.sh sets SLIPWAY_BIN unconditionally; a caller's SLIPWAY_BIN (e.g. a test pointing at other
# binaries) takes precedence.
bin_override="${SLIPWAY_BIN:-}"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
[[ -n "$bin_override" ]] && SLIPWAY_BIN="$bin_override"

COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok-controller)
# shellcheck source=../tools/cluster/network.env
source "$SLIPWAY_ROOT/tools/cluster/network.env"
NODE_SCRIPT="$SLIPWAY_ROOT/scripts/node.sh"
NODES_FILE="$SLIPWAY_ROOT/tools/kwok/nodes.yaml"
STAGES_FILE="$SLIPWAY_ROOT/tools/kwok/stages.yaml"
CONFIG_TEMPLATE="$SLIPWAY_ROOT/tools/kwok/kwokctl.yaml"
SELF="scripts/cluster.sh"

usage() {
  sed -n '7,12p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# ---------------------------------------------------------------------------------------------
# Arguments and paths

COMMAND="${1:-}"
[[ -n "$COMMAND" ]] || usage
shift
NAME="${SLIPWAY_CLUSTER_NAME:-slipway}"
PORT="${SLIPWAY_CLUSTER_PORT:-36443}"
# Whether the port was chosen by the caller (then an existing cluster on another port is an error).
PORT_EXPLICIT=false
[[ -n "${SLIPWAY_CLUSTER_PORT:-}" ]] && PORT_EXPLICIT=true
TIMEOUT="${SLIPWAY_CLUSTER_TIMEOUT:-120}"
REAL_NODE="${SLIPWAY_REAL_NODE:-off}"
while (($#)); do
  case "$1" in
    --real-node) REAL_NODE="${2:?--real-node needs a value}" && shift 2 ;;
    --real-node=*) REAL_NODE="${1#*=}" && shift ;;
    --name) NAME="${2:?--name needs a value}" && shift 2 ;;
    --name=*) NAME="${1#*=}" && shift ;;
    --port) PORT="${2:?--port needs a value}" PORT_EXPLICIT=true && shift 2 ;;
    --port=*) PORT="${1#*=}" PORT_EXPLICIT=true && shift ;;
    -h | --help) usage ;;
    *) die "unknown argument '$1' (usage: $SELF start|stop|status|kubeconfig [--name NAME] [--port PORT])" ;;
  esac
done
[[ "$NAME" =~ ^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$ ]] ||
  die "invalid cluster name '$NAME': use lower-case letters, digits and '-' (at most 40 characters)."
if ! [[ "$PORT" =~ ^[0-9]+$ ]] || ((PORT < 1024 || PORT > 65535)); then
  die "invalid API server port '$PORT': use a number between 1024 and 65535 (--port or SLIPWAY_CLUSTER_PORT)."
fi
[[ "$REAL_NODE" =~ ^(auto|on|off)$ ]] ||
  die "invalid --real-node '$REAL_NODE': use auto, on or off (SLIPWAY_REAL_NODE)."
if ! [[ "$TIMEOUT" =~ ^[0-9]+$ ]] || ((TIMEOUT < 10)); then
  die "invalid SLIPWAY_CLUSTER_TIMEOUT '$TIMEOUT': use a number of seconds, at least 10."
fi

# Absolute and clean (as kwokctl spells it), so process command lines can be matched against it.
SLIPWAY_CACHE="$(realpath -ms "$SLIPWAY_CACHE")"
CLUSTER_DIR="$SLIPWAY_CACHE/clusters/$NAME"
KWOK_HOME="$CLUSTER_DIR/kwok"                  # KWOK_WORKDIR: keeps kwokctl away from ~/.kwok
WORKDIR="$KWOK_HOME/clusters/$NAME"            # kwokctl's own directory for this cluster
KWOK_KUBECONFIG="$WORKDIR/kubeconfig.yaml"     # written by kwokctl; certificates referenced by path
KUBECONFIG_PATH="$CLUSTER_DIR/kubeconfig"      # what we hand out: self-contained
START_LOG="$CLUSTER_DIR/start.log"
LOCK_FILE="$SLIPWAY_CACHE/clusters/.locks/$NAME.lock"
KUBECTL="$SLIPWAY_BIN/kubectl"
KWOKCTL="$SLIPWAY_BIN/kwokctl"

# ---------------------------------------------------------------------------------------------
# Small helpers

now_ms() { date +%s%3N; }
# since_s START_MS: seconds elapsed, one decimal.
since_s() {
  local ms=$(($(now_ms) - $1))
  printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100))
}

# Serialise start/stop of one cluster. The lock fd must never reach the cluster's daemons (they
# would hold it forever), so every command that may fork one closes fd 9.
lock() {
  mkdir -p "${LOCK_FILE%/*}"
  command -v flock >/dev/null || return 0
  exec 9>"$LOCK_FILE"
  flock -w $((TIMEOUT + 30)) 9 ||
    die "another $SELF is still working on cluster '$NAME' (lock $LOCK_FILE): wait for it to finish, or stop it."
}

# kc ARGS...: kubectl against this cluster, never hanging; its discovery cache stays in the cluster
# directory rather than ~/.kube.
kc() {
  timeout 20 "$KUBECTL" --kubeconfig "$KWOK_KUBECONFIG" --cache-dir "$CLUSTER_DIR/kube-cache" \
    --request-timeout=10s "$@" 9>&-
}

# kwokctl_cmd: the command line of kwokctl for this cluster, blind to the caller's KWOK_* settings
# and ~/.kwok (set in KWOKCTL_CMD, so that a backgrounded run is kwokctl itself, not a subshell).
kwokctl_cmd() {
  KWOKCTL_CMD=(env)
  local v
  for v in $(compgen -e); do
    [[ "$v" == KWOK_* ]] && KWOKCTL_CMD+=(-u "$v")
  done
  KWOKCTL_CMD+=(KWOK_WORKDIR="$KWOK_HOME" "$KWOKCTL" --name "$NAME")
}

# ours PID: the process is one of this cluster's components (kwokctl starts them as
# $WORKDIR/bin/<name>). After a reboot a pid file may name an unrelated process with the same pid,
# and a killed daemon may linger as a zombie (empty cmdline): neither counts.
ours() {
  local arg0
  [[ "$1" =~ ^[0-9]+$ ]] || return 1
  IFS= read -r -d '' arg0 2>/dev/null <"/proc/$1/cmdline" || return 1
  [[ "$arg0" == "$WORKDIR/bin/"* ]]
}

# component_pid NAME: pid of a running component, from kwokctl's pid file.
component_pid() {
  local file="$WORKDIR/pids/$1.pid" pid
  [[ -r "$file" ]] || return 1
  pid="$(<"$file")"
  ours "$pid" && echo "$pid"
}

# down_components: names of components that are not running (one per line).
down_components() {
  local c
  for c in "${COMPONENTS[@]}"; do
    component_pid "$c" >/dev/null || echo "$c"
  done
}

# cluster_pids: every live process started from this cluster's directory (components and any
# strays a crashed kwokctl left behind).
cluster_pids() {
  local d arg0
  for d in /proc/[0-9]*; do
    IFS= read -r -d '' arg0 2>/dev/null <"$d/cmdline" || continue
    [[ "$arg0" == "$CLUSTER_DIR/"* ]] && echo "${d#/proc/}"
  done
  return 0
}

# kill_cluster_processes: SIGKILL at once, as kwokctl itself does: the cluster's data is being
# thrown away, and a graceful stop of kube-apiserver and etcd takes seconds for nothing.
kill_cluster_processes() {
  local pids i
  for ((i = 0; i < 50; i++)); do
    pids="$(cluster_pids)"
    [[ -n "$pids" ]] || return 0
    # shellcheck disable=SC2086 # one pid per word
    kill -KILL $pids 2>/dev/null || true
    sleep 0.1
  done
}

# config_value KEY: a scalar option from the cluster's saved kwok.yaml.
config_value() {
  sed -n "s/^ *$1: *\"\{0,1\}\([^\"]*\)\"\{0,1\} *$/\1/p" "$WORKDIR/kwok.yaml" 2>/dev/null | sed -n 1p
}

# port_holder PORT: "NAME (pid N)" of a process listening where the API server must bind
# (127.0.0.1, or any address), if there is one.
port_holder() {
  local port="$1" line users
  if command -v ss >/dev/null; then
    line="$(ss -Hltnp 2>/dev/null | awk -v p="$port" '
      $4 ~ ("^(127\\.0\\.0\\.1|0\\.0\\.0\\.0|\\*|\\[::\\]|\\[::ffff:127\\.0\\.0\\.1\\]|\\[::1\\]):" p "$") { print; exit }')"
    [[ -n "$line" ]] || return 1
    users="$(grep -o 'users:(("[^"]*",pid=[0-9]*' <<<"$line" | sed -n 1p)"
    if [[ -n "$users" ]]; then
      local cmd="${users#users:((\"}" pid="${users##*pid=}"
      echo "${cmd%%\"*} (pid $pid)"
    else
      echo "another process"
    fi
    return 0
  fi
  # Without ss: something accepting connections there holds the port.
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && echo "another process"
}

# require_free_port PORT
require_free_port() {
  local holder other=""
  holder="$(port_holder "$1")" || return 0
  # Name the cluster when the holder is another slipway cluster's API server.
  local pid="${holder##*pid }" arg0=""
  pid="${pid%)}"
  if [[ "$pid" =~ ^[0-9]+$ ]] && IFS= read -r -d '' arg0 2>/dev/null <"/proc/$pid/cmdline" &&
    [[ "$arg0" == "$SLIPWAY_CACHE/clusters/"*/bin/kube-apiserver ]]; then
    other="${arg0#"$SLIPWAY_CACHE/clusters/"}"
    other=" (the API server of slipway cluster '${other%%/*}')"
  fi
  die "port $1 on 127.0.0.1 is already in use by $holder$other: stop that process, or start cluster '$NAME' on a free port with --port PORT (or SLIPWAY_CLUSTER_PORT=PORT)."
}

# log_tail COMPONENT: the last meaningful line of a component's log, for error messages.
log_tail() {
  local f="$WORKDIR/logs/$1.log"
  [[ -s "$f" ]] || return 0
  grep -v '^[[:space:]]*$' "$f" | tail -n 1 | cut -c1-300
}

# ---------------------------------------------------------------------------------------------
# Binaries

# check_binaries: every binary is present, runs, and is the pinned version. Catches a missing
# `make tools`, a truncated or damaged file and a stray version before anything is started.
check_binaries() {
  local -a missing=()
  local b
  for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok kwokctl; do
    [[ -x "$SLIPWAY_BIN/$b" ]] || missing+=("$b")
  done
  if ((${#missing[@]})); then
    local list="${missing[*]}"
    die "missing ${list// /, } in $SLIPWAY_BIN: run make tools (it builds the pinned cluster binaries; nothing is downloaded at cluster start)."
  fi
  check_version etcd "$ETCD_VERSION" --version
  check_version kube-apiserver "v$KUBERNETES_VERSION" --version
  check_version kube-controller-manager "v$KUBERNETES_VERSION" --version
  check_version kube-scheduler "v$KUBERNETES_VERSION" --version
  check_version kubectl "v$KUBERNETES_VERSION" version --client
  check_version kwok "v$KWOK_VERSION" --version
  check_version kwokctl "v$KWOK_VERSION" --version
}

# check_version NAME EXPECTED ARGS...
check_version() {
  local name="$1" expected="$2" path="$SLIPWAY_BIN/$1" out rc=0
  shift 2
  out="$(timeout 15 "$path" "$@" 2>&1 </dev/null 9>&-)" || rc=$?
  if ((rc != 0)); then
    local why
    why="$(sed -n 1p <<<"$out" | cut -c1-160)"
    if ((rc == 124)); then
      why="no answer within 15 s"
    elif ((rc > 128)); then
      why="killed by SIG$(kill -l $((rc - 128)) 2>/dev/null || echo $((rc - 128)))${why:+: $why}"
    fi
    [[ -n "$why" ]] || why="exit status $rc"
    die "$name at $(readlink -f "$path") does not run ($why): the binary is damaged or truncated; rebuild it with make tools (or remove $SLIPWAY_TOOLS/<tool>-<version> first if make tools says it is damaged)."
  fi
  grep -qF -- "$expected" <<<"$out" ||
    die "$name at $(readlink -f "$path") is not version $expected (it says: $(sed -n 1p <<<"$out" | cut -c1-120)): run make tools to link the pinned version."
}

# ---------------------------------------------------------------------------------------------
# Health

api_ready() { [[ "$(kc get --raw /readyz 2>/dev/null)" == ok ]]; }

# The controller manager adds a healthz check per controller once it holds leadership and has
# started them all; EndpointSlices and Endpoints need these two. /healthz is the one path it serves
# without credentials (kwokctl sets --authorization-always-allow-paths); ?verbose lists the checks.
# Its serving certificate is self-signed in memory, hence -k (loopback only).
kcm_ready() {
  local port out
  port="$(config_value kubeControllerManagerPort)"
  [[ -n "$port" ]] || return 1
  out="$(curl -sk --max-time 5 "https://127.0.0.1:$port/healthz?verbose" 2>/dev/null 9>&-)" || return 1
  grep -qxF '[+]endpointslice-controller ok' <<<"$out" && grep -qxF '[+]endpoints-controller ok' <<<"$out"
}

nodes_ready() {
  local out
  out="$(kc get nodes -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' 2>/dev/null)" || return 1
  [[ -n "$out" ]] && ! grep -qv '^True$' <<<"$out"
}

default_service_account() { kc -n default get serviceaccount default -o name >/dev/null 2>&1; }

# wait_until DEADLINE_S DESCRIPTION CHECK...: poll CHECK until it passes; fail fast when a component
# has died (seen dead twice, so a pid file being written is not mistaken for a crash).
wait_until() {
  local deadline="$1" what="$2" dead="" seen=""
  shift 2
  until "$@"; do
    dead="$(down_components | sed -n 1p)"
    if [[ -n "$dead" && "$dead" == "$seen" ]]; then
      FAILURE="$dead exited while waiting for $what: $(log_tail "$dead")"
      return 1
    fi
    seen="$dead"
    if (($(now_s) >= deadline)); then
      FAILURE="timed out after ${TIMEOUT}s waiting for $what"
      return 1
    fi
    sleep 0.5
  done
}

# wait_healthy DEADLINE: API server ready, nodes Ready, endpoint controllers running.
wait_healthy() {
  local deadline="$1"
  wait_until "$deadline" "the API server to be ready (/readyz)" api_ready || return 1
  wait_until "$deadline" "the simulated nodes to be Ready" nodes_ready || return 1
  wait_until "$deadline" "kube-controller-manager's EndpointSlice and Endpoints controllers" kcm_ready || return 1
  wait_until "$deadline" "the default ServiceAccount (controllers running)" default_service_account || return 1
}

# run_kwokctl_watched DEADLINE ARGS...: kwokctl create/start in the background, so that a component
# that dies at start (kwokctl itself would wait for the API server for 2 minutes) or the deadline
# ends it at once.
run_kwokctl_watched() {
  local deadline="$1" pid rc=0 dead="" seen=""
  shift
  kwokctl_cmd
  "${KWOKCTL_CMD[@]}" "$@" </dev/null >>"$START_LOG" 2>&1 9>&- &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    # Only components that kwokctl has started (pid file present) can have died.
    dead=""
    local c
    for c in "${COMPONENTS[@]}"; do
      [[ -e "$WORKDIR/pids/$c.pid" ]] && ! component_pid "$c" >/dev/null && dead="$c" && break
    done
    if [[ -n "$dead" && "$dead" == "$seen" ]]; then
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      FAILURE="$dead exited right after it was started: $(log_tail "$dead")"
      return 1
    fi
    seen="$dead"
    if (($(now_s) >= deadline)); then
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      FAILURE="timed out after ${TIMEOUT}s while kwokctl was starting the components"
      return 1
    fi
    sleep 0.5
  done
  wait "$pid" || rc=$?
  if ((rc != 0)); then
    FAILURE="kwokctl $1 failed: $(grep -v '^[[:space:]]*$' "$START_LOG" | tail -n 1 | cut -c1-300)"
    return 1
  fi
}

write_kubeconfig() {
  local tmp="$KUBECONFIG_PATH.tmp.$$"
  (umask 077 && kc config view --raw --minify --flatten >"$tmp") || return 1
  mv -f "$tmp" "$KUBECONFIG_PATH"
}

# ---------------------------------------------------------------------------------------------
# start

render_config() {
  local text b var
  text="$(<"$CONFIG_TEMPLATE")"
  text="${text//@KUBERNETES_VERSION@/$KUBERNETES_VERSION}"
  text="${text//@ETCD_VERSION@/$ETCD_VERSION}"
  text="${text//@KWOK_VERSION@/$KWOK_VERSION}"
  text="${text//@PORT@/$PORT}"
  text="${text//@CLUSTER_DIR@/$CLUSTER_DIR}"
  text="${text//@SERVICE_CIDR@/$SERVICE_CIDR}"
  text="${text//@KWOK_POD_CIDR@/$KWOK_POD_CIDR}"
  text="${text//@KUBERNETES_SERVICE_IP@/$KUBERNETES_SERVICE_IP}"
  text="${text//@NODE_IP@/$NODE_IP}"
  # Resolved paths: the cluster keeps its binaries even if $SLIPWAY_BIN is relinked later.
  for b in etcd kube-apiserver kube-controller-manager kube-scheduler kwok kubectl; do
    var="@BIN_${b//-/_}@"
    text="${text//$var/$(readlink -f "$SLIPWAY_BIN/$b")}"
  done
  printf '%s\n' "$text" >"$CLUSTER_DIR/kwokctl.yaml"
}

# On a failed create nothing may keep running, and the next start must begin from scratch; the
# logs are kept (in $CLUSTER_DIR/failed-logs) for the error message.
abandon_create() {
  kill_cluster_processes
  if [[ -d "$WORKDIR/logs" ]]; then
    rm -rf "$CLUSTER_DIR/failed-logs"
    cp -r "$WORKDIR/logs" "$CLUSTER_DIR/failed-logs" 2>/dev/null || true
  fi
  rm -rf "$KWOK_HOME" "$KUBECONFIG_PATH" "$CLUSTER_DIR/kwokctl.yaml"
}

create_cluster() {
  local t0="$1" deadline="$2"
  check_binaries
  # Remains of an interrupted create: no process of it may survive, nothing of it is reused.
  kill_cluster_processes
  require_free_port "$PORT"

  # A node joined to the cluster being replaced would keep the old CA's certificates.
  "$NODE_SCRIPT" leave --cluster "$NAME" 9>&-
  rm -rf "$CLUSTER_DIR"
  mkdir -p "$CLUSTER_DIR"
  render_config
  : >"$START_LOG"
  log "creating cluster '$NAME' (Kubernetes v$KUBERNETES_VERSION, kwok v$KWOK_VERSION) on https://127.0.0.1:$PORT"

  # An interrupted create (Ctrl-C, a killed test) must not leave daemons behind.
  trap 'abandon_create; exit 130' INT TERM
  FAILURE=""
  if ! run_kwokctl_watched "$deadline" create cluster \
    --config "$CLUSTER_DIR/kwokctl.yaml" --config "$STAGES_FILE" \
    --kubeconfig "" --timeout "$((deadline - $(now_s)))s" ||
    ! wait_until "$deadline" "the API server to be ready (/readyz)" api_ready ||
    ! kc apply -f "$NODES_FILE" >>"$START_LOG" 2>&1 ||
    ! wait_healthy "$deadline" ||
    ! write_kubeconfig; then
    [[ -n "$FAILURE" ]] || FAILURE="$(grep -v '^[[:space:]]*$' "$START_LOG" | tail -n 1 | cut -c1-300)"
    abandon_create
    trap - INT TERM
    die "cluster '$NAME' did not start: $FAILURE (logs: $CLUSTER_DIR/failed-logs/ and $START_LOG); fix that and run $SELF start again."
  fi
  trap - INT TERM
  log "cluster '$NAME' created in $(since_s "$t0")s ($(kc get nodes -o name | wc -l) nodes Ready)"
}

restart_cluster() {
  local t0="$1" deadline="$2" down="$3"
  local port
  port="$(config_value kubeApiserverPort)"
  log "cluster '$NAME' is not fully running (down: ${down//$'\n'/, }): restarting those components in place (etcd data kept)"
  check_binaries
  # kwokctl trusts pid files; drop those naming a process that is not ours (pid reuse after reboot).
  # It also truncates a component's log when it starts it: keep the log that says why it stopped.
  local c
  for c in "${COMPONENTS[@]}"; do
    component_pid "$c" >/dev/null && continue
    rm -f "$WORKDIR/pids/$c.pid"
    if [[ -s "$WORKDIR/logs/$c.log" ]]; then
      mkdir -p "$CLUSTER_DIR/previous-logs"
      cp -f "$WORKDIR/logs/$c.log" "$CLUSTER_DIR/previous-logs/$c.log"
    fi
  done
  component_pid kube-apiserver >/dev/null || require_free_port "$port"

  : >>"$START_LOG"
  FAILURE=""
  if ! run_kwokctl_watched "$deadline" start cluster --timeout "$((deadline - $(now_s)))s" ||
    ! wait_healthy "$deadline" ||
    ! write_kubeconfig; then
    die "cluster '$NAME' could not be restarted in place: $FAILURE (logs: $WORKDIR/logs/ and $CLUSTER_DIR/previous-logs/); recreate it from scratch (its objects are lost) with: $SELF stop --name $NAME && $SELF start --name $NAME --port $port"
  fi
  log "cluster '$NAME' restarted in $(since_s "$t0")s"
}

# join_real_node: the host's real node joins this cluster (--real-node on|auto).
join_real_node() {
  [[ "$REAL_NODE" != off ]] || return 0
  local why
  if ! why="$("$NODE_SCRIPT" can-run 9>&-)"; then
    [[ "$REAL_NODE" == on ]] && die "cluster '$NAME': --real-node on, but this host cannot run a real node: $why"
    log "NO REAL NODE: $why. Cluster '$NAME' runs kwok's simulated nodes only: pods turn Ready, but no container runs and nothing answers."
    return 0
  fi
  "$NODE_SCRIPT" join --cluster "$NAME" 9>&- ||
    die "cluster '$NAME' is up, but the real node could not join (above); $SELF stop --name $NAME removes both."
}

cmd_start() {
  local t0 deadline
  t0="$(now_ms)"
  deadline=$(($(now_s) + TIMEOUT))
  command -v curl >/dev/null || die "curl is needed to check kube-controller-manager's health: install curl (apt-get install curl)."
  lock

  if [[ ! -f "$WORKDIR/kwok.yaml" ]]; then
    # No cluster (or only the remains of a failed create): build it from scratch.
    create_cluster "$t0" "$deadline"
  else
    local existing_port down
    existing_port="$(config_value kubeApiserverPort)"
    if $PORT_EXPLICIT && [[ "$existing_port" != "$PORT" ]]; then
      die "cluster '$NAME' already exists on port $existing_port, not $PORT: use --port $existing_port, or recreate it with $SELF stop --name $NAME && $SELF start --name $NAME --port $PORT"
    fi
    down="$(down_components)"
    if [[ -z "$down" ]] && api_ready && kcm_ready; then
      [[ -f "$KUBECONFIG_PATH" ]] || write_kubeconfig
      log "cluster '$NAME' is already running on https://127.0.0.1:$existing_port (checked in $(since_s "$t0")s)"
      join_real_node >&2
      echo "$KUBECONFIG_PATH"
      return 0
    fi
    if [[ -z "$down" ]]; then
      # Every process is there but not healthy yet (e.g. just restarted): give it the time left.
      FAILURE=""
      wait_healthy "$deadline" ||
        die "cluster '$NAME' runs but is not healthy: $FAILURE (logs: $WORKDIR/logs/); recreate it with: $SELF stop --name $NAME && $SELF start --name $NAME"
      [[ -f "$KUBECONFIG_PATH" ]] || write_kubeconfig
      log "cluster '$NAME' became healthy in $(since_s "$t0")s"
    else
      restart_cluster "$t0" "$deadline" "$down"
    fi
  fi
  join_real_node >&2
  echo "$KUBECONFIG_PATH"
}

# ---------------------------------------------------------------------------------------------
# stop, status, kubeconfig

cmd_stop() {
  local t0
  t0="$(now_ms)"
  lock
  if [[ ! -d "$CLUSTER_DIR" && -z "$(cluster_pids)" ]]; then
    log "cluster '$NAME' does not exist: nothing to stop"
    return 0
  fi
  # The real node first, while the API server can still see its pods drained.
  "$NODE_SCRIPT" leave --cluster "$NAME" 9>&-
  # Our own kill rather than `kwokctl delete`: it also works when kwok.yaml or kwokctl is broken,
  # and catches processes whose pid file is gone.
  kill_cluster_processes
  local left
  left="$(cluster_pids)"
  [[ -z "$left" ]] || die "could not stop processes of cluster '$NAME' (pids ${left//$'\n'/ }): kill them and run $SELF stop --name $NAME again."
  rm -rf "$CLUSTER_DIR"
  log "cluster '$NAME' stopped and deleted in $(since_s "$t0")s"
}

cmd_status() {
  if [[ ! -f "$WORKDIR/kwok.yaml" ]]; then
    if [[ -d "$CLUSTER_DIR/failed-logs" ]]; then
      echo "stopped: cluster '$NAME' does not exist (its last start failed, logs in $CLUSTER_DIR/failed-logs/); start it with $SELF start --name $NAME"
    else
      echo "stopped: cluster '$NAME' does not exist; start it with $SELF start --name $NAME"
    fi
    return 1
  fi
  local port down
  port="$(config_value kubeApiserverPort)"
  down="$(down_components)"
  if [[ -z "$down" ]]; then
    if api_ready && kcm_ready; then
      echo "running: cluster '$NAME' on https://127.0.0.1:$port (kubeconfig: $KUBECONFIG_PATH)"
      "$NODE_SCRIPT" status 9>&- || true
      return 0
    fi
    echo "broken: cluster '$NAME' runs but its API server or controller manager is not healthy (logs: $WORKDIR/logs/); $SELF start --name $NAME waits for it, $SELF stop --name $NAME && $SELF start --name $NAME recreates it"
    return 2
  fi
  if [[ "$(wc -l <<<"$down")" -eq "${#COMPONENTS[@]}" ]]; then
    echo "stopped: cluster '$NAME' exists but none of its processes run (e.g. after a reboot); $SELF start --name $NAME restarts it with its data"
    return 1
  fi
  echo "broken: cluster '$NAME': ${down//$'\n'/, } not running (logs: $WORKDIR/logs/); $SELF start --name $NAME restarts it in place"
  return 2
}

cmd_kubeconfig() {
  [[ -f "$KUBECONFIG_PATH" ]] ||
    die "cluster '$NAME' has no kubeconfig (it was never started, or was stopped): run $SELF start --name $NAME"
  echo "$KUBECONFIG_PATH"
}

case "$COMMAND" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  kubeconfig) cmd_kubeconfig ;;
  -h | --help | help) usage ;;
  *) die "unknown command '$COMMAND' (usage: $SELF start|stop|status|kubeconfig [--name NAME] [--port PORT])" ;;
esac
