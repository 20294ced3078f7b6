#!/usr/bin/env bash
# The build context of the rootless BuildKit image (tools/images/buildkit/Dockerfile): builds the
# binaries the way upstream's Dockerfile (target "rootless" of github.com/moby/buildkit@v0.33.1)
# builds them, static, from the Go module proxy, and copies the Dockerfile, the static files and
# Debian's newuidmap/newgidmap (with their shared libraries) next to them.
#
#   tools/images/buildkit/build.sh OUTDIR [PART...]
#
# PART is any of buildkit rootlesskit runc uidmap files (default: all). Afterwards OUTDIR holds
# every file the Dockerfile copies; `buildctl build --local context=OUTDIR --local
# dockerfile=OUTDIR` builds the image. OUTDIR is created if needed; files already there are
# overwritten, others are left alone. Go's module and build caches are the caller's (GOMODCACHE,
# GOCACHE); GOTOOLCHAIN, GOAMD64 and the like are taken from the environment as they are.
#
# Needs: go, a C toolchain and libseccomp's static library for runc (Debian: gcc libc6-dev
# libseccomp-dev), Debian's uidmap (newuidmap/newgidmap), setcap (libcap2-bin) and GNU tar; root,
# or CAP_SETFCAP, to put the file capabilities on newuidmap/newgidmap.
set -euo pipefail
umask 022

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Versions. BuildKit's comes from tools/versions.env (the one pinned for the whole project). The
# others are what BuildKit v0.33.1's own Dockerfile pins (its `ARG RUNC_VERSION=v1.4.3` and
# `ARG ROOTLESSKIT_VERSION=v3.0.1`); check_upstream_pins fails the build if that Dockerfile says
# otherwise, so moving BUILDKIT_VERSION forces a look at these two.
# shellcheck source=/dev/null
source "$HERE/../../versions.env"
RUNC_VERSION=v1.4.3
ROOTLESSKIT_VERSION=v3.0.1

# Build tags as upstream: buildkitd `osusergo netgo static_build seccomp` (CGO_ENABLED=0),
# buildctl none, runc `apparmor seccomp netgo cgo static_build osusergo` (CGO_ENABLED=1, linked
# with -extldflags -static against libseccomp.a), rootlesskit none.
BUILDKITD_TAGS="osusergo netgo static_build seccomp"
RUNC_TAGS="apparmor seccomp netgo cgo static_build osusergo"
COMMON_LDFLAGS="-s -w -buildid="

die() {
  echo "build.sh: $*" >&2
  exit 1
}
now_s() { date +%s; }
took() { echo "build.sh: $1 took $(($(now_s) - $2))s" >&2; }

usage() { die "usage: $0 OUTDIR [buildkit|rootlesskit|runc|uidmap|files...]"; }

(($# >= 1)) || usage
OUT="$1"
shift
PARTS=("$@")
((${#PARTS[@]} > 0)) || PARTS=(files buildkit rootlesskit runc uidmap)
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

export GOFLAGS="${GOFLAGS:--mod=mod}" GOSUMDB="${GOSUMDB:-off}" GOWORK=off GOOS=linux
command -v go >/dev/null || die "go is not on PATH"

# Temporary directories, removed however the script ends.
TMP_DIRS=()
trap 'rm -rf "${TMP_DIRS[@]}"' EXIT
# new_tmp VAR: a new temporary directory, its path in VAR.
new_tmp() {
  local d
  d="$(mktemp -d)"
  TMP_DIRS+=("$d")
  printf -v "$1" '%s' "$d"
}

mod_dir() {
  go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p'
}

BUILDKIT_SRC=""
buildkit_src() {
  if [[ -z "$BUILDKIT_SRC" ]]; then
    BUILDKIT_SRC="$(cd "$OUT" && mod_dir "github.com/moby/buildkit@v$BUILDKIT_VERSION")"
    [[ -n "$BUILDKIT_SRC" && -f "$BUILDKIT_SRC/Dockerfile" ]] ||
      die "could not download github.com/moby/buildkit@v$BUILDKIT_VERSION from the module proxy"
  fi
}

check_upstream_pins() {
  buildkit_src
  local arg want have
  for arg in RUNC_VERSION ROOTLESSKIT_VERSION; do
    want="${!arg}"
    have="$(sed -n "s/^ARG $arg=//p" "$BUILDKIT_SRC/Dockerfile")"
    [[ "$have" == "$want" ]] ||
      die "BuildKit v$BUILDKIT_VERSION's Dockerfile pins $arg=$have but build.sh pins $want: update build.sh"
  done
}

# BuildKit's go.mod has exclude directives, which `go install module@version` refuses, so it is
# built as the main module from a writable copy of its source (as scripts/tools.sh does).
build_buildkit() {
  buildkit_src
  local work start ldflags
  new_tmp work
  cp -r "$BUILDKIT_SRC" "$work/buildkit"
  chmod -R u+w "$work/buildkit"
  # Upstream sets Revision from git too; the module proxy gives no commit, so it stays empty.
  ldflags="$COMMON_LDFLAGS -X github.com/moby/buildkit/version.Version=v$BUILDKIT_VERSION -X github.com/moby/buildkit/version.Package=github.com/moby/buildkit"
  start="$(now_s)"
  (cd "$work/buildkit" && CGO_ENABLED=0 go build -trimpath -buildvcs=false -tags "$BUILDKITD_TAGS" \
    -ldflags "$ldflags" -o "$OUT/buildkitd" ./cmd/buildkitd)
  took "go build buildkitd v$BUILDKIT_VERSION" "$start"
  start="$(now_s)"
  (cd "$work/buildkit" && CGO_ENABLED=0 go build -trimpath -buildvcs=false \
    -ldflags "$ldflags" -o "$OUT/buildctl" ./cmd/buildctl)
  took "go build buildctl v$BUILDKIT_VERSION" "$start"
  rm -rf "$work"
}

build_rootlesskit() {
  local start
  start="$(now_s)"
  # Outside any module, so rootlesskit's own go.mod/go.sum select its dependencies.
  (cd "$OUT" && CGO_ENABLED=0 GOBIN="$OUT" go install -trimpath -buildvcs=false \
    -ldflags "$COMMON_LDFLAGS" "github.com/rootless-containers/rootlesskit/v3/cmd/rootlesskit@$ROOTLESSKIT_VERSION")
  took "go build rootlesskit $ROOTLESSKIT_VERSION" "$start"
}

# runc needs cgo (libcontainer/nsenter) and libseccomp; upstream links both statically. Its
# version comes from the VERSION file in the module; the git commit is not known here.
build_runc() {
  local start
  [[ -f /usr/lib/x86_64-linux-gnu/libseccomp.a || -f /usr/lib/libseccomp.a ]] ||
    pkg-config --exists libseccomp 2>/dev/null ||
    die "runc needs libseccomp's static library: apt-get install libseccomp-dev (Debian ships libseccomp.a in it)"
  command -v gcc >/dev/null || die "runc needs a C compiler (cgo): apt-get install gcc libc6-dev"
  start="$(now_s)"
  local work
  new_tmp work
  (cd "$work" && CGO_ENABLED=1 GOBIN="$work" go install -trimpath -buildvcs=false -tags "$RUNC_TAGS" \
    -ldflags "$COMMON_LDFLAGS -extldflags -static" "github.com/opencontainers/runc@$RUNC_VERSION")
  # The name upstream's image gives it: buildkitd prefers buildkit-runc over a runc on PATH.
  mv "$work/runc" "$OUT/buildkit-runc"
  rm -rf "$work"
  local linkage
  linkage="$(ldd "$OUT/buildkit-runc" 2>&1 || true)"
  [[ "$linkage" == *"not a dynamic executable"* || "$linkage" == *"statically linked"* ]] ||
    die "buildkit-runc came out dynamically linked: $linkage"
  took "go build runc $RUNC_VERSION (static, libseccomp)" "$start"
}

# newuidmap/newgidmap: rootlesskit always runs them to map the subordinate range of
# /etc/subuid,/etc/subgid (it has no single-ID fallback). They are Debian's (package uidmap, C,
# dynamically linked), packed into uidmap.tar with the shared libraries they load (ldd) under the
# same paths, so they run in the scratch image.
#
# They get file capabilities (newuidmap cap_setuid=ep, newgidmap cap_setgid=ep) instead of the
# setuid bit of upstream's Alpine package: Debian builds shadow without libcap, so setuid-root
# newuidmap keeps euid 0 and then needs CAP_SYS_ADMIN (and CAP_DAC_OVERRIDE) to write
# /proc/PID/uid_map, which a pod without privileged: true does not have ("newuidmap: write to
# uid_map failed: Operation not permitted"). With file capabilities it runs as the user itself
# and needs only CAP_SETUID/CAP_SETGID in the bounding set, which containerd's default set has.
# The capabilities travel as the tar's SCHILY.xattr.security.capability records: the Dockerfile
# ADDs the tar because a COPY from the build context does not keep security.capability.
copy_uidmap() {
  local start bin lib tree
  start="$(now_s)"
  for bin in newuidmap newgidmap; do
    [[ -x /usr/bin/$bin ]] || die "/usr/bin/$bin is missing: apt-get install uidmap"
  done
  command -v setcap >/dev/null || die "setcap is missing: apt-get install libcap2-bin"
  new_tmp tree
  install -d -m 0755 "$tree/usr" "$tree/usr/bin"
  install -m 0755 /usr/bin/newuidmap /usr/bin/newgidmap "$tree/usr/bin/"
  for lib in $( (ldd /usr/bin/newuidmap && ldd /usr/bin/newgidmap) | awk '/=> \//{print $3} /^\t\/[^ ]+ \(/{print $1}' | sort -u); do
    # Debian's ld.so searches /lib/x86_64-linux-gnu and its interpreter is
    # /lib64/ld-linux-x86-64.so.2: same paths in the image, symlinks (merged /usr) resolved.
    install -D -m 0644 "$(readlink -f "$lib")" "$tree$lib"
  done
  chmod 0755 "$tree"/lib64/ld-linux-*.so.*
  find "$tree" -type d -exec chmod 0755 {} +
  if ! setcap cap_setuid=ep "$tree/usr/bin/newuidmap" || ! setcap cap_setgid=ep "$tree/usr/bin/newgidmap"; then
    die "setcap failed (setting file capabilities needs root or CAP_SETFCAP)"
  fi
  tar --create --file "$OUT/uidmap.tar" --format=posix \
    --pax-option='exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime' \
    --xattrs --xattrs-include=security.capability --numeric-owner --owner=0 --group=0 \
    --mtime=@0 --sort=name -C "$tree" usr lib lib64
  rm -rf "$tree"
  tar --list --verbose --xattrs --file "$OUT/uidmap.tar" | grep -q 'usr/bin/newuidmap' ||
    die "uidmap.tar lacks newuidmap"
  UIDMAP_VERSION="$(dpkg-query -W -f='${Version}' uidmap 2>/dev/null || echo unknown)"
  took "packing Debian's newuidmap/newgidmap (uidmap $UIDMAP_VERSION) with file capabilities and $(tar -tf "$OUT/uidmap.tar" | grep -c '\.so') libraries" "$start"
}

# The Dockerfile, the /etc files and the directories the image needs (modes set here: COPY keeps
# them).
copy_files() {
  local f
  for f in Dockerfile passwd group subuid subgid nsswitch.conf; do
    install -m 0644 "$HERE/$f" "$OUT/$f"
  done
  rm -rf "$OUT/dirs" "$OUT/home-user" "$OUT/run-user"
  install -d -m 0755 "$OUT/dirs" "$OUT/dirs/etc" "$OUT/dirs/etc/ssl" "$OUT/dirs/etc/ssl/certs" \
    "$OUT/dirs/usr" "$OUT/dirs/usr/bin" "$OUT/dirs/run" "$OUT/dirs/run/user" "$OUT/dirs/home"
  install -d -m 1777 "$OUT/dirs/tmp"
  install -d -m 0755 "$OUT/run-user"
  install -d -m 0755 "$OUT/home-user" "$OUT/home-user/.local" "$OUT/home-user/.local/tmp" \
    "$OUT/home-user/.local/share" "$OUT/home-user/.local/share/buildkit"
  # TLS roots for registries with public certificates (Alpine's ca-certificates-bundle upstream).
  [[ -f /etc/ssl/certs/ca-certificates.crt ]] ||
    die "/etc/ssl/certs/ca-certificates.crt is missing: apt-get install ca-certificates"
  install -m 0644 /etc/ssl/certs/ca-certificates.crt "$OUT/ca-certificates.crt"
}

start_all="$(now_s)"
for part in "${PARTS[@]}"; do
  case "$part" in
    files) copy_files ;;
    buildkit) check_upstream_pins && build_buildkit ;;
    rootlesskit) check_upstream_pins && build_rootlesskit ;;
    runc) check_upstream_pins && build_runc ;;
    uidmap) copy_uidmap ;;
    *) usage ;;
  esac
done
took "build.sh ${PARTS[*]}" "$start_all"
