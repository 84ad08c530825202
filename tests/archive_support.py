"""Helpers for the archive and backup tests: build archives with the real engine, walk
their bytes, and read a CLI's JSON Lines output.

Everything here uses the real writer, reader and crypto; the only shortcut is cheap
Argon2id parameters for password slots built in-process (still inside the reader's
limits), so hundreds of archives cost milliseconds, not minutes.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from therabak.archive.byteio import FileSink, FileSource
from therabak.archive.header import parse_header
from therabak.archive.index import ArchiveIndex
from therabak.archive.layout import (
    ENTRY_HEAD,
    FRAME,
    FRAME_COMPRESSED,
    FRAME_LAST,
    FRAME_LENGTH_MASK,
    TRAILER_SIZE,
    parse_trailer,
)
from therabak.archive.reader import ArchiveReader
from therabak.archive.writer import ArchiveWriter, Protection
from therabak.crypto.kdf import SALT_SIZE, Argon2Params
from therabak.crypto.slots import Slot

#: Argon2id at the reader's lower limits: real derivation, a few milliseconds.
CHEAP_ARGON2 = dict(time_cost=1, lanes=1, memory_kib=8192)


def cheap_params() -> Argon2Params:
    return Argon2Params(salt=os.urandom(SALT_SIZE), **CHEAP_ARGON2)


class CheapPassword(Protection):
    """A password slot with cheap (but accepted) Argon2id parameters (and an account slot
    when an account key is given too)."""

    def slots(self, archive_key: bytes) -> list[Slot]:
        assert self.password
        slots = [Slot.password(archive_key, self.password, cheap_params())]
        if self.account_key is not None and self.account_key_id is not None:
            slots.append(Slot.account(archive_key, self.account_key, self.account_key_id))
        return slots


class MemorySource:
    """A :class:`ByteSource` over bytes (the protocol the reader is written against)."""

    def __init__(self, data: bytes) -> None:
        self._data = bytes(data)
        self.size = len(self._data)

    def read_at(self, offset: int, n: int) -> bytes:
        if offset < 0 or n < 0:
            raise ValueError("negative read")
        return self._data[offset : offset + n]

    def close(self) -> None:
        pass


@dataclass
class Built:
    path: Path
    archive_key: bytes
    index: ArchiveIndex

    @property
    def bytes(self) -> bytes:
        return self.path.read_bytes()


Content = bytes | Iterable[bytes]


def build_archive(
    path: Path,
    files: Mapping[str, Content],
    *,
    protection: Protection | None = None,
    kind: str = "manual",
    category: str = "other",
    categories: tuple[str, ...] | None = None,
    raw: Iterable[str] = (),
    account_key_id: str = "",
    skipped: list[dict[str, str]] | None = None,
) -> Built:
    """Write an archive of *files* (path -> bytes, or an iterable of write() pieces)."""
    protection = protection or Protection(unprotected=True)
    raw = set(raw)
    cats = categories or (category,)
    sink = FileSink(path)
    writer = ArchiveWriter(sink, protection=protection, kind=kind, categories=cats)
    for rel, content in files.items():
        ew = writer.begin(
            path=rel,
            category=category,
            mtime_ns=1_767_600_000_000_000_000,
            raw=rel in raw,
            key_id="00112233aabbccdd" if rel in raw else "",
        )
        pieces = [content] if isinstance(content, bytes) else content
        for piece in pieces:
            ew.write(piece)
        ew.finish()
    writer.finish(account_key_id=account_key_id, skipped=skipped)
    sink.sync()
    sink.close()
    index = ArchiveIndex(
        entries=list(writer.entries), account_key_id=account_key_id, skipped=skipped or []
    )
    return Built(path, writer.archive_key, index)


def verify_file(path: Path, *, account=None, password: str | None = None) -> list[tuple[str, str]]:
    """Open, unlock (account key or password, as the CLI would) and verify *path* with the
    real reader; the damaged files ([] when the archive is intact). Raises TherabakError
    when it cannot even be opened or unlocked."""
    from therabak.jobs.verify import verify_archive

    with ArchiveReader.open(path) as reader:
        reader.unlock(account=account, password=password)
        return verify_archive(reader).damaged


def open_unlocked(path: Path, archive_key: bytes) -> ArchiveReader:
    """Open *path* and set its key directly (no slot work): for body/index tests."""
    reader = ArchiveReader(FileSource(path), name=str(path))
    reader.archive_key = archive_key
    return reader


@dataclass
class Frame:
    offset: int  # of the frame word
    length: int  # sealed bytes after the word
    compressed: bool
    last: bool

    @property
    def end(self) -> int:
        return self.offset + FRAME.size + self.length


def entry_frames(data: bytes, offset: int) -> list[Frame]:
    """The chunk frames of the entry that starts at *offset* (parsed the plain way)."""
    _, _, meta_len = ENTRY_HEAD.unpack_from(data, offset)
    pos = offset + ENTRY_HEAD.size + meta_len
    frames = []
    while True:
        (word,) = FRAME.unpack_from(data, pos)
        f = Frame(
            pos, word & FRAME_LENGTH_MASK, bool(word & FRAME_COMPRESSED), bool(word & FRAME_LAST)
        )
        frames.append(f)
        pos = f.end
        if f.last:
            return frames


def regions(data: bytes) -> dict[str, tuple[int, int]]:
    """Byte ranges [start, end) of header, body, index and trailer of an intact archive."""
    header = parse_header(data[: int.from_bytes(data[10:14], "big")])
    index_offset, index_length = parse_trailer(
        data[-TRAILER_SIZE:],
        archive_size=len(data),
        header_size=header.header_size,
        archive_id=header.archive_id,
    )
    return {
        "header": (0, header.header_size),
        "body": (header.header_size, index_offset),
        "index": (index_offset, index_offset + index_length),
        "trailer": (len(data) - TRAILER_SIZE, len(data)),
    }


def flip(path: Path, offset: int, mask: int = 0x01) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ mask]))


def sha256_file(path: Path, start: int = 0) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        f.seek(start)
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def json_lines(text: str) -> list[dict]:
    """Every line of a ``--json`` stream, parsed (fails the test on a line that is not JSON)."""
    out = []
    for line in text.splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out


def events_of(lines: list[dict], kind: str) -> list[dict]:
    return [e for e in lines if e.get("event") == kind]


def the_summary(lines: list[dict]) -> dict:
    summaries = events_of(lines, "summary")
    assert len(summaries) == 1, lines[-3:]
    assert lines[-1] is summaries[0], "the summary is the last event"
    return summaries[0]


def archives_in(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.therabak"))


def partials_in(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.partial"))


@dataclass
class EntryLayout:
    """Where one entry's parts lie in an archive's bytes ([start, end) ranges)."""

    path: str
    start: int
    end: int
    head: tuple[int, int]  # magic, salt, sealed metadata length
    meta: tuple[int, int]  # the sealed metadata
    frames: list[Frame]


@dataclass
class ArchiveLayout:
    header: dict[str, tuple[int, int]]  # magic, size, time, kind, id, categories, slot1.., mac, ...
    entries: dict[str, EntryLayout]  # by path, in archive order
    index: tuple[int, int]
    trailer: tuple[int, int]


def archive_layout(data: bytes, archive_key: bytes) -> ArchiveLayout:
    """Every region of an intact archive, found with the real parsers (the index is read
    with *archive_key*), for tests that damage one region at a time."""
    size = int.from_bytes(data[10:14], "big")
    header = parse_header(data[:size])
    fixed = len(header.fixed)
    parts = {
        "magic": (0, 8),
        "header size": (10, 14),
        "creation time": (14, 22),
        "kind": (24, 25),
        "archive id": (26, 42),
        "categories": (44, fixed),
    }
    pos = fixed + 1
    for n, slot in enumerate(header.slots, start=1):
        parts[f"key slot {n} ({slot.type.label})"] = (pos, pos + 3 + len(slot.body))
        pos += 3 + len(slot.body)
    assert pos == header.mac_offset
    parts["header MAC"] = (pos, pos + 32)
    parts["header padding"] = (pos + 32, size - 32)
    parts["header checksum"] = (size - 32, size)
    reader = ArchiveReader(MemorySource(data))
    reader.archive_key = archive_key
    entries = {}
    for e in reader.read_index().entries:
        _, _, meta_len = ENTRY_HEAD.unpack_from(data, e.offset)
        head_end = e.offset + ENTRY_HEAD.size
        entries[e.path] = EntryLayout(
            e.path,
            e.offset,
            e.offset + e.length,
            (e.offset, head_end),
            (head_end, head_end + meta_len),
            entry_frames(data, e.offset),
        )
    r = regions(data)
    return ArchiveLayout(parts, entries, r["index"], r["trailer"])
