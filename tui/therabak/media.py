"""Currently mounted removable media (USB sticks, external disks), per platform.

* Linux: the folders below ``/media/$USER`` and ``/run/media/$USER`` (udisks), and
  ``/media/<name>`` mounts of systems that mount there directly.
* macOS: ``/Volumes/*`` except the system volume (a link to ``/``).
* Windows: every drive letter other than the system drive whose type is removable or
  fixed (an external USB disk reports "fixed"), via ``GetLogicalDrives`` and
  ``GetDriveTypeW``; network and CD drives are left out because probing a disconnected
  network drive can hang for a long time. Without ctypes: ``D:`` … ``Z:`` that exist.

``THERABAK_MEDIA_ROOTS`` (``os.pathsep``-separated folders) replaces the platform's
roots; tests and unusual setups use it.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import string
import sys
from pathlib import Path

DRIVE_REMOVABLE = 2
DRIVE_FIXED = 3


def _children(root: Path) -> list[Path]:
    out = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(root):
            with contextlib.suppress(OSError):
                if entry.is_dir():
                    out.append(Path(entry.path))
    return sorted(out)


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        return os.environ.get("USER", "")


def _linux_roots() -> list[Path]:
    user = _user()
    roots: list[Path] = []
    for base in (Path("/media") / user, Path("/run/media") / user):
        if user and base.is_dir():
            roots.extend(_children(base))
    # Some systems mount sticks directly below /media.
    for p in _children(Path("/media")):
        if p.name != user and os.path.ismount(p):
            roots.append(p)
    return roots


def _mac_roots() -> list[Path]:
    out = []
    for p in _children(Path("/Volumes")):
        with contextlib.suppress(OSError):
            if p.resolve() == Path("/"):
                continue
        out.append(p)
    return out


def _system_drive() -> str:
    return (os.environ.get("SYSTEMDRIVE") or "C:").upper().rstrip("\\")


def _windows_roots() -> list[Path]:
    system = _system_drive()
    letters: list[str] = []
    try:
        import ctypes

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        mask = kernel32.GetLogicalDrives()
        for i, letter in enumerate(string.ascii_uppercase):
            if not mask & (1 << i):
                continue
            drive = f"{letter}:"
            if drive == system:
                continue
            if kernel32.GetDriveTypeW(f"{drive}\\") in (DRIVE_REMOVABLE, DRIVE_FIXED):
                letters.append(drive)
    except (ImportError, AttributeError, OSError):
        for letter in string.ascii_uppercase[3:]:
            drive = f"{letter}:"
            if drive != system and os.path.isdir(f"{drive}\\"):
                letters.append(drive)
    return [Path(f"{d}\\") for d in letters]


def removable_media() -> list[Path]:
    """The root folders of the mounted removable media (may be empty)."""
    override = os.environ.get("THERABAK_MEDIA_ROOTS")
    if override is not None:
        return [Path(p) for p in override.split(os.pathsep) if p]
    if sys.platform == "win32":
        return _windows_roots()
    if sys.platform == "darwin":
        return _mac_roots()
    return _linux_roots()
