#!/usr/bin/env bash
# Starts Sluice's local single-node Kubernetes cluster (see test/cluster/README.md).
#
# Every daemon runs inside the network namespace `sluice`, which has no uplink: etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, containerd, kubelet, kube-proxy and
# kube-router (NetworkPolicy enforcement); CoreDNS runs as a Deployment. Host tools reach the
# API server through a loopback forwarder: `. .cluster/env` sets KUBECONFIG.
#
# Idempotent: a healthy cluster of this checkout is reused (fast path); a stale or half-started
# one, or one started from another checkout, is cleaned up first (down.sh).
#   up.sh            start or reuse
#   up.sh --status   exit 0 if this checkout's cluster is up and healthy (what `up` would reuse)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export SL_STEP=up
T0=$(date +%s%N)
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
phase_t=$T0
phase() { sl_log "$1 (+$(ms_since "$phase_t") ms)"; phase_t=$(date +%s%N); }

[ "$(id -u)" = 0 ] || sl_die "must run as root (network namespaces, cgroups, containerd)"
bash "$SL_HERE/deps.sh"
sl_bins
# Binaries: build or find cached (quiet when everything is cached).
need_build=0
for b in "$SL_BIN_K8S/kubelet" "$SL_BIN_K8S/kubectl" "$SL_BIN_ETCD/etcd" "$SL_BIN_COREDNS/coredns" \
  "$SL_BIN_KUBE_ROUTER/kube-router" "$SL_BIN_PAUSE/pause" "$SL_BIN_FORWARD/sluice-forward" \
  "$SL_BIN_HELM/helm" "$SL_BIN_NATS/nats-server" "$SL_NODE22/bin/node"; do
  [ -x "$b" ] || need_build=1
done
status_only=0; [ "${1:-}" = --status ] && status_only=1
[ $need_build = 1 ] && [ $status_only = 0 ] && bash "$SL_HERE/build.sh"
export PATH="$SL_BIN_K8S:$SL_BIN_ETCD:$SL_BIN_HELM:$PATH"

if [ $status_only = 0 ]; then
  mkdir -p "$SL_RUN"
  exec 9>"$SL_RUN.lock"
  flock -w 600 9 || sl_die "another up/down holds $SL_RUN.lock"
fi

PKI=$SL_DIR/pki CFG=$SL_DIR/config ST=$SL_DIR/state LOGS=$SL_DIR/logs
HOST_KUBECONFIG=$SL_DIR/kubeconfig
K() { kubectl --kubeconfig "$HOST_KUBECONFIG" "$@"; }

# ---------------------------------------------------------------- reuse a healthy cluster
healthy() {
  [ -f "$SL_RUN/state" ] || return 1
  grep -qx "cluster_dir=$SL_DIR" "$SL_RUN/state" || return 1
  grep -qx "phase=ready" "$SL_RUN/state" || return 1
  local n p
  for n in containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kube-router; do
    p=$(cat "$SL_RUN/pids/$n.pid" 2>/dev/null) && [ -d "/proc/$p" ] || return 1
  done
  p=$(cat "$SL_RUN/fwd/apiserver.pid" 2>/dev/null) && [ -d "/proc/$p" ] || return 1
  [ "$(K get --raw /readyz 2>/dev/null)" = ok ] || return 1
  K get node "$SL_NODE" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -qx True || return 1
  K -n kube-system get deploy coredns -o jsonpath='{.status.readyReplicas}' 2>/dev/null | grep -qx 1 || return 1
}
if [ $status_only = 1 ]; then
  if healthy; then echo "healthy"; exit 0; else echo "not running or unhealthy"; exit 1; fi
fi
if healthy; then
  sl_log "cluster already up and healthy ($(ms_since "$T0") ms); . $SL_DIR/env"
  exit 0
fi

# ---------------------------------------------------------------- clean up whatever is left
if [ -e "$SL_RUN/state" ] || [ -e /run/netns/$SL_NETNS ] || [ -n "$(ls -A "$SL_RUN" 2>/dev/null)" ] \
  || [ -d "$ST" ] || [ -d "/sys/fs/cgroup/pids/$SL_CGROUP" ]; then
  prev=$(sed -n 's/^cluster_dir=//p' "$SL_RUN/state" 2>/dev/null || true)
  sl_log "cleaning up a previous cluster${prev:+ (of $prev)}"
  flock -u 9
  bash "$SL_HERE/down.sh"
  flock -w 600 9
fi
phase "prerequisites checked"

mkdir -p "$SL_RUN/pids" "$SL_RUN/fwd" "$PKI" "$CFG" "$ST" "$LOGS"
rm -f "$LOGS"/*.log
# Host paths the kubelet and CNI hard-code; down.sh removes what the cluster created there.
created=""
for p in /var/lib/kubelet /var/log/containers /var/lib/cni; do [ -e "$p" ] || created="$created $p"; done
cat > "$SL_RUN/state" <<EOF
owner=$SL_REPO
cluster_dir=$SL_DIR
started=$(date -u +%FT%TZ)
created_host_paths=${created# }
phase=starting
EOF

# ---------------------------------------------------------------- network namespace
# No physical interface and no uplink: an ifb device carries the node IP and is the default
# route's sink, so anything not local to the namespace is dropped (recipe §5).
ip netns add $SL_NETNS
sl_netns ip link set lo up
sl_netns ip link add sl0 type ifb
sl_netns ip link set sl0 up
sl_netns ip addr add $SL_NODE_IP/32 dev sl0
sl_netns ip route add default dev sl0
sl_netns sysctl -qw net.ipv4.ip_forward=1
sl_netns sysctl -qw net.ipv4.conf.all.rp_filter=0 2>/dev/null || true
cur=$(sysctl -n fs.inotify.max_user_instances)
[ "$cur" -ge 1024 ] || sysctl -qw fs.inotify.max_user_instances=1024
cur=$(sysctl -n fs.inotify.max_user_watches)
[ "$cur" -ge 524288 ] || sysctl -qw fs.inotify.max_user_watches=524288

# ---------------------------------------------------------------- cgroups
# Everything the cluster runs lives under the `sluice` cgroup (daemons, forwarders, shims, and
# the kubelet's pods via cgroupRoot), so down.sh finds and kills all of it.
for r in $(sl_cgroup_roots); do
  for d in "$r/$SL_CGROUP" "$r/$SL_CGROUP/daemons" "$r/$SL_CGROUP/forwarders"; do
    mkdir -p "$d"
    if [ -f "$r/cpuset.cpus" ] && [ -f "$d/cpuset.cpus" ]; then # cgroup v1 cpuset starts empty
      [ -n "$(cat "$d/cpuset.cpus")" ] || cat "$(dirname "$d")/cpuset.cpus" > "$d/cpuset.cpus"
      [ -n "$(cat "$d/cpuset.mems")" ] || cat "$(dirname "$d")/cpuset.mems" > "$d/cpuset.mems"
    fi
  done
done

# start NAME CMD...: runs a daemon in the namespace, its own session, the daemons cgroup.
start() {
  local name=$1; shift
  # shellcheck disable=SC2016
  setsid bash -c 'for r in $(awk '"'"'$3 ~ /^cgroup2?$/ {print $2}'"'"' /proc/self/mounts); do
      echo $$ > "$r/'"$SL_CGROUP"'/daemons/cgroup.procs" 2>/dev/null || true; done
    echo $$ > "$0"; exec "$@"' "$SL_RUN/pids/$name.pid" \
    nsenter --net=/run/netns/$SL_NETNS -- "$@" </dev/null >>"$LOGS/$name.log" 2>&1 9>&- &
  for _ in $(seq 50); do [ -s "$SL_RUN/pids/$name.pid" ] && break; sleep 0.02; done
}
# wait_for WHAT SECONDS LOG CMD...: polls CMD until it succeeds; on timeout shows LOG's tail.
wait_for() {
  local what=$1 secs=$2 log=$3; shift 3
  local deadline=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      sl_log "timed out after ${secs}s waiting for $what; last lines of $log:"
      tail -n 40 "$log" >&2 || true
      exit 1
    fi
    sleep 0.2
  done
}
alive() { local p; p=$(cat "$SL_RUN/pids/$1.pid") && [ -d "/proc/$p" ]; }

# ---------------------------------------------------------------- certificates (openssl)
# ECDSA P-256 everywhere (fast) except the service-account signing key (RSA).
ossl() { openssl "$@" 2>/dev/null; }
ossl ecparam -name prime256v1 -genkey -noout -out "$PKI/ca.key"
ossl req -x509 -new -key "$PKI/ca.key" -sha256 -days 3650 -subj "/CN=sluice-local-ca" -out "$PKI/ca.crt" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"
# cert NAME SUBJECT USAGE [SANS]
cert() {
  local name=$1 subj=$2 usage=$3 sans=${4:-}
  ossl ecparam -name prime256v1 -genkey -noout -out "$PKI/$name.key"
  ossl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$usage"
    [ -n "$sans" ] && echo "subjectAltName=$sans"
  } > "$PKI/$name.ext"
  ossl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt"
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}
cert apiserver "/CN=kube-apiserver" serverAuth \
  "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:$SL_API_SVC_IP,IP:$SL_NODE_IP"
cert admin "/O=system:masters/CN=sluice-admin" clientAuth
cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
cert controller-manager "/CN=system:kube-controller-manager" clientAuth
cert scheduler "/CN=system:kube-scheduler" clientAuth
cert kube-proxy "/CN=system:kube-proxy" clientAuth
cert kube-router "/CN=system:sluice:kube-router" clientAuth
cert kubelet "/O=system:nodes/CN=system:node:$SL_NODE" clientAuth
cert kubelet-serving "/CN=$SL_NODE" serverAuth "DNS:$SL_NODE,IP:$SL_NODE_IP"
ossl genrsa -out "$PKI/sa.key" 2048
ossl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub"
chmod 600 "$PKI"/*.key

# kubeconfig FILE SERVER CERTNAME [embed]
kubeconfig() {
  local file=$1 server=$2 c=$3
  if [ "${4:-}" = embed ]; then
    cat > "$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: sluice-local
  cluster: {server: "$server", certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")}
users:
- name: $c
  user: {client-certificate-data: $(base64 -w0 "$PKI/$c.crt"), client-key-data: $(base64 -w0 "$PKI/$c.key")}
contexts:
- name: sluice-local
  context: {cluster: sluice-local, user: $c}
current-context: sluice-local
EOF
  else
    cat > "$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: sluice-local
  cluster: {server: "$server", certificate-authority: "$PKI/ca.crt"}
users:
- name: $c
  user: {client-certificate: "$PKI/$c.crt", client-key: "$PKI/$c.key"}
contexts:
- name: sluice-local
  context: {cluster: sluice-local, user: $c}
current-context: sluice-local
EOF
  fi
  chmod 600 "$file"
}
API_IN=https://$SL_NODE_IP:6443
for c in admin controller-manager scheduler kube-proxy kube-router kubelet; do
  kubeconfig "$CFG/$c.kubeconfig" "$API_IN" "$c"
done
kubeconfig "$HOST_KUBECONFIG" "https://127.0.0.1:$SL_API_PORT" admin embed
phase "namespace, cgroups and certificates ready"

# ---------------------------------------------------------------- base images
# pause (containerd's sandbox image) and CoreDNS; tags are content hashes.
bash "$SL_HERE/images.sh" --base --no-import >/dev/null
. "$SL_DIR/images/base.env"
phase "base images built"

# ---------------------------------------------------------------- containerd
CTRD_SOCK=$SL_RUN/containerd/containerd.sock
mkdir -p "$SL_RUN/containerd" "$ST/containerd" "$ST/cni/net.d" "$ST/cni/ipam" "$ST/pod-logs"
cat > "$CFG/containerd.toml" <<EOF
version = 2
root = "$ST/containerd"
state = "$SL_RUN/containerd"
oom_score = 0
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "$CTRD_SOCK"

[ttrpc]
  address = "$SL_RUN/containerd/containerd.sock.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "$ST/containerd-opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$SLUICE_IMAGE_PAUSE"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_unprivileged_ports = true
  enable_unprivileged_icmp = true
  max_container_log_line_size = 16384
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$ST/cni/net.d"
    max_conf_num = 1
EOF
# Bridge network for this node's pod subnet. Pods get routes to the service range, the pod
# range and the node only: no default route, so an outside address is "network unreachable".
cat > "$ST/cni/net.d/10-sluice.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "sluice",
  "plugins": [
    {
      "type": "bridge", "bridge": "cni0", "isGateway": true, "isDefaultGateway": false,
      "ipMasq": false, "hairpinMode": true,
      "ipam": {
        "type": "host-local", "dataDir": "$ST/cni/ipam",
        "ranges": [[{"subnet": "$SL_NODE_POD_CIDR", "gateway": "10.244.0.1"}]],
        "routes": [{"dst": "$SL_SVC_CIDR"}, {"dst": "$SL_POD_CIDR"}, {"dst": "$SL_NODE_IP/32"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
# Any image pull goes to a closed loopback port and fails at once.
HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY='' \
  start containerd containerd --config "$CFG/containerd.toml" --log-level warn
wait_for containerd 30 "$LOGS/containerd.log" ctr --address "$CTRD_SOCK" version
# Import the base images and the images built earlier by images.sh (kept across down/up).
# Layers of the big images are unpacked lazily, on first use (the CRI plugin unpacks when a
# container's snapshot is missing), which halves the import time.
ctr --address "$CTRD_SOCK" -n k8s.io images import "$SL_DIR/images/base.tar" >/dev/null \
  || sl_die "importing base.tar failed"
if [ -f "$SL_DIR/images/sluice-images.tar" ]; then
  ctr --address "$CTRD_SOCK" -n k8s.io images import --no-unpack "$SL_DIR/images/sluice-images.tar" >/dev/null \
    || sl_die "importing sluice-images.tar failed"
fi
phase "containerd up, images imported"

# ---------------------------------------------------------------- etcd
start etcd etcd --name sluice --data-dir "$ST/etcd" \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster sluice=http://127.0.0.1:2380 --unsafe-no-fsync --logger zap --log-level warn \
  --quota-backend-bytes 2147483648 --auto-compaction-retention 10m
wait_for etcd 30 "$LOGS/etcd.log" sl_netns etcdctl --endpoints http://127.0.0.1:2379 endpoint health
phase "etcd up"

# ---------------------------------------------------------------- kube-apiserver
start kube-apiserver kube-apiserver --etcd-servers http://127.0.0.1:2379 \
  --advertise-address $SL_NODE_IP --bind-address 0.0.0.0 --secure-port 6443 \
  --service-cluster-ip-range $SL_SVC_CIDR --client-ca-file "$PKI/ca.crt" \
  --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
  --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" \
  --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
  --kubelet-certificate-authority "$PKI/ca.crt" --kubelet-preferred-address-types InternalIP \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
  --api-audiences https://kubernetes.default.svc.cluster.local \
  --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
  --allow-privileged=true --profiling=false --v=1
# Loopback forwarder: host tools reach the API server without routing the namespace.
"$SL_HERE/forward.sh" apiserver "$SL_API_PORT" "$SL_NODE_IP:6443" >/dev/null
wait_for kube-apiserver 90 "$LOGS/kube-apiserver.log" bash -c \
  "[ \"\$(kubectl --kubeconfig '$HOST_KUBECONFIG' get --raw /readyz 2>/dev/null)\" = ok ]"
phase "kube-apiserver ready"

cat > "$SL_DIR/env" <<EOF
# Written by test/cluster/up.sh: the local cluster. Source it: . .cluster/env
export KUBECONFIG=$HOST_KUBECONFIG
export SLUICE_CLUSTER_DIR=$SL_DIR
export SLUICE_CLUSTER_NODE=$SL_NODE
export SLUICE_CONTAINERD_ADDRESS=$CTRD_SOCK
export SLUICE_BIN_PATH=$SL_BIN_K8S:$SL_BIN_ETCD:$SL_BIN_HELM:$SL_BIN_NATS:$SL_BIN_KUBE_ROUTER
export KUBECTL=$SL_BIN_K8S/kubectl
export HELM=$SL_BIN_HELM/helm
export NATS_SERVER=$SL_BIN_NATS/nats-server
export PATH="\$SLUICE_BIN_PATH:\$PATH"
[ -f $SL_DIR/images.env ] && . $SL_DIR/images.env
EOF

# Cluster-scoped setup the components need: kube-router's RBAC, CoreDNS.
K apply -f "$SL_HERE/manifests/kube-router-rbac.yaml" >/dev/null

# ---------------------------------------------------------------- controller-manager, scheduler
start kube-controller-manager kube-controller-manager \
  --kubeconfig "$CFG/controller-manager.kubeconfig" \
  --authentication-kubeconfig "$CFG/controller-manager.kubeconfig" \
  --authorization-kubeconfig "$CFG/controller-manager.kubeconfig" \
  --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
  --use-service-account-credentials=true \
  --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
  --service-cluster-ip-range $SL_SVC_CIDR --cluster-cidr 10.244.0.0/17 --allocate-node-cidrs=true \
  --node-cidr-mask-size 24 --leader-elect=false --bind-address 127.0.0.1 \
  --kube-api-qps 100 --kube-api-burst 200 --profiling=false --v=1
start kube-scheduler kube-scheduler --kubeconfig "$CFG/scheduler.kubeconfig" \
  --authentication-kubeconfig "$CFG/scheduler.kubeconfig" \
  --authorization-kubeconfig "$CFG/scheduler.kubeconfig" \
  --leader-elect=false --bind-address 127.0.0.1 --kube-api-qps 100 --kube-api-burst 200 \
  --profiling=false --v=1

# ---------------------------------------------------------------- kubelet
mkdir -p "$ST/kubelet"
cat > "$CFG/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://$CTRD_SOCK
imageServiceEndpoint: unix://$CTRD_SOCK
cgroupDriver: cgroupfs
cgroupRoot: /$SL_CGROUP
failCgroupV1: false
failSwapOn: false
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$PKI/ca.crt"}
authorization: {mode: Webhook}
tlsCertFile: "$PKI/kubelet-serving.crt"
tlsPrivateKeyFile: "$PKI/kubelet-serving.key"
address: 0.0.0.0
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
clusterDNS: [$SL_DNS_IP]
clusterDomain: cluster.local
resolvConf: ""
oomScoreAdj: 0
podLogsDir: "$ST/pod-logs"
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
maxPods: 250
serializeImagePulls: false
registerNode: true
rotateCertificates: false
serverTLSBootstrap: false
protectKernelDefaults: false
shutdownGracePeriod: 0s
containerLogMaxSize: 10Mi
nodeStatusReportFrequency: 1m
EOF
start kubelet kubelet --config "$CFG/kubelet.yaml" --kubeconfig "$CFG/kubelet.kubeconfig" \
  --root-dir "$ST/kubelet" --hostname-override $SL_NODE --node-ip $SL_NODE_IP --v=1

# ---------------------------------------------------------------- kube-proxy
cat > "$CFG/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: "$CFG/kube-proxy.kubeconfig"}
hostnameOverride: $SL_NODE
bindAddress: 0.0.0.0
clusterCIDR: $SL_POD_CIDR
mode: iptables
oomScoreAdj: 0
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
iptables: {minSyncPeriod: 0s, syncPeriod: 30s}
EOF
start kube-proxy kube-proxy --config "$CFG/kube-proxy.yaml" --v=1

phase "control plane, kubelet and kube-proxy started"

# ---------------------------------------------------------------- CoreDNS
wait_for "node registration" 60 "$LOGS/kubelet.log" K get node $SL_NODE

# ---------------------------------------------------------------- NetworkPolicy enforcer
# kube-router (once the Node exists: it identifies itself by it) with only its firewall (network policy) controller: iptables + ipset in the
# namespace; pod-to-pod traffic on the bridge passes iptables (bridge-nf-call-iptables=1).
start kube-router "$SL_BIN_KUBE_ROUTER/kube-router" --kubeconfig "$CFG/kube-router.kubeconfig" \
  --run-firewall=true --run-router=false --run-service-proxy=false --run-loadbalancer=false \
  --enable-cni=false --hostname-override $SL_NODE \
  --service-cluster-ip-range $SL_SVC_CIDR --metrics-port 0 --health-port 20244 \
  --iptables-sync-period 30s --ipvs-sync-period 30s --v=1
sed -e "s|@COREDNS_IMAGE@|$SLUICE_IMAGE_COREDNS|g" -e "s|@DNS_IP@|$SL_DNS_IP|g" \
  "$SL_HERE/manifests/coredns.yaml" | K apply -f - >/dev/null
wait_for "node Ready" 90 "$LOGS/kubelet.log" K wait --for=condition=Ready node/$SL_NODE --timeout=2s
phase "node Ready"
wait_for "CoreDNS ready" 120 "$LOGS/kubelet.log" K -n kube-system rollout status deploy/coredns --timeout=2s
phase "CoreDNS ready"

for n in containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kube-router; do
  alive $n || { tail -n 40 "$LOGS/$n.log" >&2; sl_die "$n exited; see $LOGS/$n.log"; }
done
sed -i 's/^phase=.*/phase=ready/' "$SL_RUN/state"
sl_log "cluster up in $(ms_since "$T0") ms: . $SL_DIR/env && kubectl get pods -A"
