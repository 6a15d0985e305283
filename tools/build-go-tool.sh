#!/usr/bin/env bash
# Builds one of drover's Go tool modules (tools/<module>) once and caches the binary under
# .tools/<module>/<hash>/<binary>, where <hash> covers go.mod, go.sum and the Go sources,
# so a warm run is a few file reads. Prints the binary path as the last line of stdout
# (everything else goes to stderr) and points .tools/bin/<binary> at it.
#
#   tools/build-go-tool.sh MODULE BINARY
#
# The link flags are "-s -w", or what tools/<module>/ldflags.sh prints (run in that folder,
# only when a build is needed: kube-testenv stamps the Kubernetes version that way).
#
# DROVER_GO_TOOL_CACHE_DIR moves the cache (a benchmark measures a cold build there) and
# leaves .tools/bin alone.
set -euo pipefail

module="$1"
binary="$2"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/tools/$module"
cache="${DROVER_GO_TOOL_CACHE_DIR:-$root/.tools/$module}"

hash="$(cd "$src" && cat go.mod go.sum $(ls -1 *.go | LC_ALL=C sort) | sha256sum | cut -c1-16)"
out="$cache/$hash/$binary"

link() {
  if [[ -z "${DROVER_GO_TOOL_CACHE_DIR:-}" ]]; then
    mkdir -p "$root/.tools/bin"
    ln -sfn "$out" "$root/.tools/bin/$binary"
  fi
  echo "$out"
}

if [[ -x "$out" ]]; then
  link
  exit 0
fi

mkdir -p "$cache/$hash"
# Two callers (bootstrap and a test, or two jest workers) may race; the second waits for the
# first instead of building the same thing again.
if command -v flock >/dev/null; then
  exec 9>"$cache/.lock"
  flock 9
fi
if [[ -x "$out" ]]; then
  link
  exit 0
fi

command -v go >/dev/null || { echo "build-go-tool: 'go' is not on PATH (Go >= 1.24 needed)" >&2; exit 1; }
echo "build-go-tool: building $binary from tools/$module into $out (a cold build takes minutes on 2 cores)" >&2
start=$(date +%s)
ldflags="-s -w"
if [[ -x "$src/ldflags.sh" ]]; then
  ldflags="$(cd "$src" && ./ldflags.sh)"
fi
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
(cd "$src" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$tmp" .)
mv -f "$tmp" "$out"
echo "build-go-tool: built $binary in $(( $(date +%s) - start ))s" >&2
# Older binaries only come back after a checkout of older sources, and then the Go build
# cache rebuilds them in seconds. (Running copies are unaffected.)
find "$cache" -mindepth 1 -maxdepth 1 -type d ! -name "$hash" -exec rm -rf {} +
link
