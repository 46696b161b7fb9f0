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
  # What test/examples.sh made outside the namespace: the access key and the NATS streams (their
  # data would outlive the release on NATS's volume).
  kubectl -n sluice-system delete secret sluice-examples-key --ignore-not-found
  npx tsx test/examples-nats.ts delete-streams || echo "down: the examples' NATS streams were not deleted (NATS unreachable?)"
  helm uninstall sluice --namespace sluice-system --ignore-not-found || true
  exit 0
fi
test/cluster/down.sh
