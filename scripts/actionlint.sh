#!/usr/bin/env bash
# Runs the pinned actionlint on the given workflow files (default: every .github/workflows file),
# building it once from the Go module proxy into $SLIPWAY_TOOLS/actionlint-<version>/.
#
#   scripts/actionlint.sh [actionlint arguments...]
set -euo pipefail
source "$(dirname "$0")/lib.sh"

dir="$SLIPWAY_TOOLS/actionlint-$ACTIONLINT_VERSION"
bin="$dir/actionlint"
if [[ ! -x "$bin" ]] || ! (cd "$dir" && sha256sum --quiet --strict -c SHA256SUMS >/dev/null 2>&1); then
  command -v go >/dev/null || PATH="/usr/local/go/bin:$PATH"
  command -v go >/dev/null || die "Go is needed to build actionlint $ACTIONLINT_VERSION: install Go $GO_MIN_VERSION or newer"
  start="$(now_s)"
  log "building actionlint $ACTIONLINT_VERSION from the Go module proxy"
  tmp="$dir.tmp.$$"
  rm -rf "$dir".tmp.*
  mkdir -p "$tmp"
  GOSUMDB=off GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod GOBIN="$tmp" \
    go install -trimpath -ldflags "-s -w" "github.com/rhysd/actionlint/cmd/actionlint@v$ACTIONLINT_VERSION" >&2
  (cd "$tmp" && sha256sum actionlint >SHA256SUMS)
  rm -rf "$dir"
  mv "$tmp" "$dir"
  took "building actionlint $ACTIONLINT_VERSION" "$start"
fi
cd "$SLIPWAY_ROOT"
exec "$bin" "$@"
