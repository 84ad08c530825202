"""What anyone with a backup store can read, no password needed: its key files, the
public facts (:func:`peek`: id, protection, account key ids) and the snapshots' public
headers (:class:`SnapshotInfo`). Listing restore points uses only this; the unlocked
store is :class:`therabak.store.core.Store`. The bytes are in FORMAT.md beside this file.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from therabak.i18n import _
from therabak.storage.base import ObjectNotFoundError, Storage
from therabak.store import config as config_mod
from therabak.store.config import parse_config
from therabak.store.errors import DamagedStoreError, NotAStoreError
from therabak.store.index import PREFIX as INDEX_PREFIX
from therabak.store.keyfile import PREFIX as KEYS_PREFIX
from therabak.store.keyfile import KeyFile, current_keyfiles, keyfile_id, parse_keyfile
from therabak.store.pack import PREFIX as PACKS_PREFIX
from therabak.store.problems import Problem, Severity
from therabak.store.snapshot import PREFIX as SNAPSHOTS_PREFIX
from therabak.store.snapshot import SnapshotHeader, parse_header, snapshot_id_of

#: Bytes read at first from a snapshot for its public header (it is at most ~4.2 KiB).
_HEADER_READ = 8192
#: Bytes per read when a store's objects are read ahead into the system's cache (warm).
_WARM_PIECE = 1 << 20
#: Prefixes of the shortest snapshot id a user may type.
MIN_ID_PREFIX = 8


@dataclass(frozen=True)
class SnapshotInfo:
    """A snapshot as listing shows it: its id and public header (no password needed)."""

    snapshot_id: str
    header: SnapshotHeader
    stored_size: int  # bytes of the snapshot object

    @property
    def created(self) -> datetime:
        return self.header.created

    @property
    def short_id(self) -> str:
        return self.snapshot_id[:MIN_ID_PREFIX]


@dataclass
class PublicFacts:
    """What anyone with the store can read: no password needed."""

    store_id: bytes
    created: int
    protection: tuple[str, ...]  # slot types of the current key files ("password", ...)
    account_key_ids: tuple[str, ...]
    snapshots: list[SnapshotInfo] = field(default_factory=list)
    # snapshots whose public header cannot be read (damaged, another store's, ...)
    problems: list[Problem] = field(default_factory=list)


def read_keyfiles(storage: Storage) -> tuple[list[KeyFile], list[Problem]]:
    found, problems = [], []
    for obj in sorted(storage.list(KEYS_PREFIX), key=lambda o: o.name):
        if keyfile_id(obj.name) is None:
            problems.append(
                Problem(Severity.WARNING, obj.name, _("An object that is not a key file."))
            )
            continue
        try:
            data = storage.get(obj.name)
        except ObjectNotFoundError:
            continue
        try:
            found.append(parse_keyfile(data, obj.name))
        except DamagedStoreError as e:
            problems.append(Problem(Severity.WARNING, obj.name, e.message))
            try:  # a slot in it may still be whole: tried, confirmed by the config
                found.append(parse_keyfile(data, obj.name, lenient=True))
            except DamagedStoreError:
                pass
    return found, problems


def store_exists(storage: Storage) -> bool:
    for prefix in (PACKS_PREFIX, SNAPSHOTS_PREFIX, INDEX_PREFIX):
        for _obj in storage.list(prefix):
            return True
    return False


def peek(storage: Storage) -> PublicFacts:
    """The public facts of the store in *storage* (no key needed): for listing."""
    try:
        cfg = parse_config(storage.get(config_mod.NAME))
    except ObjectNotFoundError:
        raise NotAStoreError(
            _("There is no backup store in {place}.").format(place=storage.location)
        ) from None
    keyfiles, _problems = read_keyfiles(storage)
    current, _old = current_keyfiles(keyfiles)
    slots = [s for kf in current if kf.store_id == cfg.store_id for s in kf.slots]
    facts = PublicFacts(
        store_id=cfg.store_id,
        created=cfg.created,
        protection=tuple(sorted({s.type.label for s in slots})),
        account_key_ids=tuple(sorted({s.key_id.hex() for s in slots if s.key_id})),
    )
    facts.snapshots = list_snapshots(storage, cfg.store_id, facts.problems)
    return facts


def warm(storage: Storage, stop: Callable[[], bool]) -> None:
    """Read what opening a store for a backup reads first once, and forget it: the list
    of packs, each snapshot's public header, the newest snapshot and the index files.
    Run on a thread while the key is derived (Argon2id: CPU, not the disk), it has the
    system cache them, so the reads that count find them there (a USB stick answers
    each cold read late). Reads only (in pieces of 1 MiB), nothing is kept or trusted;
    any error is left for the real reads to meet. *stop* is asked between reads."""
    with contextlib.suppress(Exception):
        for _obj in storage.list(PACKS_PREFIX):
            if stop():
                return
        newest: tuple[datetime, str, int] | None = None
        for obj in storage.list(SNAPSHOTS_PREFIX):
            if stop():
                return
            with contextlib.suppress(DamagedStoreError):
                header, _start = parse_header(storage.get(obj.name, 0, _HEADER_READ), obj.name)
                if newest is None or header.created > newest[0]:
                    newest = (header.created, obj.name, obj.size)
        index = [(o.name, o.size) for o in storage.list(INDEX_PREFIX)]
        for name, size in ([newest[1:]] if newest else []) + index:
            for offset in range(0, size, _WARM_PIECE):
                if stop():
                    return
                storage.get(name, offset, _WARM_PIECE)


def list_snapshots(
    storage: Storage, store_id: bytes, problems: list[Problem]
) -> list[SnapshotInfo]:
    out = []
    for obj in storage.list(SNAPSHOTS_PREFIX):
        snapshot_id = snapshot_id_of(obj.name)
        if snapshot_id is None:
            problems.append(
                Problem(Severity.WARNING, obj.name, _("An object that is not a snapshot."))
            )
            continue
        try:
            head = storage.get(obj.name, 0, _HEADER_READ)
            header, _start = parse_header(head, obj.name)
        except DamagedStoreError as e:
            problems.append(Problem(Severity.ERROR, obj.name, e.message))
            continue
        except ObjectNotFoundError:
            continue
        if header.store_id != store_id:
            problems.append(Problem(Severity.ERROR, obj.name, _("A snapshot of another store.")))
            continue
        out.append(SnapshotInfo(snapshot_id, header, obj.size))
    out.sort(key=lambda s: (s.header.created, s.snapshot_id))
    return out
