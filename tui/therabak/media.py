"""Mounted removable media (USB sticks, external disks): quick picks for destinations.

Linux: mount points below ``/media/$USER``, ``/run/media/$USER`` and ``/media``;
macOS: the volumes in ``/Volumes`` other than the system disk; Windows: drive
letters whose drive type is "removable". Best effort: anything that cannot be
inspected is left out, never an error.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import sys
from pathlib import Path


def removable_media() -> list[Path]:
    """The mount points of removable media, sorted, without duplicates."""
    try:
        if sys.platform == "win32":
            found = _windows()
        elif sys.platform == "darwin":
            found = _macos()
        else:
            found = _linux()
    except OSError:
        return []
    return sorted(set(found))


def _children_that_are_mounts(folder: Path) -> list[Path]:
    out = []
    with contextlib.suppress(OSError):
        for child in folder.iterdir():
            with contextlib.suppress(OSError):
                if child.is_dir() and os.path.ismount(child):
                    out.append(child)
    return out


def _linux() -> list[Path]:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = ""
    roots = [Path("/media"), Path("/run/media")]
    if user:
        roots[:0] = [Path("/media") / user, Path("/run/media") / user]
    found: list[Path] = []
    for root in roots:
        found.extend(_children_that_are_mounts(root))
    return found


def _macos() -> list[Path]:
    root_dev = os.stat("/").st_dev
    out = []
    for vol in _children_that_are_mounts(Path("/Volumes")):
        with contextlib.suppress(OSError):
            if os.stat(vol).st_dev != root_dev:
                out.append(vol)
    return out


def _windows() -> list[Path]:  # pragma: no cover - exercised on Windows only
    import ctypes
    import string

    kernel32 = ctypes.windll.kernel32
    mask = kernel32.GetLogicalDrives()
    out = []
    for i, letter in enumerate(string.ascii_uppercase):
        if mask & (1 << i):
            root = f"{letter}:\\"
            if kernel32.GetDriveTypeW(ctypes.c_wchar_p(root)) == 2:  # DRIVE_REMOVABLE
                out.append(Path(root))
    return out
