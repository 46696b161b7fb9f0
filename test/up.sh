#!/usr/bin/env bash
# make up: run Sluice. With no reachable cluster configured (KUBECONFIG unset, or pointing at
# nothing that answers), start the local cluster and build and import the images; then install
# the chart, deploy one example per feature (test/examples.sh) and print how to invoke them.
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

step "Example functions, one per feature (test/examples.sh: namespace sluice-examples)"
test/examples.sh

KUBECTL=${KUBECTL:-kubectl}
if [ $external = 0 ] && "$KUBECTL" -n sluice-system get svc sluice-gateway >/dev/null 2>&1; then
  step "Gateway on host loopback"
  test/cluster/forward.sh gateway "${SLUICE_GATEWAY_PORT:-18080}" svc/sluice-system/sluice-gateway:8080 --env SLUICE_URL >/dev/null
fi

# The AWS CLI the guide uses (awscli from PyPI, cached): on the PATH .cluster/env sets.
aws_bin=$(test/cluster/awscli.sh 2>/dev/null | tail -1)
if [ -n "$aws_bin" ] && ! grep -q 'test/cluster/awscli.sh' .cluster/env; then
  echo "export PATH=\"$(dirname "$aws_bin"):\$PATH\"  # the AWS CLI (test/cluster/awscli.sh)" >> .cluster/env
fi

step "Ready in $(( $(date +%s) - T0 ))s: a guide to the examples (deploy/examples/valid/), to paste here"
cat <<'GUIDE'
  source .cluster/env                                           # KUBECONFIG, SLUICE_URL; kubectl, helm on PATH
  TOKEN=$(kubectl -n sluice-examples create token default --audience sluice)  # a caller the examples admit (a bearer token for the gateway)
  FN=$SLUICE_URL/2015-03-31/functions/sluice-examples:function  # Invoke API; an ARN's account is the namespace

  # 1. Sync (hello.yaml): the answer comes back at once
  curl -s "$FN:hello/invocations" -H "Authorization: Bearer $TOKEN" -d '{"name":"you"}'

  # 2. Async with destinations (async-destinations.yaml): 202 at once; the success record goes to the
  #    audit function, a failure (after one retry, 5 s later) to the NATS stream ORDERS_FAILED
  curl -si "$FN:orders/invocations" -H "Authorization: Bearer $TOKEN" -H 'X-Amz-Invocation-Type: Event' -d '{"id":1}'
  curl -si "$FN:orders/invocations" -H "Authorization: Bearer $TOKEN" -H 'X-Amz-Invocation-Type: Event' -d '{"id":2,"fail":true}'
  kubectl -n sluice-examples logs -l sluice.dev/function=audit --tail=-1 | grep 'invocation record'  # seconds later
  npx tsx test/examples-nats.ts read ORDERS_FAILED             # ~10 s later: the failure's invocation record
  #    (test/examples-nats.ts connects with the namespace's own creds, Secret sluice-examples/sluice-nats:
  #    the examples' streams are in that namespace's NATS account, nobody else's)

  # 3. Weighted alias (alias-weights.yaml): resize:prod runs version 1 (90%) or version 2 (10%)
  for i in $(seq 50); do curl -s "$FN:resize:prod/invocations" -H "Authorization: Bearer $TOKEN" -d '{}'; echo; done | sort | uniq -c

  # 4. Queue mapping (queue-mapping.yaml): orders.created feeds order-worker SQS-shaped batches; a poison
  #    message goes to the stream ORDERS_DLQ after 3 attempts; a body without "type":"order" is filtered out
  npx tsx test/examples-nats.ts publish orders.created '{"type":"order","id":1}' '{"type":"order","id":2,"poison":true}'
  kubectl -n sluice-examples logs -l sluice.dev/function=order-worker --tail=-1 | grep 'order '
  npx tsx test/examples-nats.ts read ORDERS_DLQ                # ~5 s later: the poison message's record

  # 5. Schedules (schedule.yaml): heartbeat runs hello every minute, nightly-report at 02:00 UTC
  kubectl -n sluice-examples get esm                            # STATE Enabled; status.lastProcessingResult
  kubectl -n sluice-examples logs -l sluice.dev/function=hello --tail=-1 | grep 'Scheduled Event'

  # AWS CLI and SDK (SigV4), with the access key make up created (Secret sluice-system/sluice-examples-key):
  export AWS_ACCESS_KEY_ID=AKIDSLUICEEXAMPLES AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_SECRET_ACCESS_KEY=$(
    kubectl -n sluice-system get secret sluice-examples-key -o jsonpath='{.data.secretAccessKey}' | base64 -d)
  aws lambda invoke --endpoint-url "$SLUICE_URL" --function-name sluice-examples:function:hello \
    --payload fileb://<(echo '{"name":"cli"}') out.json && cat out.json
  node --input-type=module -e "import { LambdaClient, InvokeCommand } from '@aws-sdk/client-lambda';
    const lambda = new LambdaClient({ endpoint: process.env.SLUICE_URL });
    const r = await lambda.send(new InvokeCommand({ FunctionName: 'sluice-examples:function:resize:prod' }));
    console.log(r.ExecutedVersion, Buffer.from(r.Payload).toString());"

  # 6. Ship a zip with its node_modules, the Lambda way (deploy/examples/zip/): build, create, call, update
  deploy/examples/zip/build.sh wordcount /tmp/wordcount.zip    # npm install --omit=dev, then zip -r
  export AWS_ACCESS_KEY_ID=AKIDSLUICEDEPLOYER AWS_SECRET_ACCESS_KEY=$(   # ServiceAccount deployer (edit)
    kubectl -n sluice-system get secret sluice-examples-deployer-key -o jsonpath='{.data.secretAccessKey}' | base64 -d)
  aws lambda create-function --endpoint-url "$SLUICE_URL" --function-name sluice-examples:function:wordcount \
    --runtime nodejs22.x --handler index.handler --role arn:aws:iam::sluice-examples:role/default \
    --zip-file fileb:///tmp/wordcount.zip                       # a second time: ResourceConflictException
  kubectl -n sluice-examples get fn wordcount -o jsonpath='{.spec.code}{"\n"}'   # {"package":"sha256:…"}
  aws lambda invoke --endpoint-url "$SLUICE_URL" --function-name sluice-examples:function:wordcount \
    --payload '{"text":"to be or not to be"}' out.json && cat out.json     # seconds: the pod starts
  aws lambda update-function-code --endpoint-url "$SLUICE_URL" --function-name sluice-examples:function:wordcount \
    --zip-file fileb:///tmp/wordcount.zip                       # new code: a rolling update
  aws lambda get-function --endpoint-url "$SLUICE_URL" --function-name sluice-examples:function:wordcount  # Code.Location: the zip, for 10 min

  kubectl get fn,fnv,alias,esm -A; kubectl explain function.spec   # what runs; every field documented
  make down                                                     # remove everything
GUIDE
