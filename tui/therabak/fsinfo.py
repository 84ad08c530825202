"""Which file system holds a folder, and the largest file it can hold.

A backup bigger than that is split into volumes (``archive/volumes/``). Per platform:

* Linux: ``/proc/self/mountinfo`` (``/proc/mounts`` when that is missing): the mount
  whose mount point is the longest prefix of the folder's real path (the last one
  when several are stacked on the same point); bind mounts report the file system of
  what they show.
* macOS: ``statfs(2)``'s ``f_fstypename`` via ctypes, else the output of ``mount``.
* Windows: ``GetVolumePathNameW`` and ``GetVolumeInformationW`` via ctypes.

Whatever fails, the answer is "unknown" and no limit is assumed: a write that the file
system refuses as too large (``EFBIG``) still moves on to a new volume.
FAT (``vfat``, ``msdos``, ``FAT32``...) holds files of at most 4 GiB − 1 bytes.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from therabak import faults
from therabak.fsutil import existing_ancestor

FAT_LIMIT = (4 << 30) - 1

#: File system names (lower case, as Linux, macOS and Windows report them) of FAT.
FAT_TYPES = frozenset(
    {"vfat", "msdos", "fat", "fat12", "fat16", "fat32", "umsdos", "fuse.fusefat", "fusefat"}
)
#: File systems whose largest file is far beyond any backup (terabytes or more).
UNLIMITED_TYPES = frozenset(
    {
        "ext2", "ext3", "ext4", "xfs", "btrfs", "zfs", "f2fs", "jfs", "reiserfs", "bcachefs",
        "exfat", "ntfs", "ntfs3", "refs", "apfs", "hfs", "hfsplus", "tmpfs", "ramfs",
        "overlay", "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "virtiofs", "fuse.sshfs",
    }
)  # fmt: skip
_LABELS = {"vfat": "FAT32", "msdos": "FAT32", "fusefat": "FAT32", "fuse.fusefat": "FAT32"}


@dataclass(frozen=True)
class FsInfo:
    """The file system holding a folder. ``max_file_size`` is None when no limit is known."""

    fstype: str = ""  # as the system names it ("vfat", "FAT32", "ext4"); "" when unknown
    mount_point: str = ""
    max_file_size: int | None = None

    @property
    def known(self) -> bool:
        t = self.fstype.lower()
        return t in FAT_TYPES or t in UNLIMITED_TYPES

    @property
    def label(self) -> str:
        """The name to show: FAT32 rather than vfat; "" when unknown."""
        t = self.fstype.lower()
        if t in _LABELS:
            return _LABELS[t]
        if t in FAT_TYPES:
            return self.fstype.upper()
        return {"exfat": "exFAT", "ntfs": "NTFS", "ntfs3": "NTFS", "apfs": "APFS"}.get(
            t, self.fstype
        )


UNKNOWN = FsInfo()


def limit_for(fstype: str) -> int | None:
    """The largest file (bytes) a file system of this type holds; None: no limit known."""
    return FAT_LIMIT if fstype.lower() in FAT_TYPES else None


def info_for(fstype: str, mount_point: str = "") -> FsInfo:
    return FsInfo(fstype, mount_point, limit_for(fstype))


def probe(path: str | os.PathLike[str], *, platform: str | None = None) -> FsInfo:
    """The file system holding *path* (or its nearest existing parent); never raises.

    ``THERABAK_FAILPOINTS`` ``fstype=NAME`` pretends it is NAME (tests)."""
    if faults.ACTIVE.fstype:
        return info_for("" if faults.ACTIVE.fstype == "unknown" else faults.ACTIVE.fstype)
    platform = platform or sys.platform
    try:
        real = os.path.realpath(existing_ancestor(Path(path)))
    except (OSError, ValueError):
        return UNKNOWN
    finders = {"win32": _windows, "darwin": _macos}
    try:
        found = finders.get(platform, _linux)(real)
    except Exception:  # ctypes, /proc or a child process failing in any way: unknown
        found = None
    return found or UNKNOWN


# ---- Linux ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mount:
    mount_point: str
    fstype: str
    source: str = ""
    root: str = "/"  # the folder of the file system that is mounted (bind mounts)


_OCTAL = re.compile(r"\\([0-7]{3})")


def unescape(field: str) -> str:
    """mountinfo and /proc/mounts write space, tab, newline and backslash as \\040 etc."""
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[Mount]:
    """The mounts in ``/proc/self/mountinfo`` order (see proc(5)); bad lines are skipped."""
    mounts = []
    for line in text.splitlines():
        parts = line.split(" ")
        try:
            sep = parts.index("-", 6)
        except ValueError:
            continue
        if len(parts) < sep + 3:
            continue
        mounts.append(
            Mount(unescape(parts[4]), unescape(parts[sep + 1]), unescape(parts[sep + 2]),
                  unescape(parts[3]))
        )  # fmt: skip
    return mounts


def parse_proc_mounts(text: str) -> list[Mount]:
    """``/proc/mounts`` (fstab format: source, mount point, type, options, ...)."""
    mounts = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            mounts.append(Mount(unescape(parts[1]), unescape(parts[2]), unescape(parts[0])))
    return mounts


def mount_of(path: str, mounts: list[Mount], sep: str = "/") -> Mount | None:
    """The mount holding *path* (absolute, real): the longest mount point that is *path*
    or a parent of it; of mounts stacked on one point, the last (the one on top)."""
    best: Mount | None = None
    for m in mounts:
        point = m.mount_point.rstrip(sep) or sep
        inside = path == point or path.startswith(point if point == sep else point + sep)
        if inside and (best is None or len(point) >= len(best.mount_point.rstrip(sep) or sep)):
            best = m
    return best


def _linux(real: str) -> FsInfo | None:
    for name, parse in (
        ("/proc/self/mountinfo", parse_mountinfo),
        ("/proc/mounts", parse_proc_mounts),
    ):
        try:
            with open(name, encoding="utf-8", errors="surrogateescape") as f:
                mounts = parse(f.read())
        except OSError:
            continue
        found = mount_of(real, mounts)
        if found is not None:
            return info_for(found.fstype, found.mount_point)
    return None


# ---- macOS ---------------------------------------------------------------------------------------

# struct statfs (64-bit inodes): f_bsize, f_iosize (2 x 4), f_blocks, f_bfree, f_bavail,
# f_files, f_ffree (5 x 8), f_fsid (8), f_owner, f_type, f_flags, f_fssubtype (4 x 4),
# then f_fstypename[16] at offset 72.
_MAC_FSTYPENAME = 72


def _macos(real: str) -> FsInfo | None:
    name = _mac_statfs_type(real)
    if name:
        return info_for(name, "")
    out = subprocess.run(["/sbin/mount"], capture_output=True, text=True, timeout=5).stdout
    found = mount_of(real, parse_mac_mount(out))
    return info_for(found.fstype, found.mount_point) if found else None


def _mac_statfs_type(real: str) -> str:
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.dylib", use_errno=True)
    func = None
    for symbol in ("statfs$INODE64", "statfs"):  # x86_64 names the 64-bit-inode one so
        with contextlib.suppress(AttributeError):
            func = libc[symbol]
            break
    if func is None:
        return ""
    buf = ctypes.create_string_buffer(4096)
    if func(os.fsencode(real), buf) != 0:
        return ""
    raw = buf.raw[_MAC_FSTYPENAME : _MAC_FSTYPENAME + 16].split(b"\0", 1)[0]
    text = raw.decode("ascii", "replace")
    return text if re.fullmatch(r"[A-Za-z0-9_.-]{1,15}", text) else ""


_MAC_MOUNT_LINE = re.compile(r"^(?P<source>.+?) on (?P<point>.+) \((?P<type>[^,()]+)[,)]")


def parse_mac_mount(text: str) -> list[Mount]:
    """``mount``'s output on macOS: ``/dev/disk4s1 on /Volumes/NO NAME (msdos, local, ...)``."""
    mounts = []
    for line in text.splitlines():
        m = _MAC_MOUNT_LINE.match(line)
        if m:
            mounts.append(Mount(m.group("point"), m.group("type").strip(), m.group("source")))
    return mounts


# ---- Windows -------------------------------------------------------------------------------------


def _windows(real: str) -> FsInfo | None:
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    volume_path = kernel32.GetVolumePathNameW
    volume_path.argtypes = [wintypes.LPCWSTR, wintypes.LPWSTR, wintypes.DWORD]
    volume_path.restype = wintypes.BOOL
    info = kernel32.GetVolumeInformationW
    info.argtypes = [
        wintypes.LPCWSTR,
        wintypes.LPWSTR,
        wintypes.DWORD,
        ctypes.POINTER(wintypes.DWORD),
        ctypes.POINTER(wintypes.DWORD),
        ctypes.POINTER(wintypes.DWORD),
        wintypes.LPWSTR,
        wintypes.DWORD,
    ]
    info.restype = wintypes.BOOL
    root = ctypes.create_unicode_buffer(1024)
    if not volume_path(real, root, len(root)):
        return None
    name = ctypes.create_unicode_buffer(261)
    if not info(root.value, None, 0, None, None, None, name, len(name)):
        return None
    return info_for(name.value, root.value) if name.value else None


__all__ = ["FAT_LIMIT", "FsInfo", "Mount", "UNKNOWN", "limit_for", "mount_of", "probe"]
