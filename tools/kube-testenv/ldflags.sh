#!/usr/bin/env bash
# Prints the -ldflags for drover-kube (run by tools/build-go-tool.sh in this directory). The
# binary reports the Kubernetes release it was built from. The commit is unknown (modules
# carry no git metadata), hence tree state "archive" as in upstream tarball builds, and the
# release's publish time as the build date so the output does not depend on when it was built.
set -euo pipefail
read -r kver ktime < <(go list -m -f '{{.Version}} {{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)
kmajor="$(echo "${kver#v}" | cut -d. -f1)"
kminor="$(echo "${kver#v}" | cut -d. -f2)"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$kver -X $pkg.gitMajor=$kmajor -X $pkg.gitMinor=$kminor"
  ldflags+=" -X $pkg.gitCommit= -X $pkg.gitTreeState=archive -X $pkg.buildDate=$ktime"
done
echo "$ldflags"
