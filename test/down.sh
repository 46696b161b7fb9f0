#!/usr/bin/env bash
# make down: remove what `make up` started. On the local cluster that is the whole cluster;
# on a configured cluster, the examples and the Helm release (CRDs are kept: they hold users'
# functions; delete them with `kubectl delete -f charts/sluice/crds`).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
if [ -n "${KUBECONFIG:-}" ] && [ "$KUBECONFIG" != "$repo/.cluster/kubeconfig" ] &&
  command -v kubectl >/dev/null && kubectl get --raw /readyz --request-timeout=5s >/dev/null 2>&1; then
  # The examples' NATS streams, with the namespace's own creds while it still exists (the
  # controller also purges a deleted namespace's account: this is the belt to those braces).
  npx tsx test/examples-nats.ts delete-streams || echo "down: the examples' NATS streams were not deleted (NATS unreachable?)"
  kubectl delete namespace sluice-examples --ignore-not-found
  # What test/examples.sh made outside the namespace: the access key.
  kubectl -n sluice-system delete secret sluice-examples-key --ignore-not-found
  helm uninstall sluice --namespace sluice-system --ignore-not-found || true
  exit 0
fi
test/cluster/down.sh
