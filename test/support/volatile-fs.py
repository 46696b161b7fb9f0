#!/usr/bin/python3
"""A FUSE filesystem whose written data lives in this process's memory until it is fsynced.

    volatile-fs.py BACKING MOUNTPOINT

The mount shows BACKING's tree. Metadata operations (create, mkdir, rename, unlink, rmdir, chmod,
a shrinking truncate) go to BACKING at once, as a journaling filesystem commits them. File
*data* does not: a write lands in an in-memory copy of the file (this process is the page cache)
and reaches BACKING only when the file is fsynced (fsync or fdatasync; a write through a file
opened with O_SYNC or O_DSYNC is synced as it returns), or when anyone opens the
virtual file `/.writeback` of the mount, which writes every file back (what the kernel's periodic
writeback does with dirty pages). So SIGKILL of this process is a power cut: BACKING keeps exactly
what a disk would keep, the data that was fsynced, and the rest is gone (a file written since its
last fsync is left with its old content, or with zeros where it grew by truncate only).

Used by test/support/power-loss.ts (the JetStream power-loss test). Needs Debian's python3-fusepy
(libfuse2), which test/cluster/deps.sh installs; runs single-threaded, as root.
"""

import ctypes
import errno
import os
import signal
import sys

from fusepy import FUSE, FuseOSError, Operations

CONTROL = "/.writeback"


class VolatileFS(Operations):
    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root)
        # path -> [content as the processes see it, lowest offset not yet on BACKING]
        self.cache: dict[str, list] = {}
        self.next_fh = 1
        self.sync_fhs: set[int] = set()  # handles opened with O_SYNC / O_DSYNC

    def _b(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/"))

    def _load(self, path: str) -> list:
        ent = self.cache.get(path)
        if ent is None:
            with open(self._b(path), "rb") as f:
                data = bytearray(f.read())
            ent = [data, len(data)]
            self.cache[path] = ent
        return ent

    def _sync(self, path: str) -> None:
        ent = self.cache.get(path)
        if ent is None:
            return
        buf, lo = ent
        fd = os.open(self._b(path), os.O_WRONLY)
        try:
            if lo < len(buf):
                os.pwrite(fd, bytes(buf[lo:]), lo)
            os.ftruncate(fd, len(buf))
        finally:
            os.close(fd)
        # BACKING stands for the disk: no real fsync of it is needed for the simulation.
        ent[1] = len(buf)

    def _handle(self, fi) -> None:
        fi.fh = self.next_fh
        self.next_fh += 1
        if fi.flags & os.O_DSYNC:  # O_SYNC includes the O_DSYNC bit
            self.sync_fhs.add(fi.fh)

    def writeback(self) -> None:
        for p in list(self.cache):
            self._sync(p)

    # --- metadata: straight to BACKING ---
    def access(self, path, mode):
        if path != CONTROL and not os.access(self._b(path), mode):
            raise FuseOSError(errno.EACCES)

    def getattr(self, path, fh=None):
        if path == CONTROL:
            return {"st_mode": 0o100444, "st_nlink": 1, "st_size": 0}
        try:
            st = os.lstat(self._b(path))
        except OSError as e:
            raise FuseOSError(e.errno) from None
        attrs = {
            k: getattr(st, k)
            for k in (
                "st_mode",
                "st_nlink",
                "st_uid",
                "st_gid",
                "st_size",
                "st_atime",
                "st_mtime",
                "st_ctime",
            )
        }
        ent = self.cache.get(path)
        if ent is not None:
            attrs["st_size"] = len(ent[0])
        return attrs

    def readdir(self, path, fh):
        return [".", ".."] + os.listdir(self._b(path))

    def readlink(self, path):
        return os.readlink(self._b(path))

    def mkdir(self, path, mode):
        os.mkdir(self._b(path), mode)

    def rmdir(self, path):
        os.rmdir(self._b(path))

    def chmod(self, path, mode):
        os.chmod(self._b(path), mode)

    def chown(self, path, uid, gid):
        os.chown(self._b(path), uid, gid)

    def utimens(self, path, times=None):
        os.utime(self._b(path), times)

    def statfs(self, path):
        sv = os.statvfs(self._b(path))
        return {k: getattr(sv, k) for k in ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files", "f_flag", "f_frsize", "f_namemax")}

    def symlink(self, target, source):
        os.symlink(source, self._b(target))

    def link(self, target, source):
        os.link(self._b(source), self._b(target))

    def unlink(self, path):
        os.unlink(self._b(path))
        self.cache.pop(path, None)

    def rename(self, old, new):
        os.rename(self._b(old), self._b(new))
        for k in list(self.cache):
            if k == new or k.startswith(new + "/"):
                del self.cache[k]
        for k in list(self.cache):
            if k == old or k.startswith(old + "/"):
                self.cache[new + k[len(old) :]] = self.cache.pop(k)

    # (raw_fi: `fi` is libfuse's fuse_file_info, whose flags tell O_SYNC)
    def create(self, path, mode, fi):
        os.close(os.open(self._b(path), os.O_WRONLY | os.O_CREAT, mode))
        self.cache.pop(path, None)
        self._handle(fi)
        return 0

    def open(self, path, fi):
        if path == CONTROL:
            self.writeback()
        elif not os.path.exists(self._b(path)):
            raise FuseOSError(errno.ENOENT)
        elif fi.flags & os.O_TRUNC:
            self.truncate(path, 0)
        self._handle(fi)
        return 0

    # --- data: in memory until fsync ---
    def truncate(self, path, length, fh=None):
        ent = self._load(path)
        buf = ent[0]
        if length < len(buf):
            del buf[length:]
        else:
            buf.extend(b"\0" * (length - len(buf)))
        ent[1] = min(ent[1], length)
        b = self._b(path)
        if os.path.getsize(b) > length:
            os.truncate(b, length)

    def read(self, path, size, offset, fh):
        if path == CONTROL:
            return b""
        ent = self.cache.get(path)
        if ent is not None:
            return bytes(ent[0][offset : offset + size])
        fd = os.open(self._b(path), os.O_RDONLY)
        try:
            return os.pread(fd, size, offset)
        finally:
            os.close(fd)

    def write(self, path, data, offset, fi):
        ent = self._load(path)
        buf = ent[0]
        if len(buf) < offset:
            buf.extend(b"\0" * (offset - len(buf)))
        buf[offset : offset + len(data)] = data
        ent[1] = min(ent[1], offset)
        if fi.fh in self.sync_fhs:
            self._sync(path)
        return len(data)

    def fsync(self, path, datasync, fh):
        self._sync(path)
        return 0

    def fsyncdir(self, path, datasync, fh):
        return 0

    def flush(self, path, fh):
        return 0  # close() does not persist

    def release(self, path, fi):
        self.sync_fhs.discard(fi.fh)
        return 0


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("usage: volatile-fs.py BACKING MOUNTPOINT")
    # Die with the test process that started us (a power cut too: nothing is written back).
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    FUSE(VolatileFS(sys.argv[1]), sys.argv[2], foreground=True, nothreads=True, big_writes=True, raw_fi=True)


if __name__ == "__main__":
    main()
