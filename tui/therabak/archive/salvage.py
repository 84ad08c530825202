"""Salvage: walk an archive's body without its index and find every entry that can
still be read.

Used when the index is damaged or missing (``restore --salvage``, ``verify``). The
scan resynchronises on the next entry magic after a damaged region, so one bad region
does not hide the files after it; a split backup with a volume missing is searched only
where its volumes are present.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from therabak.archive.byteio import ByteSource
from therabak.archive.header import MIN_HEADER_SIZE, ArchiveHeader
from therabak.archive.index import IndexEntry, check_entry_meta
from therabak.archive.layout import ENTRY_HEAD, ENTRY_MAGIC, FRAME, parse_frame
from therabak.errors import DamagedArchiveError
from therabak.i18n import _


class EntryReader(Protocol):
    """What the scan needs of an archive reader (``archive/reader.py``'s ArchiveReader)."""

    source: ByteSource
    size: int
    header: ArchiveHeader
    damage: list[str]

    def index_location(self) -> tuple[int, int]: ...

    def read_meta(self, offset: int, limit: int) -> tuple[dict, int]: ...

    def chunks(self, salt: bytes, start: int, end: int, what: str) -> Iterator[bytes]: ...


@dataclass
class ScannedEntry:
    """An entry found by scanning the body (salvage), with what its chunks said."""

    path: str
    category: str
    mtime_ns: int
    raw: bool
    key_id: str
    offset: int
    length: int
    size: int
    sha256: str
    ok: bool
    error: str = ""

    def as_index_entry(self) -> IndexEntry:
        return IndexEntry(
            path=self.path,
            category=self.category,
            size=self.size,
            mtime_ns=self.mtime_ns,
            sha256=self.sha256,
            offset=self.offset,
            length=self.length,
            raw=self.raw,
            key_id=self.key_id,
        )


def scan_entries(reader: EntryReader, *, end: int | None = None) -> Iterator[ScannedEntry]:
    """Walk the body without the index; yield every entry whose metadata decrypts.

    Damaged entries are yielded with ``ok=False``; the scan resynchronises on the
    next entry magic, so one bad region does not hide the files after it.
    """
    if end is None:
        try:
            end, _length = reader.index_location()
        except DamagedArchiveError:
            end = reader.size
    # with a damaged header its size field cannot be trusted either: start early
    pos = MIN_HEADER_SIZE if reader.damage else reader.header.header_size
    while pos + ENTRY_HEAD.size <= end:
        try:
            meta, start = reader.read_meta(pos, end)
            path, category, mtime_ns, raw, key_id = check_entry_meta(meta)
        except DamagedArchiveError:
            nxt = find_magic(reader, pos + 1, end)
            if nxt is None:
                return
            pos = nxt
            continue
        digest, size, ok, error, stop = hashlib.sha256(), 0, True, "", start
        try:
            stop = _entry_end(reader, start, end)
            for plain in reader.chunks(meta["_salt"], start, stop, path):
                digest.update(plain)
                size += len(plain)
        except DamagedArchiveError as e:
            ok, error = False, reason_without_path(str(e), path)
        yield ScannedEntry(
            path=path,
            category=category,
            mtime_ns=mtime_ns,
            raw=raw,
            key_id=key_id,
            offset=pos,
            length=(stop - pos) if ok else 0,
            size=size,
            sha256=digest.hexdigest(),
            ok=ok,
            error=error,
        )
        if ok:
            pos = stop
        else:
            nxt = find_magic(reader, pos + 1, end)
            if nxt is None:
                return
            pos = nxt


def _entry_end(reader: EntryReader, start: int, end: int) -> int:
    pos = start
    while pos + FRAME.size <= end:
        length, _compressed, last = parse_frame(reader.source.read_at(pos, FRAME.size))
        pos += FRAME.size + length
        if last:
            return pos
    raise DamagedArchiveError(_("entry has no last chunk"))


def find_magic(reader: EntryReader, start: int, end: int) -> int | None:
    block = 1 << 20
    pos = start
    # A split backup with a volume missing has holes: search only what can be read.
    present_span = getattr(reader.source, "present_span", None)
    while pos < end:
        stop = end
        if present_span is not None:
            span = present_span(pos)
            if span is None or span[0] >= end:
                return None
            pos, stop = max(pos, span[0]), min(end, span[1])
        data = reader.source.read_at(pos, min(block + 3, stop - pos))
        i = data.find(ENTRY_MAGIC)
        if i >= 0:
            return pos + i
        if len(data) <= 3:
            if stop < end:
                pos = stop
                continue
            return None
        pos += len(data) - 3
    return None


def reason_without_path(message: str, path: str) -> str:
    prefix = f"{path}: "
    return message[len(prefix) :] if message.startswith(prefix) else message
