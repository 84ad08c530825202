"""Opening a backup store for a backup: where it is (a folder, or off-site through the
destination's storage), the key, the protection checks, and making a new store (one
backup at a time) when the destination has none yet."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from therabak.crypto.slots import SlotType
from therabak.datafolder.locks import JobLock, LockBusy
from therabak.errors import TherabakError, UsageError
from therabak.i18n import _
from therabak.jobs.store_target import (
    StoreTarget,
    open_target,
    store_exists_at,
    warm_while_opening,
)
from therabak.storage.base import ObjectExistsError, ObjectNotFoundError, Storage
from therabak.store.core import Store
from therabak.store.errors import NotAStoreError, StoreLockedError
from therabak.store.keyfile import Unlock

if TYPE_CHECKING:
    from therabak.jobs.store_request import StoreBackupRequest


def unlock_for(req: StoreBackupRequest) -> Unlock:
    return Unlock(
        password=req.protection.password,
        account=req.account,
        recovery_code=req.recovery_code,
    )


def open_existing(target: StoreTarget, req: StoreBackupRequest) -> Store | None:
    """The store at *target*, opened, or None when there is none yet. Refuses a store
    whose protection is not what the backup asks for (a password given, but the store
    has none or only the account key's), so that a backup meant to be locked with a
    password never lands in a store anyone can open."""
    try:
        store = Store.open(target.storage, unlock_for(req))
    except NotAStoreError:
        return None
    used = store.unlocked_with
    wanted = _wanted_slot(req)
    if used is not wanted and not (used is SlotType.RECOVERY and wanted is SlotType.PASSWORD):
        raise UsageError(_protection_mismatch(used, target.place))
    if req.protection.recovery_code is not None:
        raise UsageError(
            _(
                "The backup store in {place} exists already: a recovery code is given to it "
                'with: therabak recovery create "{place}"'
            ).format(place=target.place)
        )
    return store


def _wanted_slot(req: StoreBackupRequest) -> SlotType:
    p = req.protection
    if p.unprotected:
        return SlotType.NONE
    if p.password or req.recovery_code is not None:
        return SlotType.PASSWORD
    return SlotType.ACCOUNT


def _protection_mismatch(used: SlotType, place: str) -> str:
    if used is SlotType.NONE:
        return _(
            "The backup store in {place} has no password (anyone can read it), but this "
            "backup was to have one: choose another destination, or back up without a "
            "password."
        ).format(place=place)
    if used is SlotType.ACCOUNT:
        return _(
            "The backup store in {place} is locked with this computer's account key (the "
            "automatic backups' store), not with a password: choose another destination."
        ).format(place=place)
    return _(
        "The backup store in {place} is protected by a password: give it (or its recovery "
        "code) to back up into it."
    ).format(place=place)


#: The lock file that lets one backup at a time make a new store (inside its folder:
#: names starting with "." are never a store's objects).
CREATING = ".creating.lock"
#: How long a backup waits for another one that makes the same store (seconds).
CREATE_WAIT_S = 120.0


def create_or_open(target: StoreTarget, req: StoreBackupRequest) -> tuple[Store, bool]:
    """A new store at *target* (True), or the one another backup made meanwhile (False):
    backups started together into one destination make one store between them. The
    making is serialised: in a folder by a lock file of this computer
    (datafolder/locks.py: a dead holder's lock is broken), off-site by a lock object in
    the storage itself (two computers may start at once); so no backup deletes the key
    file of another that is making it."""
    if target.remote:
        with _creating_off_site(target, break_lock=req.break_lock):
            return _open_or_create(target, req)
    folder = target.folder
    assert folder is not None
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
        return _open_or_create(target, req)
    finally:
        lock.release()


def _open_or_create(target: StoreTarget, req: StoreBackupRequest) -> tuple[Store, bool]:
    store = open_existing(target, req)
    if store is not None:
        return store, False
    return Store.create(target.storage, req.protection), True


#: The object that lets one backup at a time make a new store off-site (its name is no
#: store lock's: ``store/locks.py`` reads only ``locks/<32 hex digits>``). Not
#: encrypted (there is no key yet): it names the computer and when it began, nothing else.
CREATING_OBJECT = "locks/creating"


@contextlib.contextmanager
def _creating_off_site(target: StoreTarget, *, break_lock: bool = False) -> Iterator[None]:
    """Hold the storage's creation lock: put the lock object (a put never replaces an
    object, so of two computers only one succeeds), wait for another holder (up to
    :data:`CREATE_WAIT_S`; a holder of this computer whose process is gone is removed),
    then refuse, naming the holder. A lock older than a store lock may be without being
    renewed (another computer's: it may have crashed while making the store) is refused
    at once; *break_lock* (``--break-lock``, only on request) removes it."""
    from therabak import formatting
    from therabak.processes import pid_alive
    from therabak.store.locks import STALE_S, this_host

    storage = target.storage
    mine = {"host": this_host(), "pid": os.getpid(), "since": time.time()}
    deadline = time.monotonic() + CREATE_WAIT_S
    while True:
        try:
            storage.put_bytes(CREATING_OBJECT, json.dumps(mine).encode())
            break
        except ObjectExistsError:
            holder = _creation_holder(storage)
            if holder is None:
                continue  # released meanwhile
            if holder.get("host") == mine["host"] and not pid_alive(int(holder.get("pid", 0))):
                storage.delete(CREATING_OBJECT)  # this computer's, its process is gone
                continue
            since = _number(holder.get("since"))
            stale = time.time() - since > STALE_S
            if stale and break_lock:
                storage.delete(CREATING_OBJECT)  # on request: the user knows it is gone
                continue
            if stale or time.monotonic() > deadline:
                raise StoreLockedError(
                    _(
                        "A backup store is being made at {place} by another computer: {host}, "
                        "since {since}."
                    ).format(
                        place=target.place,
                        host=holder.get("host") or "?",
                        since=formatting.local_time(datetime.fromtimestamp(since, UTC)),
                    ),
                    hint=_(
                        "if that computer no longer makes it (it crashed or was switched off), "
                        "run the backup again with --break-lock"
                    )
                    if stale
                    else _("wait until that backup ends, then start this one again"),
                ) from None
            time.sleep(1.0)
    try:
        yield
    finally:
        with contextlib.suppress(TherabakError):
            storage.delete(CREATING_OBJECT)


def _number(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0


def _creation_holder(storage: Storage) -> dict | None:
    try:
        data = json.loads(storage.get(CREATING_OBJECT))
    except ObjectNotFoundError:
        return None
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


__all__ = [
    "CREATE_WAIT_S",
    "CREATING",
    "CREATING_OBJECT",
    "StoreTarget",
    "create_or_open",
    "open_existing",
    "open_target",
    "store_exists_at",
    "unlock_for",
    "warm_while_opening",
]
