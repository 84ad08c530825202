"""Opening a backup store for a backup: the key, the protection checks, and making a new
store (one backup at a time) when the destination has none yet."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from therabak.crypto.slots import SlotType
from therabak.datafolder.locks import JobLock, LockBusy
from therabak.errors import UsageError
from therabak.i18n import _
from therabak.storage.local import LocalStorage
from therabak.store.core import Store
from therabak.store.errors import NotAStoreError
from therabak.store.keyfile import Unlock

if TYPE_CHECKING:
    from therabak.jobs.store_backup import StoreBackupRequest


def unlock_for(req: StoreBackupRequest) -> Unlock:
    return Unlock(
        password=req.protection.password,
        account=req.account,
        recovery_code=req.recovery_code,
    )


def open_existing(folder: Path, req: StoreBackupRequest) -> Store | None:
    """The store in *folder*, opened, or None when there is none yet. Refuses a store
    whose protection is not what the backup asks for (a password given, but the store
    has none or only the account key's), so that a backup meant to be locked with a
    password never lands in a store anyone can open."""
    storage = LocalStorage(folder)
    try:
        store = Store.open(storage, unlock_for(req))
    except NotAStoreError:
        return None
    used = store.unlocked_with
    wanted = _wanted_slot(req)
    if used is not wanted and not (used is SlotType.RECOVERY and wanted is SlotType.PASSWORD):
        raise UsageError(_protection_mismatch(used, folder))
    if req.protection.recovery_code is not None:
        raise UsageError(
            _(
                "The backup store in {place} exists already: a recovery code is given to it "
                'with: therabak recovery create "{place}"'
            ).format(place=folder)
        )
    return store


def _wanted_slot(req: StoreBackupRequest) -> SlotType:
    p = req.protection
    if p.unprotected:
        return SlotType.NONE
    if p.password or req.recovery_code is not None:
        return SlotType.PASSWORD
    return SlotType.ACCOUNT


def _protection_mismatch(used: SlotType, folder: Path) -> str:
    if used is SlotType.NONE:
        return _(
            "The backup store in {place} has no password (anyone can read it), but this "
            "backup was to have one: choose another destination, or back up without a "
            "password."
        ).format(place=folder)
    if used is SlotType.ACCOUNT:
        return _(
            "The backup store in {place} is locked with this computer's account key (the "
            "automatic backups' store), not with a password: choose another destination."
        ).format(place=folder)
    return _(
        "The backup store in {place} is protected by a password: give it (or its recovery "
        "code) to back up into it."
    ).format(place=folder)


#: The lock file that lets one backup at a time make a new store (inside its folder:
#: names starting with "." are never a store's objects).
CREATING = ".creating.lock"
#: How long a backup waits for another one that makes the same store (seconds).
CREATE_WAIT_S = 120.0


def create_or_open(folder: Path, req: StoreBackupRequest) -> tuple[Store, bool]:
    """A new store in *folder* (True), or the one another backup made meanwhile (False):
    backups started together into one destination make one store between them. The
    making is serialised by a lock file of this computer (datafolder/locks.py: a dead holder's
    lock is broken), so no backup deletes the key file of another that is making it."""
    folder.mkdir(mode=0o700, parents=False, exist_ok=True)
    lock = JobLock(folder / CREATING, what="backup")
    deadline = time.monotonic() + CREATE_WAIT_S
    while True:
        try:
            lock.acquire()
            break
        except LockBusy:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    try:
        store = open_existing(folder, req)
        if store is not None:
            return store, False
        return Store.create(LocalStorage(folder), req.protection), True
    finally:
        lock.release()


__all__ = ["CREATE_WAIT_S", "CREATING", "create_or_open", "open_existing", "unlock_for"]
