"""What a volume is and what it is called: the sizes of a split set, the volume
header, and the names ``<name>.therabak.002`` ... (FORMAT.md section 8)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from therabak.archive.header import MAGIC as ARCHIVE_MAGIC
from therabak.errors import DamagedArchiveError, TherabakError
from therabak.fsutil import open_regular
from therabak.i18n import _

VOLUME_MAGIC = b"TBVOLUME"
VOLUME_VERSION = 1
# magic, version, header size, archive id, volume number, volume count, start, length
_FIELDS = struct.Struct(">8sHH16sHHQQ")
VOLUME_HEADER_SIZE = _FIELDS.size + 32  # + SHA-256 of the fields
MAX_VOLUMES = 999  # three digits in the file names
#: The smallest volume (file size) a set is split into; the first volume must hold at
#: least the archive's header region (at most 64 KiB).
MIN_VOLUME_SIZE = 1 << 20
#: Volumes on a file system with a file-size limit stay this much below it.
VOLUME_MARGIN = 16 << 20
ARCHIVE_ID = slice(26, 42)  # where the archive header keeps the archive id
_MAX_OFFSET = 1 << 62


def volume_size_for(limit: int | None, requested: int | None = None) -> int | None:
    """The size of each volume file: *requested*, and below a file system's *limit* (the
    largest file it holds) by a margin; None when neither applies (no splitting)."""
    sizes = [s for s in (requested,) if s is not None]
    if limit is not None:
        sizes.append(max(MIN_VOLUME_SIZE, limit + 1 - VOLUME_MARGIN))
    return min(sizes) if sizes else None


def volumes_needed(archive_size: int, volume_size: int | None) -> int:
    """How many volumes an archive of *archive_size* bytes takes (1: not split)."""
    if volume_size is None or archive_size <= volume_size:
        return 1
    rest = archive_size - volume_size
    return 1 + -(-rest // (volume_size - VOLUME_HEADER_SIZE))


def set_size(archive_size: int, volume_size: int | None) -> int:
    """Bytes on disk of an archive of *archive_size* bytes split into volumes."""
    return archive_size + (volumes_needed(archive_size, volume_size) - 1) * VOLUME_HEADER_SIZE


# ---- the volume header ---------------------------------------------------------------------------


class NotAVolume(DamagedArchiveError):
    """The file does not begin with a volume header."""


@dataclass(frozen=True)
class VolumeHeader:
    archive_id: bytes
    number: int  # 2 ... count
    count: int  # the number of volumes in the set; 0 while the set is being written
    start: int  # offset in the archive of this volume's first byte
    length: int  # bytes of the archive this volume holds

    def pack(self) -> bytes:
        body = _FIELDS.pack(
            VOLUME_MAGIC,
            VOLUME_VERSION,
            VOLUME_HEADER_SIZE,
            self.archive_id,
            self.number,
            self.count,
            self.start,
            self.length,
        )
        return body + hashlib.sha256(body).digest()

    @classmethod
    def parse(cls, data: bytes) -> VolumeHeader:
        if data[:8] != VOLUME_MAGIC:
            raise NotAVolume(_("it is not a volume of a split backup"))
        if len(data) < VOLUME_HEADER_SIZE:
            raise DamagedArchiveError(_("its volume header is cut off"))
        body, digest = data[: _FIELDS.size], data[_FIELDS.size : VOLUME_HEADER_SIZE]
        if hashlib.sha256(body).digest() != digest:
            raise DamagedArchiveError(_("its volume header is damaged"))
        _magic, version, size, archive_id, number, count, start, length = _FIELDS.unpack(body)
        if version != VOLUME_VERSION or size != VOLUME_HEADER_SIZE:
            raise DamagedArchiveError(
                _("its volume header has an unknown version ({version})").format(version=version)
            )
        if not 2 <= number <= MAX_VOLUMES or (count and not number <= count <= MAX_VOLUMES):
            raise DamagedArchiveError(_("its volume header is damaged (volume number)"))
        if start >= _MAX_OFFSET or length >= _MAX_OFFSET:
            raise DamagedArchiveError(_("its volume header is damaged (offsets)"))
        return cls(archive_id, number, count, start, length)


# ---- names ----------------------------------------------------------------------------------

_LATER = re.compile(r"^(?P<first>.+\.therabak)\.(?P<number>[0-9]{3})$", re.IGNORECASE)


def volume_path(first: Path, number: int) -> Path:
    """The name of volume *number* of the set whose first volume is *first*."""
    first = Path(first)
    return first if number == 1 else first.with_name(f"{first.name}.{number:03d}")


def later_volume_name(name: str) -> tuple[str, int] | None:
    """(first volume's name, number) for a name like ``X.therabak.003``, else None."""
    m = _LATER.match(name)
    if m is None or int(m.group("number")) < 2:
        return None
    return m.group("first"), int(m.group("number"))


def first_volume(path: Path) -> Path:
    """The set's first volume for the path of any of its volumes; *path* otherwise (also
    for a file named like a later volume that is a whole archive)."""
    path = Path(path)
    later = later_volume_name(path.name)
    if later is None:
        return path
    with contextlib.suppress(OSError, TherabakError), os.fdopen(open_regular(path), "rb") as f:
        if f.read(len(ARCHIVE_MAGIC)) == ARCHIVE_MAGIC:
            return path
    return path.with_name(later[0])


def later_volumes(first: Path, names: Iterable[str] | None = None) -> dict[int, Path]:
    """The files beside *first* named like its later volumes (``<first>.NNN``), by number.
    *names*: the folder's listing when the caller has it."""
    first = Path(first)
    if names is None:
        try:
            names = [e.name for e in os.scandir(first.parent)]
        except OSError:
            return {}
    prefix = first.name + "."
    out = {}
    for name in names:
        if name.startswith(prefix) and re.fullmatch(r"[0-9]{3}", name[len(prefix) :]):
            number = int(name[len(prefix) :])
            if number >= 2:
                out[number] = first.with_name(name)
    return dict(sorted(out.items()))
