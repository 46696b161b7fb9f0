#!/usr/bin/env bash
# Forwards a TCP address inside the local cluster to host loopback (user space; the cluster's
# namespace stays unrouted). Replaces an earlier forward of the same NAME. Prints the local URL
# base (127.0.0.1:PORT).
#   forward.sh NAME LOCALPORT TARGET [--env VAR]
#     LOCALPORT  0 picks a free port
#     TARGET     IP:PORT inside the cluster (pod, ClusterIP, node 10.254.0.1), or
#                svc/NAMESPACE/NAME:PORT (the Service's DNS name, resolved by the cluster's DNS
#                for every new connection: the forward follows the Service when it is recreated)
#     --env VAR  also append `export VAR=http://127.0.0.1:PORT` to .cluster/env
#   forward.sh --stop NAME
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export SL_STEP=forward
sl_bins
if [ "${1:-}" = --stop ]; then
  f=$SL_RUN/fwd/$2.pid
  [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
  rm -f "$f" "$SL_RUN/fwd/$2.port"
  exit 0
fi
[ $# -ge 3 ] || { sed -n '2,12p' "$0" >&2; exit 2; }
name=$1 port=$2 target=$3 envvar=
[ "${4:-}" = --env ] && envvar=${5:?--env needs a variable name}
[ -e /run/netns/$SL_NETNS ] || sl_die "the cluster is not running (no netns $SL_NETNS)"
dns=()
if [[ $target == svc/* ]]; then
  rest=${target#svc/}; ns=${rest%%/*}; rest=${rest#*/}; svc=${rest%%:*}; sport=${rest##*:}
  ip=$("$SL_BIN_K8S/kubectl" --kubeconfig "$SL_DIR/kubeconfig" -n "$ns" get svc "$svc" -o jsonpath='{.spec.clusterIP}')
  [ -n "$ip" ] && [ "$ip" != None ] || sl_die "service $ns/$svc has no ClusterIP"
  target=$svc.$ns.svc.cluster.local:$sport
  dns=(-dns "$SL_DNS_IP:53")
fi
mkdir -p "$SL_RUN/fwd"
pidf=$SL_RUN/fwd/$name.pid portf=$SL_RUN/fwd/$name.port
if [ -f "$pidf" ]; then
  old=$(cat "$pidf"); kill "$old" 2>/dev/null || true
  for _ in $(seq 50); do [ -d "/proc/$old" ] || break; sleep 0.05; done
fi
rm -f "$portf"
mkdir -p "$SL_DIR/logs"
# shellcheck disable=SC2016
setsid bash -c 'for r in $(awk '"'"'$3 ~ /^cgroup2?$/ {print $2}'"'"' /proc/self/mounts); do
    echo $$ > "$r/'"$SL_CGROUP"'/forwarders/cgroup.procs" 2>/dev/null || true; done
  echo $$ > "$0"; exec "$@"' "$pidf" \
  "$SL_BIN_FORWARD/sluice-forward" -netns /run/netns/$SL_NETNS -listen "127.0.0.1:$port" \
  -target "$target" "${dns[@]}" -port-file "$portf" </dev/null >>"$SL_DIR/logs/forward-$name.log" 2>&1 9>&- &
for _ in $(seq 100); do [ -s "$portf" ] && break; sleep 0.05; done
[ -s "$portf" ] || { tail -5 "$SL_DIR/logs/forward-$name.log" >&2; sl_die "forwarder $name did not start"; }
lport=$(cat "$portf")
if [ -n "$envvar" ] && [ -f "$SL_DIR/env" ]; then
  sed -i "/^export $envvar=/d" "$SL_DIR/env"
  echo "export $envvar=http://127.0.0.1:$lport" >> "$SL_DIR/env"
fi
echo "127.0.0.1:$lport"
