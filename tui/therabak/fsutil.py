"""Small file-system helpers that behave the same on Windows, macOS and Linux."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import sys
from pathlib import Path
from typing import BinaryIO

IS_WINDOWS = sys.platform == "win32"

# What chmod says on a file system without Unix permissions: FAT (vfat refuses modes its
# mount options do not give, EPERM; fusefat has no chmod at all, ENOSYS), exFAT, NTFS (fuse).
_NO_MODES = frozenset(
    {errno.EPERM, errno.ENOSYS, getattr(errno, "ENOTSUP", -1), getattr(errno, "EOPNOTSUPP", -1)}
)


def create_private(path: Path, *, exclusive: bool = True) -> int:
    """Open *path* for writing with mode 0600 (owner only) and return the descriptor.

    A new file (*exclusive*) gets 0600 from its creation where the file system has modes;
    one that has none (a FAT USB stick) refuses the extra chmod, which is then let go."""
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_BINARY", 0)
    flags |= os.O_EXCL if exclusive else os.O_TRUNC
    fd = os.open(path, flags, 0o600)
    if not IS_WINDOWS:
        try:
            os.fchmod(fd, 0o600)
        except OSError as e:
            if not (exclusive and e.errno in _NO_MODES):
                os.close(fd)
                raise
    return fd


def write_private(path: Path, data: bytes) -> None:
    """Write *data* to a new file *path* (0600) via a temporary name, fsynced, then renamed."""
    tmp = path.with_name(path.name + ".partial")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = create_private(tmp)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def make_private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if not IS_WINDOWS:
        os.chmod(path, 0o700)


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in *path* durable (no-op where unsupported)."""
    if IS_WINDOWS:
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def is_private(path: Path) -> bool:
    """False when group or others can read the file (always True on Windows)."""
    if IS_WINDOWS:
        return True
    mode = path.stat().st_mode
    return not (stat.S_IMODE(mode) & 0o077)


def existing_ancestor(path: Path) -> Path:
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def free_space(path: Path) -> int:
    """Free bytes on the file system that holds *path* (or its nearest existing parent)."""
    return shutil.disk_usage(existing_ancestor(path)).free


def reported_free_space(path: Path) -> int | None:
    """Like :func:`free_space`, but None when the file system does not report its size
    (FUSE file systems without statfs, e.g. fusefat, say 0 blocks in all, 0 free)."""
    usage = shutil.disk_usage(existing_ancestor(path))
    return None if usage.total == 0 else usage.free


# ---- paths longer than the system's limit ----------------------------------------------------
#
# A name may be as long as the file system allows (255 bytes) and a path below Data as deep
# as the practice made it; the staging folder of a restore has a longer name than Data. So
# every file a job reads or writes by path goes through these helpers: on POSIX a path of
# _LONG_PATH bytes or more is reached one folder at a time (openat: no limit applies; macOS
# refuses 1024 bytes, Linux 4096), on Windows through the \\?\ prefix (32,767 units).

_LONG_PATH = 1000
_DIR_OPEN = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)


def extended(path: str | os.PathLike[str]) -> str:
    """*path* as a string the system accepts whatever its length: on Windows a long path
    gets the ``\\\\?\\`` prefix (absolute, backslashes); elsewhere it is returned as it is."""
    p = os.fspath(path)
    if not IS_WINDOWS or len(p) < 240 or p.startswith("\\\\?\\"):
        return p
    p = os.path.abspath(p)
    if p.startswith("\\\\"):
        return "\\\\?\\UNC\\" + p[2:]
    return "\\\\?\\" + p


def _is_long(p: str) -> bool:
    return not IS_WINDOWS and len(p) * 4 >= _LONG_PATH and len(os.fsencode(p)) >= _LONG_PATH


@contextlib.contextmanager
def located(path: str | os.PathLike[str]):
    """``(dir_fd, name)`` to give an ``os`` function (``name, dir_fd=dir_fd``) for *path*:
    ``(None, path)`` for a path short enough, else a descriptor of its folder, opened one
    folder at a time (closed on leaving), and its last name. Symbolic links on the way
    are followed, as the system would follow them for the whole path."""
    p = os.fspath(path)
    if not _is_long(p):
        yield None, extended(p)
        return
    parts = os.path.abspath(p).split("/")
    head_len = 1
    size = 0
    for i, part in enumerate(parts[1:-1], start=1):
        size += len(os.fsencode(part)) + 1
        if size >= _LONG_PATH // 2:
            break
        head_len = i + 1
    fd = os.open("/".join(parts[:head_len]) or "/", _DIR_OPEN)
    try:
        for part in parts[head_len:-1]:
            nxt = os.open(part, _DIR_OPEN, dir_fd=fd)
            os.close(fd)
            fd = nxt
        yield fd, parts[-1]
    finally:
        os.close(fd)


def open_long(path: str | os.PathLike[str], flags: int, mode: int = 0o777) -> int:
    """``os.open`` for a path of any length."""
    p = os.fspath(path)
    if not _is_long(p):  # the common case, without a context manager (once per file)
        return os.open(extended(p), flags, mode)
    with located(p) as (fd, name):
        return os.open(name, flags, mode, dir_fd=fd)


def stat_long(path: str | os.PathLike[str], *, follow_symlinks: bool = True) -> os.stat_result:
    p = os.fspath(path)
    if not _is_long(p):
        return os.stat(extended(p), follow_symlinks=follow_symlinks)
    with located(p) as (fd, name):
        return os.stat(name, dir_fd=fd, follow_symlinks=follow_symlinks)


def unlink_long(path: str | os.PathLike[str]) -> None:
    with located(path) as (fd, name):
        os.unlink(name, dir_fd=fd)


def mkdir_long(path: str | os.PathLike[str], mode: int = 0o777) -> None:
    p = os.fspath(path)
    if not _is_long(p):
        return os.mkdir(extended(p), mode)
    with located(p) as (fd, name):
        os.mkdir(name, mode, dir_fd=fd)
    return None


def utime_long(path: str | os.PathLike[str], ns: tuple[int, int]) -> None:
    p = os.fspath(path)
    if not _is_long(p):
        return os.utime(extended(p), ns=ns)
    with located(p) as (fd, name):
        os.utime(name, ns=ns, dir_fd=fd)
    return None


def read_full(f: BinaryIO, n: int) -> bytes:
    """Read up to *n* bytes, looping over short reads; shorter only at end of file."""
    data = f.read(n)
    if data is None:
        data = b""
    if len(data) == n or not data:
        return data
    parts = [data]
    got = len(data)
    while got < n:
        more = f.read(n - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)
