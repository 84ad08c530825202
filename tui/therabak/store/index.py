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
from typing import Any

from therabak.i18n import _
from therabak.store.binary import Reader, u16, u32
from therabak.store.blob import ID_SIZE, BlobInfo, blob_info_damaged, blob_info_ok
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


class PackRecord:
    """A pack as the index knows it: its size and its blobs, kept as the index file's
    records (id, flags, offset, sealed and plaintext length: 45 bytes each), one bytes
    object per pack. An object per blob (its description, its place, its location) took
    ~400 bytes per blob: 45 MB for a practice of 100,000 files, at the peak of every
    backup. :attr:`blobs` makes them when asked for."""

    __slots__ = ("records", "size")

    def __init__(self, size: int, blobs: Iterable[PackedBlob] | bytes = ()) -> None:
        self.size = size
        if isinstance(blobs, bytes):
            self.records = blobs
        else:
            pack = _BLOB_RECORD.pack
            self.records = b"".join(
                pack(b.info.id, b.info.flags, b.offset, b.info.length, b.info.raw_length)
                for b in blobs
            )

    @property
    def count(self) -> int:
        return len(self.records) // _BLOB_SIZE

    @property
    def blobs(self) -> list[PackedBlob]:
        return [
            PackedBlob(BlobInfo(blob_id, flags, length, raw_length), offset)
            for blob_id, flags, offset, length, raw_length in _BLOB_RECORD.iter_unpack(self.records)
        ]

    def blob_at(self, n: int) -> PackedBlob:
        blob_id, flags, offset, length, raw_length = _BLOB_RECORD.unpack_from(
            self.records, n * _BLOB_SIZE
        )
        return PackedBlob(BlobInfo(blob_id, flags, length, raw_length), offset)

    def ids(self) -> list[bytes]:
        records = self.records
        return [records[i : i + ID_SIZE] for i in range(0, len(records), _BLOB_SIZE)]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PackRecord):
            return NotImplemented
        return self.size == other.size and self.records == other.records

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PackRecord(size={self.size}, blobs={self.count})"


@dataclass
class IndexFile:
    packs: dict[str, PackRecord]
    supersedes: tuple[str, ...] = ()

    def to_bytes(self, keys: StoreKeys) -> bytes:
        head = [bytes((VERSION,)), u16(len(self.supersedes))]
        head += [bytes.fromhex(i) for i in self.supersedes]
        head.append(u32(len(self.packs)))
        start = sum(map(len, head))
        size = start + sum(_PACK_SIZE + len(record.records) for record in self.packs.values())
        # written in place: no object per blob (100,000 blobs were half a million parts)
        out = bytearray(size)
        out[:start] = b"".join(head)
        pos = start
        for pack_id, record in self.packs.items():
            _PACK_RECORD.pack_into(out, pos, bytes.fromhex(pack_id), record.size, record.count)
            pos += _PACK_SIZE
            out[pos : pos + len(record.records)] = record.records
            pos += len(record.records)
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


def _blobs_of(records: bytes, pack_size: int, r: Reader) -> bytes:
    """One pack's blob records (untrusted), checked: each blob's description keeps the
    limits, and the blobs lie inside the pack, in order, without overlap. One unpack
    per record; the records are kept as they are (:class:`PackRecord`)."""
    end = 0
    limit = pack_size - TRAILER_SIZE
    for _blob_id, flags, offset, length, raw_length in _BLOB_RECORD.iter_unpack(records):
        if not blob_info_ok(flags, length, raw_length):  # (the id is ID_SIZE bytes here)
            raise blob_info_damaged(r.name)
        if offset < end or offset + length > limit:
            raise r.damaged(_("a blob's place"))
        end = offset + length
    return records


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
    own: the backup writer guards its changes.

    A blob's place is one int (the pack's slot << 32 | its number in the pack), a
    :class:`Location` is made when asked for (:meth:`locate`)."""

    packs: dict[str, PackRecord] = field(default_factory=dict)
    _where: dict[bytes, int | list[int]] = field(default_factory=dict, repr=False)
    _slots: list[str | None] = field(default_factory=list, repr=False)  # pack ids
    _slot_of: dict[str, int] = field(default_factory=dict, repr=False)

    def add_pack(
        self, pack_id: str, record: PackRecord, ids: Iterable[bytes] | None = None
    ) -> None:
        """*ids*: the record's blob ids, in order, as objects the caller holds anyway
        (a backup's file entries): the index keeps those, not copies."""
        if pack_id in self.packs:
            return
        self.packs[pack_id] = record
        slot = len(self._slots)
        self._slots.append(pack_id)
        self._slot_of[pack_id] = slot
        base = slot << 32
        where = self._where
        for n, blob_id in enumerate(record.ids() if ids is None else ids):
            place = base | n
            have = where.get(blob_id)
            if have is None:
                where[blob_id] = place
            elif isinstance(have, list):
                have.append(place)
            else:
                where[blob_id] = [have, place]

    def remove_pack(self, pack_id: str) -> None:
        record = self.packs.pop(pack_id, None)
        if record is None:
            return
        slot = self._slot_of.pop(pack_id)
        self._slots[slot] = None
        where = self._where
        for blob_id in record.ids():
            have = where.get(blob_id)
            if isinstance(have, list):
                rest = [place for place in have if place >> 32 != slot]
                if len(rest) == 1:
                    where[blob_id] = rest[0]
                elif rest:
                    where[blob_id] = rest
                else:
                    del where[blob_id]
            elif have is not None and have >> 32 == slot:
                del where[blob_id]

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

    def share_ids(self, blob_ids: Iterable[bytes]) -> None:
        """Keep these objects as the index's own ids of the blobs it holds: equal bytes
        the caller holds anyway (a parent snapshot's content references), so that each
        id is in memory once, not twice (for 113,000 files 7 MB less during a backup).
        What the index holds and where does not change. The index's dict is built anew
        (popping each key and putting it back doubled the dict's table: 5 MB more for
        113,000 blobs)."""
        where = self._where
        shared: dict[bytes, int | list[int]] = {}
        for blob_id in blob_ids:
            have = where.get(blob_id)
            if have is not None:
                shared[blob_id] = have
        if not shared:
            return
        keep = shared.setdefault
        for blob_id, have in where.items():  # the rest, with their own ids
            keep(blob_id, have)
        self._where = shared

    def missing(self, blob_ids: set[bytes]) -> set[bytes]:
        """The ones of *blob_ids* the index does not hold (one set operation)."""
        return blob_ids.difference(self._where)

    def missing_of(self, entries: Iterable[Any]) -> set[bytes]:
        """The blobs of *entries* (a snapshot's) that the index does not hold, looked up
        one by one (not a set of every blob first: for 113,000 files 8 MB, and 20 MB
        more RSS at the start of every backup)."""
        where = self._where
        missing: set[bytes] = set()
        for e in entries:
            refs = e.refs
            if len(refs) == ID_SIZE:
                if refs not in where:
                    missing.add(refs)
            else:
                missing.update(b for b in e.blobs if b not in where)
        return missing

    def locate(self, blob_id: bytes) -> list[Location]:
        have = self._where.get(blob_id)
        if have is None:
            return []
        out = []
        for place in have if isinstance(have, list) else (have,):
            pack_id = self._slots[place >> 32]
            assert pack_id is not None
            out.append(Location(pack_id, self.packs[pack_id].blob_at(place & 0xFFFFFFFF)))
        return out

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
            if current and count + record.count > BLOBS_PER_FILE:
                out.append(IndexFile(current))
                current, count = {}, 0
            current[pack_id] = record
            count += record.count
        if current:
            out.append(IndexFile(current))
        return out
