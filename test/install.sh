#!/usr/bin/env bash
# Installs or upgrades Sluice on the cluster KUBECONFIG points at: CRDs, then the chart with the
# images just built (.cluster/images.env: content-hash tags, so changed images always roll out).
#   test/install.sh [extra helm args...]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
local_cluster=
if [ -f .cluster/env ] && [ -z "${SLUICE_EXTERNAL_CLUSTER:-}" ]; then
  # shellcheck disable=SC1091
  . .cluster/env
  local_cluster=1
fi
KUBECTL=${KUBECTL:-kubectl}
HELM=${HELM:-helm}
ns=${SLUICE_NAMESPACE:-sluice-system}
echo "install: CRDs"
"$KUBECTL" apply --server-side --force-conflicts -f charts/sluice/crds >/dev/null
"$KUBECTL" wait --for=condition=Established --timeout=60s -f charts/sluice/crds >/dev/null
args=()
if [ -n "${SLUICE_IMAGE_PLATFORM:-}" ]; then
  args+=(--set "image.repository=${SLUICE_IMAGE_PLATFORM%:*}" --set "image.tag=${SLUICE_IMAGE_PLATFORM##*:}")
fi
[ -n "${SLUICE_IMAGE_RUNTIME_NODEJS22:-}" ] && args+=(--set "runtimeImages.nodejs22=$SLUICE_IMAGE_RUNTIME_NODEJS22")
[ -n "${SLUICE_IMAGE_RUNTIME_NODEJS24:-}" ] && args+=(--set "runtimeImages.nodejs24=$SLUICE_IMAGE_RUNTIME_NODEJS24")
[ -n "${SLUICE_IMAGE_PROVIDED:-}" ] && args+=(--set "runtimeImages.provided=$SLUICE_IMAGE_PROVIDED")
[ -n "${SLUICE_IMAGE_NATS:-}" ] && args+=(--set "nats.image=$SLUICE_IMAGE_NATS")
if [ -n "$local_cluster" ]; then
  # The local cluster has no dynamic volume provisioner: NATS's JetStream files go on static
  # `local` PersistentVolumes (StorageClass sluice-local, no provisioner) in .cluster/state/volumes,
  # one per possible StatefulSet member, each reserved for its claim (data-sluice-nats-N).
  echo "install: local PersistentVolumes for NATS (StorageClass sluice-local)"
  node=${SLUICE_CLUSTER_NODE:-sluice-node}
  manifests="apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: sluice-local}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Retain"
  for i in 0 1 2; do
    dir="$SLUICE_CLUSTER_DIR/state/volumes/sluice-nats-$i"
    mkdir -p "$dir"
    chown 65532:65532 "$dir" 2>/dev/null || chmod 0777 "$dir"
    manifests+="
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: sluice-nats-$i, labels: {app.kubernetes.io/part-of: sluice}}
spec:
  capacity: {storage: 10Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: sluice-local
  claimRef: {namespace: $ns, name: data-sluice-nats-$i}
  local: {path: $dir}
  nodeAffinity:
    required:
      nodeSelectorTerms:
        - matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [$node]}]"
    # A claim deleted with its namespace leaves the volume Released: free it for the next claim
    # of the same name (the data stays).
    if [ "$("$KUBECTL" get pv "sluice-nats-$i" -o jsonpath='{.status.phase}' 2>/dev/null)" = Released ]; then
      "$KUBECTL" patch pv "sluice-nats-$i" --type json \
        -p '[{"op":"remove","path":"/spec/claimRef/uid"},{"op":"remove","path":"/spec/claimRef/resourceVersion"}]' >/dev/null
    fi
  done
  printf '%s\n' "$manifests" | "$KUBECTL" apply --server-side --force-conflicts -f - >/dev/null
  args+=(--set nats.persistence.storageClassName=sluice-local)
  # No registry: images are imported into the node (localhost/...), so code images there are
  # trusted (pulled IfNotPresent); anywhere else a tenant's code.image is pulled Always.
  args+=(--set 'functions.trustedImagePrefixes={localhost/}')
  # The cluster's own networks (nodes, pods, Services): private functions' cidr peers may not
  # overlap them (test/cluster/lib.sh for the local cluster; kind's defaults and Docker network).
  if [ -n "${SLUICE_CLUSTER_KIND:-}" ]; then
    args+=(--set 'functions.network.clusterCidrs={10.244.0.0/16,10.96.0.0/12,172.18.0.0/16}')
  else
    args+=(--set 'functions.network.clusterCidrs={10.244.0.0/16,10.96.0.0/16,10.254.0.1/32}')
  fi
fi
echo "install: helm upgrade --install sluice (namespace $ns; waits for every component to be Ready)"
"$HELM" upgrade --install sluice charts/sluice --namespace "$ns" --create-namespace \
  "${args[@]}" "$@" --wait --timeout 240s
"$KUBECTL" -n "$ns" get deploy,statefulset,pods -o wide
