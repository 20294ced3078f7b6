#!/usr/bin/env bash
# The images the local platform's real node runs, built here from Go modules (nothing is pulled)
# and pinned by the digest in tools/images.lock. One folder per image in tools/images/: its
# Dockerfile, its image.env (version, Go module and package) and, for our own programs, the source.
#
#   scripts/images.sh build [NAME...]   build the images (all by default) into OCI archives; an
#                                        archive that is already there and matches the lock is kept
#   scripts/images.sh ref NAME          localhost/slipway/NAME:VERSION@sha256:DIGEST, from the lock
#   scripts/images.sh archive NAME      the path of NAME's OCI archive
#   scripts/images.sh list              the image names
#
# A digest that differs from the lock fails the build, unless SLIPWAY_IMAGES_UPDATE_LOCK=1, which
# rewrites the image's lock entry instead.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

IMAGES_SRC="$SLIPWAY_ROOT/tools/images"
LOCK_FILE="$SLIPWAY_ROOT/tools/images.lock"
IMAGES_CACHE="$SLIPWAY_CACHE/images"
IMAGE_REPO="localhost/slipway"
# Every timestamp in an image (config, history, layer files) is this one, so a rebuild gives the
# same digest. 0 rather than a commit date: the images must not change when an unrelated commit lands.
IMAGE_EPOCH=0

list_images() {
  local env
  for env in "$IMAGES_SRC"/*/image.env; do
    if [[ -f "$env" ]]; then basename "$(dirname "$env")"; fi
  done
}

# load_image NAME: reads tools/images/NAME/image.env into the IMAGE_* and GO_* variables.
load_image() {
  local env="$IMAGES_SRC/$1/image.env"
  [[ -f "$env" ]] || die "no image $1: the images are $(list_images | paste -sd' ') (folders of tools/images with an image.env)"
  IMAGE_NAME="$1" IMAGE_VERSION="" GO_MODULE="" GO_MODULE_VERSION="" GO_PACKAGE="" GO_LDFLAGS="" GO_TAGS="" MODULE_FILES="" CONTEXT_SCRIPT=""
  # shellcheck source=/dev/null
  source "$env"
  [[ -n "$IMAGE_VERSION" && -n "$GO_MODULE" && -n "$GO_MODULE_VERSION" && -n "$GO_PACKAGE" ]] ||
    die "$env must set IMAGE_VERSION, GO_MODULE, GO_MODULE_VERSION and GO_PACKAGE"
  IMAGE_SOURCE="$GO_MODULE@$GO_MODULE_VERSION"
  IMAGE_ARCHIVE="$IMAGES_CACHE/$IMAGE_NAME-$IMAGE_VERSION.tar"
}

# lock_field NAME COLUMN: one column of NAME's lock entry (2 version, 3 source, 4 digest).
lock_field() {
  [[ -f "$LOCK_FILE" ]] || return 0
  awk -v name="$1" -v col="$2" '!/^#/ && $1 == name { print $col; exit }' "$LOCK_FILE"
}

# write_lock_entry NAME VERSION SOURCE DIGEST: replaces NAME's entry, keeping the header and the
# entries sorted by name.
write_lock_entry() {
  local tmp="$LOCK_FILE.tmp.$$"
  {
    awk '/^#/' "$LOCK_FILE"
    {
      awk -v name="$1" '!/^#/ && NF && $1 != name' "$LOCK_FILE"
      echo "$1 $2 $3 $4"
    } | sort -k1,1
  } >"$tmp"
  mv "$tmp" "$LOCK_FILE"
}

# The lock entry's source and version must still be the image.env's: a changed pin with an old
# digest is a mismatch too.
lock_matches_spec() {
  [[ "$(lock_field "$IMAGE_NAME" 2)" == "$IMAGE_VERSION" && "$(lock_field "$IMAGE_NAME" 3)" == "$IMAGE_SOURCE" ]]
}

# archive_digest ARCHIVE: the digest of the one image manifest in an OCI archive. Anything else
# (several manifests, an index with attestations) is refused: the lock pins a single manifest.
archive_digest() {
  tar -xOf "$1" index.json | node -e '
    const index = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const [m, ...rest] = index.manifests ?? [];
    if (!m || rest.length || m.mediaType !== "application/vnd.oci.image.manifest.v1+json") process.exit(1);
    console.log(m.digest);'
}

# archive_intact ARCHIVE DIGEST: the manifest, its config and every layer are in the archive with
# the content their digests name.
archive_intact() {
  local archive="$1" digest="$2" blob blobs
  blobs="$(tar -xOf "$archive" "blobs/sha256/${digest#sha256:}" 2>/dev/null | node -e '
    const m = JSON.parse(require("fs").readFileSync(0, "utf8"));
    for (const d of [m.config, ...m.layers]) console.log(d.digest);')" || return 1
  for blob in "$digest" $blobs; do
    [[ "$(tar -xOf "$archive" "blobs/sha256/${blob#sha256:}" 2>/dev/null | sha256sum | cut -d' ' -f1)" == "${blob#sha256:}" ]] || return 1
  done
}

# image_inputs NAME: a hash of everything the build reads that the lock entry does not name: the
# image folder (our sources, Dockerfile, config), this script (its build flags), the toolchain,
# BuildKit and the epoch. A warm run reuses an archive only when these are unchanged, so an edited
# main.go is rebuilt.
image_inputs() {
  {
    (cd "$IMAGES_SRC/$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
    sha256sum <"$SLIPWAY_ROOT/scripts/images.sh"
    echo "$GO_IMAGE_TOOLCHAIN buildkit-$BUILDKIT_VERSION epoch-$IMAGE_EPOCH"
  } | sha256sum | cut -d' ' -f1
}

# up_to_date NAME: the archive is there, intact, built from the current inputs and is the image
# the lock pins.
up_to_date() {
  local digest
  lock_matches_spec && [[ -f "$IMAGE_ARCHIVE" && -f "$IMAGE_ARCHIVE.inputs" ]] || return 1
  [[ "$(cat "$IMAGE_ARCHIVE.inputs")" == "$(image_inputs "$IMAGE_NAME")" ]] || return 1
  digest="$(archive_digest "$IMAGE_ARCHIVE")" || return 1
  [[ "$digest" == "$(lock_field "$IMAGE_NAME" 4)" ]] && archive_intact "$IMAGE_ARCHIVE" "$digest"
}

# use_image_toolchain: the Go environment every image binary is built in. GOTOOLCHAIN names the
# exact toolchain, so a machine whose Go differs fetches that one from the module proxy; the
# other settings are pinned because each of them changes the binary.
use_image_toolchain() {
  command -v go >/dev/null || die "go is not on PATH: the images are built with Go ($GO_IMAGE_TOOLCHAIN); install Go and rerun."
  export GOTOOLCHAIN="$GO_IMAGE_TOOLCHAIN" CGO_ENABLED=0 GOOS=linux GOAMD64=v1 GOEXPERIMENT="" GOWORK=off
  # sum.golang.org is not reachable; the module proxy is the only source (as in scripts/tools.sh).
  export GOFLAGS=-mod=mod GOSUMDB=off
  local have
  have="$(go env GOVERSION)" || die "Go could not switch to $GO_IMAGE_TOOLCHAIN (GOTOOLCHAIN); see the error above."
  [[ "$have" == "$GO_IMAGE_TOOLCHAIN" ]] || die "go runs $have with GOTOOLCHAIN=$GO_IMAGE_TOOLCHAIN; the images need exactly $GO_IMAGE_TOOLCHAIN."
}

# stage_context NAME DIR: the build context: the image folder less its Go sources, the binary, and
# the module files the Dockerfile copies.
stage_context() {
  local name="$1" stage="$2" flags src file
  rm -rf "$stage"
  mkdir -p "$stage"
  if [[ -n "$CONTEXT_SCRIPT" ]]; then
    # An image of several programs (buildkit) stages its own context, modes included.
    "$IMAGES_SRC/$name/$CONTEXT_SCRIPT" "$stage"
    return
  fi
  find "$IMAGES_SRC/$name" -mindepth 1 -maxdepth 1 -type f \
    ! -name '*.go' ! -name go.mod ! -name go.sum ! -name image.env -exec cp {} "$stage/" \;
  flags=(-trimpath -buildvcs=false -ldflags "-s -w -buildid= $GO_LDFLAGS")
  [[ -n "$GO_TAGS" ]] && flags+=(-tags "$GO_TAGS")
  if [[ "$GO_MODULE_VERSION" == local ]]; then
    # Read-only: a build never rewrites the go.mod or go.sum in the work tree.
    (cd "$IMAGES_SRC/$name" && go build -mod=readonly "${flags[@]}" -o "$stage/" "$GO_PACKAGE")
  else
    # Outside any module, so the module's own go.mod (with its go.sum) selects every dependency.
    (cd "$stage" && GOBIN="$stage" go install "${flags[@]}" "$GO_PACKAGE@$GO_MODULE_VERSION")
  fi
  if [[ -n "$MODULE_FILES" ]]; then
    src="$(cd "$stage" && go mod download -json "$IMAGE_SOURCE" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
    for file in $MODULE_FILES; do install -D -m 0644 "$src/$file" "$stage/$file"; done
  fi
  # COPY keeps the context's modes, so they are set here rather than left to the umask: 0755 for
  # programs, 0644 for the rest. (Not COPY --chmod: BuildKit gives the same mode to the parent
  # directories it creates, and a 0644 /etc/distribution cannot be entered by a non-root user.)
  chmod -R u=rwX,go=rX "$stage"
}

# start_buildkitd: a daemon of our own (OCI worker, state under the cache), stopped when the
# script exits. Its own config file keeps a host /etc/buildkit/buildkitd.toml out of the builds.
start_buildkitd() {
  local dir="$IMAGES_CACHE/buildkitd" start bin
  start="$(now_s)"
  command -v runc >/dev/null || die "runc is not on PATH: BuildKit's OCI worker needs it (make tools installs Debian's runc)."
  for bin in buildkitd buildctl; do
    command -v "$bin" >/dev/null || die "$bin is not on PATH or in $SLIPWAY_BIN: run make tools."
    "$bin" --version | grep -qF "v$BUILDKIT_VERSION" || die "$(command -v "$bin") is not BuildKit v$BUILDKIT_VERSION: run make tools."
  done
  mkdir -p "$dir/root"
  # A unix socket path is limited to 108 bytes.
  ((${#dir} <= 80)) || die "the BuildKit socket would be too long a path under $dir: set SLIPWAY_CACHE to a shorter directory."
  BUILDKIT_ADDR="unix://$dir/buildkitd.sock"
  rm -f "$dir/buildkitd.sock"
  echo "# Written by scripts/images.sh: the defaults, whatever /etc/buildkit/buildkitd.toml says." >"$dir/buildkitd.toml"
  setsid buildkitd --config "$dir/buildkitd.toml" --root "$dir/root" --addr "$BUILDKIT_ADDR" \
    --otel-socket-path "$dir/otel-grpc.sock" --oci-worker=true --containerd-worker=false \
    </dev/null >"$dir/buildkitd.log" 2>&1 9>&- &
  BUILDKITD_PID=$!
  trap stop_buildkitd EXIT
  local deadline=$(($(now_s) + 30))
  until buildctl --addr "$BUILDKIT_ADDR" debug workers >/dev/null 2>&1; do
    kill -0 "$BUILDKITD_PID" 2>/dev/null || die "buildkitd exited at start; its log ($dir/buildkitd.log) ends: $(tail -n 3 "$dir/buildkitd.log")"
    (($(now_s) < deadline)) || die "buildkitd did not answer on $BUILDKIT_ADDR within 30s; see $dir/buildkitd.log"
    sleep 0.2
  done
  took "starting buildkitd" "$start"
}

stop_buildkitd() {
  [[ -n "${BUILDKITD_PID:-}" ]] || return 0
  kill -TERM "$BUILDKITD_PID" 2>/dev/null || return 0
  local deadline=$(($(now_s) + 10))
  while kill -0 "$BUILDKITD_PID" 2>/dev/null && (($(now_s) < deadline)); do sleep 0.1; done
  kill -KILL "$BUILDKITD_PID" 2>/dev/null || true
  wait "$BUILDKITD_PID" 2>/dev/null || true
  BUILDKITD_PID=""
}

# build_image NAME: Go binary, then the image into a temporary archive; the archive takes its
# place only when its digest is the locked one (or the lock is being updated).
build_image() {
  local name="$1" stage="$IMAGES_CACHE/build/$1" start digest locked tmp="$IMAGE_ARCHIVE.tmp"
  start="$(now_s)"
  stage_context "$name" "$stage"
  took "go build $name" "$start"

  start="$(now_s)"
  [[ -n "${BUILDKIT_ADDR:-}" ]] || start_buildkitd
  rm -f "$tmp" "$stage.metadata.json"
  # SOURCE_DATE_EPOCH both as the build argument (image config and history times) and in the
  # environment, which buildctl also passes on; rewrite-timestamp clamps the layers' file times.
  # No attest:* option, so no provenance or SBOM: the digest is the image manifest's alone.
  if ! SOURCE_DATE_EPOCH="$IMAGE_EPOCH" buildctl --addr "$BUILDKIT_ADDR" build --progress=plain \
    --frontend dockerfile.v0 --local context="$stage" --local dockerfile="$stage" \
    --opt build-arg:SOURCE_DATE_EPOCH="$IMAGE_EPOCH" \
    --output "type=oci,dest=$tmp,name=$IMAGE_REPO/$name:$IMAGE_VERSION,rewrite-timestamp=true" \
    --metadata-file "$stage.metadata.json" >"$stage.log" 2>&1; then
    die "building the $name image failed; $stage.log ends: $(tail -n 5 "$stage.log")"
  fi
  digest="$(node -p 'require(process.argv[1])["containerimage.digest"]' "$stage.metadata.json")"
  [[ "$(archive_digest "$tmp")" == "$digest" ]] ||
    die "the $name archive does not hold the one image manifest $digest that BuildKit reported; see $tmp"
  took "buildkit $name" "$start"

  locked="$(lock_field "$name" 4)"
  if [[ "$digest" != "$locked" ]] || ! lock_matches_spec; then
    if [[ "${SLIPWAY_IMAGES_UPDATE_LOCK:-}" != 1 ]]; then
      rm -f "$tmp"
      local pinned="${locked:-nothing}"
      [[ -n "$locked" ]] && ! lock_matches_spec && pinned+=" (for $(lock_field "$name" 2) from $(lock_field "$name" 3))"
      die "image $name $IMAGE_VERSION built as $digest but tools/images.lock pins $pinned; SLIPWAY_IMAGES_UPDATE_LOCK=1 scripts/images.sh build $name pins the new one"
    fi
    write_lock_entry "$name" "$IMAGE_VERSION" "$IMAGE_SOURCE" "$digest"
    log "tools/images.lock: $name $IMAGE_VERSION is now $digest (was ${locked:-unpinned})"
  fi
  chmod 0644 "$tmp"
  mv "$tmp" "$IMAGE_ARCHIVE"
  image_inputs "$name" >"$IMAGE_ARCHIVE.inputs"
}

cmd_build() {
  local names=("$@") start name built=0
  start="$(now_s)"
  if ((EUID != 0)); then
    # BuildKit's OCI worker runs rootful here, and so does the real node that runs these images.
    log "images: not built (they need root, as the real node does); the cluster runs kwok's simulated nodes only"
    return 0
  fi
  ((${#names[@]} > 0)) || mapfile -t names < <(list_images)
  for name in "${names[@]}"; do load_image "$name"; done
  mkdir -p "$IMAGES_CACHE"
  # One build at a time per cache: two daemons must not share the BuildKit root.
  exec 9>"$IMAGES_CACHE/.lock"
  if ! flock -n 9; then
    log "another scripts/images.sh is building into $IMAGES_CACHE; waiting for it (at most 30 minutes)"
    flock -w 1800 9 || die "another scripts/images.sh held $IMAGES_CACHE/.lock for 30 minutes: stop it (fuser $IMAGES_CACHE/.lock names it) and rerun."
  fi
  export PATH="$SLIPWAY_BIN:$PATH"
  for name in "${names[@]}"; do
    load_image "$name"
    if up_to_date; then continue; fi
    if ((built++ == 0)); then use_image_toolchain; fi
    log "building image $name $IMAGE_VERSION from $IMAGE_SOURCE"
    build_image "$name"
  done
  stop_buildkitd
  took "images (${names[*]}; $built built)" "$start"
}

main() {
  local cmd="${1:-}"
  shift || true
  case "$cmd" in
    build) cmd_build "$@" ;;
    list) list_images ;;
    ref | archive)
      (($# == 1)) || die "usage: scripts/images.sh $cmd NAME"
      load_image "$1"
      if [[ "$cmd" == archive ]]; then
        echo "$IMAGE_ARCHIVE"
        return
      fi
      lock_matches_spec ||
        die "tools/images.lock has no entry for $1 $IMAGE_VERSION ($IMAGE_SOURCE): run scripts/images.sh build $1"
      echo "$IMAGE_REPO/$1:$IMAGE_VERSION@$(lock_field "$1" 4)"
      ;;
    *) die "usage: scripts/images.sh build [NAME...] | ref NAME | archive NAME | list" ;;
  esac
}

main "$@"
