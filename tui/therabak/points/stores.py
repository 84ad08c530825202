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

**Off-site**: a store's place may also be a URL (``s3://bkt/praxis@latest``,
``sftp://user@host/backups@3f2a9c1b``: the id is still what follows the last ``@``) or
the name of a destination (``nas@3f2a9c1b``); it is reached through the destination's
storage (credentials, host keys, the local copy of snapshots and index:
:func:`therabak.destinations.store_storage`) and named by its URL without credentials.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from therabak.errors import DamagedArchiveError, UsageError
from therabak.i18n import _
from therabak.storage.base import Storage
from therabak.storage.local import LocalStorage
from therabak.storage.url import is_url
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

    #: the store's own place: the folder holding ``config``, or its URL (off-site)
    place: str
    snapshot: str | None = None

    @property
    def remote(self) -> bool:
        return is_url(self.place)

    @property
    def folder(self) -> Path | str:
        """The store's folder (a Path), or its URL off-site."""
        return self.place if self.remote else Path(self.place)

    def __str__(self) -> str:
        return f"{self.place}@{self.snapshot}" if self.snapshot else self.place


def place_storage(place: Path | str) -> Storage:
    """The storage of the store at *place*: its folder, or off-site its URL (or the
    destination's, whose TheraPsy-Backups holds it) through the destination's storage."""
    if isinstance(place, Path) or not is_url(place):
        return LocalStorage(Path(place))
    from therabak.destinations import resolve, store_storage

    return store_storage(resolve(place))


def named_place(text: str) -> str:
    """The place *text* means: a destination's folder or URL when *text* names one (and
    is not a path that exists), else *text* itself."""
    if is_url(text) or Path(text).exists():
        return text
    from therabak.destinations import find
    from therabak.settings import Settings

    try:
        dest = find(Settings.load(), text)
    except UsageError:
        return text
    return dest.where if dest is not None else text


def named_text(text: str | Path) -> Path | str:
    """A point as named on a command line: text when it is an off-site place or a
    destination's name (with or without ``@ID``; a URL is no path), else a Path."""
    if isinstance(text, Path):
        return text
    m = _REF.match(text)
    given = m.group("store") if m else text
    return text if named_place(given) != given or is_url(given) else Path(text)


def off_site_store(text: str) -> str:
    """The URL of the store at the off-site place *text* (its own URL, or the one of the
    TheraPsy-Backups in it): one small request; UsageError when it holds no store, the
    storage's own errors (credentials, a missing bucket, an unknown host key) as they
    are."""
    with place_storage(text) as storage:
        if storage.size(config_mod.NAME) is None:
            raise UsageError(
                _("There is no backup store in {place}.").format(place=storage.location)
            )
        return storage.location


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
    m = _REF.match(text)
    given = m.group("store") if m else text
    place = named_place(given)
    if is_url(place):
        return StoreRef(off_site_store(place), m.group("id").lower() if m else None)
    if place != given:  # a local destination's name
        text = f"{place}@{m.group('id')}" if m else place
    path = Path(text)
    if path.exists():
        if path.is_dir():
            folder = store_folder_of(path)
            return StoreRef(str(folder)) if folder is not None else None
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
    return StoreRef(str(folder), m.group("id").lower())


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

    folder: Path | str  # the store's folder, or its URL off-site
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


def list_store(folder: Path | str) -> StoreListing:
    """The public facts of the store in *folder* (off-site: its URL): reads its config,
    key files and the header of each snapshot (never a password, never content)."""
    listing = StoreListing(folder)
    try:
        with place_storage(folder) as storage:
            listing.folder = folder if isinstance(folder, Path) else storage.location
            facts = peek(storage)
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
    prefix = SNAPSHOTS_PREFIX + ref.snapshot[:2]
    try:
        with place_storage(ref.folder) as storage:
            return sorted(
                sid
                for obj in storage.list(prefix)
                if (sid := snapshot_id_of(obj.name)) and sid.startswith(ref.snapshot)
            )
    except OSError:
        return []


# ---- reading one snapshot ---------------------------------------------------------------------


def open_store(folder: Path | str, unlock: Unlock, *, salvage: bool = False) -> Store:
    """Open (unlock) the store in *folder* (off-site: at its URL)."""
    storage = place_storage(folder)
    try:
        return Store.open(storage, unlock, salvage=salvage)
    except BaseException:
        storage.close()
        raise


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
