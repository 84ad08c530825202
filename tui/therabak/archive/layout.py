"""Constants and key derivations shared by the archive writer and reader (see FORMAT.md)."""

from __future__ import annotations

import struct
import zlib

from therabak.crypto.stream import derive_key, hkdf_expand, hkdf_extract
from therabak.errors import DamagedArchiveError
from therabak.i18n import _

ENTRY_MAGIC = b"TBE1"
ENTRY_SALT_SIZE = 16
ENTRY_HEAD = struct.Struct(">4s16sI")  # magic, salt, sealed meta length
MAX_META = 64 * 1024
MAX_CHUNK = 4 << 20  # plaintext bytes per chunk
FRAME = struct.Struct(">I")
FRAME_COMPRESSED = 1 << 31
FRAME_LAST = 1 << 30
FRAME_LENGTH_MASK = FRAME_LAST - 1
MAX_SEALED_CHUNK = MAX_CHUNK + 1024
MAX_INDEX_PLAINTEXT = 1 << 30

TRAILER_MAGIC = b"TBINDEX1"
TRAILER = struct.Struct(">8sQQ16sI")  # magic, index offset, index length, archive id, reserved
TRAILER_SIZE = TRAILER.size + 4  # + CRC-32 of the bytes before it

_META_INFO = b"therabak entry meta v1"
_DATA_INFO = b"therabak entry data v1"
_INDEX_INFO = b"therabak index v1"
META_NONCE = bytes(12)


def meta_key(archive_key: bytes, salt: bytes) -> bytes:
    return derive_key(archive_key, salt=salt, info=_META_INFO)


def data_key(archive_key: bytes, salt: bytes) -> bytes:
    return derive_key(archive_key, salt=salt, info=_DATA_INFO)


def entry_keys(archive_key: bytes, salt: bytes) -> tuple[bytes, bytes]:
    """(meta_key, data_key) of one entry, with one shared HKDF-Extract."""
    prk = hkdf_extract(archive_key, salt)
    return hkdf_expand(prk, _META_INFO), hkdf_expand(prk, _DATA_INFO)


def index_key(archive_key: bytes, header_fixed_hash: bytes, index_offset: int) -> bytes:
    return derive_key(
        archive_key,
        salt=b"",
        info=_INDEX_INFO + header_fixed_hash + index_offset.to_bytes(8, "big"),
    )


def frame(sealed_len: int, *, compressed: bool, last: bool) -> bytes:
    word = sealed_len | (FRAME_COMPRESSED if compressed else 0) | (FRAME_LAST if last else 0)
    return FRAME.pack(word)


def parse_frame(data: bytes) -> tuple[int, bool, bool]:
    (word,) = FRAME.unpack(data)
    length = word & FRAME_LENGTH_MASK
    if length < 16 or length > MAX_SEALED_CHUNK:
        raise DamagedArchiveError(_("chunk frame is damaged"))
    return length, bool(word & FRAME_COMPRESSED), bool(word & FRAME_LAST)


def build_trailer(index_offset: int, index_length: int, archive_id: bytes) -> bytes:
    body = TRAILER.pack(TRAILER_MAGIC, index_offset, index_length, archive_id, 0)
    return body + zlib.crc32(body).to_bytes(4, "big")


def parse_trailer(
    data: bytes, *, archive_size: int, header_size: int, archive_id: bytes
) -> tuple[int, int]:
    """(index offset, index length) from the last TRAILER_SIZE bytes, checked."""
    if len(data) != TRAILER_SIZE:
        raise DamagedArchiveError(_("The backup is truncated (no trailer)."))
    body, crc = data[:-4], data[-4:]
    magic, offset, length, trailer_id, reserved = TRAILER.unpack(body)
    if magic != TRAILER_MAGIC:
        raise DamagedArchiveError(_("The backup is truncated or damaged (trailer missing)."))
    if zlib.crc32(body).to_bytes(4, "big") != crc or reserved != 0:
        raise DamagedArchiveError(_("The backup's trailer is damaged."))
    if trailer_id != archive_id:
        raise DamagedArchiveError(_("The backup's trailer belongs to another backup."))
    if offset < header_size or offset + length + TRAILER_SIZE != archive_size:
        raise DamagedArchiveError(_("The backup's trailer is damaged (offsets)."))
    return offset, length
