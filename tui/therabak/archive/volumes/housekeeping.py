"""A split set as listings and clean-ups see it: :func:`describe_set` (headers only),
:func:`delete_set`, the orphans a dead job left (:func:`delete_later_orphans`)."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from therabak.archive.byteio import FileSource
from therabak.archive.volumes.naming import (
    ARCHIVE_ID,
    VOLUME_HEADER_SIZE,
    VolumeHeader,
    later_volume_name,
    later_volumes,
)
from therabak.archive.volumes.setcheck import check_set, read_later
from therabak.archive.volumes.source import complete_alone
from therabak.datafolder.partials import owned_by_me
from therabak.errors import DamagedArchiveError, TherabakError
from therabak.fsutil import open_regular
from therabak.i18n import Message

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


@dataclass
class SetInfo:
    """A split set as a restore-point listing sees it (headers only)."""

    volumes: int
    disk_size: int
    problems: list[Message]


def describe_set(first: Path, names: Iterable[str] | None = None) -> SetInfo | None:
    """None for an archive that is one file; else its volumes, size on disk and problems.
    Reads only headers (and the first volume's trailer when later volumes are beside it)."""
    later = later_volumes(first, names)
    if not later:
        return None
    try:
        with FileSource(first) as source:
            if complete_alone(source):
                return None
            archive_id = source.read_at(0, ARCHIVE_ID.stop)[ARCHIVE_ID]
            check = check_set(first, source.size, archive_id, later)
    except OSError:
        return None
    return SetInfo(check.count, check.disk_size, check.problems)


def delete_set(first: Path) -> list[Path]:
    """Delete an archive and its later volumes: the first volume first, so that an
    interruption leaves no set that looks whole (the rest are removed as orphans)."""
    first = Path(first)
    archive_id = b""
    with contextlib.suppress(OSError, TherabakError), os.fdopen(open_regular(first), "rb") as f:
        archive_id = f.read(ARCHIVE_ID.stop)[ARCHIVE_ID]
    later = later_volumes(first)
    first.unlink()
    deleted = [first]
    for number, path in later.items():
        found = read_later(number, path)
        if found.header is not None and found.header.archive_id == archive_id:
            with contextlib.suppress(OSError):
                path.unlink()
                deleted.append(path)
    return deleted


def delete_later_orphans(
    folder: Path, writing: Callable[[Path, str], bool], *, prefix: str = "TheraPsy-"
) -> list[Path]:
    """Delete later volumes (``<prefix>...therabak.NNN`` that begin with a volume header)
    whose first volume does not exist and that no live process is writing or renaming:
    what a split backup that died while its volumes were renamed leaves (its first volume
    is renamed last). *writing(folder, first name)* is asked before the first volume is
    looked for, so a rename between the two is seen by one of them. Without the first
    volume (the header and key slots), nothing in them could ever be read."""
    try:
        names = [e.name for e in os.scandir(folder)]
    except OSError:
        return []
    groups: dict[str, list[str]] = {}
    for name in names:
        later = later_volume_name(name)
        if later is not None and name.startswith(prefix):
            groups.setdefault(later[0], []).append(name)
    removed = []
    for first_name, names_of_set in sorted(groups.items()):
        if writing(folder, first_name) or os.path.lexists(folder / first_name):
            continue
        for name in sorted(names_of_set):
            path = folder / name
            with contextlib.suppress(OSError):
                if owned_by_me(os.lstat(path)) and is_volume_file(path):
                    path.unlink()
                    removed.append(path)
    return removed


def is_volume_file(path: Path) -> bool:
    """Is *path* a regular file (never a link, FIFO or device: it is not opened then)
    that begins with a volume header whose checksum holds?"""
    try:
        fd = os.open(path, os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | getattr(os, "O_BINARY", 0))
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        VolumeHeader.parse(os.read(fd, VOLUME_HEADER_SIZE))
        return True
    except (OSError, DamagedArchiveError):
        return False
    finally:
        os.close(fd)
