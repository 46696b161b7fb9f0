#!/usr/bin/env bash
# Installs the Debian packages the local cluster needs, only when one is missing.
#   deps.sh [EXTRA-PACKAGE...]   also installs these (e.g. `deps.sh nginx` for make bench's baseline)
# Packages are installed without starting their services (policy-rc.d): a daemon Debian would
# start (containerd, nginx, prometheus) is started by whoever needs it, with its own config.
set -euo pipefail
pkgs=(containerd runc containernetworking-plugins iptables ipset iproute2 util-linux openssl
  socat jq curl ca-certificates tar coreutils gcc libc6-dev procps
  zip unzip # deploy/examples/zip/build.sh and test/cluster/rust-fn.sh pack function zips
  python3-venv # test/cluster/awscli.sh: the AWS CLI from PyPI in a virtualenv
  prometheus # promtool: test/unit/observability.test.ts checks the alert rules and dashboard queries
  python3-fusepy # test/support/volatile-fs.py: the FUSE disk of test/integration/nats-power-loss.test.ts
  "$@")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' > $policy && chmod +x $policy
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
command -v go >/dev/null || { echo "deps: Go >= 1.24 is required (go not found)" >&2; exit 1; }
command -v node >/dev/null || { echo "deps: node is required" >&2; exit 1; }
gv=$(go env GOVERSION); gv=${gv#go}; minor=$(echo "$gv" | cut -d. -f2)
[ "$(echo "$gv" | cut -d. -f1)" = 1 ] && [ "$minor" -ge 24 ] || { echo "deps: Go >= 1.24 is required, have $gv" >&2; exit 1; }
