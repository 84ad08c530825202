"""Chunked AEAD (STREAM construction, as in age), shared by the envelope and the archive.

A stream is a sequence of chunks sealed with AES-256-GCM under one key that is used
for nothing else. The 12-byte nonce of chunk *i* is::

    i as an 11-byte big-endian counter || one flag byte

Flag bit 0 marks the last chunk, flag bit 1 marks a zstd-compressed chunk (archive
only). Because the counter and the flags are part of the nonce, reordering, dropping,
duplicating or truncating chunks, or flipping a compression flag, makes the tag check
fail. Keys are per file (see :func:`derive_key`), so chunks cannot be moved between
files or archives either.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from therabak.errors import DecryptionError
from therabak.i18n import _

TAG_SIZE = 16
KEY_SIZE = 32
FLAG_LAST = 0x01
FLAG_COMPRESSED = 0x02
_COUNTER_LIMIT = 1 << 88


def derive_key(ikm: bytes, *, salt: bytes, info: bytes, length: int = KEY_SIZE) -> bytes:
    """HKDF-SHA256."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def chunk_nonce(counter: int, flags: int) -> bytes:
    if not 0 <= counter < _COUNTER_LIMIT:
        raise ValueError("stream counter out of range")
    return counter.to_bytes(11, "big") + bytes((flags,))


class StreamSealer:
    """Seals consecutive chunks of one stream."""

    __slots__ = ("_aead", "_counter", "_finished")

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)
        self._counter = 0
        self._finished = False

    @property
    def counter(self) -> int:
        return self._counter

    def seal(self, plaintext: bytes | memoryview, *, last: bool, flags: int = 0) -> bytes:
        if self._finished:
            raise RuntimeError("stream already finished")
        if last:
            flags |= FLAG_LAST
            self._finished = True
        nonce = chunk_nonce(self._counter, flags)
        self._counter += 1
        return self._aead.encrypt(nonce, plaintext, None)


class StreamOpener:
    """Opens consecutive chunks of one stream; raises :class:`DecryptionError`."""

    __slots__ = ("_aead", "_counter", "_finished", "_what")

    def __init__(self, key: bytes, *, what: str = "data") -> None:
        self._aead = AESGCM(key)
        self._counter = 0
        self._finished = False
        self._what = what

    @property
    def counter(self) -> int:
        return self._counter

    @property
    def finished(self) -> bool:
        return self._finished

    def open(self, sealed: bytes | memoryview, *, last: bool, flags: int = 0) -> bytes:
        if self._finished:
            raise DecryptionError(_("{what}: data after the final chunk").format(what=self._what))
        if len(sealed) < TAG_SIZE:
            raise DecryptionError(
                _("{what}: chunk {chunk} is truncated").format(what=self._what, chunk=self._counter)
            )
        if last:
            flags |= FLAG_LAST
        nonce = chunk_nonce(self._counter, flags)
        try:
            plaintext = self._aead.decrypt(nonce, sealed, None)
        except InvalidTag:
            raise DecryptionError(
                _("{what}: chunk {chunk} failed authentication").format(
                    what=self._what, chunk=self._counter
                )
            ) from None
        self._counter += 1
        if last:
            self._finished = True
        return plaintext
