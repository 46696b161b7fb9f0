#!/usr/bin/env bash
# make up: run Sluice. With no reachable cluster configured (KUBECONFIG unset, or pointing at
# nothing that answers), start the local cluster and build and import the images; then install
# the chart, deploy the examples and print how to invoke them.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
T0=$(date +%s)

external=0
if [ -n "${KUBECONFIG:-}" ] && [ "$KUBECONFIG" != "$repo/.cluster/kubeconfig" ] &&
  command -v kubectl >/dev/null && kubectl get --raw /readyz --request-timeout=5s >/dev/null 2>&1; then
  external=1
fi

if [ $external = 1 ]; then
  step "Using the configured cluster ($KUBECONFIG)"
  echo "Images must be pullable by that cluster: build them with images/*/Dockerfile, push them, and"
  echo "set image.repository/image.tag and runtimeImages.* (see charts/sluice/values.yaml)."
  export SLUICE_EXTERNAL_CLUSTER=1
else
  step "Local cluster (test/cluster/up.sh: cached build, then start)"
  test/cluster/up.sh
  step "Images (built without Docker, imported into the cluster's containerd)"
  make --no-print-directory images
  # shellcheck disable=SC1091
  . .cluster/env
fi

step "Sluice (CRDs and the Helm chart)"
test/install.sh

step "Example functions (namespace sluice-examples)"
KUBECTL=${KUBECTL:-kubectl}
"$KUBECTL" create namespace sluice-examples --dry-run=client -o yaml | "$KUBECTL" apply -f - >/dev/null
"$KUBECTL" -n sluice-examples apply -f deploy/examples/valid/hello.yaml
"$KUBECTL" -n sluice-examples wait --for=condition=Ready fn/hello --timeout=120s
"$KUBECTL" -n sluice-examples get fn

if [ $external = 0 ] && "$KUBECTL" -n sluice-system get svc sluice-gateway >/dev/null 2>&1; then
  step "Gateway on host loopback"
  test/cluster/forward.sh gateway "${SLUICE_GATEWAY_PORT:-18080}" svc/sluice-system/sluice-gateway:8080 --env SLUICE_URL >/dev/null
fi

step "Ready in $(( $(date +%s) - T0 ))s"
cat <<GUIDE
  source .cluster/env                     # KUBECONFIG, SLUICE_URL, kubectl and helm on PATH
  kubectl get fn -A                       # functions: runtime, latest version, ready/desired pods
  kubectl explain function.spec           # every field, documented

  # Invoke with curl (the Lambda Invoke API):
  curl -s -X POST "\$SLUICE_URL/2015-03-31/functions/arn:aws:lambda:sluice:sluice-examples:function:hello/invocations" \\
       -H "Authorization: Bearer \$(kubectl -n sluice-examples create token default)" -d '{"name":"you"}'

  # With the AWS CLI (endpoint override; keys from a Sluice access-key Secret, see gateway/README.md):
  aws lambda invoke --endpoint-url "\$SLUICE_URL" --function-name sluice-examples:function:hello \\
       --payload '{"name":"you"}' --cli-binary-format raw-in-base64-out out.json

  make down                               # remove everything
GUIDE
