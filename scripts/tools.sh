#!/usr/bin/env bash
# make tools: the pinned Pulumi CLI, Node.js language host, Kubernetes provider, the embedded
# cluster's binaries and BuildKit (buildctl for `slipway build`, buildkitd for the build tests). A tool already on PATH at the pinned version is used as it is; otherwise it is
# built once from the Go module proxy into $SLIPWAY_TOOLS/<name>-<version>/ and reused from there.
#
#   scripts/tools.sh            ensure every tool (build what is missing), link them into $SLIPWAY_BIN
#   scripts/tools.sh --check    verify only; exit 1 with one line per problem, build nothing
set -euo pipefail
source "$(dirname "$0")/lib.sh"

CHECK_ONLY=false
[[ "${1:-}" == "--check" ]] && CHECK_ONLY=true

# Builds share one Go module and build cache (Go's defaults, or the caller's GOMODCACHE/GOCACHE).
export CGO_ENABLED=0 GOFLAGS="-mod=mod" GOTOOLCHAIN=local
# sum.golang.org is not reachable from here; the module proxy is the only source and go.sum files
# generated in the build directories still pin every module's hash for later rebuilds.
export GOSUMDB=off
GO_BUILD_FLAGS=(-trimpath -p "$(nproc)")

require_go() {
  command -v go >/dev/null || die "Go >= $GO_MIN_VERSION is needed to build the pinned tools and go is not on PATH: install Go $GO_MIN_VERSION or newer and rerun make tools."
  local have
  have="$(go env GOVERSION | sed 's/^go//')"
  if ! printf '%s\n%s\n' "$GO_MIN_VERSION" "$have" | sort -V -C; then
    die "Go $have is too old: Go >= $GO_MIN_VERSION is needed to build the pinned tools; install a newer Go and rerun make tools."
  fi
}

# tool_dir NAME VERSION: where a built tool set lives.
tool_dir() { echo "$SLIPWAY_TOOLS/$1-$2"; }

# verify_dir DIR: the binaries still match the checksums recorded when they were built.
verify_dir() {
  local dir="$1"
  [[ -f "$dir/SHA256SUMS" ]] || return 1
  (cd "$dir" && sha256sum --quiet --strict -c SHA256SUMS >/dev/null 2>&1)
}

# finish_build TMPDIR DIR: record checksums and move the finished build into place atomically.
finish_build() {
  local tmp="$1" dir="$2"
  (cd "$tmp" && find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%P\n' | sort | xargs sha256sum >SHA256SUMS)
  rm -rf "$dir"
  mv "$tmp" "$dir"
}

# on_path_at_version CMD EXPECTED VERSION_CMD...: succeeds when CMD on PATH prints EXPECTED.
on_path_at_version() {
  local cmd="$1" expected="$2"
  shift 2
  local path
  path="$(command -v "$cmd" 2>/dev/null)" || return 1
  [[ "$path" == "$SLIPWAY_BIN/"* ]] && return 1
  "$@" 2>/dev/null | grep -qF -- "$expected"
}

# ensure NAME VERSION BUILD_FN BINARIES...: verify or build one tool set.
ensure() {
  local name="$1" version="$2" build_fn="$3"
  shift 3
  local dir
  dir="$(tool_dir "$name" "$version")"
  if [[ -d "$dir" ]]; then
    verify_dir "$dir" ||
      die "$name $version in $dir is damaged (a binary differs from the checksum recorded when it was built): remove that directory and run make tools to rebuild it."
    # A cache built by an older slipway may lack a binary this one expects (kubelet was added to
    # the Kubernetes set later): such a set is rebuilt, never taken as complete.
    local missing=()
    for bin in "$@"; do [[ -x "$dir/$bin" ]] || missing+=("$bin"); done
    ((${#missing[@]} == 0)) && return 0
    $CHECK_ONLY && die "$name $version in $dir lacks ${missing[*]}: run make tools to rebuild it."
    log "$name $version in $dir lacks ${missing[*]}: rebuilding it"
  fi
  if $CHECK_ONLY; then
    die "$name $version is not built: run make tools (the first build of $name takes $(build_estimate "$name"))."
  fi
  require_go
  log "building $name $version from the Go module proxy (usually $(build_estimate "$name") on 2 cores)"
  local start tmp
  start="$(now_s)"
  tmp="$dir.tmp.$$"
  # Leftovers of an interrupted build are never reused: a build either finishes or starts over.
  rm -rf "$dir".tmp.*
  mkdir -p "$tmp"
  "$build_fn" "$tmp" "$version"
  for bin in "$@"; do
    [[ -x "$tmp/$bin" ]] || die "building $name $version did not produce $bin"
  done
  finish_build "$tmp" "$dir"
  took "building $name $version" "$start"
}

build_estimate() {
  case "$1" in
    pulumi) echo "8-12 minutes" ;;
    pulumi-kubernetes) echo "6-10 minutes" ;;
    kubernetes) echo "12-20 minutes" ;;
    etcd) echo "2-4 minutes" ;;
    kwok) echo "2-4 minutes" ;;
    buildkit) echo "8-25 minutes" ;;
    *) echo "a few minutes" ;;
  esac
}

# non_local_replaces GOMOD: the replace directives of a go.mod that do not point into the repo.
non_local_replaces() {
  awk '
    /^replace *\(/ { inblock = 1; next }
    inblock && /^\)/ { inblock = 0; next }
    inblock && /=>/ { print; next }
    /^replace .*=>/ { sub(/^replace /, ""); print }
  ' "$1" | awk -F'=>' '{ target = $2; sub(/^[ \t]+/, "", target); if (target !~ /^\.\.?\//) print "\t" $0 }'
}

# mod_file MODULE VERSION: path of a module's go.mod in the module cache (downloads it).
mod_file() { go mod download -json "$1@$2" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p'; }
mod_dir() { go mod download -json "$1@$2" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p'; }

build_pulumi() {
  local out="$1" version="$2" work
  work="$(mktemp -d)"
  local pkg_mod
  pkg_mod="$(cd "$work" && mod_file github.com/pulumi/pulumi/pkg/v3 "v$version")"
  {
    echo "module slipway.local/tools/pulumi"
    echo
    echo "go $GO_MIN_VERSION"
    echo
    echo "require ("
    echo "	github.com/pulumi/pulumi/pkg/v3 v$version"
    echo "	github.com/pulumi/pulumi/sdk/v3 v$version"
    echo "	github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3 $PULUMI_LANGUAGE_NODEJS_MODULE_VERSION"
    echo ")"
    echo
    echo "replace ("
    non_local_replaces "$pkg_mod"
    echo ")"
  } >"$work/go.mod"
  (
    cd "$work"
    go build "${GO_BUILD_FLAGS[@]}" -tags osusergo,grpcnotrace \
      -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$version" \
      -o "$out/" \
      github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
      github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3
  )
  rm -rf "$work"
}

build_pulumi_kubernetes() {
  local out="$1" version="$2" work src
  work="$(mktemp -d)"
  src="$(cd "$work" && mod_dir github.com/pulumi/pulumi-kubernetes/provider/v4 "$KUBERNETES_PROVIDER_MODULE_VERSION")"
  cp -r "$src" "$work/provider"
  chmod -R u+w "$work/provider"
  (
    cd "$work/provider"
    go mod edit -dropreplace github.com/pulumi/pulumi-kubernetes/sdk/v4
    (cd cmd/pulumi-resource-kubernetes && VERSION="$version" go run generate.go)
    go build "${GO_BUILD_FLAGS[@]}" \
      -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$version" \
      -o "$out/pulumi-resource-kubernetes" ./cmd/pulumi-resource-kubernetes
  )
  rm -rf "$work"
}

build_kubernetes() {
  local out="$1" version="$2" work minor staging
  work="$(mktemp -d)"
  minor="$(echo "$version" | cut -d. -f2)"
  local k8s_mod
  k8s_mod="$(cd "$work" && mod_file k8s.io/kubernetes "v$version")"
  # Every staging module (k8s.io/api, client-go, ...) at the matching v0.<minor>.<patch>.
  staging="$(grep -oE 'k8s\.io/[a-z0-9-]+ => \./staging/src/k8s\.io/[a-z0-9-]+' "$k8s_mod" | awk '{print $1}')"
  {
    echo "module slipway.local/tools/kubernetes"
    echo
    echo "go $GO_MIN_VERSION"
    echo
    echo "require k8s.io/kubernetes v$version"
    echo
    echo "replace ("
    for m in $staging; do echo "	$m => $m v0.${version#1.}"; done
    echo ")"
  } >"$work/go.mod"
  local v="k8s.io/component-base/version" cv="k8s.io/client-go/pkg/version" ldflags="-s -w"
  for p in "$v" "$cv"; do
    ldflags+=" -X $p.gitVersion=v$version -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  (
    cd "$work"
    go build "${GO_BUILD_FLAGS[@]}" -tags providerless -ldflags "$ldflags" -o "$out/" \
      k8s.io/kubernetes/cmd/kube-apiserver \
      k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler \
      k8s.io/kubernetes/cmd/kubectl \
      k8s.io/kubernetes/cmd/kubelet \
      k8s.io/kubernetes/cmd/kube-proxy
  )
  rm -rf "$work"
}

build_etcd() {
  local out="$1" version="$2" work
  work="$(mktemp -d)"
  {
    echo "module slipway.local/tools/etcd"
    echo
    echo "go $GO_MIN_VERSION"
    echo
    echo "require ("
    for m in server/v3 api/v3 client/pkg/v3 client/v3 pkg/v3; do
      echo "	go.etcd.io/etcd/$m v$version"
    done
    echo ")"
  } >"$work/go.mod"
  (cd "$work" && go build "${GO_BUILD_FLAGS[@]}" -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3)
  rm -rf "$work"
}

build_kwok() {
  local out="$1" version="$2"
  GOBIN="$out" go install "${GO_BUILD_FLAGS[@]}" \
    -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=v$version" \
    "sigs.k8s.io/kwok/cmd/kwok@v$version" "sigs.k8s.io/kwok/cmd/kwokctl@v$version"
}

# BuildKit's go.mod has exclude directives, which `go install module@version` refuses, so the
# module is built as the main module from a writable copy of its source in the module cache.
# buildctl is the client `slipway build` drives; buildkitd is the daemon the build tests run on
# loopback. Same version as the rootless image the BuildRunner deploys (components/pinnedImages.ts).
build_buildkit() {
  local out="$1" version="$2" work src
  work="$(mktemp -d)"
  src="$(cd "$work" && mod_dir github.com/moby/buildkit "v$version")"
  cp -r "$src" "$work/buildkit"
  chmod -R u+w "$work/buildkit"
  (
    cd "$work/buildkit"
    go build "${GO_BUILD_FLAGS[@]}" -tags "osusergo netgo" \
      -ldflags "-s -w -X github.com/moby/buildkit/version.Version=v$version" \
      -o "$out/" ./cmd/buildkitd ./cmd/buildctl
  )
  rm -rf "$work"
}

# The release archive ships two launchers that go build does not produce: the engine starts
# Node.js dynamic providers and policy packs through them, in the program's directory (which may
# be a subdirectory such as dist/), so @pulumi/pulumi is looked up the way Node would. They go
# next to the pulumi binary, where the engine looks for its bundled plugins first (it warns about
# plugins it finds only on PATH). Not part of the build's checksums: rewritten on every run.
write_node_launchers() {
  local dir="$1" launcher
  for launcher in "pulumi-resource-pulumi-nodejs:dynamic-provider" "pulumi-analyzer-policy:run-policy-pack"; do
    rm -f "$dir/${launcher%%:*}" "$SLIPWAY_BIN/${launcher%%:*}"
    cat >"$dir/${launcher%%:*}" <<SH
#!/bin/sh
dir="\$PWD"
while [ "\$dir" != / ] && [ ! -d "\$dir/node_modules/@pulumi/pulumi" ]; do dir="\$(dirname "\$dir")"; done
exec node "\$dir/node_modules/@pulumi/pulumi/cmd/${launcher#*:}" "\$@"
SH
    chmod +x "$dir/${launcher%%:*}"
  done
}

# link DIR BINARIES...: expose a tool set in $SLIPWAY_BIN.
link() {
  local dir="$1"
  shift
  mkdir -p "$SLIPWAY_BIN"
  for bin in "$@"; do ln -sfn "$dir/$bin" "$SLIPWAY_BIN/$bin"; done
}

# use_from_path CMD: link a binary found on PATH at the pinned version.
use_from_path() {
  mkdir -p "$SLIPWAY_BIN"
  ln -sfn "$(command -v "$1")" "$SLIPWAY_BIN/$1"
}

main() {
  local start
  start="$(now_s)"
  mkdir -p "$SLIPWAY_TOOLS"
  if ! $CHECK_ONLY; then
    # One build at a time per cache (a CI job and a developer's make up may share it).
    exec 9>"$SLIPWAY_TOOLS/.lock"
    if ! flock -n 9; then
      log "another make tools is building into $SLIPWAY_TOOLS; waiting for it"
      flock 9
    fi
  fi

  if on_path_at_version pulumi "v$PULUMI_VERSION" pulumi version &&
    command -v pulumi-language-nodejs >/dev/null; then
    use_from_path pulumi
    use_from_path pulumi-language-nodejs
  else
    ensure pulumi "$PULUMI_VERSION" build_pulumi pulumi pulumi-language-nodejs
    link "$(tool_dir pulumi "$PULUMI_VERSION")" pulumi pulumi-language-nodejs
    write_node_launchers "$(tool_dir pulumi "$PULUMI_VERSION")"
  fi

  # Installed as a plugin below, not linked: a provider binary on PATH would override the plugin.
  ensure pulumi-kubernetes "$KUBERNETES_PROVIDER_VERSION" build_pulumi_kubernetes pulumi-resource-kubernetes

  if on_path_at_version etcd "etcd Version: $ETCD_VERSION" etcd --version; then
    use_from_path etcd
  else
    ensure etcd "$ETCD_VERSION" build_etcd etcd
    link "$(tool_dir etcd "$ETCD_VERSION")" etcd
  fi

  local control_plane=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy) on_path=true
  for bin in "${control_plane[@]}" kubectl; do
    local version_cmd=("$bin" --version)
    [[ "$bin" == kubectl ]] && version_cmd=(kubectl version --client)
    on_path_at_version "$bin" "v$KUBERNETES_VERSION" "${version_cmd[@]}" || on_path=false
  done
  if $on_path; then
    for bin in "${control_plane[@]}" kubectl; do use_from_path "$bin"; done
  else
    ensure kubernetes "$KUBERNETES_VERSION" build_kubernetes "${control_plane[@]}" kubectl
    link "$(tool_dir kubernetes "$KUBERNETES_VERSION")" "${control_plane[@]}" kubectl
  fi

  if on_path_at_version kwokctl "v$KWOK_VERSION" kwokctl --version &&
    on_path_at_version kwok "v$KWOK_VERSION" kwok --version; then
    use_from_path kwok
    use_from_path kwokctl
  else
    ensure kwok "$KWOK_VERSION" build_kwok kwok kwokctl
    link "$(tool_dir kwok "$KWOK_VERSION")" kwok kwokctl
  fi

  if on_path_at_version buildctl "v$BUILDKIT_VERSION" buildctl --version &&
    on_path_at_version buildkitd "v$BUILDKIT_VERSION" buildkitd --version; then
    use_from_path buildctl
    use_from_path buildkitd
  else
    ensure buildkit "$BUILDKIT_VERSION" build_buildkit buildkitd buildctl
    link "$(tool_dir buildkit "$BUILDKIT_VERSION")" buildkitd buildctl
  fi

  if ! $CHECK_ONLY; then
    install_kubernetes_plugin
    took "make tools" "$start"
  fi
}

# The Kubernetes provider is installed into $PULUMI_HOME from the binary built above, never
# downloaded.
install_kubernetes_plugin() {
  local plugin_dir="$PULUMI_HOME/plugins/resource-kubernetes-v$KUBERNETES_PROVIDER_VERSION"
  local bin
  bin="$(tool_dir pulumi-kubernetes "$KUBERNETES_PROVIDER_VERSION")/pulumi-resource-kubernetes"
  if [[ -x "$plugin_dir/pulumi-resource-kubernetes" ]] && cmp -s "$bin" "$plugin_dir/pulumi-resource-kubernetes"; then
    return 0
  fi
  "$SLIPWAY_BIN/pulumi" plugin install resource kubernetes "$KUBERNETES_PROVIDER_VERSION" --file "$bin" --reinstall >/dev/null
}

main "$@"
