#!/usr/bin/env bash
# Builds a function's zip the way a Lambda user does: its dependencies installed with npm
# (production only), then the directory zipped with node_modules at the root.
#   deploy/examples/zip/build.sh wordcount /tmp/wordcount.zip
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
name=${1:?usage: build.sh FUNCTION-DIR OUT.zip}
out=$(realpath -m "${2:?usage: build.sh FUNCTION-DIR OUT.zip}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$here/$name/." "$work/"
(cd "$work" && npm install --omit=dev --no-audit --no-fund --no-package-lock --loglevel=error >&2)
rm -f "$out"
(cd "$work" && zip -qr -X "$out" .)
echo "$out: $(stat -c %s "$out") bytes, sha256 $(sha256sum "$out" | cut -d' ' -f1)" >&2
