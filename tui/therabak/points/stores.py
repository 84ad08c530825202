"""Backup stores as restore points: finding a store, its snapshots from their public
headers (no password), the point reference ``STORE@ID``, and opening a store to read one.

**Where a store is**: a folder holding a store's ``config`` (the store folder itself, as
``--in`` or a remembered destination may name it), or the ``TheraPsy-Backups`` folder
inside a folder that is searched. A folder of another name counts only when its
``config`` starts with the store's magic (a folder that happens to hold a file called
``config`` is not a store); a ``TheraPsy-Backups`` folder with parts of a store counts
even when its config is damaged, and is then listed as unreadable.

**The point reference** names one snapshot on any command line: the store (its folder,
or the folder that holds ``TheraPsy-Backups``), ``@``, and the snapshot's id or at least
8 of its first hex digits (``E:\\TheraPsy-Backups@3f2a9c1b``; ``@latest`` is the newest
snapshot). ``@`` and not ``:`` because Windows paths hold ``:``; the id is what follows
the last ``@``, so a folder with ``@`` in its name still works. A path that exists as
given is always that path, never a reference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from therabak.errors import DamagedArchiveError, UsageError
from therabak.i18n import _
from therabak.storage.local import LocalStorage
from therabak.store import config as config_mod
from therabak.store.core import Store
from therabak.store.errors import DamagedStoreError, NotAStoreError
from therabak.store.keyfile import Unlock
from therabak.store.place import STORE_FOLDER
from therabak.store.public import MIN_ID_PREFIX, SnapshotInfo, peek
from therabak.store.snapshot import PREFIX as SNAPSHOTS_PREFIX
from therabak.store.snapshot import Snapshot, SnapshotEntry, snapshot_id_of

LATEST = "latest"
_REF = re.compile(r"^(?P<store>.+)@(?P<id>[0-9A-Fa-f]{8,64}|latest)$")
_MAGIC = config_mod.MAGIC
#: parts every store has besides its config (a damaged store is still recognised by them)
_PARTS = ("keys", "snapshots", "packs")


@dataclass(frozen=True)
class StoreRef:
    """A store and, when given, which snapshot (a hex prefix of 8+ digits, or "latest")."""

    folder: Path  # the store's own folder (the one holding ``config``)
    snapshot: str | None = None

    def __str__(self) -> str:
        return f"{self.folder}@{self.snapshot}" if self.snapshot else str(self.folder)


def point_ref(folder: Path | str, snapshot_id: str) -> str:
    """The reference of one snapshot, as ``list --json`` gives it (``ref``)."""
    return f"{folder}@{snapshot_id}"


def _has_magic(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(_MAGIC)) == _MAGIC
    except OSError:
        return False


def is_store_folder(folder: Path) -> bool:
    """Does *folder* hold a backup store (see the module's docstring)?"""
    if _has_magic(folder / config_mod.NAME):
        return True
    if folder.name.casefold() != STORE_FOLDER.casefold():
        return False
    try:
        return (folder / config_mod.NAME).is_file() or any(
            (folder / part).is_dir() for part in _PARTS
        )
    except OSError:
        return False


def store_folder_of(path: Path) -> Path | None:
    """The store *path* names: the folder itself, or its ``TheraPsy-Backups``; None if
    neither is a store."""
    if is_store_folder(path):
        return path
    inner = path / STORE_FOLDER
    if inner.is_dir() and is_store_folder(inner):
        return inner
    return None


def parse_ref(text: str | Path) -> StoreRef | None:
    """The store reference *text* is, or None when it is something else (an archive, a
    folder backup, a path that exists as given)."""
    text = str(text)
    path = Path(text)
    if path.exists():
        if path.is_dir():
            folder = store_folder_of(path)
            return StoreRef(folder) if folder is not None else None
        return None
    m = _REF.match(text)
    if m is None:
        return None
    store = Path(m.group("store"))
    folder = store_folder_of(store) if store.is_dir() else None
    if folder is None:
        raise UsageError(
            _("There is no backup store in {place} (the part before @{id}).").format(
                place=store, id=m.group("id")
            )
        )
    return StoreRef(folder, m.group("id").lower())


# ---- listing (public facts only) -----------------------------------------------------------


@dataclass
class StoreSnapshot:
    """One snapshot as listing shows it."""

    info: SnapshotInfo
    short_id: str  # the shortest prefix (8+ hex digits) no other snapshot of the store shares

    @property
    def snapshot_id(self) -> str:
        return self.info.snapshot_id


@dataclass
class StoreListing:
    """What anyone with the store can read: how it is protected, its snapshots."""

    folder: Path
    protection: str = ""  # password | account | none (the strongest slot type)
    recovery_code: bool = False
    account_key_ids: list[str] = field(default_factory=list)
    snapshots: list[StoreSnapshot] = field(default_factory=list)
    # snapshots whose header cannot be read: (snapshot id or object name, why)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    error: str = ""  # the store itself cannot be read (damaged config ...)


def _protection(labels: tuple[str, ...]) -> str:
    for label in ("password", "account", "none", "recovery"):
        if label in labels:
            return label
    return "none"


def short_ids(ids: list[str]) -> dict[str, str]:
    """For each id, its shortest prefix of at least 8 digits that no other id shares."""
    ordered = sorted(ids)
    out = {}
    for i, sid in enumerate(ordered):
        n = MIN_ID_PREFIX
        for other in (ordered[i - 1] if i else "", ordered[i + 1] if i + 1 < len(ordered) else ""):
            common = 0
            while common < min(len(sid), len(other)) and sid[common] == other[common]:
                common += 1
            n = max(n, common + 1)
        out[sid] = sid[: min(n, len(sid))]
    return out


def list_store(folder: Path) -> StoreListing:
    """The public facts of the store in *folder*: reads its config, key files and the
    header of each snapshot (never a password, never content)."""
    listing = StoreListing(folder)
    try:
        facts = peek(LocalStorage(folder))
    except (DamagedStoreError, NotAStoreError) as e:
        listing.error = e.message
        return listing
    except OSError as e:
        listing.error = _("cannot be read ({error})").format(error=e.strerror or e)
        return listing
    listing.protection = _protection(facts.protection)
    listing.recovery_code = "recovery" in facts.protection
    listing.account_key_ids = list(facts.account_key_ids)
    shorts = short_ids([s.snapshot_id for s in facts.snapshots])
    listing.snapshots = [StoreSnapshot(s, shorts[s.snapshot_id]) for s in facts.snapshots]
    for problem in facts.problems:
        sid = snapshot_id_of(problem.name)
        if sid is not None:
            listing.unreadable.append((sid, problem.message))
    return listing


def resolve(ref: StoreRef, listing: StoreListing) -> str:
    """The full snapshot id *ref* names (from the store's listing, so a snapshot whose
    header is damaged is found too). UsageError when none or several match."""
    if ref.snapshot is None:
        raise UsageError(
            _(
                "Name a snapshot of the store: {store}@ID (therabak list --in {store} shows them)."
            ).format(store=ref.folder)
        )
    if ref.snapshot == LATEST:
        if not listing.snapshots:
            raise UsageError(_("The store {store} holds no backup.").format(store=ref.folder))
        return listing.snapshots[-1].snapshot_id
    ids = [s.snapshot_id for s in listing.snapshots] + [sid for sid, _why in listing.unreadable]
    matches = sorted({sid for sid in ids if sid.startswith(ref.snapshot)})
    if not matches:
        matches = _listed(ref)  # a snapshot whose header could not even be listed
    if not matches:
        raise UsageError(
            _("No snapshot {ref} in the store {store}.").format(ref=ref.snapshot, store=ref.folder)
        )
    if len(matches) > 1:
        raise UsageError(
            _("{ref} names more than one snapshot of {store}; give more digits.").format(
                ref=ref.snapshot, store=ref.folder
            )
        )
    return matches[0]


def _listed(ref: StoreRef) -> list[str]:
    assert ref.snapshot is not None
    storage = LocalStorage(ref.folder)
    prefix = SNAPSHOTS_PREFIX + ref.snapshot[:2]
    try:
        return sorted(
            sid
            for obj in storage.list(prefix)
            if (sid := snapshot_id_of(obj.name)) and sid.startswith(ref.snapshot)
        )
    except OSError:
        return []


# ---- reading one snapshot ---------------------------------------------------------------------


def open_store(folder: Path, unlock: Unlock, *, salvage: bool = False) -> Store:
    """Open (unlock) the store in *folder*."""
    return Store.open(LocalStorage(folder), unlock, salvage=salvage)


def load_snapshot(store: Store, snapshot_id: str, *, salvage: bool = False) -> Snapshot:
    """The snapshot, checked; a damaged one raises DamagedArchiveError (exit 5) saying the
    point is lost (its file list is gone; other points are not affected)."""
    try:
        return store.load_snapshot(snapshot_id, salvage=salvage)
    except DamagedStoreError as e:
        raise DamagedArchiveError(
            _(
                "This backup (snapshot {id}) is damaged: {error}. Its list of files is lost; "
                "the other backups of the store are not affected."
            ).format(id=snapshot_id[:MIN_ID_PREFIX], error=e.message)
        ) from None


def read_order(store: Store, entries: list[SnapshotEntry]) -> list[SnapshotEntry]:
    """*entries* in the order their content lies in the packs (pack, then offset of the
    first chunk), so a verify or a restore reads each pack front to back instead of
    jumping between them; empty files and content the index does not know come first."""
    index = store.index()

    def where(e: SnapshotEntry) -> tuple[str, int, str]:
        if not e.blobs:
            return ("", -1, e.path)
        locs = index.locate(e.blobs[0])
        if not locs:
            return ("", -1, e.path)
        return (locs[0].pack_id, locs[0].blob.offset, e.path)

    return sorted(entries, key=where)
