"""A backup store's recovery code: add (or replace) and remove its key slot.

The store's key file is replaced, never changed (``Store.rewrite_slots``): the new key
file is put first, naming the old one as superseded, then the old one is deleted. A kill
in between leaves a store that opens with the old slots and with the new ones. The
caller makes the code and gets it to the person *before* calling :func:`set_code`. The
password slot is never touched; only a store with a password can have a code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from therabak import faults
from therabak.crypto.recovery import RecoveryCode
from therabak.crypto.slots import SlotType
from therabak.errors import UsageError
from therabak.i18n import _
from therabak.practice.account import AccountKey
from therabak.storage.local import LocalStorage
from therabak.store.core import Store
from therabak.store.keyfile import Unlock
from therabak.store.place import store_exists, store_folder


@dataclass
class StoreKeyChange:
    store: Path | str  # the store's folder, or its URL off-site
    slots: list[str]  # the slot kinds of the key file now, e.g. ["password", "recovery"]
    replaced: bool  # set: an earlier code was replaced; remove: a code was removed


def is_store(path: Path | str) -> bool:
    """Is *path* a backup store, or a destination folder that holds one? Text (an
    off-site place or a destination's name, ``points.stores.named_text``) is taken for
    one: opening it says when it is not."""
    return isinstance(path, str) or (Path(path).is_dir() and store_exists(path))


def open_for_change(
    path: Path | str,
    *,
    password: str | None = None,
    recovery_code: RecoveryCode | None = None,
    account: AccountKey | None = None,
) -> Store:
    """Open the store at *path* with its password or recovery code for a change of its
    key slots; only a store with a password qualifies (UsageError otherwise). A wrong
    secret: exit 4; a damaged key file or config: exit 5."""
    folder: Path | str
    if isinstance(path, str):  # off-site, or a destination's name
        from therabak.points.stores import parse_ref, place_storage

        ref = parse_ref(path)
        if ref is None:
            raise UsageError(_("There is no backup store in {place}.").format(place=path))
        folder = ref.folder
        storage = place_storage(folder)
    else:
        folder = store_folder(path)
        storage = LocalStorage(folder)
    store = Store.open(storage, Unlock(password=password, recovery_code=recovery_code))
    if not any(s.type is SlotType.PASSWORD for s in store.keyfile.slots):
        raise UsageError(
            _(
                "Only a backup store with a password can have a recovery code; this one is "
                "locked with an account key or has no password: {place}"
            ).format(place=folder)
        )
    return store


def set_code(store: Store, code: RecoveryCode) -> StoreKeyChange:
    """Give *store* a recovery slot for *code*, replacing an earlier one (which then opens
    nothing). Call it once the person has the code."""
    faults.point("recovery.prepared")  # the new code is out, nothing is written
    had = store.has_recovery_code
    keyfile = store.set_recovery_code(code)
    return StoreKeyChange(_place(store), [s.type.label for s in keyfile.slots], had)


def remove_code(store: Store) -> StoreKeyChange:
    """Take *store*'s recovery slot away (nothing is written when it has none)."""
    keyfile = store.remove_recovery_code()
    slots = keyfile.slots if keyfile is not None else store.keyfile.slots
    return StoreKeyChange(_place(store), [s.type.label for s in slots], keyfile is not None)


def _place(store: Store) -> Path | str:
    from therabak.storage.url import is_url

    return store.location if is_url(store.location) else Path(store.location)


__all__ = ["StoreKeyChange", "is_store", "open_for_change", "remove_code", "set_code"]
