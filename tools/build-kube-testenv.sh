#!/usr/bin/env bash
# Builds tools/kube-testenv (embedded etcd + kube-apiserver + kubectl) once and
# caches it under .tools/kube-testenv/<hash>/drover-kube, where <hash> covers
# go.mod, go.sum and the Go sources, so a warm run is a few file reads.
# Prints the binary path as the last line of stdout; everything else goes to
# stderr. Also points .tools/bin/drover-kube at the current binary.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/tools/kube-testenv"
# DROVER_KUBE_CACHE_DIR moves the cache (the benchmark measures a cold build there) and
# leaves .tools/bin alone.
cache="${DROVER_KUBE_CACHE_DIR:-$root/.tools/kube-testenv}"

hash="$(cd "$src" && cat go.mod go.sum $(ls -1 *.go | LC_ALL=C sort) | sha256sum | cut -c1-16)"
out="$cache/$hash/drover-kube"

link() {
  if [[ -z "${DROVER_KUBE_CACHE_DIR:-}" ]]; then
    mkdir -p "$root/.tools/bin"
    ln -sfn "$out" "$root/.tools/bin/drover-kube"
  fi
  echo "$out"
}

if [[ -x "$out" ]]; then
  link
  exit 0
fi

mkdir -p "$cache/$hash"
# Two callers (bootstrap and make test, or two jest workers) may race; the
# second waits for the first instead of building the same thing again.
if command -v flock >/dev/null; then
  exec 9>"$cache/.lock"
  flock 9
fi
if [[ -x "$out" ]]; then
  link
  exit 0
fi

command -v go >/dev/null || { echo "build-kube-testenv: 'go' is not on PATH (Go >= 1.24 needed)" >&2; exit 1; }
cd "$src"
# The binary reports the Kubernetes release it was built from. The commit is
# unknown (modules carry no git metadata), hence tree state "archive" as in
# upstream tarball builds, and the release's publish time as the build date so
# the output does not depend on when it was built.
read -r kver ktime < <(go list -m -f '{{.Version}} {{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)
kmajor="$(echo "${kver#v}" | cut -d. -f1)"
kminor="$(echo "${kver#v}" | cut -d. -f2)"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$kver -X $pkg.gitMajor=$kmajor -X $pkg.gitMinor=$kminor"
  ldflags+=" -X $pkg.gitCommit= -X $pkg.gitTreeState=archive -X $pkg.buildDate=$ktime"
done

echo "build-kube-testenv: building drover-kube $kver into $out (a cold build takes many minutes on 2 cores)" >&2
start=$(date +%s)
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$tmp" .
mv -f "$tmp" "$out"
echo "build-kube-testenv: built in $(( $(date +%s) - start ))s" >&2
# Each binary is ~110 MB; older ones only come back after a checkout of older sources, and
# then the Go build cache rebuilds them in seconds. (Running copies are unaffected.)
find "$cache" -mindepth 1 -maxdepth 1 -type d ! -name "$hash" -exec rm -rf {} +
link
