"""Checking a split set before it is read: every volume there, of this set, in order
and whole (:func:`check_set`); what is wrong said in one message (:func:`joined`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from therabak.archive.volumes.naming import VOLUME_HEADER_SIZE, VolumeHeader, volume_path
from therabak.errors import DamagedArchiveError, TherabakError
from therabak.fsutil import open_regular
from therabak.i18n import Message, _, ngettext

# ---- reading ----------------------------------------------------------------------------------


class VolumeMissing(DamagedArchiveError):
    """Bytes of the archive that lie in a volume that is missing or cut off."""


@dataclass
class _Found:
    """A file named like a later volume, and what its header says."""

    number: int  # from its name
    path: Path
    size: int = 0
    header: VolumeHeader | None = None
    error: str = ""  # a translated message


def read_later(number: int, path: Path) -> _Found:
    try:
        with os.fdopen(open_regular(path), "rb") as f:
            size = os.fstat(f.fileno()).st_size
            data = f.read(VOLUME_HEADER_SIZE)
    except OSError as e:
        return _Found(
            number, path, error=_("it cannot be read ({error})").format(error=e.strerror or str(e))
        )
    except TherabakError as e:  # a FIFO or a device named like a volume: never read
        return _Found(number, path, error=_("it cannot be read ({error})").format(error=e))
    try:
        return _Found(number, path, size, VolumeHeader.parse(data))
    except DamagedArchiveError as e:
        return _Found(number, path, size, error=e.message)


@dataclass
class Part:
    number: int
    path: Path
    start: int  # in the archive
    length: int  # archive bytes readable from it
    offset: int  # where they begin in the file

    @property
    def end(self) -> int:
        return self.start + self.length


@dataclass
class SetCheck:
    """What the volumes of a set on disk say, and what is wrong with them."""

    first: Path
    count: int  # volumes in the set (as far as can be told)
    size: int  # the archive's size (as far as can be told)
    disk_size: int  # bytes of the volume files present
    parts: list[Part] = field(default_factory=list)  # readable ranges, in archive order
    problems: list[Message] = field(default_factory=list)  # sentences naming volume files

    def holes(self) -> list[tuple[int, int, str]]:
        """[start, end) ranges of the archive that cannot be read, and where they were."""
        out = []
        pos, before = 0, None
        for part in [*self.parts, None]:
            end = part.start if part is not None else self.size
            if end > pos:
                out.append((pos, end, self._where(before, part)))
            if part is not None:
                pos, before = max(pos, part.end), part
        return out

    def _where(self, before: Part | None, after: Part | None) -> str:
        lo = before.number if before else 0
        hi = after.number if after else self.count + 1
        if hi - lo > 1:
            if hi - lo == 2:
                return _("the missing volume {k} of {n} ({path})").format(
                    k=lo + 1, n=self.count, path=volume_path(self.first, lo + 1)
                )
            return _("the missing volumes {first}-{last} of {n}").format(
                first=lo + 1, last=hi - 1, n=self.count
            )
        assert before is not None
        return _("the cut-off end of volume {k} of {n} ({path})").format(
            k=lo, n=self.count, path=before.path
        )


def check_set(first: Path, first_size: int, archive_id: bytes, later: dict[int, Path]) -> SetCheck:
    """Read the headers of the files named like *first*'s later volumes and check that
    they make one complete archive with it; the problems name each volume file."""
    found = [read_later(n, p) for n, p in sorted(later.items())]
    ours = [f for f in found if f.header is not None and f.header.archive_id == archive_id]
    others = {f.number: f for f in found if f.header is not None and f not in ours}
    unusable = {f.number: f for f in found if f.header is None}
    counts = {f.header.count for f in ours if f.header and f.header.count}
    numbers = [f.header.number for f in ours if f.header]
    count = max(counts | set(numbers)) if ours else max(f.number for f in found)
    problems: list[Message] = []
    if len(counts) > 1:
        problems.append(
            _("The volumes of {path} disagree on how many there are ({counts}).").format(
                path=first, counts=", ".join(str(c) for c in sorted(counts))
            )
        )
    by_number = _by_number(ours, count, problems)
    _say_missing(first, count, by_number, others, unusable, problems)
    parts = _parts(first, first_size, count, by_number, problems)
    kept = _readable(parts)
    last = by_number.get(count)
    size = last.header.start + last.header.length if last and last.header else kept[-1].end
    disk = first_size + sum(f.size for f in by_number.values())
    return SetCheck(first, count, max(size, kept[-1].end), disk, kept, problems)


def _by_number(ours: list[_Found], count: int, problems: list[Message]) -> dict[int, _Found]:
    """This set's finished volumes by the number their header says (the one whose file
    name agrees first); unfinished, doubled and renamed volumes go to *problems*."""
    by_number: dict[int, _Found] = {}
    for f in sorted(ours, key=lambda f: (f.header.number != f.number, f.number)):  # type: ignore[union-attr]
        assert f.header is not None
        if f.header.count == 0:
            problems.append(
                _("{path} is an unfinished volume (its backup never completed).").format(
                    path=f.path
                )
            )
            continue
        k = f.header.number
        if k in by_number:
            problems.append(
                _("{path} and {other} both claim to be volume {k}.").format(
                    path=f.path, other=by_number[k].path, k=k
                )
            )
            continue
        by_number[k] = f
        if f.number != k:
            problems.append(
                _(
                    "{path} holds volume {k} of {n}, not volume {m} (the volume files were "
                    "swapped or renamed)."
                ).format(path=f.path, k=k, n=count, m=f.number)
            )
    return by_number


def _say_missing(
    first: Path,
    count: int,
    by_number: dict[int, _Found],
    others: dict[int, _Found],
    unusable: dict[int, _Found],
    problems: list[Message],
) -> None:
    """A problem for each volume 2..*count* that is not there: another backup's, a file
    that cannot be used, or none."""
    for k in range(2, count + 1):
        if k in by_number:
            continue
        where = volume_path(first, k)
        if k in others:
            problems.append(
                _("Volume {k} of {n} is missing: {path} belongs to another backup.").format(
                    k=k, n=count, path=where
                )
            )
        elif k in unusable:
            problems.append(
                _("Volume {k} of {n} cannot be used: {path}: {error}.").format(
                    k=k, n=count, path=where, error=unusable[k].error
                )
            )
        else:
            problems.append(
                _("Volume {k} of {n} is missing: {path}.").format(k=k, n=count, path=where)
            )


def _parts(
    first: Path,
    first_size: int,
    count: int,
    by_number: dict[int, _Found],
    problems: list[Message],
) -> list[Part]:
    """The part each volume holds, in volume order: cut-off and too long volumes, and a
    volume that does not begin where the one before it ends, go to *problems* (a too
    long first volume is read only up to where the second begins)."""
    parts = [Part(1, first, 0, first_size, 0)]
    for k in sorted(by_number):
        f = by_number[k]
        h = f.header
        assert h is not None
        held = f.size - VOLUME_HEADER_SIZE
        if held < h.length:
            problems.append(_cut_off(k, count, f.path, f.size, h.length + VOLUME_HEADER_SIZE))
        elif held > h.length:
            problems.append(_too_long(k, count, f.path))
        parts.append(Part(k, f.path, h.start, min(held, h.length), VOLUME_HEADER_SIZE))
    # Each volume must begin where the one before it ends.
    for prev, part in zip(parts, parts[1:], strict=False):
        if part.number != prev.number + 1:
            continue
        expected = by_number[part.number].header.start  # type: ignore[union-attr]
        full_end = prev.start + (
            by_number[prev.number].header.length  # type: ignore[union-attr]
            if prev.number > 1
            else first_size
        )
        if prev.number == 1 and first_size < expected:
            problems.append(_cut_off(1, count, first, first_size, expected))
        elif prev.number == 1 and first_size > expected:
            problems.append(_too_long(1, count, first))
            prev.length = expected
        elif full_end != expected:
            problems.append(
                _(
                    "Volume {k} of {n} does not continue volume {prev}: {path} (damaged or "
                    "from another copy of the backup)."
                ).format(k=part.number, n=count, prev=prev.number, path=part.path)
            )
    return parts


def _readable(parts: list[Part]) -> list[Part]:
    """Readable ranges in archive order, without overlaps (an overlapping part is left
    out whole) and without empty parts."""
    parts.sort(key=lambda p: p.start)
    kept: list[Part] = []
    for part in parts:
        if kept and part.start < kept[-1].end:
            continue
        if part.length > 0:
            kept.append(part)
    return kept


def _cut_off(k: int, n: int, path: Path, size: int, expected: int) -> Message:
    return _("Volume {k} of {n} is cut off: {path} has {size} of its {expected} bytes.").format(
        k=k, n=n, path=path, size=size, expected=expected
    )


def _too_long(k: int, n: int, path: Path) -> Message:
    return _("Volume {k} of {n} is longer than it should be: {path}.").format(k=k, n=n, path=path)


def joined(problems: list[Message], most: int = 3) -> Message:
    """Up to *most* problems as one message (sentences one after the other)."""
    text = problems[min(len(problems), most) - 1]
    for problem in reversed(problems[: min(len(problems), most) - 1]):
        text = _("{problem} {next}").format(problem=problem, next=text)
    if len(problems) > most:
        rest = len(problems) - most
        text = ngettext(
            "{problems} And {n} more problem.", "{problems} And {n} more problems.", rest
        ).format(problems=text, n=rest)
    return text
