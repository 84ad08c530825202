"""Where a restore's bytes come from: one class per kind of restore point.

A source lists the files the point holds (:class:`Item`), which categories it holds,
what it found damaged, and gives each file's content as a stream of bytes. The rest of
the restore (checks, plan, stage, swap) never asks what kind of point it is.

**Adding a source** is one class in this module: subclass :class:`RestoreSource`, name
the point kinds it restores in ``kinds`` (``RestorePoint.kind``, ``points/point.py``; what
``points/discovery.py`` and ``points/store_points.py`` give a point they recognise;
``in_store`` for the points that are snapshots of a backup store) and implement
:meth:`RestoreSource.open` (unlock and list) and :meth:`RestoreSource.content`. Defining
the class registers it (``__init_subclass__``); :func:`source_class` finds it by the
point's kind.

The sources today: :class:`StoreSource` (a snapshot of a backup store, ``STORE@ID``),
:class:`ArchiveSource` (a ``.therabak`` archive, also split), the folder copies
:class:`FolderBackupSource` (a folder backup and its manifest) and
:class:`BeforeRestoreSource` (the ``Data.before-restore-*`` folder an earlier restore
left).
"""

from __future__ import annotations

import dataclasses
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from therabak.archive.index import IndexEntry
from therabak.archive.reader import ArchiveReader, EntryDamaged
from therabak.datafolder.filecopy import open_under
from therabak.datafolder.manifest import MANIFEST_NAME, iter_manifest_files
from therabak.errors import DamagedArchiveError, Remedy
from therabak.events import Damaged, DamagedPart, Emit, Phase
from therabak.fsutil import stat_long
from therabak.i18n import N_, _
from therabak.jobs.restore.request import RestoreRequest
from therabak.points.point import PointKind, RestorePoint
from therabak.points.stores import load_snapshot, open_store, read_order
from therabak.practice.account import AccountKey
from therabak.practice.categories import Rules
from therabak.practice.scan import scan
from therabak.store.blob import ID_SIZE
from therabak.store.errors import DamagedFileError
from therabak.store.keyfile import Unlock
from therabak.store.snapshot import SnapshotEntry
from therabak.storedpaths import check_relative_path, text_of

if TYPE_CHECKING:
    from therabak.store.core import Store
    from therabak.store.snapshot import Snapshot

SALVAGE_HINT = N_("therabak restore --salvage restores every intact file.")


class ItemMode(StrEnum):
    """How a file reaches the staging folder."""

    SEAL = "seal"  # plaintext from the point, sealed with this account's key
    PLAIN = "plain"  # a plain file (it was not sealed in Data either), written as it is
    RAW = "raw"  # still sealed with the key it had (a backup could not decrypt it)
    COPY = "copy"  # copied byte for byte (a folder copy's files are sealed already)


@dataclass(slots=True)
class Item:
    """One file a point holds, and where it goes. Slots, and a store's hash kept as its
    32 bytes (hex when asked): for 100,000 files of a snapshot 31 MB less during a
    restore (an item's dict and a 64-digit string each)."""

    path: str
    category: str
    size: int
    mtime_ns: int
    #: expected hash of what is written, hex or its 32 bytes (None: hashed while copying)
    sha: str | bytes | None
    mode: ItemMode
    entry: IndexEntry | SnapshotEntry | None = None  # the archive's or the snapshot's
    src: str = ""  # where the file lies in the point, when not at *path* (folder backups)
    target: str = ""  # where it is written in the staging folder ("": at *path*)

    @property
    def sha256(self) -> str | None:
        """The expected hash in hex (None: hashed while copying)."""
        sha = self.sha
        return sha.hex() if type(sha) is bytes else sha

    @sha256.setter
    def sha256(self, value: str | None) -> None:
        self.sha = value

    @property
    def dest(self) -> str:
        return self.target or self.path


class RestoreSource:
    """A restore point opened for reading: its files, what it holds, what is damaged."""

    #: The point kinds (``RestorePoint.kind``) this class restores; a class with none is
    #: a base for others and is not registered.
    kinds: ClassVar[tuple[str, ...]] = ()
    #: The point as the subject of a sentence ("This backup is sealed with ...").
    subject: ClassVar[str] = N_("This backup")
    #: The files are copied as they are, still sealed with the account key that made
    #: them: the point restores only on that account (its word is checked before any
    #: work, every file's envelope while it is staged).
    copies_sealed_files: ClassVar[bool] = False
    #: content() itself checks every item's size and SHA-256 (and raises when they
    #: differ), so staging need not hash it a second time.
    content_verified: ClassVar[bool] = False
    #: The points of these kinds are snapshots of a backup store (``RestorePoint.is_store``).
    in_store: ClassVar[bool] = False
    #: content() may run for several items at once on several threads (each call reads
    #: on its own, no shared file position): staging then uses a few threads
    #: (``jobkit.workers``); else one file at a time.
    parallel_content: bool = False

    _registry: ClassVar[dict[tuple[bool, str], type[RestoreSource]]] = {}

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        for kind in cls.kinds:
            RestoreSource._registry[(cls.in_store, kind)] = cls

    def __init__(self, point: RestorePoint) -> None:
        self.point = point
        self.items: list[Item] = []
        self.holds: set[str] = set()  # leaf ids the point holds
        self.damaged: list[tuple[str, str]] = []  # (path or DamagedPart, why)
        self.account_key_ids: list[str] = []

    @classmethod
    def open(
        cls, point: RestorePoint, req: RestoreRequest, account: AccountKey | None, emit: Emit
    ) -> RestoreSource:
        """Open *point* (unlocking it where it needs a key) and list its files."""
        raise NotImplementedError

    def content(self, item: Item) -> Iterator[bytes]:
        raise NotImplementedError

    def relocate(self, item: Item) -> Item | None:
        """Salvage: another intact copy of *item*'s content in the point, or None."""
        return None

    def close(self) -> None:
        pass


def source_class(point: RestorePoint) -> type[RestoreSource]:
    """The class that restores *point* (by its kind)."""
    try:
        return RestoreSource._registry[(point.is_store, point.kind)]
    except KeyError:
        raise DamagedArchiveError(
            _("Cannot restore {point}: {error}").format(point=point.path, error=point.kind)
        ) from None


def open_source(
    point: RestorePoint, req: RestoreRequest, account: AccountKey | None, emit: Emit
) -> RestoreSource:
    return source_class(point).open(point, req, account, emit)


def subject_of(point: RestorePoint) -> str:
    """ "This backup" and its kin, as the subject of a sentence."""
    cls = RestoreSource._registry.get((point.is_store, point.kind), RestoreSource)
    return _(cls.subject)


# ---- archives --------------------------------------------------------------------------------


class ArchiveSource(RestoreSource):
    """A ``.therabak`` archive (a split one as one): decrypted entry by entry."""

    kinds = (PointKind.MANUAL, PointKind.AUTOMATIC)
    content_verified = True  # ArchiveReader.iter_entry checks size and SHA-256

    def __init__(
        self, point: RestorePoint, reader: ArchiveReader, salvage: bool, emit: Emit
    ) -> None:
        super().__init__(point)
        self.reader = reader
        self._scanned: dict[str, list] | None = None
        self.holds = set(reader.header.categories)
        self.account_key_ids = [k.hex() for k in reader.header.account_key_ids]
        if reader.damage:  # salvage opened it although its header is damaged
            problem = _("the header is damaged ({parts})").format(parts=", ".join(reader.damage))
            self._damaged(DamagedPart.HEADER, problem, emit)
        for problem in getattr(reader.source, "problems", ()):  # salvage of a split backup
            self._damaged(DamagedPart.VOLUMES, problem, emit)
        entries = self._present(self._entries(salvage, emit), emit)
        for e in entries:
            mode = ItemMode.SEAL
            if e.raw:
                mode = ItemMode.RAW
            elif e.sealed is False:
                mode = ItemMode.PLAIN
            self.items.append(Item(e.path, e.category, e.size, e.mtime_ns, e.sha256, mode, e))
        self.holds |= {i.category for i in self.items}

    @classmethod
    def open(
        cls, point: RestorePoint, req: RestoreRequest, account: AccountKey | None, emit: Emit
    ) -> RestoreSource:
        reader = ArchiveReader.open(point.path, salvage=req.salvage)
        try:
            reader.unlock(account=account, password=req.password, recovery_code=req.recovery_code)
            return cls(point, reader, req.salvage, emit)
        except BaseException:
            reader.close()
            raise

    def _damaged(self, path: str, reason: str, emit: Emit) -> None:
        self.damaged.append((path, reason))
        emit(Damaged(path=path, reason=reason))

    def _entries(self, salvage: bool, emit: Emit) -> list[IndexEntry]:
        """The index's entries; with *salvage*, when the index is damaged, every intact
        entry the body holds (the first of two with the same name)."""
        try:
            return self.reader.read_index().entries
        except DamagedArchiveError as e:
            if not salvage:
                raise DamagedArchiveError(
                    _("The backup is damaged: {error}. Nothing was changed.").format(
                        error=e.message
                    ),
                    hint=_(SALVAGE_HINT),
                    remedy=Remedy.SALVAGE,
                ) from None
            emit(Phase("salvaging", "the index is damaged; scanning the backup for intact files"))
            self.damaged.append((DamagedPart.INDEX, e.message))
        entries: list[IndexEntry] = []
        seen: set[str] = set()
        for found in self.reader.scan_entries():
            if not found.ok:
                self._damaged(found.path, found.error, emit)
            elif found.path in seen:
                self.damaged.append((found.path, _("appears twice; the first copy is used")))
            else:
                seen.add(found.path)
                entries.append(found.as_index_entry())
        return entries

    def _present(self, entries: list[IndexEntry], emit: Emit) -> list[IndexEntry]:
        """The entries not in a missing volume of a split backup (salvage)."""
        missing_part = getattr(self.reader.source, "missing_part", None)
        if missing_part is None:
            return entries
        present = []
        for e in entries:
            where = missing_part(e.offset, e.length)
            if where is None:
                present.append(e)
            else:
                self._damaged(e.path, _("in {where}").format(where=where), emit)
        return present

    def content(self, item: Item) -> Iterator[bytes]:
        assert item.entry is not None
        return self.reader.iter_entry(item.entry)

    def relocate(self, item: Item) -> Item | None:
        """The index's entry for *item* is damaged: an intact entry elsewhere in the body
        with the same path and exactly the content the index promises (size, SHA-256)
        is the same file, moved (entries swapped or shifted)."""
        if self._scanned is None:
            self._scanned = {}
            for found in self.reader.scan_entries():
                if found.ok:
                    self._scanned.setdefault(found.path, []).append(found)
        for found in self._scanned.get(item.path, []):
            if (
                found.sha256 == item.sha256
                and found.size == item.size
                and found.raw == (item.mode == ItemMode.RAW)
                and (item.entry is None or found.offset != item.entry.offset)
            ):
                entry = found.as_index_entry()
                entry.sealed = item.entry.sealed if item.entry is not None else None
                return dataclasses.replace(item, entry=entry)
        return None

    def close(self) -> None:
        self.reader.close()


# ---- backup stores -----------------------------------------------------------------------------


class StoreSource(RestoreSource):
    """A snapshot of a backup store (``STORE@ID``): the store unlocked as an archive is (the
    account key, else the password or the recovery code), the snapshot read and checked,
    each file's content read from the packs chunk by chunk (``Store.open_file``: every
    chunk authenticated, the file's size and SHA-256 checked against the snapshot; memory
    holds one chunk). Files are listed in the order their content lies in the packs, so
    each pack is read front to back. A damaged or missing pack costs exactly the files
    whose content lies in it (named with the pack); a damaged snapshot loses the point."""

    kinds = (PointKind.MANUAL, PointKind.AUTOMATIC)
    in_store = True
    content_verified = True

    def __init__(self, point: RestorePoint, store: Store, snapshot: Snapshot) -> None:
        super().__init__(point)
        self.store = store
        self.snapshot = snapshot
        self.parallel_content = bool(getattr(store.storage, "reads_in_parallel", False))
        self.account_key_ids = list(point.account_key_ids)
        self.holds = set(snapshot.header.categories)
        # the index keeps the snapshot's ids (each in memory once: 100,000 files 7 MB);
        # a restore never compares files' identities: this snapshot (read for it alone)
        # lets them go (another 7 MB)
        store.index().share_ids(e.refs for e in snapshot.entries if len(e.refs) == ID_SIZE)
        for e in snapshot.entries:
            e.identity = ""
        for e in read_order(store, snapshot.entries):
            mode = ItemMode.SEAL
            if e.raw:
                mode = ItemMode.RAW
            elif e.sealed is False:
                mode = ItemMode.PLAIN
            self.items.append(Item(e.path, e.category, e.size, e.mtime_ns, e.digest, mode, e))
        self.holds |= {i.category for i in self.items}

    @classmethod
    def open(
        cls, point: RestorePoint, req: RestoreRequest, account: AccountKey | None, emit: Emit
    ) -> RestoreSource:
        """With *salvage*, a store whose config is damaged is still read, and a snapshot
        stored under another name too."""
        code = req.recovery_code
        unlock = Unlock(
            password=None if code is not None else req.password,
            account=account,
            recovery_code=code,
        )
        store = open_store(point.path, unlock, salvage=req.salvage)
        return cls(point, store, load_snapshot(store, point.snapshot_id, salvage=req.salvage))

    def content(self, item: Item) -> Iterator[bytes]:
        assert isinstance(item.entry, SnapshotEntry)
        try:
            yield from self.store.open_file(item.entry)
        except DamagedFileError as e:  # names the pack that is damaged or missing
            raise EntryDamaged(item.path, e.reason) from None

    def close(self) -> None:
        self.store.storage.release_reads()  # the packs kept open while they were read


# ---- folder copies -----------------------------------------------------------------------------


class FolderCopySource(RestoreSource):
    """A copy of a data folder, its files still sealed with the account key: copied as
    they are. Holds every category."""

    copies_sealed_files = True
    parallel_content = True  # each item opens its own file

    def __init__(self, point: RestorePoint, rules: Rules) -> None:
        super().__init__(point)
        self.root = Path(point.path)
        self.account_key_ids = list(point.account_key_ids)
        self.holds = {leaf.id for leaf in rules.leaves()}

    def _listed(self) -> None:
        self.items.sort(key=lambda i: i.path)
        self.holds |= {i.category for i in self.items}

    def content(self, item: Item) -> Iterator[bytes]:
        fd = open_under(self.root, item.src or item.path)
        with open(fd, "rb", buffering=0) as f:
            while True:
                block = f.read(8 << 20)
                if not block:
                    return
                yield block


class FolderBackupSource(FolderCopySource):
    """A folder backup (``TheraPsy-Data-<time>``): the files its manifest lists."""

    kinds = (PointKind.FOLDER,)
    subject = N_("This folder backup")

    @classmethod
    def open(
        cls, point: RestorePoint, req: RestoreRequest, account: AccountKey | None, emit: Emit
    ) -> RestoreSource:
        source = cls(point, req.rules)
        source._read_manifest(req.rules, req.salvage)
        source._listed()
        return source

    def _read_manifest(self, rules: Rules, salvage: bool) -> None:
        seen: set[str] = set()
        stored: set[str] = set()  # where the files lie in the copy: one file each
        for f in iter_manifest_files(self.root):
            if f.path in seen or f.stored in stored:
                raise DamagedArchiveError(
                    _("The folder backup's manifest lists {path} twice.").format(
                        path=text_of(f.path[:80])
                    )
                )
            seen.add(f.path)
            stored.add(f.stored)
            problem = self._disagrees(f.path, f.stored, f.size)
            if problem and not salvage:
                raise DamagedArchiveError(
                    _(
                        "The folder backup is damaged: {path}: {problem}. Nothing was changed."
                    ).format(path=f.path[:200], problem=problem),
                    hint=_(SALVAGE_HINT),
                    remedy=Remedy.SALVAGE,
                )
            if problem:
                self.damaged.append((f.path, problem))
                continue
            src = f.stored if f.stored != f.path else ""
            category = rules.category_of(f.path)
            self.items.append(
                Item(f.path, category, f.size, f.mtime_ns, f.sha256, ItemMode.COPY, src=src)
            )

    def _disagrees(self, path: str, rel: str, size: int) -> str:
        """Why the file the manifest lists (at *path* in Data, *rel* in the copy) cannot be
        what it says ('' when it can be): checked before anything is planned, so a manifest
        cannot make the restore ask for space that no file needs, nor name a path that
        leaves the folder."""
        try:
            check_relative_path(path)
            check_relative_path(rel)
        except DamagedArchiveError as e:
            return str(e)
        try:
            st = stat_long(self.root / rel, follow_symlinks=False)
        except OSError:
            return _("missing from the folder backup")
        if not stat.S_ISREG(st.st_mode):
            return _("not a plain file in the folder backup")
        if st.st_size != size:
            return _("its size differs from the manifest")
        return ""


class BeforeRestoreSource(FolderCopySource):
    """The ``Data.before-restore-*`` folder an earlier restore left: the data as it was,
    every file in it (its manifest aside)."""

    kinds = (PointKind.BEFORE_RESTORE,)
    subject = N_("This before-restore folder")

    @classmethod
    def open(
        cls, point: RestorePoint, req: RestoreRequest, account: AccountKey | None, emit: Emit
    ) -> RestoreSource:
        source = cls(point, req.rules)
        for f in scan(source.root, req.rules).files:
            if f.path != MANIFEST_NAME:
                source.items.append(
                    Item(f.path, f.category, f.size, f.mtime_ns, None, ItemMode.COPY)
                )
        source._listed()
        return source
