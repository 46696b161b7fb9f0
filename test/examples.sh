#!/usr/bin/env bash
# The example functions `make up` deploys (test/up.sh), one per feature, into namespace
# sluice-examples (SLUICE_EXAMPLES_NAMESPACE): sync (hello.yaml), async with destinations
# (async-destinations.yaml), a weighted alias (alias-weights.yaml), a queue mapping
# (queue-mapping.yaml) and schedules (schedule.yaml), all from deploy/examples/valid/; the NATS
# JetStream streams they need; version 2 of resize for the alias; an access-key Secret for the AWS
# CLI/SDK. Waits until every Function, Alias and EventSourceMapping is Ready. Idempotent: a second
# run changes nothing. test/e2e/examples.test.ts runs it and checks each example works.
#   test/examples.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
if [ -f .cluster/env ] && [ -z "${SLUICE_EXTERNAL_CLUSTER:-}" ]; then
  # shellcheck disable=SC1091
  . .cluster/env
fi
KUBECTL=${KUBECTL:-kubectl}
ns=${SLUICE_EXAMPLES_NAMESPACE:-sluice-examples}
sys=${SLUICE_NAMESPACE:-sluice-system}
examples=(hello async-destinations alias-weights queue-mapping schedule)
key_id=AKIDSLUICEEXAMPLES
key_secret=sluice-examples-key
deploy_key_id=AKIDSLUICEDEPLOYER
deploy_key_secret=sluice-examples-deployer-key
T0=$(date +%s)
say() { printf 'examples [%3ss] %s\n' "$(($(date +%s) - T0))" "$*"; }
k() { "$KUBECTL" -n "$ns" "$@"; }

# wait_until WHAT SECONDS CMD...: polls CMD every second until it succeeds.
wait_until() {
  local what=$1 secs=$2; shift 2
  for _ in $(seq "$secs"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  say "ERROR: timed out after ${secs}s waiting for $what"
  return 1
}

say "namespace $ns"
"$KUBECTL" create namespace "$ns" --dry-run=client -o yaml | "$KUBECTL" apply -f - >/dev/null

# Before the mappings start: a natsQueue mapping reads its stream, a nats: destination publishes
# into one. They live in the namespace's own NATS account: the annotation asks the controller for
# it and for Secret sluice-nats (url, creds) at once, and test/examples-nats.ts creates the streams
# with those creds (through a loopback forward), as the namespace, not as an administrator.
say "NATS account and credentials of $ns (Secret $ns/sluice-nats)"
"$KUBECTL" annotate namespace "$ns" sluice.dev/nats-credentials=true --overwrite >/dev/null
wait_until "Secret $ns/sluice-nats" 90 k get secret sluice-nats
say "NATS JetStream streams"
npx --no-install tsx test/examples-nats.ts streams | sed 's/^/    /'

say "functions, alias and mappings: ${examples[*]/%/.yaml}"
for f in "${examples[@]}"; do k apply -f "deploy/examples/valid/$f.yaml" | sed 's/^/    /'; done

# autoPublish published version 1 of resize on apply; a configuration change publishes version 2,
# the alias's 10% (only once: the patch is kept by later applies of the file, so nothing changes).
say "resize: version 1 published; a configuration change publishes version 2 for the prod alias"
wait_until "FunctionVersion resize-v1" 60 k get fnv resize-v1
if ! k get fnv resize-v2 >/dev/null 2>&1; then
  k patch fn resize --type merge -p '{"spec":{"environment":{"RELEASE":"2"}}}' | sed 's/^/    /'
fi
wait_until "FunctionVersion resize-v2" 60 k get fnv resize-v2

# SigV4 (AWS CLI and SDK): an access key acting as the namespace's default ServiceAccount, whom
# the examples' default invokePolicy admits. Created once; the secret key stays in the Secret.
say "access key $key_id for the AWS CLI/SDK (Secret $sys/$key_secret)"
if ! "$KUBECTL" -n "$sys" get secret "$key_secret" >/dev/null 2>&1; then
  "$KUBECTL" -n "$sys" create secret generic "$key_secret" --from-literal=accessKeyId="$key_id" \
    --from-literal=secretAccessKey="$(openssl rand -hex 20)" \
    --from-literal=principal="serviceaccount:$ns:default" >/dev/null
fi
"$KUBECTL" -n "$sys" label secret "$key_secret" sluice.dev/access-key=true --overwrite >/dev/null

# Shipping code with the AWS CLI (make up's guide, deploy/examples/zip/): a second access key,
# acting as ServiceAccount deployer, which the namespace's `edit` role lets create and update
# functions and layers (the gateway asks Kubernetes RBAC for every management call).
say "access key $deploy_key_id for deploying zips (ServiceAccount $ns/deployer with edit; Secret $sys/$deploy_key_secret)"
k create serviceaccount deployer --dry-run=client -o yaml | k apply -f - >/dev/null
k create rolebinding deployer-edit --clusterrole=edit --serviceaccount="$ns:deployer" --dry-run=client -o yaml |
  k apply -f - >/dev/null
if ! "$KUBECTL" -n "$sys" get secret "$deploy_key_secret" >/dev/null 2>&1; then
  "$KUBECTL" -n "$sys" create secret generic "$deploy_key_secret" --from-literal=accessKeyId="$deploy_key_id" \
    --from-literal=secretAccessKey="$(openssl rand -hex 20)" \
    --from-literal=principal="serviceaccount:$ns:deployer" >/dev/null
fi
"$KUBECTL" -n "$sys" label secret "$deploy_key_secret" sluice.dev/access-key=true --overwrite >/dev/null

# Ready only counts once the controller and the poller have seen the current spec, and the
# functions' pods run the code just applied (a changed example rolls its Deployment). Only the
# examples' own objects are waited for: whatever else lives in the namespace is left alone.
say "waiting for the functions, the alias and the mappings to be reconciled and Ready"
mapfile -t objects < <(for f in "${examples[@]}"; do k get -f "deploy/examples/valid/$f.yaml" -o name; done)
functions=$(printf '%s\n' "${objects[@]}" | sed -n 's|^function\.sluice\.dev/||p' | paste -sd, -)
reconciled() {
  local gens
  gens=$(k get "${objects[@]}" -o jsonpath='{range .items[*]}{.metadata.generation}={.status.observedGeneration} {end}')
  for g in $gens; do [ "${g%=*}" = "${g#*=}" ] || return 1; done
}
wait_until "the examples to be reconciled" 120 reconciled
k rollout status deployment -l "sluice.dev/function in ($functions)" --timeout=180s | sed 's/^/    /'
k wait --for=condition=Ready "${objects[@]}" --timeout=180s | sed 's/^/    /'
k get fn,fnv,alias,esm
say "examples ready"
