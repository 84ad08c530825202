"""Write a ``.therabak`` archive as one stream: header, entries, index, trailer.

Each entry is begun, fed plaintext chunks and finished; an entry can be aborted,
which truncates the archive back to where it began, so a failed read attempt
never reaches the index.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from json.encoder import encode_basestring as _json_str

import zstandard
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from therabak import faults
from therabak.archive.byteio import ByteSink
from therabak.archive.hashing import Sha256Behind
from therabak.archive.header import ArchiveHeader, build_header
from therabak.archive.index import ArchiveIndex, IndexEntry
from therabak.archive.layout import (
    ENTRY_HEAD,
    ENTRY_MAGIC,
    ENTRY_SALT_SIZE,
    FRAME,
    FRAME_COMPRESSED,
    FRAME_LAST,
    MAX_CHUNK,
    META_NONCE,
    build_trailer,
    entry_keys,
    frame,
    index_key,
)
from therabak.crypto.protection import Protection
from therabak.crypto.stream import FLAG_COMPRESSED, KEY_SIZE, TAG_SIZE, StreamSealer
from therabak.storedpaths import path_json, path_member

COMPRESSION_LEVEL = 3
# Compress an entry only if its first chunk shrinks to this fraction or less.
WORTH_COMPRESSING = 0.97
# Chunks larger than this are sealed into a reused buffer when the sink allows it.
_JOIN_LIMIT = 64 << 10


def _meta_json(path: str, category: str, mtime_ns: int, raw: bool, key_id: str) -> bytes:
    """An entry's metadata JSON (FORMAT.md section 2), byte for byte what
    ``json.dumps(meta, ensure_ascii=False, separators=(",", ":"))`` gives, without
    building a dict and an encoder per file."""
    if type(mtime_ns) is not int:  # noqa: E721 - bool and int subclasses go the slow way
        meta = {**path_member(path), "c": category, "m": mtime_ns}
        if raw:
            meta.update(r=True, k=key_id)
        return json.dumps(meta, ensure_ascii=False, separators=(",", ":")).encode()
    text = f'{{{path_json(path)},"c":{_json_str(category)},"m":{mtime_ns}'
    if raw:
        text += f',"r":true,"k":{_json_str(key_id)}'
    return (text + "}").encode()


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
        self._sink = sink = archive.sink
        self.path, self.category, self.mtime_ns = path, category, mtime_ns
        self.raw, self.key_id = raw, key_id
        self.offset = sink.tell()
        salt = archive.new_salt()
        meta_plain = _meta_json(path, category, mtime_ns, raw, key_id)
        key_meta, key_data = entry_keys(archive.archive_key, salt)
        sealed_meta = AESGCM(key_meta).encrypt(META_NONCE, meta_plain, None)
        sink.write(ENTRY_HEAD.pack(ENTRY_MAGIC, salt, len(sealed_meta)) + sealed_meta)
        self._sealer = StreamSealer(key_data)
        self._hash = Sha256Behind()
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
        if type(data) is not bytes:  # kept until sealed (one behind): a copy the caller
            data = bytes(data)  # cannot change by reusing its buffer
        self._hash.update(data)
        self._size += len(data)
        if len(data) <= MAX_CHUNK:
            if self._pending is not None:
                self._emit(self._pending, last=False)
            self._pending = data
            return
        for start in range(0, len(data), MAX_CHUNK):
            if self._pending is not None:
                self._emit(self._pending, last=False)
            self._pending = data[start : start + MAX_CHUNK]

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
        bits = (FRAME_COMPRESSED if flags else 0) | (FRAME_LAST if last else 0)
        if len(payload) > _JOIN_LIMIT and self._archive.sink_copies:
            # Frame word and sealed chunk in one reused buffer: no allocation, no copy.
            out = self._archive.seal_buffer(FRAME.size + len(payload) + TAG_SIZE)
            n = self._sealer.seal_into(payload, out[FRAME.size :], last=last, flags=flags)
            FRAME.pack_into(out, 0, n | bits)
            self._sink.write(out[: FRAME.size + n])
            return
        sealed = self._sealer.seal(payload, last=last, flags=flags)
        self._sink.write(FRAME.pack(len(sealed) | bits) + sealed)

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


class ArchiveKeys:
    """A new random archive key and its key slots: the slow part of starting an archive
    (Argon2id for a password), which a job can do before anything else."""

    __slots__ = ("archive_key", "slots")

    def __init__(self, protection: Protection) -> None:
        self.archive_key = os.urandom(KEY_SIZE)
        self.slots = protection.slots(self.archive_key)

    def __repr__(self) -> str:  # never show the key
        return f"ArchiveKeys({len(self.slots)} slot(s))"


class ArchiveWriter:
    """Writes header, entries, index and trailer to a :class:`ByteSink`.

    *keys* (made with ``ArchiveKeys(protection)``) may be given to reuse keys made
    earlier; otherwise they are made here from *protection*.
    """

    def __init__(
        self,
        sink: ByteSink,
        *,
        protection: Protection,
        kind: str,
        categories: tuple[str, ...],
        created: datetime | None = None,
        keys: ArchiveKeys | None = None,
    ) -> None:
        self.sink = sink
        keys = keys or ArchiveKeys(protection)
        self.archive_key = keys.archive_key
        region, self.header = build_header(
            archive_key=self.archive_key,
            slots=keys.slots,
            kind=kind,
            categories=categories,
            created=created,
        )
        sink.write(region)
        self.entries: list[IndexEntry] = []
        self.compressor = zstandard.ZstdCompressor(level=COMPRESSION_LEVEL)
        # A sink that copies what it is given before write() returns lets the entries
        # seal large chunks into one reused buffer (see FileSink.copies_data).
        self.sink_copies = bool(getattr(sink, "copies_data", False))
        self._seal_buffer = memoryview(bytearray(0))
        self._salts, self._salt_pos = b"", 0

    def seal_buffer(self, n: int) -> memoryview:
        """A scratch buffer of at least *n* bytes, reused from chunk to chunk."""
        if len(self._seal_buffer) < n:
            self._seal_buffer = memoryview(bytearray(max(n, (1 << 20) + 1024)))
        return self._seal_buffer

    def new_salt(self) -> bytes:
        """A random entry salt; drawn from the OS in batches (one call per 1024 entries)."""
        if self._salt_pos >= len(self._salts):
            self._salts, self._salt_pos = os.urandom(ENTRY_SALT_SIZE * 1024), 0
        start = self._salt_pos
        self._salt_pos = start + ENTRY_SALT_SIZE
        return self._salts[start : start + ENTRY_SALT_SIZE]

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
        packed = index.compressed(COMPRESSION_LEVEL)
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


__all__ = ["ArchiveKeys", "ArchiveWriter", "EntryWriter", "Protection"]
