"""Write a ``.therabak`` archive as one stream: header, entries, index, trailer.

Each entry is begun, fed plaintext chunks and finished; an entry can be aborted,
which truncates the archive back to where it began, so a failed read attempt
never reaches the index.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime

import zstandard
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from therabak import faults
from therabak.archive.byteio import ByteSink
from therabak.archive.header import ArchiveHeader, build_header
from therabak.archive.index import ArchiveIndex, IndexEntry
from therabak.archive.layout import (
    ENTRY_HEAD,
    ENTRY_MAGIC,
    ENTRY_SALT_SIZE,
    MAX_CHUNK,
    META_NONCE,
    build_trailer,
    data_key,
    frame,
    index_key,
    meta_key,
)
from therabak.crypto.slots import Slot
from therabak.crypto.stream import FLAG_COMPRESSED, KEY_SIZE, StreamSealer

COMPRESSION_LEVEL = 3
# Compress an entry only if its first chunk shrinks to this fraction or less.
WORTH_COMPRESSING = 0.97


@dataclass
class Protection:
    """How the archive key is wrapped: password, account key, or explicitly nothing."""

    password: str | None = None
    account_key: bytes | None = None
    account_key_id: bytes | None = None
    unprotected: bool = False

    def __repr__(self) -> str:  # never show secrets
        kinds = [
            k for k, v in (("password", self.password), ("account", self.account_key)) if v
        ] + (["none"] if self.unprotected else [])
        return f"Protection({', '.join(kinds)})"

    def slots(self, archive_key: bytes) -> list[Slot]:
        slots = []
        if self.password:
            slots.append(Slot.password(archive_key, self.password))
        if self.account_key is not None and self.account_key_id is not None:
            slots.append(Slot.account(archive_key, self.account_key, self.account_key_id))
        if self.unprotected:
            if slots:
                raise ValueError("an unprotected archive cannot also have other slots")
            slots.append(Slot.none(archive_key))
        if not slots:
            raise ValueError("no key slot: give a password, an account key or unprotected")
        return slots


class EntryWriter:
    """Seals one file's content into the archive. Use :meth:`write` then :meth:`finish`."""

    def __init__(
        self,
        archive: ArchiveWriter,
        *,
        path: str,
        category: str,
        mtime_ns: int,
        raw: bool,
        key_id: str,
        compress: bool,
    ) -> None:
        self._archive = archive
        self._sink = archive.sink
        self.path, self.category, self.mtime_ns = path, category, mtime_ns
        self.raw, self.key_id = raw, key_id
        self.offset = self._sink.tell()
        salt = os.urandom(ENTRY_SALT_SIZE)
        meta = {"p": path, "c": category, "m": mtime_ns}
        if raw:
            meta.update(r=True, k=key_id)
        meta_plain = json.dumps(meta, ensure_ascii=False, separators=(",", ":")).encode()
        sealed_meta = AESGCM(meta_key(archive.archive_key, salt)).encrypt(
            META_NONCE, meta_plain, None
        )
        self._sink.write(ENTRY_HEAD.pack(ENTRY_MAGIC, salt, len(sealed_meta)) + sealed_meta)
        self._sealer = StreamSealer(data_key(archive.archive_key, salt))
        self._hash = hashlib.sha256()
        self._size = 0
        self._pending: bytes | None = None
        self._compress = compress
        self._decided = not compress
        self.done = False
        # Whether the source was sealed at rest; the caller sets it before finish().
        self.sealed: bool | None = True if raw else None

    def write(self, data: bytes) -> None:
        """Add plaintext. Chunks are sealed one behind, so the last one can be flagged."""
        if not data:
            return
        self._hash.update(data)
        self._size += len(data)
        for start in range(0, len(data), MAX_CHUNK):
            piece = data[start : start + MAX_CHUNK] if len(data) > MAX_CHUNK else data
            if self._pending is not None:
                self._emit(self._pending, last=False)
            self._pending = piece

    def _emit(self, plaintext: bytes, *, last: bool) -> None:
        payload, flags = plaintext, 0
        if self._compress and plaintext:
            packed = self._archive.compressor.compress(plaintext)
            if len(packed) < len(plaintext):
                if not self._decided:
                    self._decided = True
                    self._compress = len(packed) <= WORTH_COMPRESSING * len(plaintext)
                payload, flags = packed, FLAG_COMPRESSED
            elif not self._decided:
                self._decided, self._compress = True, False
        sealed = self._sealer.seal(payload, last=last, flags=flags)
        self._sink.write(frame(len(sealed), compressed=bool(flags), last=last) + sealed)

    def finish(self) -> IndexEntry:
        self._emit(self._pending if self._pending is not None else b"", last=True)
        self._pending = None
        self.done = True
        entry = IndexEntry(
            path=self.path,
            category=self.category,
            size=self._size,
            mtime_ns=self.mtime_ns,
            sha256=self._hash.hexdigest(),
            offset=self.offset,
            length=self._sink.tell() - self.offset,
            raw=self.raw,
            key_id=self.key_id if self.raw else "",
            sealed=self.sealed,
        )
        self._archive.entries.append(entry)
        return entry

    def abort(self) -> None:
        """Forget this entry: the archive is truncated back to where it began."""
        self._pending = None
        self.done = True
        self._sink.truncate(self.offset)


class ArchiveWriter:
    """Writes header, entries, index and trailer to a :class:`ByteSink`."""

    def __init__(
        self,
        sink: ByteSink,
        *,
        protection: Protection,
        kind: str,
        categories: tuple[str, ...],
        created: datetime | None = None,
    ) -> None:
        self.sink = sink
        self.archive_key = os.urandom(KEY_SIZE)
        region, self.header = build_header(
            archive_key=self.archive_key,
            slots=protection.slots(self.archive_key),
            kind=kind,
            categories=categories,
            created=created,
        )
        sink.write(region)
        self.entries: list[IndexEntry] = []
        self.compressor = zstandard.ZstdCompressor(level=COMPRESSION_LEVEL)

    @property
    def bytes_written(self) -> int:
        return self.sink.tell()

    def begin(
        self,
        *,
        path: str,
        category: str,
        mtime_ns: int,
        raw: bool = False,
        key_id: str = "",
        compress: bool = True,
    ) -> EntryWriter:
        return EntryWriter(
            self,
            path=path,
            category=category,
            mtime_ns=mtime_ns,
            raw=raw,
            key_id=key_id,
            compress=compress and not raw,
        )

    def finish(
        self, *, account_key_id: str = "", skipped: list[dict[str, str]] | None = None
    ) -> ArchiveHeader:
        """Write the sealed index and the trailer (the caller syncs and renames)."""
        faults.point("backup.index")
        index = ArchiveIndex(
            entries=self.entries, account_key_id=account_key_id, skipped=skipped or []
        )
        packed = zstandard.ZstdCompressor(level=COMPRESSION_LEVEL).compress(index.to_bytes())
        offset = self.sink.tell()
        sealer = StreamSealer(index_key(self.archive_key, self.header.fixed_hash(), offset))
        pieces = [packed[i : i + MAX_CHUNK] for i in range(0, len(packed), MAX_CHUNK)] or [b""]
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            sealed = sealer.seal(piece, last=last)
            self.sink.write(frame(len(sealed), compressed=False, last=last) + sealed)
        length = self.sink.tell() - offset
        faults.point("backup.trailer")
        self.sink.write(build_trailer(offset, length, self.header.archive_id))
        return self.header


__all__ = ["ArchiveWriter", "EntryWriter", "Protection"]
