#!/usr/bin/env bash
# The embedded cluster's real node: kubelet + kube-proxy (built by `make tools`), containerd, runc
# and the CNI plugins (Debian), joined to one embedded control plane. The platform's containers run
# here for real; kwok's simulated nodes stay beside it, tainted, for what needs many nodes or
# scripted readiness.
#
#   scripts/node.sh join --cluster NAME    join cluster NAME (scripts/cluster.sh start --real-node)
#   scripts/node.sh leave [--cluster NAME] drain and stop the node, put the host back as it was
#   scripts/node.sh status                 exit 0 joined (prints to which cluster), 1 not running
#   scripts/node.sh can-run                exit 0 when this host can run a kubelet, else 1 and why
#   scripts/node.sh check-versions         the Debian packages are at least the versions tested
#   scripts/node.sh ensure-free [--cluster NAME]
#                                          fail in one line naming the holder when a real node
#                                          runs here for another cluster (make up/test/bench)
#
# At most one real node runs on a host: kube-proxy's chains, the CNI bridge and the runc state
# exist once per host. Its owner is recorded in $HOST_STATE/owner; a join for another cluster is
# refused in one line naming it. Images are imported once into containerd's store, which outlives
# a node (the integration files share it); everything else a node changes on the host (links,
# routes, iptables chains, mounts, cgroups, sysctls) is recorded at join and undone at leave.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=../tools/cluster/network.env
source "$SLIPWAY_ROOT/tools/cluster/network.env"

SELF="scripts/node.sh"
# Debian puts runc, iptables and conntrack in /usr/sbin, which a non-login root PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"
SLIPWAY_CACHE="$(realpath -ms "$SLIPWAY_CACHE")"
NODE_DIR="$SLIPWAY_CACHE/node"
RUN_DIR="$NODE_DIR/run"             # one node's life: configs, certificates, pids, logs
IMAGE_STORE="$NODE_DIR/containerd"  # containerd's root (images, snapshots): kept across nodes
CONTAINERD_SOCK="$RUN_DIR/containerd.sock"
# Host-wide (not per cache): two caches on one host still share one bridge and one iptables.
HOST_STATE="/run/slipway-node"
HOST_LOCK="/run/slipway-node.lock"
SYSCTLS=(vm.overcommit_memory kernel.panic kernel.panic_on_oops net.ipv4.ip_forward)
CNI_BIN_DIR="/usr/lib/cni"
# The comment on every rule the node puts in a built-in chain: leave finds them by it.
RULE_TAG="-m comment --comment slipway-node"
NODE_TIMEOUT="${SLIPWAY_NODE_TIMEOUT:-90}"
# Debian packages the node runs, with the oldest version it was tested with (the archive keeps only
# the newest revision, so a pin would break on the next security update).
MIN_VERSIONS=(containerd:1.6.20 runc:1.1.5 containernetworking-plugins:1.1.1 iptables:1.8.9 conntrack:1.4.7)

now_ms() { date +%s%3N; }
since_s() {
  local ms=$(($(now_ms) - $1))
  printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100))
}

# ---------------------------------------------------------------------------------------------
# Can this host run a kubelet?

# why_not: prints the first reason this host cannot run the real node, if there is one.
why_not() {
  ((EUID == 0)) || { echo "not root (kubelet, containerd and the CNI bridge need root)"; return; }
  [[ -d /sys/fs/cgroup/memory || -f /sys/fs/cgroup/cgroup.controllers ]] ||
    { echo "no memory cgroup under /sys/fs/cgroup"; return; }
  local bin
  for bin in kubelet kube-proxy kubectl; do
    [[ -x "$SLIPWAY_BIN/$bin" ]] || { echo "$bin is not built (run make tools)"; return; }
  done
  for bin in containerd ctr runc iptables ip6tables conntrack ip openssl socat nft; do
    PATH="$PATH:/usr/sbin:/sbin" command -v "$bin" >/dev/null ||
      { echo "$bin is not installed (run make tools)"; return; }
  done
  for bin in bridge host-local loopback portmap; do
    [[ -x "$CNI_BIN_DIR/$bin" ]] || { echo "the CNI plugin $bin is not in $CNI_BIN_DIR (run make tools)"; return; }
  done
  return 0
}

cmd_can_run() {
  local why
  why="$(why_not)"
  [[ -z "$why" ]] && return 0
  echo "$why"
  return 1
}

# check_min_versions: each Debian package is at least the version tested here.
check_min_versions() {
  local entry package min have
  for entry in "${MIN_VERSIONS[@]}"; do
    package="${entry%%:*}" min="${entry#*:}"
    have="$(dpkg-query -W -f='${Version}' "$package" 2>/dev/null)" || continue
    # The upstream version: Debian's epoch, ~ds repack and revision say nothing about features.
    have="${have#*:}" have="${have%%[~+-]*}"
    dpkg --compare-versions "$have" ge "$min" ||
      die "$package $have is older than $min, the oldest version the real node was tested with: upgrade it (apt-get install $package)."
  done
}

# ---------------------------------------------------------------------------------------------
# Ownership: one node per host

owner_field() { sed -n "s/^$1=//p" "$HOST_STATE/owner" 2>/dev/null | sed -n 1p; }

pid_alive() {
  local pid="$1" stat
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  stat="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" || return 1
  [[ -n "$stat" && "$stat" != Z ]]
}

# owner_alive: the kubelet recorded as the node's is still that kubelet (not a reused pid).
owner_alive() {
  local pid arg0
  pid="$(owner_field kubelet)"
  pid_alive "$pid" || return 1
  IFS= read -r -d '' arg0 2>/dev/null <"/proc/$pid/cmdline" || return 1
  [[ "$arg0" == */kubelet ]]
}

# daemon_pid NAME: the pid of the node's daemon NAME, if that pid still runs that program (a pid
# file survives a reboot, and its pid may since belong to anything).
daemon_pid() {
  local pid arg0 program="$1"
  [[ "$1" == apiserver-proxy ]] && program=socat
  pid="$(cat "$RUN_DIR/pids/$1.pid" 2>/dev/null)" || return 1
  pid_alive "$pid" || return 1
  IFS= read -r -d '' arg0 2>/dev/null <"/proc/$pid/cmdline" || return 1
  [[ "${arg0##*/}" == "$program" ]] && echo "$pid"
}

host_lock() {
  exec 8>"$HOST_LOCK"
  flock -w 180 8 || die "another $SELF is still working on this host's real node (lock $HOST_LOCK)."
}

# ---------------------------------------------------------------------------------------------
# Host: record, prepare, restore

snapshot_host() {
  mkdir -p "$HOST_STATE"
  local s
  : >"$HOST_STATE/sysctls"
  for s in "${SYSCTLS[@]}"; do echo "$s=$(sysctl -n "$s")" >>"$HOST_STATE/sysctls"; done
  ls -1 /run/netns 2>/dev/null >"$HOST_STATE/netns" || : >"$HOST_STATE/netns"
  [[ -d /run/netns ]] && echo yes >"$HOST_STATE/netns-dir-existed" || rm -f "$HOST_STATE/netns-dir-existed"
  local cmd
  for cmd in iptables ip6tables; do
    "$cmd"-save 2>/dev/null | sed -n 's/^:\([^ ]*\) .*/\1/p' | sort -u >"$HOST_STATE/$cmd-chains"
    # The built-in chains' rules, "TABLE RULE" a line (remove_new_tagged_rules).
    local table
    for table in filter nat mangle raw; do
      "$cmd"-save -t "$table" 2>/dev/null | grep -E '^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) ' |
        sed "s/^/$table /" || true
    done | sort -u >"$HOST_STATE/$cmd-rules"
  done
  nft list tables 2>/dev/null | sort >"$HOST_STATE/nft-tables" || : >"$HOST_STATE/nft-tables"
  # Places containerd 1.6 and the CNI plugins write whatever their configuration says (shim
  # sockets, the CNI result cache): removed at leave when they were not there before.
  local dir
  : >"$HOST_STATE/new-dirs"
  for dir in /run/containerd /var/lib/cni; do
    [[ -e "$dir" ]] || echo "$dir" >>"$HOST_STATE/new-dirs"
  done
}

# remove_new_nft_tables: tables that appeared while the node ran (iptables-nft creates its ip and
# ip6 tables on first use; the NetworkPolicy agent has its own).
remove_new_nft_tables() {
  local line
  [[ -f "$HOST_STATE/nft-tables" ]] || return 0
  while read -r line; do
    [[ "$line" == table\ * ]] || continue
    # shellcheck disable=SC2086 # "table FAMILY NAME"
    nft delete $line >/dev/null 2>&1 || true
  done < <(nft list tables 2>/dev/null | sort | comm -23 - "$HOST_STATE/nft-tables")
}

# The external side: every interface but loopback and the node's bridge.
external_networks() {
  ip -o -4 addr show | awk -v b="$NODE_BRIDGE" '$2 != "lo" && $2 != b { print $4 }'
}

# in_cidr IP CIDR
in_cidr() {
  local ip="$1" net="${2%/*}" bits="${2#*/}"
  local a b
  a="$(ip_to_int "$ip")" b="$(ip_to_int "$net")"
  local mask=$(((0xffffffff << (32 - bits)) & 0xffffffff))
  (((a & mask) == (b & mask)))
}
ip_to_int() {
  local IFS=.
  # shellcheck disable=SC2086
  set -- $1
  echo $((($1 << 24) + ($2 << 16) + ($3 << 8) + $4))
}
cidrs_overlap() {
  local b1="${1#*/}" b2="${2#*/}"
  if ((b1 <= b2)); then in_cidr "${2%/*}" "$1"; else in_cidr "${1%/*}" "$2"; fi
}

check_address_plan() {
  local range net resolver
  for range in "$NODE_POD_CIDR" "$SERVICE_CIDR" "$KWOK_POD_CIDR" "$KWOK_NODE_CIDR"; do
    while read -r net; do
      [[ -n "$net" ]] || continue
      if cidrs_overlap "$range" "$net"; then
        die "the cluster range $range overlaps this host's network $net: change it in tools/cluster/network.env."
      fi
    done < <(external_networks)
    while read -r resolver; do
      [[ "$resolver" =~ ^[0-9.]+$ ]] || continue
      if in_cidr "$resolver" "$range"; then
        die "the cluster range $range holds this host's resolver $resolver: change it in tools/cluster/network.env."
      fi
    done < <(awk '$1 == "nameserver" { print $2 }' /etc/resolv.conf 2>/dev/null)
  done
}

# The guard: before the first pod starts, no packet for a cluster address may leave through any
# interface but the bridge, and nothing from outside reaches one, even with kube-proxy down or a
# Service backed by kwok pods. Chains of our own, TABLE:HOOK:CHAIN, so `leave` removes exactly
# what `join` added. The hard guarantees sit where kube-proxy never writes and no ACCEPT of its
# can come first: raw PREROUTING (before conntrack and NAT: inbound) and mangle POSTROUTING (the
# last hook before a packet leaves: outbound, by original or rewritten address). The filter
# chains add fast REJECTs for the host's own packets and keep pods off the kubelet's port.
GUARD_CHAINS=(
  raw:PREROUTING:SLIPWAY-NODE-PRE
  mangle:POSTROUTING:SLIPWAY-NODE-POST
  filter:OUTPUT:SLIPWAY-NODE-OUT
  filter:FORWARD:SLIPWAY-NODE-FWD
  filter:INPUT:SLIPWAY-NODE-IN
)
cluster_ranges() { printf '%s\n' "$NODE_POD_CIDR" "$SERVICE_CIDR" "$KWOK_POD_CIDR" "$KWOK_NODE_CIDR"; }

# guard_rules CHAIN: the rules of that chain, one per line.
guard_rules() {
  local range reject="-j REJECT --reject-with icmp-net-unreachable"
  case "$1" in
    SLIPWAY-NODE-PRE)
      echo "-i $NODE_BRIDGE -j RETURN"
      echo "-i lo -j RETURN"
      while read -r range; do echo "-d $range -j DROP"; done < <(cluster_ranges)
      ;;
    SLIPWAY-NODE-POST)
      echo "-o $NODE_BRIDGE -j RETURN"
      echo "-o lo -j RETURN"
      while read -r range; do
        echo "-d $range -j DROP"
        echo "-s $range -j DROP"
        echo "-m conntrack --ctorigdst $range -j DROP"
      done < <(cluster_ranges)
      ;;
    SLIPWAY-NODE-OUT)
      echo "-o $NODE_BRIDGE -j RETURN"
      echo "-o lo -j RETURN"
      while read -r range; do echo "-d $range $reject"; done < <(cluster_ranges)
      ;;
    SLIPWAY-NODE-FWD)
      # Pods reach each other, the node and Services; nothing they send goes anywhere else.
      echo "-o $NODE_BRIDGE -j RETURN"
      echo "-i $NODE_BRIDGE $reject"
      while read -r range; do echo "-d $range $reject"; done < <(cluster_ranges)
      ;;
    SLIPWAY-NODE-IN)
      # The kubelet's API (anonymous, AlwaysAllow: the API server calls it over loopback) is not
      # for pods; the node's other ports (the API server's bridge address, DNS) answer the bridge
      # and loopback only.
      echo "-i $NODE_BRIDGE -d $NODE_IP -p tcp --dport 10250 -j REJECT --reject-with tcp-reset"
      echo "-i $NODE_BRIDGE -j RETURN"
      echo "-i lo -j RETURN"
      echo "-d $NODE_IP -j DROP"
      ;;
  esac
}

setup_network() {
  if ! ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
    ip link add "$NODE_BRIDGE" type bridge
  fi
  ip addr replace "$NODE_IP/${NODE_POD_CIDR#*/}" dev "$NODE_BRIDGE"
  ip link set "$NODE_BRIDGE" up
  # Nothing answers on kwok's addresses; the Service range stays on the bridge when kube-proxy
  # has not (yet) rewritten a packet.
  ip route replace unreachable "$KWOK_POD_CIDR"
  ip route replace unreachable "$KWOK_NODE_CIDR"
  ip route replace "$SERVICE_CIDR" dev "$NODE_BRIDGE" src "$NODE_IP"

  local entry table hook chain rule
  for entry in "${GUARD_CHAINS[@]}"; do
    IFS=: read -r table hook chain <<<"$entry"
    iptables -t "$table" -N "$chain" 2>/dev/null || iptables -t "$table" -F "$chain"
    while read -r rule; do
      # shellcheck disable=SC2086 # a rule is words
      iptables -t "$table" -A "$chain" $rule
    done < <(guard_rules "$chain")
    # shellcheck disable=SC2086 # the tag is words
    iptables -t "$table" -C "$hook" $RULE_TAG -j "$chain" 2>/dev/null ||
      iptables -t "$table" -I "$hook" 1 $RULE_TAG -j "$chain"
  done
}

teardown_network() {
  local link chain
  # Pods' veths are gone with their netns once containerd's shims are gone; any left are ours.
  for link in $(ip -o link show master "$NODE_BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
    ip link del "$link" 2>/dev/null || true
  done
  ip link del "$NODE_BRIDGE" 2>/dev/null || true
  ip route del unreachable "$KWOK_POD_CIDR" 2>/dev/null || true
  ip route del unreachable "$KWOK_NODE_CIDR" 2>/dev/null || true
  ip route del "$SERVICE_CIDR" 2>/dev/null || true
  local entry table hook
  for entry in "${GUARD_CHAINS[@]}"; do
    IFS=: read -r table hook chain <<<"$entry"
    # shellcheck disable=SC2086 # the tag is words
    while iptables -t "$table" -D "$hook" $RULE_TAG -j "$chain" 2>/dev/null; do :; done
    # A jump without the tag: a node joined by an older scripts/node.sh.
    while iptables -t "$table" -D "$hook" -j "$chain" 2>/dev/null; do :; done
    iptables -t "$table" -F "$chain" 2>/dev/null && iptables -t "$table" -X "$chain" 2>/dev/null || true
  done
}

# remove_new_tagged_rules CMD: rules in the built-in chains that were not there at join and carry
# the comment of one of the node's writers: ours (RULE_TAG), kube-proxy's and the kubelet's
# ("kubernetes ..."), the CNI plugins' ("CNI ..."; portmap, bridge). Rules that jump to a chain
# the node created go with that chain (remove_new_chains); these are the ones that jump nowhere
# of ours (ACCEPT, DROP, MASQUERADE, a built-in target). Untagged rules are left alone: someone
# else on this host wrote them.
remove_new_tagged_rules() {
  local cmd="$1" table rule before="$HOST_STATE/$1-rules"
  [[ -f "$before" ]] || return 0
  for table in filter nat mangle raw; do
    while read -r rule; do
      [[ -n "$rule" ]] || continue
      # xargs splits the rule as iptables-save quoted it (comments with spaces), with no shell
      # expansion.
      xargs "$cmd" -t "$table" <<<"${rule/-A /-D }" >/dev/null 2>&1 || true
    done < <("$cmd"-save -t "$table" 2>/dev/null | grep -E '^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) ' |
      grep -E -- '--comment "?(slipway-node|kubernetes|CNI|cni)' | sed "s/^/$table /" |
      sort -u | comm -23 - <(sort -u "$before") | cut -d' ' -f2-)
  done
}

# remove_new_chains CMD: kube-proxy --cleanup leaves kubelet's chains (KUBE-FIREWALL,
# KUBE-KUBELET-CANARY, KUBE-IPTABLES-HINT, ...): remove every chain that was not there at join,
# after the rules in built-in chains that jump to them.
remove_new_chains() {
  local cmd="$1" table chain before="$HOST_STATE/$1-chains"
  [[ -f "$before" ]] || before=/dev/null
  for table in filter nat mangle raw; do
    local new
    new="$("$cmd"-save -t "$table" 2>/dev/null | sed -n 's/^:\([^ ]*\) .*/\1/p' | sort -u | comm -23 - <(sort -u "$before"))" || continue
    [[ -n "$new" ]] || continue
    local rule
    # Rules anywhere that jump to a new chain go first (a chain in use cannot be deleted).
    while read -r rule; do
      [[ -n "$rule" ]] || continue
      # shellcheck disable=SC2086
      "$cmd" -t "$table" ${rule/-A /-D } 2>/dev/null || true
    done < <("$cmd"-save -t "$table" | grep -E '^-A ' | grep -E -- "-j ($(paste -sd'|' <<<"$new"))( |$)")
    for chain in $new; do "$cmd" -t "$table" -F "$chain" 2>/dev/null || true; done
    for chain in $new; do "$cmd" -t "$table" -X "$chain" 2>/dev/null || true; done
  done
}

restore_sysctls() {
  local line
  [[ -f "$HOST_STATE/sysctls" ]] || return 0
  while IFS= read -r line; do
    [[ -n "$line" ]] && sysctl -qw "$line" >/dev/null
  done <"$HOST_STATE/sysctls"
}

# cleanup_host: stop every daemon of the node and undo what it changed. Safe to run twice and
# after a crash (daemons already gone, pods never drained).
cleanup_host() {
  local name
  for name in kube-proxy kubelet apiserver-proxy; do stop_daemon "$name" 20; done
  [[ -x "$SLIPWAY_BIN/kube-proxy" ]] && "$SLIPWAY_BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true
  stop_containers
  stop_daemon containerd 20
  # Shims outlive containerd; each still holds a container.
  local pid
  for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $CONTAINERD_SOCK" 2>/dev/null || true); do
    kill -KILL "$pid" 2>/dev/null || true
  done
  # containerd was already down (it crashed, or was killed): its containers still run.
  stop_runc_containers
  unmount_under "$RUN_DIR"
  unmount_under "$IMAGE_STORE"
  remove_new_netns
  remove_kubepods_cgroups
  teardown_network
  remove_new_chains iptables
  remove_new_chains ip6tables
  remove_new_tagged_rules iptables
  remove_new_tagged_rules ip6tables
  # The NetworkPolicy agent's own table (tools/images/netpol): it removes it on SIGTERM; after a
  # SIGKILL it stays, and with fail-closed it would keep dropping.
  nft delete table inet slipway-netpol >/dev/null 2>&1 || true
  remove_new_nft_tables
  local range dir
  while read -r range; do conntrack -D -d "$range" >/dev/null 2>&1 || true; done < <(cluster_ranges)
  if [[ -f "$HOST_STATE/new-dirs" ]]; then
    while read -r dir; do
      if [[ -n "$dir" ]]; then rm -rf --one-file-system "$dir"; fi
    done <"$HOST_STATE/new-dirs"
  fi
  restore_sysctls
  rm -rf --one-file-system "$RUN_DIR"
  # The containerd state of one node's life (tasks, shims' sockets) goes with it.
  rm -rf --one-file-system "$IMAGE_STORE/state"
  rm -rf "$HOST_STATE"
}

unmount_under() {
  local dir="$1" target
  [[ -d "$dir" ]] || return 0
  # Deepest first.
  while read -r target; do
    umount -l "$target" 2>/dev/null || true
  done < <(awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r)
}

remove_new_netns() {
  local ns
  [[ -d /run/netns ]] || return 0
  for ns in $(ls -1 /run/netns 2>/dev/null | comm -23 - <(sort "$HOST_STATE/netns" 2>/dev/null || true)); do
    umount "/run/netns/$ns" 2>/dev/null || true
    rm -f "/run/netns/$ns"
  done
  if [[ ! -f "$HOST_STATE/netns-dir-existed" ]] && [[ -z "$(ls -A /run/netns 2>/dev/null)" ]]; then
    rmdir /run/netns 2>/dev/null || true
  fi
}

remove_kubepods_cgroups() {
  local dir
  for dir in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    [[ -d "$dir" ]] || continue
    find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}

# ---------------------------------------------------------------------------------------------
# Daemons

# start_daemon NAME COMMAND...: runs it in its own session, its pid in run/pids, its output in
# run/logs. The pid is the daemon's own (exec), so stop and status see the daemon, not a shell.
start_daemon() {
  local name="$1"
  shift
  mkdir -p "$RUN_DIR/pids" "$RUN_DIR/logs"
  setsid -f sh -c 'echo $$ >"$0"; exec "$@"' "$RUN_DIR/pids/$name.pid" "$@" \
    </dev/null >>"$RUN_DIR/logs/$name.log" 2>&1 8>&- 9>&-
  local i
  for ((i = 0; i < 50; i++)); do
    daemon_pid "$name" >/dev/null && return 0
    sleep 0.1
  done
  die "$name did not start: $(tail -n 3 "$RUN_DIR/logs/$name.log" 2>/dev/null | tr '\n' ' ' | cut -c1-300)"
}

# stop_daemon NAME SECONDS: SIGTERM, then SIGKILL after SECONDS.
stop_daemon() {
  local name="$1" seconds="$2" pid i
  pid="$(daemon_pid "$name")" || return 0
  # Each daemon leads its own session (setsid): its process group holds its helpers too (socat's
  # per-connection children).
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < seconds * 10; i++)); do
    pid_alive "$pid" || break
    sleep 0.1
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
}

# wait_for SECONDS WHAT CHECK...: bounded, fails naming what it waited for and the daemon logs.
wait_for() {
  local seconds="$1" what="$2" deadline
  shift 2
  deadline=$(($(now_s) + seconds))
  until "$@"; do
    if (($(now_s) >= deadline)); then
      local name
      for name in containerd kubelet kube-proxy; do
        [[ -s "$RUN_DIR/logs/$name.log" ]] && echo "--- last lines of $name.log" >&2 &&
          grep -v '^\s*$' "$RUN_DIR/logs/$name.log" | tail -n 5 | cut -c1-300 >&2
      done
      die "the real node: timed out after ${seconds}s waiting for $what (logs: $RUN_DIR/logs/)"
    fi
    sleep 0.25
  done
}

ctr_() { ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }

write_containerd_config() {
  mkdir -p "$IMAGE_STORE/root" "$IMAGE_STORE/state" "$RUN_DIR/runc" "$RUN_DIR/cni/net.d" "$RUN_DIR/cni/ipam"
  cat >"$RUN_DIR/containerd.toml" <<TOML
version = 2
root = "$IMAGE_STORE/root"
state = "$IMAGE_STORE/state"
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$IMAGE_STORE/opt"
[plugins."io.containerd.grpc.v1.cri"]
  # Built here (tools/images/pause): nothing can be pulled.
  sandbox_image = "$(image_ref pause)"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  # This VM's capability bounding set lacks CAP_SYS_RESOURCE: no process may lower its
  # oom_score_adj, and without this every sandbox fails in runc (the pause container asks -998).
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(PATH="$PATH:/usr/sbin" command -v runc)"
        Root = "$RUN_DIR/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN_DIR"
    conf_dir = "$RUN_DIR/cni/net.d"
    max_conf_num = 1
  # Registry hosts, one directory per registry (hosts.toml): read at every pull.
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$RUN_DIR/certs.d"
TOML
  write_registry_hosts
  # ipMasq off: nothing leaves through the external interface. The bridge plugin turns
  # net.ipv4.ip_forward on (restored at leave); the guard chain keeps forwarding on the bridge.
  cat >"$RUN_DIR/cni/net.d/10-slipway.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "slipway",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$NODE_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$RUN_DIR/cni/ipam",
        "ranges": [[{ "subnet": "$NODE_POD_CIDR", "gateway": "$NODE_IP" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true }, "snat": true }
  ]
}
JSON
}

# write_registry_hosts: the in-cluster registry's name (REGISTRY_HOST, as the Deployments name
# their images) goes to its Service address (REGISTRY_SERVICE_IP), over plain HTTP. The server
# line is that address too, so containerd never looks the cluster name up in the host's resolver.
write_registry_hosts() {
  local dir="$RUN_DIR/certs.d/$REGISTRY_HOST" port="${REGISTRY_HOST##*:}"
  mkdir -p "$dir"
  cat >"$dir/hosts.toml" <<TOML
# $REGISTRY_HOST: the in-cluster registry (components/registry.ts), at its Service address
# (tools/cluster/network.env). Plain HTTP: the local stack only, on this machine.
server = "http://$REGISTRY_SERVICE_IP:$port"

[host."http://$REGISTRY_SERVICE_IP:$port"]
  capabilities = ["pull", "resolve"]
TOML
}

image_ref() { "$SLIPWAY_ROOT/scripts/images.sh" ref "$1"; }

# import_images: every image of the lock file into containerd's k8s.io namespace, once.
import_images() {
  local name ref archive have
  have="$(ctr_ images ls -q 2>/dev/null)"
  for name in $("$SLIPWAY_ROOT/scripts/images.sh" list); do
    ref="$(image_ref "$name")"
    grep -qxF "${ref%%:*}@${ref#*@}" <<<"$have" && continue
    archive="$("$SLIPWAY_ROOT/scripts/images.sh" archive "$name")"
    [[ -f "$archive" ]] || die "image $name is not built ($archive is missing): run make tools."
    ctr_ images import "$archive" >/dev/null || die "containerd could not import $archive"
    # Pods name images by repository@digest (the tag says nothing): give the image that name too,
    # as a pull would.
    ctr_ images tag --force "${ref%@*}" "${ref%%:*}@${ref#*@}" >/dev/null ||
      die "containerd could not name $ref by its digest"
  done
}

# issue_cert NAME SUBJECT: a client certificate signed by the cluster's CA (new at every cluster
# create, so issued per join).
issue_cert() {
  local name="$1" subject="$2" pki="$RUN_DIR/pki"
  mkdir -p "$pki"
  (
    umask 077
    openssl req -new -newkey rsa:2048 -nodes -keyout "$pki/$name.key" -subj "$subject" \
      -out "$pki/$name.csr" 2>/dev/null
    openssl x509 -req -in "$pki/$name.csr" -CA "$CLUSTER_PKI/ca.crt" -CAkey "$CLUSTER_PKI/ca.key" \
      -CAcreateserial -days 30 -out "$pki/$name.crt" \
      -extfile <(printf 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n') 2>/dev/null
  ) || die "could not issue the $name certificate from $CLUSTER_PKI/ca.key"
  local kubeconfig="$RUN_DIR/$name.kubeconfig"
  "$SLIPWAY_BIN/kubectl" config set-cluster embedded --server="$API_SERVER" \
    --certificate-authority="$CLUSTER_PKI/ca.crt" --embed-certs --kubeconfig="$kubeconfig" >/dev/null
  "$SLIPWAY_BIN/kubectl" config set-credentials "$name" --client-certificate="$pki/$name.crt" \
    --client-key="$pki/$name.key" --embed-certs --kubeconfig="$kubeconfig" >/dev/null
  "$SLIPWAY_BIN/kubectl" config set-context "$name" --cluster=embedded --user="$name" \
    --kubeconfig="$kubeconfig" >/dev/null
  "$SLIPWAY_BIN/kubectl" config use-context "$name" --kubeconfig="$kubeconfig" >/dev/null
}

write_kubelet_config() {
  mkdir -p "$RUN_DIR/kubelet" "$RUN_DIR/pod-logs"
  cat >"$RUN_DIR/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# The API server dials the node's InternalIP for logs, exec and port-forward.
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
# cgroup v1 and no systemd as PID 1 on this kind of host.
cgroupDriver: cgroupfs
failCgroupV1: false
cgroupsPerQOS: true
enforceNodeAllocatable: [pods]
failSwapOn: false
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
imageServiceEndpoint: unix://$CONTAINERD_SOCK
# The API server calls kubelets without a client certificate (kwokctl gives it none); the port is
# reachable from the bridge and loopback only (the guard chain).
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
  x509: {clientCAFile: $CLUSTER_PKI/ca.crt}
authorization: {mode: AlwaysAllow}
clusterDNS: [$CLUSTER_DNS_IP]
clusterDomain: $CLUSTER_DOMAIN
resolvConf: ""
podLogsDir: $RUN_DIR/pod-logs
registerNode: true
maxPods: 60
# The load tests' clients log a line per request; keep a whole run in one file.
containerLogMaxSize: 50Mi
# Imported images can never be pulled again: no image garbage collection.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "200Mi", nodefs.available: "2%", imagefs.available: "2%"}
rotateCertificates: false
serverTLSBootstrap: false
YAML
  cat >"$RUN_DIR/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $RUN_DIR/kube-proxy.kubeconfig}
mode: iptables
hostnameOverride: $NODE_NAME
clusterCIDR: $NODE_POD_CIDR
detectLocalMode: ClusterCIDR
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# Node ports on the bridge only, never the external interface.
nodePortAddresses: ["$NODE_IP/32"]
iptables: {localhostNodePorts: false, masqueradeAll: false, syncPeriod: 30s, minSyncPeriod: 1s}
# Zeros leave the host's conntrack sysctls alone.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
YAML
}

kc() { timeout 20 "$SLIPWAY_BIN/kubectl" --kubeconfig "$ADMIN_KUBECONFIG" --request-timeout=10s "$@" 8>&- 9>&-; }
# kc_long SECONDS ARGS...: kubectl for a wait of its own (rollout status --timeout), bounded.
kc_long() {
  local seconds="$1"
  shift
  timeout "$seconds" "$SLIPWAY_BIN/kubectl" --kubeconfig "$ADMIN_KUBECONFIG" "$@" 8>&- 9>&-
}

node_ready() {
  [[ "$(kc get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}
proxy_healthy() { curl -sf --max-time 2 http://127.0.0.1:10256/healthz >/dev/null 2>&1; }
containerd_up() { ctr_ version >/dev/null 2>&1; }

# ---------------------------------------------------------------------------------------------
# Commands

cluster_paths() {
  local name="$1"
  CLUSTER_NAME="$name"
  local workdir="$SLIPWAY_CACHE/clusters/$name/kwok/clusters/$name"
  ADMIN_KUBECONFIG="$workdir/kubeconfig.yaml"
  CLUSTER_PKI="$workdir/pki"
  [[ -f "$ADMIN_KUBECONFIG" && -f "$CLUSTER_PKI/ca.key" ]] ||
    die "cluster '$name' is not running (no $ADMIN_KUBECONFIG): start it with scripts/cluster.sh start --name $name"
  API_SERVER="$(sed -n 's/^ *server: *//p' "$ADMIN_KUBECONFIG" | sed -n 1p)"
}

# node_intact: every daemon of the node runs and its credentials are of this cluster's CA.
node_intact() {
  local name
  for name in containerd kubelet kube-proxy apiserver-proxy; do
    daemon_pid "$name" >/dev/null || return 1
  done
  openssl verify -CAfile "$CLUSTER_PKI/ca.crt" "$RUN_DIR/pki/kubelet.crt" >/dev/null 2>&1
}

cmd_join() {
  local t0
  t0="$(now_ms)"
  [[ -n "${CLUSTER_NAME:-}" ]] || die "usage: $SELF join --cluster NAME"
  local why
  why="$(why_not)"
  [[ -z "$why" ]] || die "this host cannot run a real node: $why"
  check_min_versions
  cluster_paths "$CLUSTER_NAME"
  host_lock
  if [[ -f "$HOST_STATE/owner" ]]; then
    local owner cache
    owner="$(owner_field cluster)" cache="$(owner_field cache)"
    if [[ "$owner" == "$CLUSTER_NAME" && "$cache" == "$SLIPWAY_CACHE" ]] && node_intact; then
      wait_for "$NODE_TIMEOUT" "node $NODE_NAME to be Ready" node_ready
      log "the real node $NODE_NAME is already joined to cluster '$CLUSTER_NAME'"
      return 0
    fi
    # Ours but broken (a daemon died, or the cluster was recreated with a new CA): join again.
    [[ "$owner" == "$CLUSTER_NAME" && "$cache" == "$SLIPWAY_CACHE" ]] || cmd_ensure_free
    log "cleaning up after a real node that did not leave or is not whole (cluster '$owner')"
    cleanup_host
  fi
  check_address_plan
  snapshot_host
  {
    echo "cluster=$CLUSTER_NAME"
    echo "cache=$SLIPWAY_CACHE"
  } >"$HOST_STATE/owner"
  mkdir -p "$RUN_DIR"
  setup_network

  issue_cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME"
  issue_cert kube-proxy "/CN=system:kube-proxy"

  local step
  step="$(now_ms)"
  write_containerd_config
  daemon_pid containerd >/dev/null ||
    start_daemon containerd "$(command -v containerd)" --config "$RUN_DIR/containerd.toml"
  wait_for 30 "containerd to answer on $CONTAINERD_SOCK" containerd_up
  import_images
  log "containerd ready with the images in $(since_s "$step")s"

  write_kubelet_config
  start_daemon kubelet "$SLIPWAY_BIN/kubelet" --config="$RUN_DIR/kubelet.yaml" \
    --kubeconfig="$RUN_DIR/kubelet.kubeconfig" --root-dir="$RUN_DIR/kubelet" \
    --cert-dir="$RUN_DIR/kubelet/pki" --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" \
    --node-labels="slipway.dev/node=real"
  echo "kubelet=$(daemon_pid kubelet)" >>"$HOST_STATE/owner"
  # The API server binds 127.0.0.1 and advertises the node's bridge address (tools/kwok/kwokctl.yaml):
  # forward that address, and only it, so pods reach the `kubernetes` Service.
  local api_port="${API_SERVER##*:}"
  start_daemon apiserver-proxy "$(command -v socat)" \
    "TCP-LISTEN:$api_port,bind=$NODE_IP,fork,reuseaddr" "TCP:127.0.0.1:$api_port"
  start_daemon kube-proxy "$SLIPWAY_BIN/kube-proxy" --config="$RUN_DIR/kube-proxy.yaml" --v=1
  wait_for "$NODE_TIMEOUT" "node $NODE_NAME to be Ready" node_ready
  wait_for 30 "kube-proxy to be healthy (127.0.0.1:10256)" proxy_healthy
  # Platform workloads land on the real node; only what tolerates the taint (fixtures that need
  # scripted readiness) stays on kwok's simulated nodes.
  kc taint nodes -l type=kwok slipway.dev/simulated=true:NoSchedule --overwrite >/dev/null
  step="$(now_ms)"
  deploy_addons
  log "cluster DNS and NetworkPolicy enforcement ready in $(since_s "$step")s"
  log "real node $NODE_NAME joined cluster '$CLUSTER_NAME' in $(since_s "$t0")s (node IP $NODE_IP, pods $NODE_POD_CIDR)"
}

# render TEMPLATE: a manifest of tools/cluster/ with the address plan and image pins filled in.
render() {
  local text
  text="$(<"$SLIPWAY_ROOT/tools/cluster/$1")"
  text="${text//@CLUSTER_DNS_IP@/$CLUSTER_DNS_IP}"
  text="${text//@CLUSTER_DOMAIN@/$CLUSTER_DOMAIN}"
  text="${text//@NODE_IP@/$NODE_IP}"
  text="${text//@COREDNS_IMAGE@/$(image_ref coredns)}"
  text="${text//@NETPOL_IMAGE@/$(image_ref netpol)}"
  printf '%s\n' "$text"
}

# deploy_addons: the cluster DNS (CoreDNS) and the NetworkPolicy agent, on the pod network with
# their ServiceAccounts (the API server is reachable from pods), from images built here.
deploy_addons() {
  local name
  for name in coredns netpol; do
    render "$name.yaml" >"$RUN_DIR/$name.yaml"
    kc apply -f "$RUN_DIR/$name.yaml" >/dev/null || die "could not apply tools/cluster/$name.yaml"
  done
  kc_long 130 -n kube-system rollout status deployment/coredns --timeout=120s >/dev/null ||
    die "CoreDNS did not become ready within 120 s: $(kc -n kube-system logs deployment/coredns --tail=3 2>&1 | tr '\n' ' ' | cut -c1-300)"
  kc_long 130 -n kube-system rollout status daemonset/netpol --timeout=120s >/dev/null ||
    die "the NetworkPolicy agent did not become ready within 120 s: $(kc -n kube-system logs daemonset/netpol --tail=3 2>&1 | tr '\n' ' ' | cut -c1-300)"
}

# drain: cordon the node (controllers' replacements stay Pending: the kwok nodes are tainted),
# delete its pods and wait, bounded, until the kubelet has stopped them, so their sandboxes are
# torn down through CNI rather than cut off. DaemonSet pods come back on a cordoned node: they
# are stopped with the node.
drain() {
  [[ -f "${ADMIN_KUBECONFIG:-}" ]] || return 0
  kc get --raw /readyz >/dev/null 2>&1 || return 0
  daemon_pid kubelet >/dev/null || return 0
  kc cordon "$NODE_NAME" >/dev/null 2>&1 || true
  kc delete pods --all-namespaces --field-selector "spec.nodeName=$NODE_NAME" --grace-period=2 \
    --wait=false >/dev/null 2>&1 || true
  local deadline=$(($(now_s) + 30)) left
  while (($(now_s) < deadline)); do
    # namespace/name and owner kind, one pod a line; a failed list is not a drained node.
    if left="$(kc get pods --all-namespaces --field-selector "spec.nodeName=$NODE_NAME" \
      -o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name} {.metadata.ownerReferences[0].kind}{"\n"}{end}' 2>/dev/null)"; then
      grep -v ' DaemonSet$' <<<"$left" | grep -q . || return 0
    fi
    sleep 0.5
  done
  log "pods on $NODE_NAME did not stop within 30 s: stopping them with the node"
}

# stop_containers: what the kubelet did not stop: kill every task, remove containers.
stop_containers() {
  containerd_up || return 0
  local id i
  # SIGTERM first: the NetworkPolicy agent removes its nftables table on it.
  for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s TERM "$id" >/dev/null 2>&1 || true; done
  for ((i = 0; i < 50; i++)); do
    ctr_ tasks ls 2>/dev/null | awk 'NR > 1 && $3 == "RUNNING"' | grep -q . || break
    sleep 0.1
  done
  for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s KILL "$id" >/dev/null 2>&1 || true; done
  sleep 0.5
  for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks delete -f "$id" >/dev/null 2>&1 || true; done
  for id in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers delete "$id" >/dev/null 2>&1 || true; done
}

# stop_runc_containers: what containerd could not stop because it was down: runc's own state
# (the Root containerd gives it, a directory per containerd namespace) lists every container that
# still exists. SIGTERM first (the NetworkPolicy agent removes its table on it), then delete
# --force (SIGKILL, then the container's state and cgroups).
stop_runc_containers() {
  local runc root id i
  runc="$(command -v runc)" || return 0
  for root in "$RUN_DIR"/runc/*/; do
    [[ -d "$root" ]] || continue
    local ids
    ids="$("$runc" --root "$root" list -q 2>/dev/null)" || continue
    [[ -n "$ids" ]] || continue
    log "containerd was down: stopping $(wc -l <<<"$ids") containers through runc ($root)"
    for id in $ids; do "$runc" --root "$root" kill "$id" TERM >/dev/null 2>&1 || true; done
    for ((i = 0; i < 50; i++)); do
      "$runc" --root "$root" list 2>/dev/null | awk 'NR > 1 && $3 == "running"' | grep -q . || break
      sleep 0.1
    done
    for id in $ids; do "$runc" --root "$root" delete --force "$id" >/dev/null 2>&1 || true; done
  done
}

cmd_leave() {
  local t0
  t0="$(now_ms)"
  # No node runs here (a kwok-only host, not root): nothing to leave, and no lock to take.
  [[ -f "$HOST_STATE/owner" ]] || return 0
  host_lock
  if [[ ! -f "$HOST_STATE/owner" ]]; then
    return 0
  fi
  local owner
  owner="$(owner_field cluster)"
  if [[ -n "${CLUSTER_NAME:-}" && "$owner" != "$CLUSTER_NAME" ]]; then
    return 0
  fi
  if [[ "$(owner_field cache)" != "$SLIPWAY_CACHE" ]]; then
    die "the real node on this host belongs to another cache ($(owner_field cache)): stop it from there."
  fi
  local workdir="$SLIPWAY_CACHE/clusters/$owner/kwok/clusters/$owner"
  ADMIN_KUBECONFIG="$workdir/kubeconfig.yaml"
  drain
  kc delete node "$NODE_NAME" --wait=false >/dev/null 2>&1 || true
  cleanup_host
  log "real node $NODE_NAME stopped and the host restored in $(since_s "$t0")s"
}

cmd_ensure_free() {
  [[ -f "$HOST_STATE/owner" ]] || return 0
  owner_alive || return 0
  local owner cache
  owner="$(owner_field cluster)" cache="$(owner_field cache)"
  [[ -n "$CLUSTER_NAME" && "$owner" == "$CLUSTER_NAME" && "$cache" == "$SLIPWAY_CACHE" ]] && return 0
  die "a real node already runs on this host for cluster '$owner' (cache $cache, kubelet pid $(owner_field kubelet)); one node per host: stop it first (make down, or SLIPWAY_CACHE=$cache scripts/cluster.sh stop --name $owner)."
}

cmd_status() {
  if [[ -f "$HOST_STATE/owner" ]] && daemon_pid kubelet >/dev/null; then
    local down=() name
    for name in containerd kubelet kube-proxy apiserver-proxy; do daemon_pid "$name" >/dev/null || down+=("$name"); done
    if ((${#down[@]})); then
      echo "broken: real node $NODE_NAME of cluster '$(owner_field cluster)': ${down[*]} not running (logs: $RUN_DIR/logs/)"
      return 2
    fi
    echo "running: real node $NODE_NAME ($NODE_IP) joined to cluster '$(owner_field cluster)'"
    return 0
  fi
  echo "stopped: no real node runs on this host"
  return 1
}

COMMAND="${1:-}"
shift || true
CLUSTER_NAME=""
while (($#)); do
  case "$1" in
    --cluster) CLUSTER_NAME="${2:?--cluster needs a value}" && shift 2 ;;
    --cluster=*) CLUSTER_NAME="${1#*=}" && shift ;;
    *) die "unknown argument '$1' (usage: $SELF join|leave|status|can-run|ensure-free [--cluster NAME])" ;;
  esac
done
case "$COMMAND" in
  join) cmd_join ;;
  leave) cmd_leave ;;
  status) cmd_status ;;
  can-run) cmd_can_run ;;
  ensure-free) cmd_ensure_free ;;
  check-versions) check_min_versions ;;
  *) die "unknown command '${COMMAND}' (usage: $SELF join|leave|status|can-run|ensure-free [--cluster NAME])" ;;
esac
