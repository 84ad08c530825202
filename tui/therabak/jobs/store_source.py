"""A snapshot of a backup store as a restore source, beside the archive, folder-backup
and before-restore sources of ``jobs/restore.py`` (and shaped like them).

The restore around it is the same for every source: its checks, staging (every file
sealed again with this computer's account key, plain files plain, raw entries as they
are), the names policy, carry-over, verification, the journaled swap and undo. What the
source adds: the store is unlocked as an archive is (the account key, else the password
or the recovery code), the snapshot is read and checked, and each file's content comes
chunk by chunk from the packs (``Store.open_file``: every chunk authenticated and checked
against its id, the file's size and SHA-256 against the snapshot; memory holds one
chunk). Files are read in the order their content lies in the packs, so each pack is
read front to back. A damaged or missing pack costs exactly the files whose content lies
in it: without ``--salvage`` the restore stops with nothing changed and names the file and
the pack; with it every other file is restored and the lost ones are listed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from therabak.archive.reader import EntryDamaged
from therabak.crypto.recovery import RecoveryCode
from therabak.jobs.points import RestorePoint
from therabak.jobs.restore import _Item, _Source
from therabak.jobs.store_points import load_snapshot, open_store
from therabak.jobs.verify import read_order
from therabak.practice.account import AccountKey
from therabak.store.core import Store
from therabak.store.errors import DamagedFileError
from therabak.store.keyfile import Unlock
from therabak.store.snapshot import Snapshot


class StoreSource(_Source):
    content_verified = True  # Store.open_file checks every chunk, the size and the SHA-256

    def __init__(self, point: RestorePoint, store: Store, snapshot: Snapshot) -> None:
        self.point = point
        self.store = store
        self.snapshot = snapshot
        self.damaged = []
        self.account_key_ids = list(point.account_key_ids)
        self.holds = set(snapshot.header.categories)
        self.items = []
        for e in read_order(store, snapshot.entries):
            mode = "raw" if e.raw else ("plain" if e.sealed is False else "seal")
            self.items.append(_Item(e.path, e.category, e.size, e.mtime_ns, e.sha256, mode, e))
        self.holds |= {i.category for i in self.items}

    def content(self, item: _Item) -> Iterator[bytes]:
        assert item.entry is not None
        try:
            yield from self.store.open_file(item.entry)  # type: ignore[arg-type]
        except DamagedFileError as e:  # names the pack that is damaged or missing
            raise EntryDamaged(item.path, e.reason) from None


def open_store_source(
    point: RestorePoint,
    *,
    account: AccountKey | None,
    password: str | None,
    recovery_code: RecoveryCode | None,
    salvage: bool,
) -> StoreSource:
    """Unlock the store of *point* and read its snapshot. With *salvage*, a store whose
    config is damaged is still read, and a snapshot stored under another name too."""
    unlock = Unlock(
        password=None if recovery_code is not None else password,
        account=account,
        recovery_code=recovery_code,
    )
    store = open_store(Path(point.path), unlock, salvage=salvage)
    return StoreSource(point, store, load_snapshot(store, point.snapshot_id, salvage=salvage))
