# A small OCI image-layout writer (bash + GNU tar + sha256sum + jq), no Docker needed.
# Deterministic: tar entries sorted by name, mtime 0, numeric owner 0:0, modes normalised, no
# creation dates in the config, so unchanged inputs give byte-identical blobs and digests.
# Layers are uncompressed tar (application/vnd.oci.image.layer.v1.tar): digest == diff id.
#
#   oci_new LAYOUT                         start an empty image layout folder
#   oci_layer LAYOUT ROOTDIR               add ROOTDIR as a layer blob; prints "DIGEST SIZE"
#   oci_image LAYOUT CONFIG LAYER...       CONFIG: JSON of the image's "config" object (User,
#                                          Entrypoint, Cmd, Env, WorkingDir, ...); LAYER: lines
#                                          from oci_layer. Prints the manifest "DIGEST SIZE".
#   oci_index LAYOUT < LINES               writes index.json from lines "DIGEST SIZE REF" (a
#                                          manifest from oci_image and its name, e.g.
#                                          localhost/sluice/x:tag); one layout can hold many images
#   oci_pack LAYOUT OUT.tar                the layout as one tarball (for `ctr images import`)
# shellcheck shell=bash

oci__tar() { # oci__tar DIR: deterministic tar of DIR's contents on stdout
  tar --sort=name --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    --mtime=@0 --owner=0 --group=0 --numeric-owner --mode=u+rw,go-w,a+rX \
    -C "$1" -cf - .
}

oci__blob() { # oci__blob LAYOUT FILE: moves FILE into the blobs; prints "sha256:HEX SIZE"
  local hex size
  hex=$(sha256sum "$2" | cut -d' ' -f1); size=$(stat -c %s "$2")
  mv -f "$2" "$1/blobs/sha256/$hex"
  echo "sha256:$hex $size"
}

oci_new() {
  rm -rf "$1"; mkdir -p "$1/blobs/sha256"
  printf '{"imageLayoutVersion":"1.0.0"}' > "$1/oci-layout"
}

oci_layer() {
  local tmp="$1/.layer.tmp"
  oci__tar "$2" > "$tmp"
  oci__blob "$1" "$tmp"
}

oci_image() {
  local layout=$1 config=$2; shift 2
  local diffs="[]" layers="[]" d s l
  for l in "$@"; do
    read -r d s <<< "$l"
    diffs=$(jq -c --arg d "$d" '. + [$d]' <<< "$diffs")
    layers=$(jq -c --arg d "$d" --argjson s "$s" \
      '. + [{mediaType: "application/vnd.oci.image.layer.v1.tar", digest: $d, size: $s}]' <<< "$layers")
  done
  jq -cS -n --argjson c "$config" --argjson diffs "$diffs" \
    '{architecture: "amd64", os: "linux", config: $c, rootfs: {type: "layers", diff_ids: $diffs}}' \
    | tr -d '\n' > "$layout/.config.tmp"
  local cfg; cfg=$(oci__blob "$layout" "$layout/.config.tmp")
  read -r d s <<< "$cfg"
  jq -cS -n --arg d "$d" --argjson s "$s" --argjson layers "$layers" \
    '{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $d, size: $s},
      layers: $layers}' | tr -d '\n' > "$layout/.manifest.tmp"
  oci__blob "$layout" "$layout/.manifest.tmp"
}

oci_index() {
  jq -cS -R -s '[split("\n")[] | select(length > 0) | split(" ")
      | {mediaType: "application/vnd.oci.image.manifest.v1+json", digest: .[0], size: (.[1] | tonumber),
         platform: {architecture: "amd64", os: "linux"},
         annotations: {"io.containerd.image.name": .[2], "org.opencontainers.image.ref.name": (.[2] | sub("^.*:"; ""))}}]
    | {schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: .}' \
    | tr -d '\n' > "$1/index.json"
}

oci_pack() {
  oci__tar "$1" > "$2.tmp" && mv -f "$2.tmp" "$2"
}
