#!/usr/bin/env bash
# Builds the Rust Lambda function of test/fixtures/rust-fn (AWS's `lambda_runtime` crate) for
# `runtime: provided` from a zip, and packs it. The last three lines on stdout are the paths of:
#   function.zip  the binary as `bootstrap` at the zip's root (unix mode 0755 in the zip)
#   layer.zip     the same binary at `bootstrap`: unpacked into /opt it is /opt/bootstrap (its zip
#                 comment differs, so its digest is not function.zip's)
#   data.zip      a function package holding only data.json (code comes from a layer)
# Progress goes to stderr.
#
#   rust-fn.sh            build (or reuse the cached build) and print the three paths
#   rust-fn.sh --rebuild  rebuild even when the cache has this key
#
# Release build of a static binary (target x86_64-unknown-linux-musl, added with rustup when
# missing; glibc x86_64-unknown-linux-gnu only when that fails). Results are cached in
# ~/.cache/sluice/rust-fn/<key>/ (SLUICE_CACHE overrides ~/.cache/sluice), key = hash of the
# fixture's Cargo.toml, Cargo.lock and src/, this script, `rustc -vV` and the target. Cargo's
# target folder is shared between keys (~/.cache/sluice/rust-fn/target), so a new key rebuilds
# only what changed. A cold build compiles ~60 crates (about a minute on 2 cores, nice); a warm call
# only hashes the sources (well under a second).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export SL_STEP=rust-fn
rebuild=0
for a in "$@"; do
  case $a in
    --rebuild) rebuild=1 ;;
    *) sl_die "unknown argument $a" ;;
  esac
done

SRC=$SL_REPO/test/fixtures/rust-fn
ROOT=$SL_CACHE/rust-fn
command -v cargo >/dev/null && command -v rustc >/dev/null || sl_die "cargo/rustc not on PATH (install Rust with rustup)"
mkdir -p "$ROOT"
# One build at a time (two cargo runs on one target folder block each other anyway).
exec 9>"$ROOT/.lock"
if ! flock -n 9; then
  sl_log "another rust-fn build is running; waiting for it"
  flock 9
fi

TARGET=x86_64-unknown-linux-musl
has_target() { [ -d "$(rustc --print target-libdir --target "$1" 2>/dev/null)" ]; }
if ! has_target "$TARGET" && command -v rustup >/dev/null; then
  sl_log "adding the rustup target $TARGET (static binary)"
  rustup target add "$TARGET" >&2 || true
fi
if ! has_target "$TARGET"; then
  TARGET=x86_64-unknown-linux-gnu
  sl_log "warning: no musl target; building a glibc-linked binary ($TARGET, needs the image's glibc >= this machine's: $(ldd --version | head -1))"
fi

key=$( (cd "$SRC" && find Cargo.toml Cargo.lock src -type f -print0 | sort -z | xargs -0 sha256sum
  sha256sum < "$SL_HERE/rust-fn.sh"; rustc -vV; echo "$TARGET") | sha256sum | cut -c1-16)
OUT=$ROOT/$key
print() { printf '%s\n' "$OUT/function.zip" "$OUT/layer.zip" "$OUT/data.zip"; }
if [ $rebuild = 0 ] && [ -f "$OUT/.done" ]; then
  sl_log "cached: $OUT ($TARGET)"
  print
  exit 0
fi

T0=$(date +%s)
sl_log "cargo build --release --target $TARGET (cold: about a minute on 2 cores; nice)"
# A heartbeat while cargo is silent (one slow crate). Not lib.sh's sl_progress: its `sleep` would
# outlive it holding the lock (fd 9) and the caller's stderr for up to 30 s.
heartbeat() {
  exec 9>&- </dev/null >/dev/null
  local s=
  trap 'kill $s 2>/dev/null; exit 0' TERM
  while :; do
    sleep 20 & s=$!; wait $s
    sl_log "cargo build: still running ($(( $(date +%s) - T0 ))s)"
  done
}
heartbeat & hb=$!
rc=0
nice -n 10 cargo build --release --locked --target "$TARGET" --manifest-path "$SRC/Cargo.toml" \
  --target-dir "$ROOT/target" >&2 || rc=$?
kill "$hb"; wait "$hb" 2>/dev/null || true
[ $rc = 0 ] || sl_die "cargo build failed"
bin=$ROOT/target/$TARGET/release/bootstrap
[ -x "$bin" ] || sl_die "$bin missing after the build"
if [ "$TARGET" = x86_64-unknown-linux-musl ] && readelf -l "$bin" | grep -q 'Requesting program interpreter'; then
  sl_die "$bin is not static"
fi

rm -rf "$OUT.tmp"; mkdir -p "$OUT.tmp/fn" "$OUT.tmp/data"
cp "$bin" "$OUT.tmp/fn/bootstrap"
chmod 0755 "$OUT.tmp/fn/bootstrap"
printf '{"fixture":"rust-fn","message":"a function package without code: the bootstrap comes from a layer"}\n' \
  > "$OUT.tmp/data/data.json"
chmod 0644 "$OUT.tmp/data/data.json"
# Fixed timestamps and no extra fields (-X): the same binary gives the same zip bytes.
TZ=UTC touch -d '2020-01-01 00:00:00' "$OUT.tmp/fn/bootstrap" "$OUT.tmp/data/data.json"
if command -v zip >/dev/null; then
  (cd "$OUT.tmp/fn" && TZ=UTC zip -q -X -9 ../function.zip bootstrap)
  (cd "$OUT.tmp/fn" && TZ=UTC zip -q -X -9 ../layer.zip bootstrap)
  echo 'sluice rust-fn layer: bootstrap for /opt' | zip -q -z "$OUT.tmp/layer.zip"
  (cd "$OUT.tmp/data" && TZ=UTC zip -q -X -9 ../data.zip data.json)
else
  # No zip CLI: yazl from the checkout's node_modules (a devDependency).
  (cd "$SL_REPO" && node --input-type=module - "$OUT.tmp" >&2) <<'EOF' || sl_die "writing the zips with yazl failed"
import { createRequire } from 'node:module';
import { createWriteStream, readFileSync } from 'node:fs';
const yazl = createRequire(process.cwd() + '/package.json')('yazl');
const dir = process.argv[2];
const mtime = new Date('2020-01-01T00:00:00Z');
const write = (name, entries, comment) =>
  new Promise((resolve, reject) => {
    const z = new yazl.ZipFile();
    for (const [path, file, mode] of entries) z.addBuffer(readFileSync(file), path, { mtime, mode });
    z.outputStream.pipe(createWriteStream(`${dir}/${name}`)).on('close', resolve).on('error', reject);
    z.end(comment ? { comment } : {});
  });
await write('function.zip', [['bootstrap', `${dir}/fn/bootstrap`, 0o100755]]);
await write('layer.zip', [['bootstrap', `${dir}/fn/bootstrap`, 0o100755]], 'sluice rust-fn layer: bootstrap for /opt');
await write('data.zip', [['data.json', `${dir}/data/data.json`, 0o100644]]);
EOF
fi
rm -rf "$OUT.tmp/fn" "$OUT.tmp/data"
echo "$TARGET" > "$OUT.tmp/target"
touch "$OUT.tmp/.done"
rm -rf "$OUT"; mv "$OUT.tmp" "$OUT"
sl_log "built in $(( $(date +%s) - T0 ))s ($TARGET, bootstrap $(stat -c %s "$bin") bytes): $OUT"
print
