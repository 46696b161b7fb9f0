#!/usr/bin/env bash
# Checks the `provided` image's root filesystem outside the cluster: the Rust fixture function
# (test/cluster/rust-fn.sh, AWS's lambda_runtime crate) runs from /lambda-entrypoint, chrooted as
# uid 65532 with the image's environment, against a fake Runtime API (fake-runtime-api.mjs) on
# 127.0.0.1, for two packages:
#   function  function.zip unpacked into /var/task (/var/task/bootstrap)
#   layer     layer.zip into /opt (/opt/bootstrap), data.zip into /var/task
#   script    as layer, plus a `#!/bin/sh` /var/task/bootstrap that execs /opt/bootstrap (it
#             must run first: /var/task wins; and /bin/sh works)
# Each answers one echo event and one {"action":"error"} event (a function error). Needs root
# (chroot), node, jq and unzip. Prints "ok" lines; exits non-zero on the first failure.
#   selftest.sh [FUNCTION_ZIP...]   extra function zips of the same echo function (e.g. a
#                                   glibc-linked build of it), each run like function.zip
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
mapfile -t zips < <("$REPO/test/cluster/rust-fn.sh" | tail -n 3)
[ "${#zips[@]}" = 3 ] || { echo "selftest: rust-fn.sh printed no zips" >&2; exit 1; }
CHROOT=$(command -v chroot) || { echo "selftest: no chroot" >&2; exit 1; }
fn_zip=${zips[0]} layer_zip=${zips[1]} data_zip=${zips[2]}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
trap 'echo "selftest: failed at line $LINENO" >&2' ERR

# The same image environment as test/cluster/images.sh (and the Dockerfile), plus what the
# controller sets on a provided function's container.
image_env=(PATH=/usr/local/bin:/usr/bin:/bin:/opt/bin
  LD_LIBRARY_PATH=/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib
  LAMBDA_TASK_ROOT=/var/task LAMBDA_RUNTIME_DIR=/var/runtime)
pod_env=(TZ=:UTC AWS_LAMBDA_FUNCTION_NAME=rust-fn AWS_LAMBDA_FUNCTION_VERSION='$LATEST'
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/rust-fn
  AWS_LAMBDA_LOG_STREAM_NAME=rust-fn-selftest AWS_REGION=sluice AWS_DEFAULT_REGION=sluice _HANDLER=bootstrap)

run_case() { # run_case NAME TASK_ZIP [OPT_ZIP [TASK_BOOTSTRAP_SCRIPT]]
  local name=$1 task_zip=$2 opt_zip=${3:-} script=${4:-} root=$work/$1 port out api fn
  mkdir -p "$root/etc" "$root/tmp"
  chmod 1777 "$root/tmp"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$root/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' > "$root/etc/group"
  "$HERE/rootfs.sh" "$root"
  unzip -q "$task_zip" -d "$root/var/task"
  [ -z "$opt_zip" ] || unzip -q "$opt_zip" -d "$root/opt"
  if [ -n "$script" ]; then printf '%s\n' "$script" > "$root/var/task/bootstrap"; chmod 0755 "$root/var/task/bootstrap"; fi
  port=$((20000 + RANDOM % 20000))
  out=$work/$name.json
  node "$HERE/fake-runtime-api.mjs" "$port" '{"hello":"rust","n":1}' '{"action":"error"}' > "$out" &
  api=$!; pids+=("$api")
  sleep 0.3
  env -i "${image_env[@]}" "${pod_env[@]}" AWS_LAMBDA_RUNTIME_API="127.0.0.1:$port" \
    "$CHROOT" --userspec=65532:65532 "$root" /lambda-entrypoint > "$work/$name.log" 2>&1 &
  fn=$!; pids+=("$fn")
  local i
  for i in $(seq 100); do [ ! -s "$out" ] || break; sleep 0.1; done
  sleep 0.2 # the runtime is now waiting for its next event: it must still run
  if [ ! -s "$out" ] || ! kill -0 "$fn" 2>/dev/null; then
    echo "selftest $name: FAILED (runtime exited or did not answer); its output:" >&2
    cat "$work/$name.log" >&2
    exit 1
  fi
  kill "$fn" "$api"; wait "$fn" "$api" 2>/dev/null || true
  jq -e '
    length == 2
    and .[0].kind == "response" and .[0].requestId == "req-1"
    and .[0].body == {runtime: "rust", echo: {hello: "rust", n: 1}, requestId: "req-1"}
    and .[1].kind == "error" and .[1].requestId == "req-2" and .[1].body.errorType == "EchoError"' \
    "$out" > /dev/null || { echo "selftest $name: FAILED, answers: $(cat "$out")" >&2; exit 1; }
  echo "ok $name: $(cat "$out")"
}

run_case function "$fn_zip"
run_case layer "$data_zip" "$layer_zip"
run_case script "$data_zip" "$layer_zip" $'#!/bin/sh\necho "task bootstrap ran with $0" >&2\nexec /opt/bootstrap'
grep -q 'task bootstrap ran with /var/task/bootstrap' "$work/script.log" \
  || { echo "selftest script: /var/task/bootstrap did not run first" >&2; exit 1; }
echo "ok: /var/task/bootstrap runs first (a #!/bin/sh script), else /opt/bootstrap"
n=0
for z in "$@"; do n=$((n + 1)); run_case "extra-$n" "$z"; done
