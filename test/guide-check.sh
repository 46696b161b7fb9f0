#!/usr/bin/env bash
# Runs the first commands of `make up`'s guide (test/up.sh prints them) against the platform
# `make up` installed, as a newcomer pastes them: after `make test` they must still answer.
# Writes "N passed, M failed" to .test-results/guide.txt (test/summary.mjs counts it).
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
mkdir -p .test-results
pass=0 fail=0
ok() { pass=$((pass+1)); echo "  ok   $*"; }
bad() { fail=$((fail+1)); echo "  FAIL $*"; }
echo "make up's guide, after make test"
if [ ! -f .cluster/env ]; then
  bad "no .cluster/env: make up did not run"
else
  # shellcheck disable=SC1091
  source .cluster/env
  [ -n "${SLUICE_URL:-}" ] || bad "no SLUICE_URL in .cluster/env: make up did not finish"
  SLUICE_URL=${SLUICE_URL:-http://127.0.0.1:0}
  TOKEN=$(kubectl -n sluice-examples create token default --audience sluice 2>&1) || { bad "kubectl create token: $TOKEN"; TOKEN=; }
  FN=$SLUICE_URL/2015-03-31/functions/sluice-examples:function
  # 1. Sync
  out=$(curl -s --max-time 60 "$FN:hello/invocations" -H "Authorization: Bearer $TOKEN" -d '{"name":"you"}' 2>&1)
  [[ $out == *'hello you'* ]] && ok "1. sync: $out" || bad "1. sync call to hello answered: ${out:-nothing} (SLUICE_URL=$SLUICE_URL)"
  # 2. Async: 202 at once
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 "$FN:orders/invocations" -H "Authorization: Bearer $TOKEN" \
    -H 'X-Amz-Invocation-Type: Event' -d '{"id":1}' 2>&1)
  [ "$code" = 202 ] && ok "2. async: 202" || bad "2. async call to orders answered $code"
  # 3. Weighted alias
  out=$(for _ in $(seq 10); do curl -s --max-time 60 "$FN:resize:prod/invocations" -H "Authorization: Bearer $TOKEN" -d '{}'; echo; done | sort | uniq -c)
  [[ $out == *'"version"'* ]] && ! grep -qiv '"version"' <<<"$out" && ok "3. weighted alias: $(tr -s ' \n' ' ' <<<"$out")" \
    || bad "3. resize:prod answered: $out"
  # 6. A zip with node_modules through the AWS CLI (create, or update when it exists), then a call
  if zip_out=$(deploy/examples/zip/build.sh wordcount /tmp/sluice-guide-wordcount.zip 2>&1); then
    export AWS_ACCESS_KEY_ID=AKIDSLUICEDEPLOYER AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=
    AWS_SECRET_ACCESS_KEY=$(kubectl -n sluice-system get secret sluice-examples-deployer-key -o jsonpath='{.data.secretAccessKey}' | base64 -d)
    export AWS_SECRET_ACCESS_KEY
    WC=(--endpoint-url "$SLUICE_URL" --function-name sluice-examples:function:wordcount)
    if aws lambda get-function "${WC[@]}" >/dev/null 2>&1; then
      deployed=$(aws lambda update-function-code "${WC[@]}" --zip-file fileb:///tmp/sluice-guide-wordcount.zip 2>&1)
    else
      deployed=$(aws lambda create-function "${WC[@]}" --runtime nodejs22.x --handler index.handler \
        --role arn:aws:iam::sluice-examples:role/default --zip-file fileb:///tmp/sluice-guide-wordcount.zip 2>&1)
    fi
    out=
    for _ in $(seq 30); do
      out=$(aws lambda invoke "${WC[@]}" --payload '{"text":"to be or not to be"}' /tmp/sluice-guide-wc.json >/dev/null 2>&1 &&
        cat /tmp/sluice-guide-wc.json)
      [[ $out == *'"words":6'* ]] && break
      sleep 2
    done
    [[ $out == *'"words":6'* && $out == *'to: 2'* ]] && ok "6. zip via the AWS CLI: $out" \
      || bad "6. wordcount answered: ${out:-nothing}; deploy said: $deployed"
  else
    bad "6. deploy/examples/zip/build.sh: $zip_out"
  fi
fi
echo "$pass passed, $fail failed" | tee .test-results/guide.txt
[ $fail = 0 ]
