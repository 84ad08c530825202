"""Pack files (``packs/<2 hex>/<64 hex>``): blobs back to back, then a sealed header.

A pack is immutable. It ends with its own sealed header listing its blobs (id, flags,
sealed and plaintext length; offsets follow from the order), then an 8-byte trailer: the
sealed header's length and the magic ``TBPK``. So every pack describes itself and the
index can be rebuilt from the packs alone. A pack is named by the SHA-256 of its sealed
header: the header names every blob by id and length and each blob authenticates on its
own, so the name stands for the whole pack without hashing all of its bytes once more.
Layout in FORMAT.md, "packs/".
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from therabak.i18n import _
from therabak.store.binary import Reader, u32
from therabak.store.blob import ID_SIZE, BlobInfo, check_blob_info
from therabak.store.config import MAX_PACK_SIZE
from therabak.store.errors import DamagedStoreError
from therabak.store.keys import NONCE_SIZE, SEAL_OVERHEAD, StoreKeys, seal, unseal

PREFIX = "packs/"
TRAILER_MAGIC = b"TBPK"
TRAILER_SIZE = 8
HEADER_VERSION = 1
ENTRY_SIZE = ID_SIZE + 1 + 4 + 4
#: the most blobs a pack can hold (each takes at least a nonce and a tag)
MAX_BLOBS = (2 * MAX_PACK_SIZE) // SEAL_OVERHEAD
#: how much of a pack's end is read at first, hoping the header is in it
TAIL_GUESS = 8 << 10
if TYPE_CHECKING:
    from therabak.store.objects import StreamedObject

_AAD = b"therabak store pack header v1"
_NAME_RE = re.compile(r"packs/([0-9a-f]{2})/([0-9a-f]{64})")


def pack_name(pack_id: str) -> str:
    return f"{PREFIX}{pack_id[:2]}/{pack_id}"


def pack_id_of(name: str) -> str | None:
    """The id a pack's name says, or None for a name that is not a pack's."""
    m = _NAME_RE.fullmatch(name)
    return m.group(2) if m and m.group(2).startswith(m.group(1)) else None


@dataclass(frozen=True, slots=True)
class PackedBlob:
    """A blob and where it lies in its pack."""

    info: BlobInfo
    offset: int


@dataclass
class FinishedPack:
    pack_id: str
    # the pack is its first ``size`` bytes; streamed: the small buffer its blobs were
    # sealed in, one at a time (free for the next pack)
    buffer: bytearray = field(repr=False)
    blobs: list[PackedBlob]
    size: int = -1
    stream: StreamedObject | None = field(default=None, repr=False)  # written, to publish

    def __post_init__(self) -> None:
        if self.size < 0:
            self.size = len(self.buffer)

    @property
    def name(self) -> str:
        return pack_name(self.pack_id)

    @property
    def data(self) -> memoryview:
        """The pack's bytes (a view of the buffer: no copy)."""
        return memoryview(self.buffer)[: self.size]


#: room a pack's sealed header and trailer take besides its per-blob entries
_HEADER_ROOM = SEAL_OVERHEAD + 5 + TRAILER_SIZE


class PackBuilder:
    """Collects sealed blobs until the pack is full (not thread-safe: the backup writer
    serialises its calls). A pack counts as full once its blobs and header reach the
    target.

    In memory: the buffer is allocated once, at the pack's size and one chunk more, when
    the first blob comes (or handed in, from a pack that was put: *buffer*), so it is
    never copied while it fills; the header is written into it too.

    Streamed (*stream*, where the storage can write an object piece by piece): each blob
    is sealed into a buffer of one chunk (*buffer*, reused) and written out at once, while
    its bytes are still in the processor's cache; a pack-sized buffer, copied out from
    memory at the end, cost a local backup of 2 GB about half a second of system time."""

    def __init__(
        self,
        keys: StoreKeys,
        target: int,
        chunk_size: int = 0,
        buffer: bytearray | None = None,
        stream: StreamedObject | None = None,
    ) -> None:
        self.keys = keys
        self.target = target
        self.stream = stream
        self.broken = False  # a write of the stream failed: the pack is unusable
        if stream is not None:
            self._capacity = chunk_size + SEAL_OVERHEAD
        else:
            self._capacity = (
                target + chunk_size + SEAL_OVERHEAD + ENTRY_SIZE + _HEADER_ROOM if chunk_size else 0
            )
        # allocated by the first add: not while a full one waits to be put
        self.data = buffer if buffer is not None and len(buffer) >= self._capacity else bytearray()
        self.used = 0
        self.blobs: list[PackedBlob] = []

    def add(self, sealed: bytes | memoryview, info: BlobInfo) -> None:
        """Append a blob sealed elsewhere (prune copies blobs as they are)."""
        if self.stream is not None:
            self._write(sealed)
            self.blobs.append(PackedBlob(info, self.used))
            self.used += len(sealed)
            return
        end = self._room(len(sealed))
        self.blobs.append(PackedBlob(info, self.used))
        self.data[self.used : end] = sealed
        self.used = end

    def seal_into(
        self, aead, payload: bytes | memoryview, aad: bytes, blob_id: bytes, flags: int, raw: int
    ) -> BlobInfo:
        """Seal *payload* straight into the pack's buffer (``keys.seal``'s layout: a random
        nonce, then AES-256-GCM with its tag), without a copy of the sealed bytes;
        streamed, into the chunk buffer, written out from there."""
        length = len(payload) + SEAL_OVERHEAD
        streamed = self.stream is not None
        start = 0 if streamed else self.used
        end = self._room(length) if not streamed else self._scratch(length)
        nonce = os.urandom(NONCE_SIZE)
        self.data[start : start + NONCE_SIZE] = nonce
        with memoryview(self.data) as view:
            aead.encrypt_into(nonce, payload, aad, view[start + NONCE_SIZE : end])
            if streamed:
                self._write(view[:length])
        info = BlobInfo(blob_id, flags, length, raw)
        self.blobs.append(PackedBlob(info, self.used))
        self.used += length
        return info

    def _write(self, data: bytes | memoryview) -> None:
        assert self.stream is not None
        try:
            self.stream.write(data)
        except BaseException:
            self.broken = True
            raise

    def _scratch(self, length: int) -> int:
        """The chunk buffer, at least *length* bytes; returns *length*."""
        if len(self.data) < length:
            self.data = bytearray(max(self._capacity, length))
        return length

    def _room(self, length: int) -> int:
        """Make room for *length* more bytes; returns where they end."""
        if not self.data:
            self.data = bytearray(max(self._capacity, length))
        end = self.used + length
        if end > len(self.data):
            self.data += bytes(end - len(self.data))
        return end

    def discard(self) -> None:
        """Streamed: drop what was written (nothing of it is named)."""
        if self.stream is not None:
            self.stream.discard()

    @property
    def full(self) -> bool:
        return self.used + ENTRY_SIZE * len(self.blobs) + _HEADER_ROOM >= self.target

    def __len__(self) -> int:
        return len(self.blobs)

    def finish(self) -> FinishedPack:
        header = encode_header(self.keys, [b.info for b in self.blobs])
        tail = header + u32(len(header)) + TRAILER_MAGIC
        if self.stream is not None:
            self._write(tail)
            end = self.used + len(tail)
            return FinishedPack(pack_id_for(header), self.data, self.blobs, end, self.stream)
        end = self.used + len(tail)
        if end > len(self.data):
            self.data += bytes(end - len(self.data))
        self.data[self.used : end] = tail
        return FinishedPack(pack_id_for(header), self.data, self.blobs, end)


def pack_id_for(sealed_header: bytes | memoryview) -> str:
    """A pack's id: the SHA-256 of its sealed header."""
    return hashlib.sha256(sealed_header).hexdigest()


def sealed_header_of(data: bytes, name: str) -> bytes:
    """The sealed header within a whole pack's bytes."""
    n = header_length(data[-TRAILER_SIZE:], len(data), name)
    return data[-TRAILER_SIZE - n : -TRAILER_SIZE]


def encode_header(keys: StoreKeys, blobs: list[BlobInfo]) -> bytes:
    parts = [bytes((HEADER_VERSION,)), u32(len(blobs))]
    for b in blobs:
        parts += [b.id, bytes((b.flags,)), u32(b.length), u32(b.raw_length)]
    return seal(keys.pack, b"".join(parts), _AAD + keys.store_id)


def header_length(trailer: bytes, pack_size: int, name: str) -> int:
    """The sealed header's length from a pack's last 8 bytes."""
    r = Reader(trailer, name)
    if len(trailer) != TRAILER_SIZE:
        raise r.damaged(_("cut short"))
    n = r.u32()
    if r.take(4) != TRAILER_MAGIC:
        raise r.damaged(_("pack trailer"))
    if not SEAL_OVERHEAD + 5 <= n <= pack_size - TRAILER_SIZE:
        raise r.damaged(_("pack header length"))
    return n


def parse_header(keys: StoreKeys, sealed: bytes, pack_size: int, name: str) -> list[PackedBlob]:
    """The blobs a pack's sealed header lists, checked against the pack's size."""
    plain = unseal(keys.pack, sealed, _AAD + keys.store_id, name=f"{name} (header)")
    r = Reader(plain, name)
    if r.u8() != HEADER_VERSION:
        raise r.damaged(_("version"))
    count = r.count(MAX_BLOBS, ENTRY_SIZE, _("number of blobs"))
    out: list[PackedBlob] = []
    offset = 0
    for _i in range(count):
        info = BlobInfo(r.take(ID_SIZE), r.u8(), r.u32(), r.u32())
        check_blob_info(info, name)
        out.append(PackedBlob(info, offset))
        offset += info.length
    r.end()
    if offset + len(sealed) + TRAILER_SIZE != pack_size:
        raise DamagedStoreError(
            _("{name} is damaged ({what}).").format(
                name=name, what=_("its size and header differ")
            ),
            name=name,
        )
    return out


def read_header(storage, keys: StoreKeys, name: str, size: int) -> list[PackedBlob]:
    """Read and check a pack's header from *storage* (one or two range reads)."""
    if size < TRAILER_SIZE + SEAL_OVERHEAD:
        raise DamagedStoreError(_("{name} is damaged (cut short).").format(name=name), name=name)
    start = max(0, size - TAIL_GUESS)
    tail = storage.get(name, start, size - start)
    if len(tail) != size - start:
        raise DamagedStoreError(_("{name} is damaged (cut short).").format(name=name), name=name)
    n = header_length(tail[-TRAILER_SIZE:], size, name)
    if n + TRAILER_SIZE <= len(tail):
        sealed = tail[-TRAILER_SIZE - n : -TRAILER_SIZE]
    else:
        sealed = storage.get(name, size - TRAILER_SIZE - n, n)
    return parse_header(keys, sealed, size, name)
