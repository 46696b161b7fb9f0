#!/usr/bin/env bash
# Stops the local cluster and removes every trace of it from the machine: processes (daemons,
# forwarders, container shims and pods, found through the `sluice` cgroup), mounts, the
# `sluice` network namespace, cgroups and runtime state. Works whichever checkout started the
# cluster: the owner is recorded in /run/sluice-cluster/state. Built images (.cluster/images)
# and the binary cache are kept.
#   down.sh           stop and clean up; exits non-zero if anything is left behind
#   down.sh --check   only report leftovers (exit 1 if any)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export SL_STEP=down

# Cluster folders to clean: this checkout's and the recorded owner's.
dirs=("$SL_DIR")
if [ -f "$SL_RUN/state" ]; then
  owner_dir=$(sed -n 's/^cluster_dir=//p' "$SL_RUN/state")
  [ -n "$owner_dir" ] && [ "$owner_dir" != "$SL_DIR" ] && dirs+=("$owner_dir")
fi

cg_pids() { # every process in the cluster's cgroups, any hierarchy
  local r
  for r in $(sl_cgroup_roots); do
    [ -d "$r/$SL_CGROUP" ] && find "$r/$SL_CGROUP" -name cgroup.procs -exec cat {} + 2>/dev/null
  done | sort -un
}
ns_pids() { # processes whose network namespace is the cluster's
  [ -e /run/netns/$SL_NETNS ] || return 0
  local ino p; ino=$(stat -L -c %i /run/netns/$SL_NETNS 2>/dev/null) || return 0
  for p in /proc/[0-9]*; do
    [ "$(stat -L -c %i "$p/ns/net" 2>/dev/null)" = "$ino" ] && echo "${p#/proc/}"
  done
  return 0
}
pidfile_pids() {
  local f p
  for f in "$SL_RUN"/pids/*.pid "$SL_RUN"/fwd/*.pid; do
    [ -f "$f" ] || continue; p=$(cat "$f"); [ -n "$p" ] && [ -d "/proc/$p" ] && echo "$p"
  done
  return 0
}
live() { # filters out exited processes not yet reaped (zombies): they hold nothing
  local p st
  while read -r p; do
    st=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) || continue
    [ -n "$st" ] && [ "$st" != Z ] && echo "$p"
  done
  return 0
}
all_pids() { { cg_pids; ns_pids; pidfile_pids; } | sort -un | grep -vx "$$" | live || true; }
our_mounts() { # mount points under the cluster's folders, deepest first
  local d pats=("$SL_RUN" "/run/netns/$SL_NETNS")
  for d in "${dirs[@]}"; do pats+=("$d"); done
  awk '{print $5}' /proc/self/mountinfo | while read -r m; do
    m=$(printf '%b' "$m")
    for d in "${pats[@]}"; do case "$m" in "$d"|"$d"/*) echo "$m";; esac; done
  done | awk '{print length, $0}' | sort -rn | cut -d' ' -f2- | uniq
}

report() { # prints leftovers; returns 1 if any
  local bad=0 p m r
  p=$(all_pids); [ -n "$p" ] && { echo "left: processes $(echo $p)"; bad=1; }
  m=$(our_mounts); [ -n "$m" ] && { echo "left: mounts"; echo "$m" | sed 's/^/  /'; bad=1; }
  [ -e /run/netns/$SL_NETNS ] && { echo "left: netns $SL_NETNS"; bad=1; }
  for r in $(sl_cgroup_roots); do [ -d "$r/$SL_CGROUP" ] && { echo "left: cgroup $r/$SL_CGROUP"; bad=1; }; done
  [ -e "$SL_RUN" ] && { echo "left: $SL_RUN"; bad=1; }
  return $bad
}

if [ "${1:-}" = --check ]; then report; exit $?; fi
mkdir -p "$(dirname "$SL_RUN")"
exec 9>"$SL_RUN.lock"
flock -w 600 9 || sl_die "another up/down holds $SL_RUN.lock"

t0=$(date +%s%N)
# 1. Freeze everything in the cluster's cgroups (no restarts, no new children), kill, thaw.
fz=$(awk '$3=="cgroup" && $4 ~ /(^|,)freezer(,|$)/ {print $2}' /proc/self/mounts | head -1)
for _ in 1 2 3 4 5 6 7 8 9 10; do
  pids=$(all_pids)
  [ -z "$pids" ] && break
  [ -n "$fz" ] && [ -d "$fz/$SL_CGROUP" ] && echo FROZEN > "$fz/$SL_CGROUP/freezer.state" 2>/dev/null || true
  # shellcheck disable=SC2086
  kill -9 $pids 2>/dev/null || true
  [ -n "$fz" ] && [ -d "$fz/$SL_CGROUP" ] && echo THAWED > "$fz/$SL_CGROUP/freezer.state" 2>/dev/null || true
  for _ in $(seq 20); do [ -z "$(all_pids)" ] && break; sleep 0.1; done
done

# 2. Unmount (container rootfs, pod volumes, netns bind mounts), deepest first.
for _ in 1 2 3; do
  mounts=$(our_mounts); [ -z "$mounts" ] && break
  while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done <<< "$mounts"
done

# 3. The namespace (its interfaces, routes, iptables rules and ipsets go with it).
if [ -e /run/netns/$SL_NETNS ]; then
  ip netns delete $SL_NETNS 2>/dev/null || { umount -l /run/netns/$SL_NETNS 2>/dev/null; rm -f /run/netns/$SL_NETNS; }
fi

# 4. cgroups, bottom-up, in every hierarchy.
for r in $(sl_cgroup_roots); do
  [ -d "$r/$SL_CGROUP" ] && find "$r/$SL_CGROUP" -depth -type d -exec rmdir {} \; 2>/dev/null || true
done

# 5. Files the kubelet and CNI keep at fixed host paths: container log symlinks into our pod
#    logs, CNI result caches of our sandboxes, and those folders if the cluster created them.
for d in "${dirs[@]}"; do
  for l in /var/log/containers/*.log; do
    [ -L "$l" ] && case "$(readlink "$l")" in "$d"/*) rm -f "$l" ;; esac
  done
done
for sb in "$SL_RUN"/containerd/io.containerd.grpc.v1.cri/sandboxes/*; do
  [ -e "$sb" ] && rm -f /var/lib/cni/results/*-"$(basename "$sb")"-* 2>/dev/null
done
rm -f /var/lib/cni/results/sluice-* 2>/dev/null || true
# The kubelet's device-plugin socket and checkpoint live at a fixed path (one kubelet per host).
rm -f /var/lib/kubelet/device-plugins/kubelet.sock /var/lib/kubelet/device-plugins/kubelet_internal_checkpoint
if [ -f "$SL_RUN/state" ]; then
  for p in $(sed -n 's/^created_host_paths=//p' "$SL_RUN/state"); do
    case "$p" in
      /var/lib/kubelet) rm -rf /var/lib/kubelet ;;
      /var/log/containers | /var/lib/cni/results | /var/lib/cni)
        find "$p" -depth -type d -empty -delete 2>/dev/null || true ;;
    esac
  done
fi

# 6. Runtime state (built images, logs and the binary cache are kept).
rm -rf "$SL_RUN"
for d in "${dirs[@]}"; do
  [ -d "$d" ] || continue
  rm -rf "$d/state" "$d/run" "$d/kubeconfig" "$d/env" "$d/pki" "$d/config" "$d/forwards"
done

ms=$(( ($(date +%s%N) - t0) / 1000000 ))
if out=$(report); then
  sl_log "cluster stopped, nothing left behind (${ms} ms)"
else
  echo "$out" >&2; sl_die "cleanup incomplete"
fi
