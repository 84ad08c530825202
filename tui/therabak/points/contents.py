"""What a restore point holds, file by file, for the app's preview tree: read from the
archive's index or a store snapshot (both need unlocking) or the folder's manifest."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from therabak.datafolder.manifest import MANIFEST_NAME, iter_manifest_files
from therabak.errors import DamagedArchiveError
from therabak.points import stores
from therabak.points.discovery import identify
from therabak.points.point import PointKind, RestorePoint
from therabak.practice.categories import Rules
from therabak.practice.scan import Tally, scan

if TYPE_CHECKING:
    from therabak.crypto.recovery import RecoveryCode


@dataclass
class ContentEntry:
    path: str
    category: str
    size: int
    mtime_ns: int
    raw: bool = False


@dataclass
class PointContents:
    point: RestorePoint
    entries: list[ContentEntry]
    account_key_id: str = ""
    skipped: list[dict[str, str]] = field(default_factory=list)
    # Why the index could not be read, when the entries were found by a salvage scan
    # instead (open_contents(salvage=True)): only a salvage restore can use this point.
    index_damage: str = ""

    @property
    def totals(self) -> dict[str, Tally]:
        out: dict[str, Tally] = {}
        for e in self.entries:
            t = out.setdefault(e.category, Tally())
            t.files += 1
            t.bytes += e.size
        return out

    def node_totals(self, rules: Rules) -> dict[str, Tally]:
        """Totals for every node of the tree; a parent sums its children."""
        leaf = self.totals
        out: dict[str, Tally] = {}
        for _depth, node in reversed(list(rules.walk())):
            t = Tally()
            if node.is_leaf:
                t.add(leaf.get(node.id, Tally()))
            else:
                for child in node.children:
                    t.add(out[child])
            out[node.id] = t
        return out

    @property
    def categories(self) -> list[str]:
        """The leaf ids this point restores (archives: from the header)."""
        if self.point.categories:
            return list(self.point.categories)
        return sorted({e.category for e in self.entries})

    @property
    def raw(self) -> list[str]:
        return [e.path for e in self.entries if e.raw]


def open_contents(
    path: Path | str,
    *,
    rules: Rules,
    account=None,
    password: str | None = None,
    data_dir: Path | None = None,
    salvage: bool = False,
    recovery_code: RecoveryCode | None = None,
) -> PointContents:
    """A point's file list by category, from the archive's index, the store snapshot or
    the folder's manifest (*path* may be a ``STORE@ID`` reference).

    Archives and stores are unlocked with the account key when their slot fits, else *password* or
    *recovery_code* (raises :class:`~therabak.archive.reader.PasswordNeeded` when one is needed and
    missing, WrongPasswordError when it is wrong). With *salvage*, an archive whose index
    is damaged is listed by reading its entries (every intact one, the first of two with
    the same name, as a salvage restore takes them) and ``index_damage`` says why.
    """
    account_id = account.id_hex if account is not None else None
    point = identify(path, account_id)
    if not point.readable:
        raise DamagedArchiveError(f"{path}: {point.error}")
    if point.is_store:
        return _store_contents(point, account, password, recovery_code)
    if point.is_folder:
        entries: list[ContentEntry] = []
        if (Path(path) / MANIFEST_NAME).is_file() and point.kind == PointKind.FOLDER:
            for f in iter_manifest_files(Path(path)):
                entries.append(ContentEntry(f.path, rules.category_of(f.path), f.size, f.mtime_ns))
        else:
            for f in scan(Path(path), rules).files:
                if f.path != MANIFEST_NAME:
                    entries.append(ContentEntry(f.path, f.category, f.size, f.mtime_ns))
        return PointContents(
            point, entries, account_key_id=point.account_key_ids[0] if point.account_key_ids else ""
        )
    from therabak.archive.reader import ArchiveReader

    with ArchiveReader.open(Path(path)) as reader:
        reader.unlock(account=account, password=password, recovery_code=recovery_code)
        try:
            index = reader.read_index()
        except DamagedArchiveError as e:
            if not salvage:
                raise
            found: dict[str, ContentEntry] = {}
            for f in reader.scan_entries():
                if f.ok and f.path not in found:
                    found[f.path] = ContentEntry(f.path, f.category, f.size, f.mtime_ns, f.raw)
            return PointContents(point, list(found.values()), index_damage=e.message)
    return PointContents(
        point,
        [ContentEntry(e.path, e.category, e.size, e.mtime_ns, e.raw) for e in index.entries],
        account_key_id=index.account_key_id,
        skipped=index.skipped,
    )


def _store_contents(
    point: RestorePoint, account, password: str | None, recovery_code: RecoveryCode | None
) -> PointContents:
    """A store snapshot's file list (unlocking the store as an archive is unlocked)."""
    from therabak.store.keyfile import Unlock

    store = stores.open_store(
        point.path, Unlock(password=password, account=account, recovery_code=recovery_code)
    )
    snapshot = stores.load_snapshot(store, point.snapshot_id)
    return PointContents(
        point,
        [ContentEntry(e.path, e.category, e.size, e.mtime_ns, e.raw) for e in snapshot.entries],
        account_key_id=snapshot.account_key_id,
        skipped=snapshot.skipped,
    )
