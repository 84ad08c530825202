"""The store's index as it is read: the index files (damaged ones reported and stood in
for), completed from the headers of packs no index file names (adopted), without the
packs that are gone (remembered, to say where a lost blob was); and the index rebuilt
from every pack's own header. :class:`~therabak.store.core.Store` keeps what this
returns. The bytes are in FORMAT.md beside this file.
"""

from __future__ import annotations

from dataclasses import dataclass

from therabak.i18n import _
from therabak.storage.base import ObjectNotFoundError, Storage, StorageError
from therabak.store.errors import DamagedStoreError
from therabak.store.index import PREFIX as INDEX_PREFIX
from therabak.store.index import BlobIndex, PackRecord, index_id_of, parse_index
from therabak.store.keys import StoreKeys
from therabak.store.pack import PREFIX as PACKS_PREFIX
from therabak.store.pack import pack_id_of, pack_name, read_header
from therabak.store.problems import Problem, Severity


@dataclass(frozen=True)
class LoadedIndex:
    """The index and what reading it found."""

    index: BlobIndex
    problems: list[Problem]
    files: list[str]  # names of the index files read (or unreadable)
    superseded: set[str]  # index files a newer one replaces
    unindexed: set[str]  # packs no index file names (adopted from headers)
    missing_packs: dict[str, PackRecord]  # named by an index, not in the storage


def list_packs(storage: Storage) -> dict[str, int]:
    """Every pack in *storage*: its id and size."""
    packs: dict[str, int] = {}
    for obj in storage.list(PACKS_PREFIX):
        pack_id = pack_id_of(obj.name)
        if pack_id is not None:
            packs[pack_id] = obj.size
    return packs


def load_index(storage: Storage, keys: StoreKeys) -> LoadedIndex:
    """Where every blob lies: the index files, completed from the headers of packs no
    index names (left by an interrupted backup: adopted) and without packs that are gone."""
    problems: list[Problem] = []
    listed = list_packs(storage)
    index = BlobIndex()
    files: list[str] = []
    superseded: set[str] = set()
    missing: dict[str, PackRecord] = {}
    for obj in sorted(storage.list(INDEX_PREFIX), key=lambda o: o.name):
        if index_id_of(obj.name) is None:
            problems.append(
                Problem(Severity.WARNING, obj.name, _("An object that is not an index file."))
            )
            continue
        files.append(obj.name)
        try:
            parsed = parse_index(keys, storage.get(obj.name), obj.name)
        except (DamagedStoreError, ObjectNotFoundError) as e:
            problems.append(
                Problem(
                    Severity.WARNING,
                    obj.name,
                    _("{message} The packs' own headers stand in for it.").format(
                        message=getattr(e, "message", str(e))
                    ),
                )
            )
            continue
        superseded.update(f"{INDEX_PREFIX}{i}" for i in parsed.supersedes)
        for pack_id, record in parsed.packs.items():
            size = listed.get(pack_id)
            if size is None:
                missing.setdefault(pack_id, record)
                continue
            if size != record.size:
                problems.append(
                    Problem(
                        Severity.WARNING,
                        pack_name(pack_id),
                        _("The pack's size differs from what the index says."),
                    )
                )
            index.add_pack(pack_id, record)
    unindexed = set(listed) - set(index.packs)
    adopted = set()
    for pack_id in sorted(unindexed):
        name = pack_name(pack_id)
        try:
            blobs = read_header(storage, keys, name, listed[pack_id])
        except (DamagedStoreError, ObjectNotFoundError) as e:
            problems.append(
                Problem(
                    Severity.WARNING,
                    name,
                    _("A pack no index names, and its header cannot be read: {message}").format(
                        message=getattr(e, "message", str(e))
                    ),
                )
            )
            continue
        index.add_pack(pack_id, PackRecord(listed[pack_id], blobs))
        adopted.add(pack_id)
    return LoadedIndex(
        index=index,
        problems=problems,
        files=files,
        superseded=superseded & set(files),
        unindexed=adopted,
        missing_packs={p: r for p, r in missing.items() if p not in index.packs},
    )


def index_from_headers(storage: Storage, keys: StoreKeys) -> BlobIndex:
    """The index rebuilt from every pack's own header (packs whose header cannot be read
    are left out)."""
    index = BlobIndex()
    for pack_id, size in list_packs(storage).items():
        try:
            blobs = read_header(storage, keys, pack_name(pack_id), size)
        except (DamagedStoreError, ObjectNotFoundError, StorageError):
            continue
        index.add_pack(pack_id, PackRecord(size, blobs))
    return index


__all__ = ["LoadedIndex", "index_from_headers", "list_packs", "load_index"]
