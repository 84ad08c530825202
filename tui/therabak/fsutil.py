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

# Names Windows treats as devices, whatever the extension (CON.txt is CON) and with spaces
# before it ("CON .txt"): COM0-9 and LPT0-9 including the superscript digits Windows maps
# to 1-3, and the console's CONIN$ and CONOUT$.
WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul", "conin$", "conout$"}
    | {f"{dev}{d}" for dev in ("com", "lpt") for d in (*"0123456789", "\u00b9", "\u00b2", "\u00b3")}
)
WINDOWS_ILLEGAL_CHARS = frozenset('<>:"/\\|?*') | frozenset(chr(i) for i in range(32))


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


def windows_name_problem(name: str) -> str | None:
    """Why *name* cannot be a file name on Windows, or None if it can."""
    from therabak.i18n import _

    if name in ("", ".", ".."):
        return _("is empty or a dot name")
    if any(c in WINDOWS_ILLEGAL_CHARS for c in name):
        return _("contains a character Windows does not allow")
    if name.endswith((" ", ".")):
        return _("ends with a space or dot")
    if name.split(".")[0].rstrip(" ").casefold() in WINDOWS_RESERVED:
        return _("is a reserved device name on Windows")
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
