#!/usr/bin/env bash
# Installs or upgrades Sluice on the cluster KUBECONFIG points at: CRDs, then the chart with the
# images just built (.cluster/images.env: content-hash tags, so changed images always roll out).
#   test/install.sh [extra helm args...]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
# shellcheck disable=SC1091
[ -f .cluster/env ] && [ -z "${SLUICE_EXTERNAL_CLUSTER:-}" ] && . .cluster/env
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
[ -n "${SLUICE_IMAGE_NATS:-}" ] && args+=(--set "nats.image=$SLUICE_IMAGE_NATS")
echo "install: helm upgrade --install sluice (namespace $ns; waits for every component to be Ready)"
"$HELM" upgrade --install sluice charts/sluice --namespace "$ns" --create-namespace \
  "${args[@]}" "$@" --wait --timeout 240s
"$KUBECTL" -n "$ns" get deploy,statefulset,pods -o wide
