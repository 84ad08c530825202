"""The store's ``config``: what kind of store this is (public, authenticated).

Layout (FORMAT.md, "config"): magic, version, store id, creation time, how files are cut
into chunks, the pack size, (version 2) how a chunk's id is made; then an HMAC under the
store's MAC key and an unkeyed SHA-256 checksum (it tells a damaged config from a wrong
key). The config is written once, when the store is created, and never changes. Version
1 (no content id byte) means HMAC-SHA256 ids; new stores are version 2 with BLAKE3 ids.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass, field
from enum import IntEnum

from therabak.i18n import _
from therabak.store.binary import Reader, i64, u16, u32
from therabak.store.errors import DamagedStoreError
from therabak.store.keys import MAC_SIZE, STORE_ID_SIZE, ContentId, StoreKeys

NAME = "config"
MAGIC = b"TBSTORE1"
VERSION = 2  # what a new store gets; 1 is still read (and written into)
_MAC_CONTEXT = b"therabak store config v1"
CHECKSUM_SIZE = 32
SIZE_V1 = 8 + 2 + STORE_ID_SIZE + 8 + 1 + 4 + 4 + MAC_SIZE + CHECKSUM_SIZE
SIZE = SIZE_V1 + 1  # version 2: the content id

MIB = 1 << 20
DEFAULT_CHUNK_SIZE = 1 * MIB
DEFAULT_PACK_SIZE = 16 * MIB
MIN_CHUNK_SIZE = 64 << 10
MAX_CHUNK_SIZE = 16 * MIB
MIN_PACK_SIZE = 1 * MIB
MAX_PACK_SIZE = 1024 * MIB  # far below FAT32's 4 GiB; object stores like 16-64 MiB


class Chunking(IntEnum):
    FIXED = 1  # every chunk of a file is chunk_size bytes, the last one the rest


@dataclass(frozen=True)
class StoreConfig:
    store_id: bytes
    created: int  # Unix seconds
    chunking: Chunking = Chunking.FIXED
    chunk_size: int = DEFAULT_CHUNK_SIZE
    pack_size: int = DEFAULT_PACK_SIZE
    mac: bytes = field(default=b"", repr=False)
    # how chunk ids are made; None: not known (a salvage without a readable config)
    content_id: ContentId | None = ContentId.HMAC_SHA256

    @classmethod
    def new(
        cls,
        *,
        created: int,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        pack_size: int = DEFAULT_PACK_SIZE,
        content_id: ContentId = ContentId.BLAKE3,
    ) -> StoreConfig:
        config = cls(
            os.urandom(STORE_ID_SIZE),
            created,
            Chunking.FIXED,
            chunk_size,
            pack_size,
            content_id=content_id,
        )
        config.check_limits(NAME)
        return config

    @property
    def version(self) -> int:
        """1 for HMAC-SHA256 ids (the layout before the content id byte), else 2."""
        return 1 if self.content_id is ContentId.HMAC_SHA256 else 2

    def body(self) -> bytes:
        if self.content_id is None:
            raise ValueError("a config without a content id is not written")
        head = (
            MAGIC
            + u16(self.version)
            + self.store_id
            + i64(self.created)
            + bytes((int(self.chunking),))
            + u32(self.chunk_size)
            + u32(self.pack_size)
        )
        return head if self.version == 1 else head + bytes((int(self.content_id),))

    def to_bytes(self, keys: StoreKeys) -> bytes:
        body = self.body()
        signed = body + keys.mac(_MAC_CONTEXT, body)
        return signed + hashlib.sha256(signed).digest()

    def check_limits(self, name: str) -> None:
        if not MIN_CHUNK_SIZE <= self.chunk_size <= MAX_CHUNK_SIZE:
            raise DamagedStoreError(
                _("{name} is damaged ({what}).").format(name=name, what=_("chunk size")), name=name
            )
        if not max(MIN_PACK_SIZE, 2 * self.chunk_size) <= self.pack_size <= MAX_PACK_SIZE:
            raise DamagedStoreError(
                _("{name} is damaged ({what}).").format(name=name, what=_("pack size")), name=name
            )

    def verify(self, keys: StoreKeys) -> None:
        """Raise DamagedStoreError unless the MAC holds under *keys* (the right store key)."""
        if keys.store_id != self.store_id or not hmac.compare_digest(
            self.mac, keys.mac(_MAC_CONTEXT, self.body())
        ):
            raise DamagedStoreError(
                _("{name} does not belong to this store's key (damaged or replaced).").format(
                    name=NAME
                ),
                name=NAME,
            )


def parse_config(data: bytes) -> StoreConfig:
    """Parse ``config`` (untrusted bytes). The MAC is checked later by :meth:`verify`."""
    r = Reader(data, NAME)
    if len(data) not in (SIZE_V1, SIZE):
        raise r.damaged(_("size"))
    if hashlib.sha256(data[:-CHECKSUM_SIZE]).digest() != data[-CHECKSUM_SIZE:]:
        raise r.damaged(_("checksum"))
    if r.take(8) != MAGIC:
        raise r.damaged(_("not a therabak store"))
    version = r.u16()
    if version not in (1, 2):
        raise DamagedStoreError(
            _("{name} has a format version this therabak does not know; update therabak.").format(
                name=NAME
            ),
            name=NAME,
        )
    if len(data) != (SIZE_V1 if version == 1 else SIZE):
        raise r.damaged(_("size"))
    store_id = r.take(STORE_ID_SIZE)
    created = r.i64()
    try:
        chunking = Chunking(r.u8())
    except ValueError:
        raise r.damaged(_("chunking")) from None
    chunk_size, pack_size = r.u32(), r.u32()
    content_id = ContentId.HMAC_SHA256
    if version == 2:
        try:
            content_id = ContentId(r.u8())
        except ValueError:
            raise r.damaged(_("content id")) from None
        if content_id is ContentId.HMAC_SHA256:  # version 1's: a version 2 never says it
            raise r.damaged(_("content id"))
    config = StoreConfig(
        store_id=store_id,
        created=created,
        chunking=chunking,
        chunk_size=chunk_size,
        pack_size=pack_size,
        mac=r.take(MAC_SIZE),
        content_id=content_id,
    )
    r.take(CHECKSUM_SIZE)
    r.end()
    config.check_limits(NAME)
    return config
