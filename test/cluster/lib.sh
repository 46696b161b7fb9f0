# Shared helpers of the local cluster scripts. Source it; it sets:
#   SL_REPO  the checkout; SL_DIR <repo>/.cluster; SL_RUN /run/sluice-cluster (machine-wide)
#   SL_CACHE the binary cache (~/.cache/sluice); SL_BIN_* the cached binary folders
# shellcheck shell=bash disable=SC2034
SL_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SL_REPO=$(cd "$SL_HERE/../.." && pwd)
# shellcheck source=versions.env
. "$SL_HERE/versions.env"
SL_DIR=${SLUICE_CLUSTER_DIR:-$SL_REPO/.cluster}
SL_RUN=/run/sluice-cluster
SL_NETNS=sluice
SL_CACHE=${SLUICE_CACHE:-$HOME/.cache/sluice}
SL_NODE=sluice-node
SL_NODE_IP=10.254.0.1
SL_POD_CIDR=10.244.0.0/16
SL_NODE_POD_CIDR=10.244.0.0/24
SL_SVC_CIDR=10.96.0.0/16
SL_API_SVC_IP=10.96.0.1
SL_DNS_IP=10.96.0.10
SL_API_PORT=${SLUICE_API_PORT:-16443}
SL_CGROUP=sluice

sl_gover() { go env GOVERSION 2>/dev/null || echo nogo; }
sl_log() { printf '%s [%s] %s\n' "$(date +%H:%M:%S)" "${SL_STEP:-cluster}" "$*" >&2; }
sl_die() { sl_log "ERROR: $*"; exit 1; }

# Binary folders (keyed by version and Go toolchain).
sl_bins() {
  local gv; gv=$(sl_gover)
  SL_BIN_K8S=$SL_CACHE/bin/k8s-$K8S_VERSION-$gv
  SL_BIN_ETCD=$SL_CACHE/bin/etcd-$ETCD_VERSION-$gv
  SL_BIN_COREDNS=$SL_CACHE/bin/coredns-$COREDNS_VERSION-$gv
  SL_BIN_HELM=$SL_CACHE/bin/helm-$HELM_VERSION-$gv
  SL_BIN_NATS=$SL_CACHE/bin/nats-server-$NATS_SERVER_VERSION-$gv
  SL_BIN_KUBE_ROUTER=$SL_CACHE/bin/kube-router-$KUBE_ROUTER_VERSION-$gv
  local h
  h=$(sha256sum "$SL_HERE/pause/pause.c" | cut -c1-12); SL_BIN_PAUSE=$SL_CACHE/bin/pause-$h
  h=$(cat "$SL_HERE"/forwarder/go.mod "$SL_HERE"/forwarder/*.go | sha256sum | cut -c1-12)
  SL_BIN_FORWARD=$SL_CACHE/bin/forwarder-$h-$gv
  SL_NODE22=$SL_CACHE/node/node-v$NODE22_VERSION-linux-x64
  SL_NODE24=$SL_CACHE/node/node-v$NODE24_VERSION-linux-x64
}

# Runs "$@" in the cluster's network namespace.
sl_netns() { nsenter --net=/run/netns/$SL_NETNS -- "$@"; }

# The cgroup v1/v2 hierarchies present (one folder per mounted hierarchy).
sl_cgroup_roots() {
  awk '$3 ~ /^cgroup2?$/ {print $2}' /proc/self/mounts
}

# sl_progress LABEL CMD...: runs CMD, printing "LABEL: still running (Ns)" every 30 s (long
# Go builds are otherwise silent for minutes).
sl_progress() {
  local label=$1; shift
  local t0; t0=$(date +%s)
  ( while sleep 30; do echo "$label: still running ($(( $(date +%s) - t0 ))s)" >&2; done ) &
  local hb=$! rc=0
  "$@" || rc=$?
  kill "$hb" 2>/dev/null; wait "$hb" 2>/dev/null || true
  return $rc
}
