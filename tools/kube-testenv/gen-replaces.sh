#!/usr/bin/env bash
# Prints the replace block go.mod needs for k8s.io/kubernetes at version $1 (e.g. v1.33.13):
# one line per staging module that the kubernetes go.mod requires at v0.0.0, pointed at the
# matching published v0.X.Y tag. Paste it over the replace block, then run `go mod tidy`.
set -euo pipefail
version="${1:?usage: gen-replaces.sh v1.MINOR.PATCH}"
staging="v0.${version#v1.}"
gomod="$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')"
echo "replace ("
awk -v v="$staging" '/^\tk8s\.io\/[^ ]+ v0\.0\.0$/ { print "\t" $1 " => " $1 " " v }' "$gomod"
echo ")"
