"""Reading a split set as one byte stream: :func:`open_source` from any volume's path;
for salvage, a missing volume is a hole (:class:`VolumeSource`)."""

from __future__ import annotations

import bisect
from collections import OrderedDict
from pathlib import Path

from therabak.archive.byteio import FileSource
from therabak.archive.header import read_header_size
from therabak.archive.layout import TRAILER_SIZE, parse_trailer
from therabak.archive.volumes.naming import ARCHIVE_ID, first_volume, later_volumes, volume_path
from therabak.archive.volumes.setcheck import (
    Part,
    SetCheck,
    VolumeMissing,
    check_set,
    joined,
    read_later,
)
from therabak.errors import DamagedArchiveError, Remedy
from therabak.i18n import _


def complete_alone(source: FileSource) -> bool:
    """Is the file a whole single-file archive (its trailer names it and fits its size)?"""
    try:
        header_size = read_header_size(source.read_at(0, 14))
        archive_id = source.read_at(0, ARCHIVE_ID.stop)[ARCHIVE_ID]
        parse_trailer(
            source.read_at(source.size - TRAILER_SIZE, TRAILER_SIZE),
            archive_size=source.size,
            header_size=header_size,
            archive_id=archive_id,
        )
        return True
    except (DamagedArchiveError, ValueError):
        return False


class VolumeSource:
    """The archive stored in a set's volumes, read as one stream (a ByteSource).

    ``problems`` says what is wrong (salvage only: otherwise the set is refused). Bytes in
    a missing or cut-off volume are a hole: reading them raises :class:`VolumeMissing`;
    :meth:`present_span` lets a scan skip holes."""

    #: Volumes kept open at once (a set of 999 would otherwise need 999 descriptors).
    MAX_OPEN = 16

    def __init__(self, check: SetCheck, first: FileSource) -> None:
        self.first = check.first
        self.count = check.count
        self.size = check.size
        self.disk_size = check.disk_size
        self.problems = list(check.problems)
        self._parts = check.parts
        self._starts = [p.start for p in self._parts]
        self._sources: OrderedDict[int, FileSource] = OrderedDict({1: first})
        self._holes = check.holes()
        self._runs: list[tuple[int, int]] = []  # contiguous readable ranges
        for p in self._parts:
            if self._runs and self._runs[-1][1] == p.start:
                self._runs[-1] = (self._runs[-1][0], p.end)
            else:
                self._runs.append((p.start, p.end))

    @property
    def volumes(self) -> int:
        return self.count

    @property
    def paths(self) -> list[Path]:
        return [volume_path(self.first, k) for k in range(1, self.count + 1)]

    def read_at(self, offset: int, n: int) -> bytes:
        if offset < 0 or n < 0:
            raise ValueError("negative read")
        end = min(offset + n, self.size)
        pos, pieces = offset, []
        i = bisect.bisect_right(self._starts, pos) - 1
        while pos < end:
            if (
                i < 0
                or i >= len(self._parts)
                or not self._parts[i].start <= pos < self._parts[i].end
            ):
                raise VolumeMissing(_("in {where}").format(where=self.hole_at(pos)))
            part = self._parts[i]
            take = min(end, part.end) - pos
            data = self._source(part).read_at(part.offset + pos - part.start, take)
            if len(data) != take:
                raise VolumeMissing(
                    _("{path} became shorter while it was read").format(path=part.path)
                )
            pieces.append(data)
            pos += take
            i += 1
        if len(pieces) == 1:
            return pieces[0]
        return b"".join(pieces)

    def _source(self, part: Part) -> FileSource:
        source = self._sources.get(part.number)
        if source is not None:
            self._sources.move_to_end(part.number)
            return source
        try:
            source = FileSource(part.path)
        except OSError as e:
            raise VolumeMissing(
                _("{path} cannot be read ({error})").format(
                    path=part.path, error=e.strerror or str(e)
                )
            ) from None
        self._sources[part.number] = source
        if len(self._sources) > self.MAX_OPEN:
            self._sources.popitem(last=False)[1].close()
        return source

    def hole_at(self, pos: int) -> str:
        for start, end, where in self._holes:
            if start <= pos < end:
                return where
        return _("a missing volume")

    def missing_part(self, offset: int, length: int) -> str | None:
        """Where the range [offset, offset+length) was, when part of it cannot be read."""
        for start, end, where in self._holes:
            if start < offset + length and offset < end:
                return where
        return None

    def present_span(self, pos: int) -> tuple[int, int] | None:
        """The readable range holding *pos*, or the next one after it; None: no more."""
        for start, end in self._runs:
            if end > pos:
                return start, end
        return None

    def drop_cache(self) -> None:
        for part in self._parts:
            self._source(part).drop_cache()

    def close(self) -> None:
        while self._sources:
            self._sources.popitem()[1].close()

    def __enter__(self) -> VolumeSource:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _count_from(later: dict[int, Path]) -> int | None:
    for number, path in later.items():
        found = read_later(number, path)
        if found.header is not None and found.header.count:
            return found.header.count
    return None


def open_source(path: Path, *, salvage: bool = False) -> FileSource | VolumeSource:
    """The archive at *path* as a ByteSource: the file itself, or the whole set when it is
    a volume of a split backup. A problem with the set raises DamagedArchiveError naming
    the volume; with *salvage*, only a missing first volume does (the rest are holes)."""
    path = Path(path)
    first = first_volume(path)
    later = later_volumes(first)
    try:
        source = FileSource(first)
    except FileNotFoundError:
        if later:
            count = _count_from(later)
            if count:
                raise DamagedArchiveError(
                    _(
                        "Volume 1 of {n} of this split backup is missing: {path}; without it "
                        "nothing can be read (it holds the backup's header and key slots)."
                    ).format(n=count, path=first)
                ) from None
            raise DamagedArchiveError(
                _(
                    "Volume 1 of this split backup is missing: {path}; without it nothing can "
                    "be read (it holds the backup's header and key slots)."
                ).format(path=first)
            ) from None
        raise DamagedArchiveError(_("Backup not found: {path}").format(path=path)) from None
    except IsADirectoryError:
        raise DamagedArchiveError(_("Not a backup file: {path}").format(path=path)) from None
    try:
        if not later or complete_alone(source):
            return source
        archive_id = source.read_at(0, ARCHIVE_ID.stop)[ARCHIVE_ID]
        check = check_set(first, source.size, archive_id, later)
        if check.problems and not salvage:
            raise DamagedArchiveError(
                joined(check.problems),
                hint=_("therabak restore --salvage restores every file in the volumes present."),
                remedy=Remedy.SALVAGE,
            )
        return VolumeSource(check, source)
    except BaseException:
        source.close()
        raise
