#!/usr/bin/env bash
# make tools: Debian packages the tests and benchmarks run directly. docker-registry is the CNCF
# Distribution registry (two loopback instances stand in for the pre-production and production
# registries), skopeo is the promotion benchmark's baseline, runc runs the BuildKit test daemon's
# containers. The real node (scripts/node.sh): containerd, runc, the CNI plugins, iptables and
# conntrack (kubelet and kube-proxy), socat (the API server's address on the node's bridge),
# nftables (to remove the NetworkPolicy agent's table after a crash). The rootless BuildKit image
# (tools/images/buildkit/build.sh): libseccomp-dev and a C toolchain for a static runc, uidmap's
# newuidmap/newgidmap and setcap (libcap2-bin) for their file capabilities. Idempotent: packages already installed are left alone and apt-get update runs only
# when something is missing from the package lists.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PACKAGES=(docker-registry skopeo runc containerd containernetworking-plugins iptables conntrack socat nftables libseccomp-dev uidmap libcap2-bin gcc libc6-dev)

start=$(now_s)
missing=()
for package in "${PACKAGES[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done

if ((${#missing[@]} > 0)); then
  command -v apt-get >/dev/null ||
    die "Debian packages ${missing[*]} are missing and apt-get is not available: install them with your package manager and rerun make tools."
  SUDO=()
  ((EUID == 0)) || SUDO=(sudo)
  log "installing Debian packages: ${missing[*]}"
  # Update the package lists only when apt cannot find a candidate for one of the packages.
  if ! apt-cache show "${missing[@]}" >/dev/null 2>&1; then
    "${SUDO[@]}" apt-get update -qq
  fi
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
took "Debian packages (${PACKAGES[*]})" "$start"
# The node's packages at least at the versions it was tested with (a pin would break on the next
# security update: the archive keeps only the newest revision).
"$SLIPWAY_ROOT/scripts/node.sh" check-versions
