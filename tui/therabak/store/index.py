"""Where each blob lies: index files (``index/<64 hex>``) and the index in memory.

An index file lists packs and, for each, its size and its blobs with their offsets. It
is sealed with the index key and named by the SHA-256 of its bytes. It may name index
files it **supersedes** (prune writes one new index, then deletes the old ones: a kill
between the two leaves both, which mean the same). The index is only a cache of the
packs' own headers: a lost or damaged index file is rebuilt from them.
Layout in FORMAT.md, "index/".
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass, field

from therabak.i18n import _
from therabak.store.binary import Reader, u16, u32
from therabak.store.blob import ID_SIZE, BlobInfo, check_blob_info
from therabak.store.config import MAX_PACK_SIZE
from therabak.store.errors import DamagedStoreError
from therabak.store.keys import StoreKeys, seal, unseal
from therabak.store.pack import MAX_BLOBS, TRAILER_SIZE, PackedBlob

PREFIX = "index/"
VERSION = 1
MAX_SUPERSEDED = 65535
MAX_PACKS = 1 << 24
_PACK_SIZE = 32 + 8 + 4
_PACK_RECORD = struct.Struct(">32sQI")  # pack id, size, number of blobs
_BLOB_RECORD = struct.Struct(f">{ID_SIZE}sBIII")  # id, flags, offset, length, raw length
_BLOB_SIZE = _BLOB_RECORD.size
_AAD = b"therabak store index v1"
_NAME_RE = re.compile(r"index/([0-9a-f]{64})")
#: an index file lists at most this many blobs (a store with more writes several)
BLOBS_PER_FILE = 200_000


def index_name(index_id: str) -> str:
    return f"{PREFIX}{index_id}"


def index_id_of(name: str) -> str | None:
    m = _NAME_RE.fullmatch(name)
    return m.group(1) if m else None


@dataclass
class PackRecord:
    """A pack as the index knows it."""

    size: int
    blobs: list[PackedBlob]


@dataclass
class IndexFile:
    packs: dict[str, PackRecord]
    supersedes: tuple[str, ...] = ()

    def to_bytes(self, keys: StoreKeys) -> bytes:
        head = [bytes((VERSION,)), u16(len(self.supersedes))]
        head += [bytes.fromhex(i) for i in self.supersedes]
        head.append(u32(len(self.packs)))
        start = sum(map(len, head))
        size = start + sum(
            _PACK_SIZE + _BLOB_SIZE * len(record.blobs) for record in self.packs.values()
        )
        # written in place: no object per blob (100,000 blobs were half a million parts)
        out = bytearray(size)
        out[:start] = b"".join(head)
        pos = start
        pack_into = _BLOB_RECORD.pack_into
        for pack_id, record in self.packs.items():
            _PACK_RECORD.pack_into(out, pos, bytes.fromhex(pack_id), record.size, len(record.blobs))
            pos += _PACK_SIZE
            for b in record.blobs:
                i = b.info
                pack_into(out, pos, i.id, i.flags, b.offset, i.length, i.raw_length)
                pos += _BLOB_SIZE
        return seal(keys.index, out, _AAD + keys.store_id)


def encode_index(keys: StoreKeys, index_file: IndexFile) -> tuple[str, bytes]:
    """(name, bytes) of an index file."""
    data = index_file.to_bytes(keys)
    return index_name(hashlib.sha256(data).hexdigest()), data


def parse_index(keys: StoreKeys, data: bytes, name: str) -> IndexFile:
    """Open and check an index file (untrusted bytes): its name is its hash, it
    authenticates, and every pack's blobs lie inside the pack, in order, without overlap."""
    if index_id_of(name) != hashlib.sha256(data).hexdigest():
        raise DamagedStoreError(
            _("{name} is damaged ({what}).").format(name=name, what=_("its name is not its hash")),
            name=name,
        )
    plain = unseal(keys.index, data, _AAD + keys.store_id, name=name)
    r = Reader(plain, name)
    if r.u8() != VERSION:
        raise r.damaged(_("version"))
    m = r.u16()
    supersedes = tuple(r.take(32).hex() for _i in range(m))
    count = r.count(MAX_PACKS, _PACK_SIZE, _("number of packs"))
    packs: dict[str, PackRecord] = {}
    for _i in range(count):
        pack_id = r.take(32).hex()
        size = r.u64()
        if size > 2 * MAX_PACK_SIZE or pack_id in packs:
            raise r.damaged(_("a pack's entry"))
        n = r.count(MAX_BLOBS, _BLOB_SIZE, _("number of blobs"))
        blobs = _blobs_of(r.take(n * _BLOB_SIZE), size, r)
        packs[pack_id] = PackRecord(size, blobs)
    r.end()
    return IndexFile(packs, supersedes)


def _blobs_of(records: bytes, pack_size: int, r: Reader) -> list[PackedBlob]:
    """One pack's blob records (untrusted): each blob's description keeps the limits, and
    the blobs lie inside the pack, in order, without overlap. One unpack per record."""
    out: list[PackedBlob] = []
    append = out.append
    end = 0
    limit = pack_size - TRAILER_SIZE
    for blob_id, flags, offset, length, raw_length in _BLOB_RECORD.iter_unpack(records):
        info = BlobInfo(blob_id, flags, length, raw_length)
        check_blob_info(info, r.name)
        if offset < end or offset + length > limit:
            raise r.damaged(_("a blob's place"))
        end = offset + length
        append(PackedBlob(info, offset))
    return out


@dataclass(frozen=True, slots=True)
class Location:
    pack_id: str
    blob: PackedBlob

    @property
    def info(self) -> BlobInfo:
        return self.blob.info


@dataclass
class BlobIndex:
    """Every blob the store holds and where (a blob may lie in several packs: after an
    interrupted prune, or when two backups wrote the same chunk). Not thread-safe on its
    own: the backup writer guards its changes."""

    packs: dict[str, PackRecord] = field(default_factory=dict)
    _where: dict[bytes, Location | list[Location]] = field(default_factory=dict, repr=False)

    def add_pack(self, pack_id: str, record: PackRecord) -> None:
        if pack_id in self.packs:
            return
        self.packs[pack_id] = record
        where = self._where
        for b in record.blobs:
            loc = Location(pack_id, b)
            have = where.get(b.info.id)
            if have is None:
                where[b.info.id] = loc
            elif isinstance(have, list):
                have.append(loc)
            else:
                where[b.info.id] = [have, loc]

    def remove_pack(self, pack_id: str) -> None:
        record = self.packs.pop(pack_id, None)
        if record is None:
            return
        for b in record.blobs:
            have = self._where.get(b.info.id)
            if isinstance(have, list):
                rest = [loc for loc in have if loc.pack_id != pack_id]
                if len(rest) == 1:
                    self._where[b.info.id] = rest[0]
                elif rest:
                    self._where[b.info.id] = rest
                else:
                    del self._where[b.info.id]
            elif have is not None and have.pack_id == pack_id:
                del self._where[b.info.id]

    def __contains__(self, blob_id: bytes) -> bool:
        return blob_id in self._where

    def __len__(self) -> int:
        return len(self._where)

    def holds_all(self, blob_ids: Iterable[bytes], pending: Container[bytes] = ()) -> bool:
        """Does the index (or *pending*) hold every one of *blob_ids*? (A plain loop: this
        runs for every unchanged file of every backup.)"""
        where = self._where
        for blob_id in blob_ids:  # noqa: SIM110 (no generator per file)
            if blob_id not in where and blob_id not in pending:
                return False
        return True

    def locate(self, blob_id: bytes) -> list[Location]:
        have = self._where.get(blob_id)
        if have is None:
            return []
        return list(have) if isinstance(have, list) else [have]

    def blob_ids(self) -> Iterator[bytes]:
        return iter(self._where)

    def raw_length(self, blob_id: bytes) -> int | None:
        locs = self.locate(blob_id)
        return locs[0].info.raw_length if locs else None

    def files_for(self, pack_ids: Iterable[str]) -> list[IndexFile]:
        """Index files that list *pack_ids* (at most BLOBS_PER_FILE blobs each)."""
        out: list[IndexFile] = []
        current: dict[str, PackRecord] = {}
        count = 0
        for pack_id in pack_ids:
            record = self.packs[pack_id]
            if current and count + len(record.blobs) > BLOBS_PER_FILE:
                out.append(IndexFile(current))
                current, count = {}, 0
            current[pack_id] = record
            count += len(record.blobs)
        if current:
            out.append(IndexFile(current))
        return out
