#!/usr/bin/env bash
# The unmodified AWS CLI (the `awscli` package from PyPI) in a virtualenv of the cluster cache,
# for the e2e tests that drive Sluice with it (test/e2e/packages-cli.test.ts) and for make up's
# guide. Prints the path of its `aws` executable on the last line. Cached by version.
set -euo pipefail
VERSION=1.46.3
CACHE=${SLUICE_CACHE_DIR:-$HOME/.cache/sluice}/awscli/$VERSION
if [ ! -e "$CACHE/.complete" ]; then
  echo "awscli: installing awscli==$VERSION into $CACHE (PyPI)" >&2
  rm -rf "$CACHE"
  python3 -m venv "$CACHE"
  "$CACHE/bin/pip" install -q --disable-pip-version-check "awscli==$VERSION" >&2
  touch "$CACHE/.complete"
fi
"$CACHE/bin/aws" --version >&2
echo "$CACHE/bin/aws"
