#!/usr/bin/env bash
# Fills ROOT with the files of Sluice's `provided` image (test/cluster/images.sh calls it after
# its rootfs step: /etc/passwd, /etc/group, /tmp): the static entry point /lambda-entrypoint
# (entrypoint.c), the glibc of this machine with the usual C/C++ runtime libraries (libgcc_s,
# libstdc++), /bin/sh (dash, for `#!/bin/sh` bootstraps), the CA certificates, and the empty
# /var/task, /opt and /var/runtime. A static (musl) bootstrap needs none of the libraries; a
# glibc-linked one needs a glibc no newer than this machine's (Debian 12: 2.36, like the
# Dockerfile's distroless/cc-debian12).
#   rootfs.sh ROOT
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
root=${1:?usage: rootfs.sh ROOT}
mkdir -p "$root/var/task" "$root/opt" "$root/var/runtime" "$root/bin" "$root/lib64" "$root/etc/ssl/certs"
gcc -Os -static -s -Wall -Werror -o "$root/lambda-entrypoint" "$HERE/entrypoint.c"
cp "$(readlink -f /bin/sh)" "$root/bin/sh"
# The loader, libc and its companions, and the C/C++ runtime libraries, at this machine's paths.
libs=$(ldd "$root/bin/sh" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
for n in libm.so.6 libpthread.so.0 libdl.so.2 librt.so.1 libutil.so.1 libresolv.so.2 libgcc_s.so.1 libstdc++.so.6; do
  p=$(/sbin/ldconfig -p | awk -v n="$n" '$1 == n && /x86-64/ && p == "" {p = $NF} END {print p}')
  [ -n "$p" ] || { echo "rootfs.sh: $n not found on this machine" >&2; exit 1; }
  libs+=$'\n'$p
done
for lib in $(echo "$libs" | sort -u); do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
[ -e "$root/lib64/ld-linux-x86-64.so.2" ] || { echo "rootfs.sh: no /lib64/ld-linux-x86-64.so.2" >&2; exit 1; }
printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"
[ -f /etc/ssl/certs/ca-certificates.crt ] && cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
exit 0
