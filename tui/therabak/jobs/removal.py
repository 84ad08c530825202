"""Removing what therabak made, when the user asks: a backup whose check was cancelled
(the user chose not to keep it: a single-file archive is deleted, a point of a backup
store is forgotten), and old before-restore folders beside ``Data``.

Nothing here runs on its own: each removal is one call, made after the user confirmed
it. Each checks that the path is what it claims to be (a therabak archive by its
header; a before-restore folder by its name and place, not named by a pending swap
journal, while no restore runs) and never follows a link.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from therabak.archive.volumes import first_volume, later_volumes
from therabak.datafolder.locks import JobLock, LockBusy, lock_busy_message
from therabak.datafolder.names import before_restore_prefix, restore_lock_path
from therabak.datafolder.partials import remove_tree
from therabak.datafolder.swap import read_journal
from therabak.errors import DataFolderError, DataInUseError, UsageError
from therabak.fsutil import followed_root, fsync_dir, is_link_or_junction
from therabak.i18n import _
from therabak.jobkit import history
from therabak.points.discovery import find_before_restore
from therabak.points.point import RestorePoint, read_archive_header

if TYPE_CHECKING:
    from therabak.store.keyfile import Unlock


def delete_backup(archive: Path) -> list[Path]:
    """Delete the backup *archive* (every volume of a split one); the files deleted.

    Raises DamagedArchiveError when *archive* is not a therabak backup (its header says
    so), so nothing else is ever deleted here. The backup history forgets it.
    """
    first = first_volume(Path(archive))
    read_archive_header(first)  # raises unless it is one of ours
    removed = []
    for path in [*later_volumes(first).values(), first]:  # the first volume last, like the rename
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
            removed.append(path)
    fsync_dir(first.parent)
    history.forget(first)
    return removed


def forget_store_point(store: Path | str, snapshot_id: str, unlock: Unlock) -> None:
    """Forget the point *snapshot_id* of the backup store *store* (a folder or a URL),
    opened with *unlock*: its snapshot is deleted, as ``therabak forget`` does; the
    content only it used is freed by the next prune.

    Raises the store's errors: CannotUnlockError (a wrong password), UsageError (no such
    point), StoreLockedError (another job holds the store)."""
    from therabak.storage.url import open_storage
    from therabak.store.core import Store
    from therabak.store.prune import forget, plan_forget

    opened = Store.open(open_storage(str(store)), unlock)
    with opened.lock(exclusive=False, what=_("forget")):
        plan = plan_forget(opened, ids=[snapshot_id])
    if [i.snapshot_id for i in plan.forget] != [snapshot_id]:
        raise UsageError(
            _("No snapshot {ref} in the store {store}.").format(ref=snapshot_id, store=store)
        )
    forget(opened, plan)
    history.forget(store, snapshot_id)


@dataclass
class KeptFolder:
    """A before-restore folder: the data as it was before a restore (or an undo)."""

    point: RestorePoint
    size: int  # bytes on disk (the manifest's count, else counted)

    @property
    def path(self) -> Path:
        return self.point.path


def before_restore_folders(data_dir: Path, account_key_id: str | None) -> list[KeptFolder]:
    """The before-restore folders beside *data_dir*, newest first, with their sizes."""
    found = find_before_restore(Path(data_dir), account_key_id)
    found.sort(key=_made_order, reverse=True)
    return [KeptFolder(p, p.size if p.size is not None else _tree_size(p.path)) for p in found]


def _made_order(point: RestorePoint) -> tuple[float, int, str]:
    """When a before-restore folder was made: its time (to the second), then the
    ``-2``, ``-3`` … a second folder of the same second got in its name."""
    when = point.created.timestamp() if point.created else 0.0
    m = re.search(r"-(\d+)$", point.path.name)
    return when, int(m.group(1)) if m else 1, point.path.name


def remove_before_restore(folder: Path, data_dir: Path) -> None:
    """Delete one before-restore folder of *data_dir*.

    Refuses (DataFolderError) anything that is not a ``<Data>.before-restore-*`` folder
    beside *data_dir*, or is a link; refuses (DataInUseError) while a restore runs (it
    may be restoring from this very folder) or while a swap journal names it. A linked
    *data_dir* keeps its before-restore folders beside the folder it leads to.
    """
    folder, data_dir = Path(folder).absolute(), followed_root(Path(data_dir).absolute())
    if (
        folder.parent != data_dir.parent
        or not folder.name.startswith(before_restore_prefix(data_dir))
        or _leads_elsewhere(folder)
        or not folder.is_dir()
    ):
        raise DataFolderError(
            _("Not a before-restore folder of {data}: {path}").format(data=data_dir, path=folder)
        )
    lock_path = restore_lock_path(data_dir)
    try:
        lock = JobLock(lock_path, what="remove before-restore folder").acquire()
    except LockBusy as e:
        raise DataInUseError(lock_busy_message("restore", e.owner, lock_path)) from None
    try:
        journal = read_journal(data_dir)
        if journal and (
            journal.get("broken") or Path(str(journal.get("old") or "")).absolute() == folder
        ):
            raise DataInUseError(
                _("A restore that stopped half-way still needs {path}.").format(path=folder)
            )
        remove_tree(folder)
        fsync_dir(folder.parent)
    finally:
        lock.release()


def _leads_elsewhere(path: Path) -> bool:
    """Is *path* a symbolic link or a Windows junction (never followed, never removed here)?"""
    try:
        return is_link_or_junction(os.lstat(path))
    except OSError:
        return False


def _tree_size(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total
