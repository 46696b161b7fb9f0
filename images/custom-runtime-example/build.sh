#!/usr/bin/env bash
# Builds the custom-runtime example image without Docker (images/lib/oci.sh) and imports it into
# the local cluster's containerd (namespace k8s.io). Prints the image reference on stdout:
#   localhost/sluice/custom-runtime-example:<12 hex digits of the manifest digest>
#
#   build.sh              build and import (skips the import when containerd already has it)
#   build.sh --no-import  build .cluster/images/custom-runtime-example.tar only
#
# The image is a `runtime: provided` function: AWS's Node.js Runtime Interface Client (npm
# aws-lambda-ric, unmodified, from this checkout's node_modules) is the entry point and serves
# /var/task/index.mjs's handler through the Runtime API of the pod's sluice-runtime sidecar. The
# package's native addon (rapid-client.node) was compiled by `npm ci` for this machine's Node.js,
# so the image holds that same Node.js binary (`command -v node`) and the glibc shared libraries
# it and the addon link, copied from this machine. uid 65532, read-only root filesystem works.
# Dockerfile (next to this script) builds an equivalent image with Docker.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../../test/cluster/lib.sh"
. "$SL_REPO/images/lib/oci.sh"
export SL_STEP=custom-runtime-example
import=1
for a in "$@"; do
  case $a in
    --no-import) import=0 ;;
    *) sl_die "unknown argument $a" ;;
  esac
done

NAME=localhost/sluice/custom-runtime-example
RIC=$SL_REPO/node_modules/aws-lambda-ric
NODE=$(command -v node) || sl_die "node is not on PATH"
NODE=$(readlink -f "$NODE")
if [ ! -f "$RIC/index.mjs" ] || [ ! -f "$RIC/rapid-client.node" ]; then
  sl_die "$RIC (index.mjs, rapid-client.node) missing: run npm ci (aws-lambda-ric is a devDependency)"
fi

OUT=$SL_DIR/images
mkdir -p "$OUT"
WORK=$(mktemp -d "$OUT/.custom-runtime-example.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# Layer 1: Node.js at /nodejs/bin/node plus the shared libraries it and the addon need.
base=$WORK/base
mkdir -p "$base/etc" "$base/tmp" "$base/nodejs/bin" "$base/usr/bin" "$base/lib64" "$base/var/task"
chmod 1777 "$base/tmp"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' > "$base/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\nnogroup:x:65534:\n' > "$base/etc/group"
printf 'hosts: files dns\n' > "$base/etc/nsswitch.conf"
cp "$NODE" "$base/nodejs/bin/node"
ln -s /nodejs/bin/node "$base/usr/bin/node"
for lib in $( (ldd "$NODE"; ldd "$RIC/rapid-client.node") \
  | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u); do
  mkdir -p "$base$(dirname "$lib")"
  cp -L "$lib" "$base$lib"
done
[ -e "$base/lib64/ld-linux-x86-64.so.2" ] || sl_die "no ld-linux-x86-64.so.2 from ldd"

# Layer 2: the runtime interface client, as npm installed it (its dependencies are bundled into
# index.mjs; node_modules/@aws is copied along for completeness).
ric=$WORK/ric
mkdir -p "$ric/opt/ric/node_modules"
cp -a "$RIC" "$ric/opt/ric/node_modules/aws-lambda-ric"
rm -rf "$ric/opt/ric/node_modules/aws-lambda-ric/deps" "$ric/opt/ric/node_modules/aws-lambda-ric/src"

# Layer 3: the function's code.
task=$WORK/task
mkdir -p "$task/var/task"
cp "$HERE/index.mjs" "$task/var/task/index.mjs"

LAYOUT=$WORK/layout
oci_new "$LAYOUT"
layers=()
for r in "$base" "$ric" "$task"; do layers+=("$(oci_layer "$LAYOUT" "$r")"); done
config=$(jq -cn '{User: "65532:65532", WorkingDir: "/var/task",
  Entrypoint: ["/nodejs/bin/node", "/opt/ric/node_modules/aws-lambda-ric/index.mjs"],
  Cmd: ["index.handler"],
  Env: ["PATH=/nodejs/bin:/usr/local/bin:/usr/bin:/bin", "LAMBDA_TASK_ROOT=/var/task"]}')
m=$(oci_image "$LAYOUT" "$config" "${layers[@]}")
REF=$NAME:$(echo "$m" | cut -c8-19)
printf '%s %s\n' "$m" "$REF" | oci_index "$LAYOUT"
tarball=$OUT/custom-runtime-example.tar
oci_pack "$LAYOUT" "$WORK/image.tar"
mv -f "$WORK/image.tar" "$tarball"
sl_log "$REF ($(du -h "$tarball" | cut -f1), node $("$NODE" -v))"

if [ $import = 1 ]; then
  sock=$SL_RUN/containerd/containerd.sock
  [ -S "$sock" ] || sl_die "cluster not running ($sock missing): make cluster-up"
  if ctr --address "$sock" -n k8s.io images ls -q | grep -qxF "$REF"; then
    sl_log "already in the cluster's containerd"
  else
    ctr --address "$sock" -n k8s.io images import --no-unpack "$tarball" >/dev/null \
      || sl_die "import of $tarball failed"
    sl_log "imported into the cluster's containerd"
  fi
fi
echo "$REF"
