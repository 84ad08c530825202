"""Where a store backup goes (a local folder's store, or an off-site destination's
storage), found before anything of the store itself is loaded: a backup's scan of Data
starts from here while the store's modules are still being imported (jobs/store_backup.py).
Opening the store is jobs/store_open.py."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from therabak.storage.local import LocalStorage

if TYPE_CHECKING:
    from therabak.destinations import Destination
    from therabak.jobs.store_request import StoreBackupRequest
    from therabak.storage.base import Storage


@dataclass
class StoreTarget:
    """Where a store backup goes: the store's storage (not yet holding a store, maybe)
    and its place for people (a path, or a URL without credentials)."""

    storage: Storage
    place: str
    destination: Destination
    folder: Path | None = None  # a local store's folder; None off-site
    dest: Path | None = None  # a local destination folder; None off-site

    @property
    def remote(self) -> bool:
        return self.folder is None

    def close(self) -> None:
        self.storage.close()


def open_target(req: StoreBackupRequest, *, prepare: bool = True) -> StoreTarget:
    """The place of *req*'s store: a local destination folder (made when missing and
    *prepare*), else the off-site destination's storage (the store's folder in it, with
    the upload limit and the retry notices of *req*). Not connected yet for a folder;
    off-site the place is asked once (a missing bucket, wrong credentials or an unknown
    host key are refused here)."""
    from therabak.destinations import resolve, store_storage
    from therabak.jobs.backup_args import prepare_destination
    from therabak.store.place import store_folder

    destination = resolve(str(req.dest))
    if not destination.is_remote:
        given = Path(destination.location.path).expanduser()
        dest = prepare_destination(given) if prepare else given.absolute()
        folder = store_folder(dest)
        return StoreTarget(LocalStorage(folder), str(folder), destination, folder, dest)
    storage = store_storage(destination, limit_upload=req.limit_upload, on_retry=req.on_retry)
    return StoreTarget(storage, storage.location, destination)


@contextlib.contextmanager
def warm_while_opening(target: StoreTarget) -> Iterator[None]:
    """While the block runs (the key's derivation), a local store's list of packs and
    its snapshots' public headers are read once on a thread (store/public.py, ``warm``),
    so that the system has them cached when the backup reads them; the thread is stopped
    and gone when the block ends. Off-site nothing is asked twice."""
    if target.folder is None:
        yield
        return
    from therabak.store.public import warm

    stop = threading.Event()
    thread = threading.Thread(
        target=warm, args=(target.storage, stop.is_set), name="store-warm", daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def store_exists_at(dest: str, **kw) -> bool:
    """Whether the destination *dest* (a folder, a URL or a name) holds a backup store
    (off-site: one small request)."""
    from therabak.destinations import resolve, store_storage
    from therabak.store.place import store_exists

    destination = resolve(dest)
    if not destination.is_remote:
        return store_exists(Path(destination.location.path).expanduser())
    with store_storage(destination, **kw) as storage:
        return storage.size("config") is not None


__all__ = ["StoreTarget", "open_target", "store_exists_at", "warm_while_opening"]
