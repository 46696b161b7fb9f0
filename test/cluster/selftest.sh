#!/usr/bin/env bash
# Lifecycle test of the local cluster (make test-cluster-lifecycle; run after the e2e suite, as it
# restarts the cluster):
#   - cluster-up twice in a row works, the second reuses the healthy cluster quickly
#   - a cluster whose daemons were killed (a killed run) is detected and replaced
#   - a cluster started from another checkout is cleaned up and replaced
#   - cluster-down leaves no process, mount, network namespace or cgroup behind
# Leaves the cluster up (with the images imported) if it was up when the test started, and puts
# back what `make up` had running on it (the platform, the examples and the gateway's forward), so
# a newcomer's `make up` → `make test` ends with the guide still working.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export SL_STEP=selftest
pass=0 fail=0
ok() { pass=$((pass+1)); echo "  ok   $*"; }
bad() { fail=$((fail+1)); echo "  FAIL $*"; }
now() { date +%s%N; }
ms() { echo $(( ($(now) - $1) / 1000000 )); }
was_up=0; [ -f "$SL_RUN/state" ] && grep -q '^phase=ready' "$SL_RUN/state" && was_up=1
had=none
if [ $was_up = 1 ]; then
  sl_bins
  k() { "$SL_BIN_K8S/kubectl" --kubeconfig "$SL_DIR/kubeconfig" --request-timeout=10s "$@" >/dev/null 2>&1; }
  if k get namespace sluice-examples && k -n sluice-system get deploy sluice-gateway; then had=up
  elif k -n sluice-system get deploy sluice-gateway; then had=platform; fi
fi

leftovers() { # independent of down.sh's own bookkeeping
  local out="" p
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = $$ ] && continue
    local cmd; cmd=$( { tr '\0' ' ' < "$p/cmdline"; } 2>/dev/null) || continue # gone meanwhile
    if grep -qE "/run/sluice-cluster|$SL_DIR/|sluice-forward|kube-(apiserver|controller|scheduler|proxy|router)|kubelet|containerd-shim" <<<"$cmd"; then
      out+="process ${p#/proc/}: ${cmd:0:120}"$'\n'
    fi
  done
  grep -E " ($SL_DIR|/run/sluice-cluster|/run/netns/$SL_NETNS)[/ ]" /proc/self/mountinfo | sed 's/^/mount: /' || true
  ip netns list | grep -w "$SL_NETNS" | sed 's/^/netns: /' || true
  [ -d /sys/fs/cgroup/pids/$SL_CGROUP ] && echo "cgroup: /sys/fs/cgroup/pids/$SL_CGROUP"
  for p in /var/log/containers/*.log; do
    [ -L "$p" ] && readlink "$p" | grep -q "^$SL_DIR/" && echo "file: $p"
  done
  [ -e /var/lib/kubelet/device-plugins/kubelet.sock ] && echo "file: /var/lib/kubelet/device-plugins/kubelet.sock"
  printf '%s' "$out"
}

echo "cluster lifecycle selftest"
t=$(now)
if "$SL_HERE/up.sh" >/tmp/sluice-selftest.log 2>&1; then ok "cluster-up ($(ms "$t") ms)"; else bad "cluster-up"; tail -20 /tmp/sluice-selftest.log; fi

t=$(now)
if "$SL_HERE/up.sh" >/tmp/sluice-selftest.log 2>&1 && grep -q 'already up and healthy' /tmp/sluice-selftest.log; then
  d=$(ms "$t"); [ "$d" -lt 10000 ] && ok "second cluster-up reuses the cluster ($d ms)" || bad "second cluster-up too slow ($d ms)"
else bad "second cluster-up"; tail -20 /tmp/sluice-selftest.log; fi

# A killed run: the API server and kubelet die without cleanup.
kill -9 "$(cat "$SL_RUN/pids/kube-apiserver.pid")" "$(cat "$SL_RUN/pids/kubelet.pid")" 2>/dev/null || true
t=$(now)
if "$SL_HERE/up.sh" >/tmp/sluice-selftest.log 2>&1 && grep -q 'cleaning up a previous cluster' /tmp/sluice-selftest.log; then
  ok "cluster-up replaces a broken cluster ($(ms "$t") ms)"
else bad "cluster-up after killed daemons"; tail -20 /tmp/sluice-selftest.log; fi

# Another checkout of the repository starts its own cluster: ours is cleaned up, then taken back.
other=$(mktemp -d /tmp/sluice-other-checkout.XXXX)
t=$(now)
if SLUICE_CLUSTER_DIR=$other/.cluster "$SL_HERE/up.sh" >/tmp/sluice-selftest.log 2>&1 \
  && grep -q "cluster_dir=$other/.cluster" "$SL_RUN/state"; then
  ok "cluster-up from another checkout takes over ($(ms "$t") ms)"
else bad "cluster-up from another checkout"; tail -20 /tmp/sluice-selftest.log; fi
t=$(now)
if "$SL_HERE/up.sh" >/tmp/sluice-selftest.log 2>&1 && grep -q "cluster_dir=$SL_DIR" "$SL_RUN/state" \
  && [ -z "$(grep -E " $other/" /proc/self/mountinfo)" ]; then
  ok "cluster-up takes it back, the other checkout's cluster is gone ($(ms "$t") ms)"
else bad "cluster-up back in this checkout"; tail -20 /tmp/sluice-selftest.log; fi
rm -rf "$other"

t=$(now)
if "$SL_HERE/down.sh" >/tmp/sluice-selftest.log 2>&1; then ok "cluster-down ($(ms "$t") ms)"; else bad "cluster-down"; cat /tmp/sluice-selftest.log; fi
left=$(leftovers)
if [ -z "$left" ]; then ok "nothing left behind: no process, mount, netns, cgroup or kubelet file"; else bad "left behind:"; echo "$left"; fi
if "$SL_HERE/down.sh" >/tmp/sluice-selftest.log 2>&1; then ok "cluster-down again is a no-op"; else bad "second cluster-down"; fi

if [ $was_up = 1 ]; then
  t=$(now)
  if "$SL_HERE/up.sh" >/tmp/sluice-selftest.log 2>&1 && "$SL_HERE/images.sh" >>/tmp/sluice-selftest.log 2>&1; then
    ok "cluster restored with images ($(ms "$t") ms)"
  else bad "restoring the cluster"; tail -20 /tmp/sluice-selftest.log; fi
  restored=
  t=$(now)
  case $had in
    up) # what `make up` had running: the platform, the examples, the gateway on SLUICE_URL
      (cd "$SL_HERE/../.." && KUBECONFIG= test/up.sh) >>/tmp/sluice-selftest.log 2>&1 && restored="make up's platform and examples" ;;
    platform)
      (cd "$SL_HERE/../.." && test/install.sh) >>/tmp/sluice-selftest.log 2>&1 && restored="the platform" ;;
  esac
  if [ $had != none ]; then
    if [ -n "$restored" ]; then ok "$restored restored ($(ms "$t") ms)"
    else bad "restoring what ran on the cluster ($had)"; tail -20 /tmp/sluice-selftest.log; fi
  fi
fi
echo "$pass passed, $fail failed"
[ $fail = 0 ]
