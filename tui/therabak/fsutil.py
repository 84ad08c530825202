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
#: The system takes hints about a file's cached pages (Linux; not Windows or macOS).
CAN_DROP_CACHED = hasattr(os, "posix_fadvise") and not IS_WINDOWS

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


def write_private(path: Path, data: bytes | bytearray) -> None:
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
    """Make sure the folder *path* exists and only its owner can use it (a settings or
    state folder, or one the user chose: a link to it is followed, as the user's choice).
    Use :func:`make_new_private_dir` for a folder a job makes and later removes."""
    path.mkdir(parents=True, exist_ok=True)
    if not IS_WINDOWS:
        os.chmod(path, 0o700)


def make_private_dirs(path: Path) -> None:
    """Create *path* and every missing folder above it owner-only (0700), whatever the
    umask (``mkdir(parents=True)`` gives the parents the umask's modes)."""
    missing = []
    while not path.exists():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    for folder in reversed(missing):
        folder.mkdir(exist_ok=True)
        if not IS_WINDOWS:
            os.chmod(folder, 0o700)


def make_new_private_dir(path: Path) -> None:
    """Create the folder *path*, which must not exist (FileExistsError, also for a link
    there), private (0700) from its creation. It is never chmod-ed through a link: where
    the mode still needs fixing (a umask that took the owner's bits), only through a
    descriptor opened without following links."""
    os.mkdir(path, 0o700)
    if IS_WINDOWS:
        return
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return  # a umask of 0o7xx: the folder is private already (nobody can read it)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != 0o700:
            with contextlib.suppress(OSError):  # FAT: no modes to set
                os.fchmod(fd, 0o700)
    finally:
        os.close(fd)


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


_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def open_regular(path: str | os.PathLike[str], flags: int = os.O_RDONLY) -> int:
    """Open *path* (a link is followed: a path the user gave) only when it is a regular
    file; a descriptor in blocking mode. A folder raises IsADirectoryError; a FIFO, a
    device or a socket raises :class:`~therabak.errors.NotARegularFileError` (exit 2)
    at once, never a read that waits for a writer or never ends. POSIX opens without
    blocking and asks the open file (no race); Windows looks first."""
    flags |= getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    if IS_WINDOWS:
        _require_regular(path, os.stat(path))
        return os.open(path, flags)
    fd = os.open(path, flags | _O_NONBLOCK)
    try:
        _require_regular(path, os.fstat(fd))
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _require_regular(path: str | os.PathLike[str], st: os.stat_result) -> None:
    if stat.S_ISREG(st.st_mode):
        return
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), os.fspath(path))
    from therabak.errors import NotARegularFileError
    from therabak.i18n import _

    if stat.S_ISFIFO(st.st_mode):
        kind = _("a named pipe (FIFO)")
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        kind = _("a device")
    elif stat.S_ISSOCK(st.st_mode):
        kind = _("a socket")
    else:
        kind = _("something other than a file")
    raise NotARegularFileError(
        _("{path} is not a regular file but {kind}; give the path of a backup file.").format(
            path=os.fspath(path), kind=kind
        )
    )


def is_link_or_junction(st: os.stat_result) -> bool:
    """Does ``lstat``'s *st* describe a symbolic link, or a Windows junction (any
    reparse point): something that leads elsewhere and must never be followed?"""
    if stat.S_ISLNK(st.st_mode):
        return True
    reparse = getattr(st, "st_file_attributes", 0) & getattr(
        stat, "FILE_ATTRIBUTE_REPARSE_POINT", 0
    )
    return bool(reparse)


def followed_root(path: Path) -> Path:
    """*path* itself, or, when *path* is a link (a symbolic link or a Windows junction),
    the folder it leads to, resolved once.

    For the roots a user names (the data folder moved to a second disk and linked back):
    following that link is the user's choice. Below such a root nothing follows links.
    A link whose target is missing gives the target's path (a restore can create it)."""
    path = Path(path)
    try:
        st = os.lstat(path)
    except OSError:
        return path
    return Path(os.path.realpath(path)) if is_link_or_junction(st) else path


def relative_inside(path: Path, folder: Path) -> str | None:
    """Where *path* lies inside *folder*, links resolved on both sides (a link into the
    folder is inside it) and case folded where the system folds case: "a/b/" ("" for the
    folder itself); None when it lies outside."""
    inner = os.path.realpath(path)
    outer = os.path.realpath(folder)
    if os.path.normcase(inner) == os.path.normcase(outer):
        return ""
    base = outer.rstrip(os.sep) + os.sep
    if not os.path.normcase(inner).startswith(os.path.normcase(base)):
        return None
    return inner[len(base) :].replace(os.sep, "/") + "/"


def created_and_modified_ns(fd: int) -> tuple[int, int] | None:
    """(creation time, modification time) of the open file *fd*, in ns since the epoch,
    where the system records a creation ("birth") time: Windows and macOS in ``stat``,
    Linux through ``statx`` (glibc 2.28, Linux 4.11, and a file system that keeps it:
    ext4, XFS, Btrfs, tmpfs ...). None where it is not known."""
    st = os.fstat(fd)
    birth = getattr(st, "st_birthtime_ns", None)  # Python 3.12+ (Windows, macOS, BSD)
    if birth is None and getattr(st, "st_birthtime", None) is not None:
        birth = int(st.st_birthtime * 1e9)
    if birth is None and IS_WINDOWS:
        birth = st.st_ctime_ns  # Windows before Python 3.12: ctime is the creation time
    if birth is not None:
        return int(birth), st.st_mtime_ns
    return _statx_times(fd) if sys.platform.startswith("linux") else None


_STATX_BTIME = 0x800
_STATX_MTIME = 0x40
_AT_EMPTY_PATH = 0x1000
_STATX: list = []  # [the libc function, or None when there is none]


def _statx_times(fd: int) -> tuple[int, int] | None:
    """Linux: (btime, mtime) from statx(2), or None (no wrapper, old kernel, a file
    system that keeps no birth time)."""
    import ctypes

    if not _STATX:
        try:
            func = ctypes.CDLL(None, use_errno=True).statx
            func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint]
            func.argtypes += [ctypes.c_void_p]
            func.restype = ctypes.c_int
        except (OSError, AttributeError):
            func = None
        _STATX.append(func)
    func = _STATX[0]
    if func is None:
        return None
    buf = ctypes.create_string_buffer(256)  # struct statx
    if func(fd, b"", _AT_EMPTY_PATH, _STATX_BTIME | _STATX_MTIME, buf) != 0:
        return None
    raw = buf.raw
    mask = int.from_bytes(raw[0:4], sys.byteorder)
    if not mask & _STATX_BTIME or not mask & _STATX_MTIME:
        return None

    def at(offset: int) -> int:  # struct statx_timestamp: s64 seconds, u32 nanoseconds
        seconds = int.from_bytes(raw[offset : offset + 8], sys.byteorder, signed=True)
        return seconds * 10**9 + int.from_bytes(raw[offset + 8 : offset + 12], sys.byteorder)

    return at(80), at(112)  # stx_btime, stx_mtime


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


def drop_cached(fd: int, offset: int = 0, length: int = 0) -> None:
    """Let the cached pages of *fd* (the *length* bytes from *offset*; 0: to the end) go:
    clean ones leave the system's cache, dirty ones are written out first (their
    writeback starts). A hint: where the system has none, or refuses it, nothing changes."""
    if CAN_DROP_CACHED:
        with contextlib.suppress(OSError):
            os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)


#: A file larger than this leaves the system's cache once it was read whole (a backup's
#: file of Data, a folder backup's copy): it is read once, and the memory its pages took
#: is used again for the next file's. Measured on the 2 GB bench practice (cache dropped,
#: the 45 audio files read in 1 MiB blocks, 4 runs each): 0.27-0.48 s of system time and
#: 0.77-1.00 s wall without, 0.13-0.14 s and 0.58-0.60 s with (on this VM, pages the
#: kernel has not used for a while cost more to fill the first time). Smaller files stay
#: cached: notes and invoices are what the practice app itself reads again.
READ_ONCE_CACHED_UP_TO = 1 << 20


def drop_cached_after_read(fd: int, size: int) -> None:
    """A file of *size* bytes was read whole through *fd*: a large one's pages may go."""
    if size > READ_ONCE_CACHED_UP_TO:
        drop_cached(fd)


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
