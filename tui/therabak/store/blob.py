"""Blobs: the sealed chunks of file content that packs hold (FORMAT.md, "Blobs").

A blob's id is keyed: ``BLAKE3(chunk)`` keyed with the BLAKE3 id key (stores of config
version 2), or ``HMAC-SHA256(id key, SHA-256(chunk))`` (version 1). Without the store key
nobody can tell whether the store holds a given file (no "known file" oracle), and two
equal chunks get one id, so they are stored once. A blob is sealed on its own
(``keys.seal``: random nonce, AES-256-GCM under the blob key) with its id, flags and
plaintext length as associated data: a blob cannot be swapped for another, moved, cut,
or have its compression flag flipped without failing authentication. zstd is used
only when it shrinks the chunk.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from dataclasses import dataclass

import zstandard

from therabak.i18n import _
from therabak.store.binary import u32
from therabak.store.config import MAX_CHUNK_SIZE
from therabak.store.errors import DamagedStoreError
from therabak.store.keys import SEAL_OVERHEAD, ContentId, StoreKeys, seal, unseal

ID_SIZE = 32
FLAG_COMPRESSED = 0x01
KNOWN_FLAGS = FLAG_COMPRESSED
MAX_SEALED = MAX_CHUNK_SIZE + (MAX_CHUNK_SIZE >> 7) + 1024 + SEAL_OVERHEAD  # zstd's worst case
COMPRESSION_LEVEL = 3
#: A chunk is stored compressed only if zstd shrinks it to this fraction or less; a file
#: whose first chunk does not is not tried again (audio, images).
WORTH_COMPRESSING = 0.97
_AAD = b"therabak store blob v1"


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """One blob as a pack header and the index describe it."""

    id: bytes
    flags: int
    length: int  # sealed bytes in the pack
    raw_length: int  # plaintext bytes


def blob_aad(blob_id: bytes, flags: int, raw_length: int) -> bytes:
    return _AAD + blob_id + bytes((flags,)) + u32(raw_length)


def blob_info_ok(flags: int, length: int, raw_length: int) -> bool:
    """Does a description of a blob (its flags, sealed and plain length) keep the limits
    any must keep? (For many at once: no BlobInfo is made.)"""
    return not (
        flags & ~KNOWN_FLAGS
        or not 0 < raw_length <= MAX_CHUNK_SIZE
        or not SEAL_OVERHEAD <= length <= MAX_SEALED
        or (not flags & FLAG_COMPRESSED and length != raw_length + SEAL_OVERHEAD)
    )


def check_blob_info(info: BlobInfo, name: str) -> None:
    """Limits any description of a blob must keep (parsed from untrusted bytes)."""
    if len(info.id) != ID_SIZE or not blob_info_ok(info.flags, info.length, info.raw_length):
        raise blob_info_damaged(name)


def blob_info_damaged(name: str) -> DamagedStoreError:
    return DamagedStoreError(
        _("{name} is damaged ({what}).").format(name=name, what=_("a blob's description")),
        name=name,
    )


_local = threading.local()


def _cctx() -> zstandard.ZstdCompressor:
    """One zstd context per thread (making one per file costs more than small files)."""
    cctx = getattr(_local, "cctx", None)
    if cctx is None:
        cctx = _local.cctx = zstandard.ZstdCompressor(
            level=COMPRESSION_LEVEL, write_content_size=True
        )
    return cctx


class Compressor:
    """zstd for the chunks of one file (not shared between threads)."""

    __slots__ = ("trying",)

    def __init__(self) -> None:
        self.trying = True

    def payload(self, chunk: bytes | memoryview, *, first: bool) -> tuple[bytes | memoryview, int]:
        """(what to seal, flags): the zstd frame when it is worth it, else the chunk."""
        if not self.trying:
            return chunk, 0
        packed = _cctx().compress(chunk)
        if len(packed) <= len(chunk) * WORTH_COMPRESSING:
            return packed, FLAG_COMPRESSED
        if first:
            self.trying = False
        return chunk, 0


def blob_id_of(keys: StoreKeys, chunk: bytes | memoryview) -> tuple[bytes, bytes]:
    """(blob id, SHA-256 of the chunk): the SHA-256 only where the id is made from it
    (``ContentId.HMAC_SHA256``), else ``b""`` (a BLAKE3 store takes no SHA-256 per chunk:
    a file's own SHA-256, in the snapshot, is taken once over the whole file)."""
    if keys.content_id is ContentId.BLAKE3:
        return keys.blake3_id(chunk), b""
    if keys.content_id is None:
        raise ValueError("a store whose content id is not known cannot be written")
    digest = hashlib.sha256(chunk).digest()
    return keys.blob_id(digest), digest


def id_matches(keys: StoreKeys, chunk: bytes | memoryview, blob_id: bytes) -> tuple[bool, bytes]:
    """(is *blob_id* the keyed id of *chunk*, the chunk's SHA-256 or ``b""``) under the
    store's content id; either one when it is not known (a salvage without a config)."""
    kind = keys.content_id
    digest = b""
    if kind is not ContentId.BLAKE3:
        digest = hashlib.sha256(chunk).digest()
        if hmac.compare_digest(keys.blob_id(digest), blob_id):
            return True, digest
        if kind is not None:
            return False, digest
    return hmac.compare_digest(keys.blake3_id(chunk), blob_id), digest


def seal_blob(
    keys: StoreKeys,
    blob_id: bytes,
    chunk: bytes | memoryview,
    compressor: Compressor,
    *,
    first: bool,
) -> tuple[bytes, BlobInfo]:
    payload, flags = compressor.payload(chunk, first=first)
    sealed = seal(keys.blob, payload, blob_aad(blob_id, flags, len(chunk)))
    return sealed, BlobInfo(blob_id, flags, len(sealed), len(chunk))


def open_blob(
    keys: StoreKeys, info: BlobInfo, sealed: bytes, name: str, *, check_id: bool = True
) -> tuple[bytes, bytes]:
    """(plaintext, its SHA-256) of a sealed blob, checked: authentication, the declared
    size of a zstd frame before it is decompressed (no bomb), the plaintext length, and
    that the plaintext is the content its id names. DamagedStoreError otherwise. The
    SHA-256 is ``b""`` where the id is not made from it (a BLAKE3 store).

    Without *check_id* the last check (a SHA-256 of the chunk) is left to the caller,
    who checks the SHA-256 of the whole file instead (a restore of a file of several
    chunks: ``Store.open_file``); the SHA-256 returned is then ``b""``."""
    what = f"{name}: blob {info.id.hex()[:16]}"
    if len(sealed) != info.length:
        raise DamagedStoreError(_("{name} is damaged (cut short).").format(name=what), name=name)
    payload = unseal(keys.blob, sealed, blob_aad(info.id, info.flags, info.raw_length), name=what)
    if info.flags & FLAG_COMPRESSED:
        declared, plain = -1, b""
        try:
            declared = zstandard.frame_content_size(payload)
            if declared == info.raw_length:  # checked before anything is decompressed
                plain = zstandard.ZstdDecompressor().decompress(
                    payload, max_output_size=info.raw_length
                )
        except zstandard.ZstdError:
            plain = b""
        if declared != info.raw_length or len(plain) != info.raw_length:
            raise DamagedStoreError(
                _("{name} is damaged ({what}).").format(name=what, what=_("compressed data")),
                name=name,
            )
    else:
        plain = payload
    if not check_id:
        if len(plain) != info.raw_length:
            raise DamagedStoreError(
                _("{name} is damaged ({what}).").format(name=what, what=_("content and id differ")),
                name=name,
            )
        return plain, b""
    matches, digest = id_matches(keys, plain, info.id)
    if len(plain) != info.raw_length or not matches:
        raise DamagedStoreError(
            _("{name} is damaged ({what}).").format(name=what, what=_("content and id differ")),
            name=name,
        )
    return plain, digest
