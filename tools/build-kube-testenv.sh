#!/usr/bin/env bash
# Builds tools/kube-testenv (embedded etcd + kube-apiserver + kubectl) once and caches it
# under .tools/kube-testenv/<hash>/drover-kube (see tools/build-go-tool.sh), so a warm run is
# a few file reads. Prints the binary path as the last line of stdout; everything else goes to
# stderr. Also points .tools/bin/drover-kube at the current binary.
#
# DROVER_KUBE_CACHE_DIR moves the cache (the benchmark measures a cold build there) and
# leaves .tools/bin alone.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -n "${DROVER_KUBE_CACHE_DIR:-}" ]]; then
  export DROVER_GO_TOOL_CACHE_DIR="$DROVER_KUBE_CACHE_DIR"
fi
exec "$root/tools/build-go-tool.sh" kube-testenv drover-kube
