#!/usr/bin/env bash
# For users with Docker: a kind cluster instead of the local one (make kind-up).
# UNTESTED on Sluice's build machines (no Docker there). Creates the cluster from
# deploy/kind/kind-config.yaml, builds the images with images/*/Dockerfile, loads them into the
# kind node, and writes .cluster/env (KUBECONFIG) and .cluster/images.env like up.sh/images.sh.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export SL_STEP=kind-up
for t in docker kind kubectl; do command -v $t >/dev/null || sl_die "$t is required for make kind-up"; done
name=sluice
mkdir -p "$SL_DIR"
kcfg=$SL_DIR/kind-kubeconfig
if kind get clusters 2>/dev/null | grep -qx "$name"; then
  sl_log "kind cluster $name exists"
  kind get kubeconfig --name "$name" > "$kcfg"
else
  kind create cluster --config "$SL_REPO/deploy/kind/kind-config.yaml" --kubeconfig "$kcfg" --wait 120s
fi
chmod 600 "$kcfg"

tag=dev
REG=localhost/sluice
declare -A files=([platform]=platform [runtime-nodejs22]=runtime [runtime-nodejs24]=runtime [provided]=provided [nats]=nats [testbox]=testbox)
{
  echo "# Written by test/cluster/kind-up.sh: images built with Docker and loaded into kind."
  echo "export SLUICE_IMAGE_REGISTRY=$REG"
} > "$SL_DIR/images.env.tmp"
for img in platform runtime-nodejs22 runtime-nodejs24 provided nats testbox; do
  args=()
  [ "$img" = runtime-nodejs24 ] && args+=(--build-arg NODE_MAJOR=24)
  sl_log "building $REG/$img:$tag"
  docker build "${args[@]}" -f "$SL_REPO/images/${files[$img]}/Dockerfile" -t "$REG/$img:$tag" "$SL_REPO"
  kind load docker-image --name "$name" "$REG/$img:$tag"
  echo "export SLUICE_IMAGE_$(echo "$img" | tr 'a-z-' 'A-Z_')=$REG/$img:$tag" >> "$SL_DIR/images.env.tmp"
done
docker tag "$REG/runtime-nodejs22:$tag" "$REG/runtime:$tag"
kind load docker-image --name "$name" "$REG/runtime:$tag"
echo "export SLUICE_IMAGE_RUNTIME=$REG/runtime:$tag" >> "$SL_DIR/images.env.tmp"
mv "$SL_DIR/images.env.tmp" "$SL_DIR/images.env"

cat > "$SL_DIR/env" <<EOT
# Written by test/cluster/kind-up.sh: the kind cluster. Source it: . .cluster/env
export KUBECONFIG=$kcfg
export SLUICE_CLUSTER_DIR=$SL_DIR
export SLUICE_CLUSTER_NODE=$name-control-plane
export KUBECTL=$(command -v kubectl)
export SLUICE_CLUSTER_KIND=1
[ -f $SL_DIR/images.env ] && . $SL_DIR/images.env
EOT
sl_log "kind cluster ready: . $SL_DIR/env && kubectl get nodes"
