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

import hashlib

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
_HAS_INTO = hasattr(AESGCM, "encrypt_into")  # cryptography >= 45


def derive_key(ikm: bytes, *, salt: bytes, info: bytes, length: int = KEY_SIZE) -> bytes:
    """HKDF-SHA256 (RFC 5869)."""
    if length <= _HASH_LEN:
        return hkdf_expand(hkdf_extract(ikm, salt), info, length)
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


_HASH_LEN = 32


_BLOCK = 64
_OPAD = bytes(x ^ 0x5C for x in range(256))
_IPAD = bytes(x ^ 0x36 for x in range(256))


def hmac_sha256(key: bytes, msg: bytes) -> bytes:
    """HMAC-SHA256 (RFC 2104) for short messages.

    The construction written out with hashlib (as the standard library's own fallback
    does): for the few dozen bytes of a key derivation it is about twice as fast as
    ``hmac.digest``, which matters at five derivations per file of a backup.
    """
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    inner = hashlib.sha256(key.translate(_IPAD) + msg).digest()
    return hashlib.sha256(key.translate(_OPAD) + inner).digest()


def hkdf_extract(ikm: bytes, salt: bytes) -> bytes:
    """HKDF-Extract with SHA-256: the pseudorandom key (an empty salt is HashLen zeros)."""
    return hmac_sha256(salt, ikm)  # an empty key is padded with zeros just the same


def hkdf_expand(prk: bytes, info: bytes, length: int = KEY_SIZE) -> bytes:
    """HKDF-Expand with SHA-256 for outputs of at most 32 bytes (one block).

    Two keys from the same input key and salt share one :func:`hkdf_extract`, so
    per-file key pairs cost three HMACs instead of four; the bytes are exactly
    ``derive_key``'s.
    """
    if not 0 < length <= _HASH_LEN:
        raise ValueError("hkdf_expand gives at most 32 bytes")
    return hmac_sha256(prk, info + b"\x01")[:length]


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

    def _next_nonce(self, *, last: bool, flags: int) -> bytes:
        """The nonce of the next chunk; the stream ends with the last one."""
        if self._finished:
            raise RuntimeError("stream already finished")
        if last:
            flags |= FLAG_LAST
            self._finished = True
        nonce = chunk_nonce(self._counter, flags)
        self._counter += 1
        return nonce

    def seal(self, plaintext: bytes | memoryview, *, last: bool, flags: int = 0) -> bytes:
        return self._aead.encrypt(self._next_nonce(last=last, flags=flags), plaintext, None)

    def seal_into(
        self, plaintext: bytes | memoryview, out: memoryview, *, last: bool, flags: int = 0
    ) -> int:
        """Like :meth:`seal`, into ``out[:len(plaintext) + TAG_SIZE]``; returns that length."""
        n = len(plaintext) + TAG_SIZE
        if not _HAS_INTO:
            out[:n] = self.seal(plaintext, last=last, flags=flags)
            return n
        self._aead.encrypt_into(self._next_nonce(last=last, flags=flags), plaintext, None, out[:n])
        return n


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
