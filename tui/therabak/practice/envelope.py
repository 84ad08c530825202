"""The at-rest envelope of files in ``Data`` (see FORMAT.md, section "Envelope").

A sealed file is a 36-byte header followed by a STREAM (:mod:`therabak.crypto.stream`)
keyed by HKDF from the account key, the file's random salt and the header itself, so
any change to the header makes every chunk fail. Files without the magic are plain
files and are read as they are.
"""

from __future__ import annotations

import io
import os
import struct
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from therabak.crypto.stream import TAG_SIZE, StreamOpener, StreamSealer, derive_key
from therabak.errors import DecryptionError, ForeignKeyError
from therabak.fsutil import read_full
from therabak.i18n import _
from therabak.practice.account import KEY_ID_SIZE, AccountKey

MAGIC = b"TPSYENC1"
SALT_SIZE = 16
HEADER_SIZE = 36
MIN_CHUNK_LOG2 = 12
MAX_CHUNK_LOG2 = 24
DEFAULT_CHUNK_LOG2 = 20
_HEADER = struct.Struct(">8s8sB3s16s")
_KEY_INFO = b"therapsy envelope v1"
assert _HEADER.size == HEADER_SIZE


@dataclass(frozen=True)
class EnvelopeHeader:
    key_id: bytes
    chunk_log2: int
    salt: bytes
    raw: bytes

    @property
    def chunk_size(self) -> int:
        return 1 << self.chunk_log2

    @classmethod
    def new(
        cls, key: AccountKey, *, chunk_log2: int = DEFAULT_CHUNK_LOG2, salt: bytes | None = None
    ) -> EnvelopeHeader:
        if not MIN_CHUNK_LOG2 <= chunk_log2 <= MAX_CHUNK_LOG2:
            raise ValueError("chunk size out of range")
        salt = os.urandom(SALT_SIZE) if salt is None else salt
        if len(salt) != SALT_SIZE:
            raise ValueError("salt must be 16 bytes")
        raw = _HEADER.pack(MAGIC, key.key_id, chunk_log2, b"\0\0\0", salt)
        return cls(key.key_id, chunk_log2, salt, raw)

    def file_key(self, key: AccountKey) -> bytes:
        return derive_key(key.key, salt=self.salt, info=_KEY_INFO + self.raw[:20])


class Salts:
    """Random envelope salts for many files, drawn from the operating system in batches
    (one system call per BATCH files instead of one per file; the bytes are the same
    CSPRNG's, each salt used once). Safe to share between threads."""

    BATCH = 256

    def __init__(self) -> None:
        self._pool = b""
        self._at = 0
        self._lock = threading.Lock()

    def take(self) -> bytes:
        with self._lock:
            if self._at >= len(self._pool):
                self._pool, self._at = os.urandom(SALT_SIZE * self.BATCH), 0
            salt = self._pool[self._at : self._at + SALT_SIZE]
            self._at += SALT_SIZE
            return salt


def has_magic(prefix: bytes) -> bool:
    return prefix[: len(MAGIC)] == MAGIC


def parse_header(data: bytes) -> EnvelopeHeader | None:
    """The header of a sealed file, or None for a plain file (no magic).

    Raises DecryptionError when the magic is there but the header is not valid.
    """
    if not has_magic(data):
        return None
    if len(data) < HEADER_SIZE:
        raise DecryptionError(_("envelope header is truncated"))
    magic, key_id, chunk_log2, reserved, salt = _HEADER.unpack_from(data)
    if not MIN_CHUNK_LOG2 <= chunk_log2 <= MAX_CHUNK_LOG2 or reserved != b"\0\0\0":
        raise DecryptionError(_("envelope header is invalid"))
    return EnvelopeHeader(key_id, chunk_log2, salt, bytes(data[:HEADER_SIZE]))


def check_key(header: EnvelopeHeader, key: AccountKey) -> None:
    if header.key_id != key.key_id:
        raise ForeignKeyError(
            _("sealed with another account's key (key id {id}, this account is {mine})").format(
                id=header.key_id.hex(), mine=key.id_hex
            ),
            key_id=header.key_id.hex(),
            expected=key.id_hex,
        )


def iter_plaintext(f: BinaryIO, header: EnvelopeHeader, key: AccountKey) -> Iterator[bytes]:
    """Yield the plaintext chunks of a sealed file whose header was already read from *f*.

    Every chunk is authenticated before it is yielded; a truncated, extended, reordered
    or tampered file raises :class:`DecryptionError` at the first bad chunk.
    """
    check_key(header, key)
    opener = StreamOpener(header.file_key(key), what="sealed file")
    block = header.chunk_size + TAG_SIZE
    current = read_full(f, block)
    if len(current) < TAG_SIZE:
        raise DecryptionError(_("sealed file is truncated"))
    while True:
        if len(current) < block:
            yield opener.open(current, last=True)
            return
        following = read_full(f, block)
        if not following:
            yield opener.open(current, last=True)
            return
        if len(following) < TAG_SIZE:
            raise DecryptionError(_("sealed file is truncated"))
        yield opener.open(current, last=False)
        current = following


class EnvelopeWriter:
    """Seal a byte stream into *out*: ``write()`` any amount, then ``close()``."""

    def __init__(self, out: BinaryIO, key: AccountKey, header: EnvelopeHeader | None = None):
        self._out = out
        self._header = header or EnvelopeHeader.new(key)
        check_key(self._header, key)
        self.file_key = self._header.file_key(key)
        self._sealer = StreamSealer(self.file_key)
        self._buf = bytearray()  # a partial chunk
        self._full: bytes | None = None  # a full chunk, sealed once it is known not last
        self._size = self._header.chunk_size
        self._head: bytes | None = self._header.raw  # written with the first chunk

    def _emit(self, sealed: bytes) -> None:
        """Hand on a sealed chunk, the header with the first one (one write call less
        per file: a restore writes thousands of small ones)."""
        if self._head is not None:
            sealed, self._head = self._head + sealed, None
        self._out.write(sealed)

    def write(self, data: bytes) -> None:
        """Seal *data*; a full chunk waits until more data shows it is not the last."""
        view = memoryview(data)
        size = self._size
        i, n = 0, len(view)
        while i < n:
            if self._full is not None:  # more data follows: that chunk was not the last
                self._emit(self._sealer.seal(self._full, last=False))
                self._full = None
            if not self._buf and n - i >= size:
                # A whole chunk straight from the input (no copy when it is all of it).
                whole = type(data) is bytes and i == 0 and n == size
                self._full = data if whole else bytes(view[i : i + size])
                i += size
            else:
                take = min(size - len(self._buf), n - i)
                self._buf += view[i : i + take]
                i += take
                if len(self._buf) == size:
                    self._full = bytes(self._buf)
                    self._buf.clear()

    def close(self) -> None:
        if self._full is not None:
            self._emit(self._sealer.seal(self._full, last=True))
            self._full = None
        else:
            self._emit(self._sealer.seal(bytes(self._buf), last=True))
        self._buf.clear()

    def __enter__(self) -> EnvelopeWriter:
        return self

    def __exit__(self, exc_type, *_: object) -> None:
        if exc_type is None:
            self.close()


def seal_bytes(
    key: AccountKey,
    data: bytes | Iterable[bytes],
    *,
    chunk_log2: int = DEFAULT_CHUNK_LOG2,
    salt: bytes | None = None,
) -> bytes:
    out = io.BytesIO()
    with EnvelopeWriter(out, key, EnvelopeHeader.new(key, chunk_log2=chunk_log2, salt=salt)) as w:
        if isinstance(data, bytes | bytearray | memoryview):
            w.write(bytes(data))
        else:
            for part in data:
                w.write(part)
    return out.getvalue()


def open_bytes(key: AccountKey, data: bytes) -> bytes:
    """Plaintext of an in-memory file (sealed or plain)."""
    header = parse_header(data)
    if header is None:
        return data
    f = io.BytesIO(data)
    f.seek(HEADER_SIZE)
    return b"".join(iter_plaintext(f, header, key))


__all__ = [
    "HEADER_SIZE",
    "KEY_ID_SIZE",
    "MAGIC",
    "EnvelopeHeader",
    "EnvelopeWriter",
    "Salts",
    "has_magic",
    "iter_plaintext",
    "open_bytes",
    "parse_header",
    "read_full",
    "seal_bytes",
]
