"""The staged swap of the ``Data`` folder, its journal and crash recovery.

A restore builds the new data in a staging folder beside ``Data`` (same file system),
verifies it, and only then swaps with two renames::

    Data                          -> Data.before-restore-<time>
    Data.restore-<time>.<pid>.partial -> Data

Before the first rename a small **journal** (``.Data.therabak-restore.json`` beside
``Data``) records the three names. If the process dies between or around the renames,
the next therabak command that touches ``Data`` calls :func:`recover`, which reads the
file system and the journal and either completes the swap (the staging folder was
verified before the journal was written) or rolls it back. The old data is never
deleted: at worst it stays as ``Data.before-restore-<time>``.

All names are derived from the data folder's own name, so ``--data-dir X/Praxis``
gives ``Praxis.before-restore-...``. See jobs/FORMAT.md for the files' contents.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from therabak import faults
from therabak.datafolder.locks import JobLock, LockBusy
from therabak.datafolder.manifest import write_before_restore_manifest
from therabak.datafolder.names import (
    before_restore_prefix,
    journal_path,
    restore_lock_path,
    stamp,
)
from therabak.datafolder.partials import LeftoverKind, partial_name, remove_tree, sweep
from therabak.errors import DataFolderError, DataInUseError
from therabak.fsutil import (
    IS_WINDOWS,
    followed_root,
    fsync_dir,
    make_new_private_dir,
    write_private,
)
from therabak.i18n import _

JOURNAL_VERSION = 1


def _staging_final_re(target: Path) -> re.Pattern[str]:
    """The final part of a staging folder's partial name (``Data.restore-<time>``)."""
    return re.compile(rf"^{re.escape(Path(target).name)}\.restore-[0-9_-]+$")


def new_staging(target: Path, when: datetime | None = None) -> Path:
    """Create the private (0700) staging folder for *target* beside it."""
    target = Path(target)
    n = 1
    while True:
        suffix = "" if n == 1 else f"-{n}"
        path = target.parent / partial_name(f"{target.name}.restore-{stamp(when)}{suffix}")
        try:
            make_new_private_dir(path)
            return path
        except FileExistsError:
            n += 1


def clean_stale_staging(target: Path) -> list[Path]:
    """Remove staging folders of restores whose process is gone (not one a journal names)."""
    target = Path(target)
    pattern = _staging_final_re(target)
    keep = set()
    journal = read_journal(target)
    if journal is not None:
        keep.add(str(journal.get("staging", "")))
    return sweep(
        target.parent,
        belongs=lambda final: bool(pattern.match(final)),
        kind=LeftoverKind.FOLDER,
        keep=keep,
    )


# ---- journal ---------------------------------------------------------------------------------


def read_journal(data_dir: Path) -> dict | None:
    path = journal_path(data_dir)
    try:
        doc = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, UnicodeDecodeError):
        return {"broken": True}
    return doc if isinstance(doc, dict) else {"broken": True}


def _remove_journal(data_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(journal_path(data_dir))
    fsync_dir(Path(data_dir).parent)


class SwapRecoveryError(DataFolderError):
    """An interrupted restore left a state therabak will not guess about."""


@dataclass
class Recovery:
    action: str  # completed | rolled-back | cleaned
    data_dir: Path
    old: Path | None
    staging: Path | None

    @property
    def message(self) -> str:
        if self.action == "completed" and self.old:
            return _(
                "An interrupted restore was completed: {path} holds the restored data; the "
                "previous data is kept in {old}."
            ).format(path=self.data_dir, old=self.old)
        if self.action == "completed":
            return _(
                "An interrupted restore was completed: {path} holds the restored data."
            ).format(path=self.data_dir)
        if self.action == "rolled-back":
            return _(
                "An interrupted restore was rolled back: {path} is as it was before that restore."
            ).format(path=self.data_dir)
        return _("Leftovers of an interrupted restore were removed; the data was not changed.")


def recover(data_dir: Path, *, have_lock: bool = False) -> Recovery | None:
    """Finish or undo a swap that a crash interrupted. None when there was nothing to do.

    Takes the restore lock (unless the caller holds it): while another restore runs,
    its journal is its own business and nothing is done. Without a journal, staging
    folders of restores whose process died are removed.
    """
    data_dir = followed_root(Path(data_dir))
    if have_lock:
        return _recover(data_dir)
    if not journal_path(data_dir).exists() and not restore_lock_path(data_dir).exists():
        return _recover(data_dir)  # nothing in progress: only stale staging to clean
    lock = JobLock(restore_lock_path(data_dir), what="restore recovery")
    try:
        lock.acquire()  # breaks the lock of a restore that died
    except LockBusy:
        return None
    try:
        return _recover(data_dir)
    finally:
        lock.release()


def _journal_folders(journal: dict, data_dir: Path) -> tuple[Path, Path | None]:
    """The staging and previous-data folders a journal names, checked to be the ones a
    restore of *data_dir* makes (beside it, named as in jobs/FORMAT.md): recovery renames
    them, so a damaged or planted journal must never make it move any other folder."""
    parent = Path(os.path.abspath(data_dir)).parent
    staging, old = journal.get("staging"), journal.get("old")

    def beside(value: object) -> Path | None:
        if not isinstance(value, str) or not value or "\0" in value:
            return None
        path = Path(value)
        return path if Path(os.path.abspath(path)).parent == parent else None

    staging_path = beside(staging)
    old_path = beside(old) if old is not None else None
    if (
        staging_path is None
        or not staging_path.name.startswith(f"{Path(data_dir).name}.restore-")
        or not staging_path.name.endswith(".partial")
        or (old is not None and old_path is None)
        or (old_path is not None and not old_path.name.startswith(before_restore_prefix(data_dir)))
    ):
        raise SwapRecoveryError(
            _(
                "The restore journal {path} names folders that are not a restore's; therabak "
                "will not touch the data folder until it is checked."
            ).format(path=journal_path(data_dir)),
            hint=_(
                "Look at the folders beside Data and delete the journal once Data is the "
                "one you want."
            ),
        )
    return staging_path, old_path


def _recover(data_dir: Path) -> Recovery | None:
    journal = read_journal(data_dir)
    if journal is None:
        removed = clean_stale_staging(data_dir)
        return Recovery("cleaned", data_dir, None, removed[0]) if removed else None
    if journal.get("broken") or journal.get("v") != JOURNAL_VERSION:
        raise SwapRecoveryError(
            _(
                "The restore journal {path} cannot be read; therabak will not touch the data "
                "folder until it is checked."
            ).format(path=journal_path(data_dir)),
            hint=_(
                "Look at the folders beside Data (Data.before-restore-*, Data.restore-*) and "
                "delete the journal once Data is the one you want."
            ),
        )
    staging, old = _journal_folders(journal, data_dir)
    manifest = journal.get("manifest")
    manifest = manifest if isinstance(manifest, dict) else {}
    has_data = os.path.lexists(data_dir)
    has_staging = os.path.lexists(staging)
    has_old = old is not None and os.path.lexists(old)
    if has_data and not has_staging:
        if has_old:
            write_before_restore_manifest(old, manifest)
        _remove_journal(data_dir)
        return Recovery(
            "completed" if has_old else "cleaned", data_dir, old if has_old else None, None
        )
    if not has_data and has_staging:
        os.rename(staging, data_dir)
        fsync_dir(data_dir.parent)
        if has_old:
            write_before_restore_manifest(old, manifest)
        _remove_journal(data_dir)
        return Recovery("completed", data_dir, old if has_old else None, staging)
    if has_data and has_staging and not has_old:
        # The first rename never happened: Data is the old data, untouched.
        remove_tree(staging)
        _remove_journal(data_dir)
        return Recovery("rolled-back", data_dir, None, staging)
    if not has_data and not has_staging and has_old:
        os.rename(old, data_dir)  # type: ignore[arg-type]
        fsync_dir(data_dir.parent)
        _remove_journal(data_dir)
        return Recovery("rolled-back", data_dir, None, None)
    raise SwapRecoveryError(
        _(
            "An interrupted restore left an unclear state beside {path} (data folder {data}, "
            "staging {staging} {staged}, previous data {old} {kept}); therabak changes nothing "
            "until this is resolved."
        ).format(
            path=data_dir,
            data=_("present") if has_data else _("missing"),
            staging=staging.name,
            staged=_("present") if has_staging else _("missing"),
            old=old.name if old else "-",
            kept=_("present") if has_old else _("missing"),
        ),
        hint=_("Keep the folder you want as {name}, then delete {journal}.").format(
            name=data_dir.name, journal=journal_path(data_dir)
        ),
    )


# ---- the swap --------------------------------------------------------------------------------


def _rename_failed(e: OSError, what: str) -> DataInUseError:
    detail = e.strerror or str(e)
    hint = (
        _(
            "On Windows a folder cannot be renamed while a program has a file in it open: "
            "close TheraPsy (and any Explorer window showing the folder) and try again."
        )
        if IS_WINDOWS or isinstance(e, PermissionError)
        else None
    )
    return DataInUseError(
        _("Could not rename {what} ({detail}); nothing was changed.").format(
            what=what, detail=detail
        ),
        hint=hint,
    )


@contextlib.contextmanager
def too_late_to_cancel():
    """A cancel (SIGINT, how the app and Ctrl-C stop a job) waits while the swap runs:
    it takes two renames, and stopping between them would leave the journal to finish
    what the user meant to stop. The restore then ends normally and says what it did.
    Only the main thread can change the handler; elsewhere nothing changes."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except (ValueError, OSError):  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def swap_in(data_dir: Path, staging: Path, old: Path | None, manifest: dict) -> None:
    """Swap *staging* in as *data_dir*, keeping the current data as *old* (journaled).

    *old* is None when there is no current data folder (a new computer). On failure
    before the second rename the current data is back in place and the error says why.
    """
    data_dir = Path(data_dir)
    journal = {
        "v": JOURNAL_VERSION,
        "data": str(data_dir),
        "staging": str(staging),
        "old": str(old) if old else None,
        "manifest": manifest,
        "started": datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    write_private(
        journal_path(data_dir), (json.dumps(journal, ensure_ascii=False) + "\n").encode("utf-8")
    )
    faults.point("restore.journal")
    if old is not None:
        try:
            os.rename(data_dir, old)
        except OSError as e:
            _remove_journal(data_dir)
            raise _rename_failed(e, f"{data_dir} to {old.name}") from None
        fsync_dir(data_dir.parent)
    faults.point("restore.swap")
    try:
        os.rename(staging, data_dir)
    except OSError as e:
        if old is not None:
            try:
                os.rename(old, data_dir)
            except OSError:
                raise SwapRecoveryError(
                    _(
                        "Could not rename {staging} to {data_dir} ({error}) nor put the previous "
                        "data back from {old}; both are intact."
                    ).format(staging=staging, data_dir=data_dir, error=e.strerror or e, old=old),
                    hint=_(
                        "Rename the folder you want to Data by hand, then delete {journal}."
                    ).format(journal=journal_path(data_dir)),
                ) from None
        _remove_journal(data_dir)
        raise _rename_failed(e, f"{staging.name} to {data_dir.name}") from None
    fsync_dir(data_dir.parent)
    faults.point("restore.swapped")
    if old is not None:
        write_before_restore_manifest(old, manifest)
    _remove_journal(data_dir)


def publish_folder(staging: Path, target: Path) -> None:
    """Rename a finished staging folder to *target* (which must be missing or empty)."""
    target = Path(target)
    if target.exists():
        try:
            target.rmdir()
        except OSError:
            raise DataFolderError(
                _("The target folder is not empty: {target}").format(target=target)
            ) from None
    os.rename(staging, target)
    fsync_dir(target.parent)
