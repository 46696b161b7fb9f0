#!/usr/bin/env bash
# make down: remove what `make up` started. On the local cluster that is the whole cluster;
# on a configured cluster, the examples and the Helm release (CRDs are kept: they hold users'
# functions; delete them with `kubectl delete -f charts/sluice/crds`).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
if [ -n "${KUBECONFIG:-}" ] && [ "$KUBECONFIG" != "$repo/.cluster/kubeconfig" ] &&
  command -v kubectl >/dev/null && kubectl get --raw /readyz --request-timeout=5s >/dev/null 2>&1; then
  kubectl delete namespace sluice-examples --ignore-not-found
  helm uninstall sluice --namespace sluice-system --ignore-not-found || true
  exit 0
fi
test/cluster/down.sh
