"""A restore's checks, all made before anything is written: the target, the lock, the
point and the account. They end in a frozen :class:`RestoreContext`; a refusal leaves
``Data`` exactly as it was."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from therabak import fsrules
from therabak.datafolder.locks import (
    JobLock,
    LockBusy,
    check_no_readers,
    check_practice_app,
    lock_busy_message,
)
from therabak.datafolder.names import before_restore_path, before_restore_prefix, restore_lock_path
from therabak.datafolder.partials import remove_tree
from therabak.datafolder.swap import clean_stale_staging, new_staging, recover
from therabak.errors import (
    AccountKeyError,
    CannotUnlockError,
    DamagedArchiveError,
    DataFolderError,
    DataInUseError,
    OtherAccountError,
    UsageError,
)
from therabak.events import Emit, Phase, Warning
from therabak.fsutil import followed_root
from therabak.i18n import _
from therabak.jobs.restore.request import RestoreRequest
from therabak.jobs.restore.sources import source_class, subject_of
from therabak.points.discovery import identify
from therabak.points.point import RestorePoint
from therabak.points.stores import named_text
from therabak.practice.account import AccountKey


class RestoreMode(StrEnum):
    REPLACE = "replace"  # the data folder is replaced; the current one is kept beside it
    NEW_DATA = "new-data"  # there is no data folder yet: the restore makes it
    FOLDER = "folder"  # into another folder (--to); the data folder stays untouched


@dataclass(frozen=True)
class RestoreContext:
    """What the checks established, for every later step."""

    data_dir: Path  # the data folder (a linked one: the folder it leads to)
    target: Path  # where the restored data goes (data_dir, or the --to folder)
    mode: RestoreMode
    point: RestorePoint
    account: AccountKey  # this computer's account key (or the one a new practice gets)
    create_key: Path | None  # a new practice: the new account key is saved here
    lock: JobLock  # held until the restore ends (RestoreContext.release)

    @property
    def folder_mode(self) -> bool:
        return self.mode == RestoreMode.FOLDER

    def release(self) -> None:
        self.lock.release()


def run_checks(req: RestoreRequest, emit: Emit) -> RestoreContext:
    """Every check before a restore reads its point: returns the context, holding the
    restore's lock (raises, holding nothing, when a check refuses)."""
    emit(Phase("checking", str(req.point)))
    # A data folder that is a link: the restore works in the folder it leads to (the
    # staging folder, the swap and the before-restore folder are beside that one), so
    # the link stays and leads to the restored data.
    data_dir = followed_root(Path(req.data_dir).absolute())
    target = Path(req.target).absolute() if req.target else data_dir
    folder_mode = req.target is not None
    check_target(data_dir, target, folder_mode)
    lock = take_lock(target)
    try:
        if not folder_mode:
            settle_data_folder(data_dir, emit)
        clean_stale_staging(target)
        account = load_account(req.account_key_path)
        has_data = data_dir.is_dir()
        point = find_point(req, account, data_dir, target)
        create_key = None
        if account is None:
            account, create_key = new_practice(req, point, data_dir, has_data or folder_mode, emit)
        if source_class(point).copies_sealed_files:
            check_same_account(point, account)
        if not folder_mode and has_data:
            check_practice_app(data_dir, force=req.force)
        mode = (
            RestoreMode.FOLDER
            if folder_mode
            else (RestoreMode.REPLACE if has_data else RestoreMode.NEW_DATA)
        )
        return RestoreContext(data_dir, target, mode, point, account, create_key, lock)
    except BaseException:
        lock.release()
        raise


def check_target(data_dir: Path, target: Path, folder_mode: bool) -> None:
    """Another folder (--to) must be a real, empty or new folder outside the data folder,
    in a folder that exists."""
    if not folder_mode:
        # A new computer may not have the folder that holds Data yet (the account key,
        # which lives there too, gets its folder created the same way).
        target.parent.mkdir(parents=True, exist_ok=True)
        return
    is_junction = getattr(os.path, "isjunction", None)  # Python 3.12+ (Windows)
    if os.path.islink(target) or (is_junction and is_junction(target)):
        raise UsageError(
            _(
                "The target folder is a link: {target}; give the real folder (empty or "
                "new) instead, a restore never writes through a link."
            ).format(target=target)
        )
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UsageError(
            _("The target folder must be empty or not exist: {target}").format(target=target)
        )
    if not target.parent.is_dir():
        raise DataFolderError(
            _("The folder that should hold the target does not exist: {parent}").format(
                parent=target.parent
            )
        )
    if inside(target, data_dir):
        raise UsageError(_("The target folder cannot be inside the data folder."))


def take_lock(target: Path) -> JobLock:
    """The restore's lock beside *target*: one restore at a time."""
    lock = JobLock(restore_lock_path(target), what="restore")
    try:
        lock.acquire()
    except LockBusy as e:
        raise DataInUseError(
            lock_busy_message("restore", e.owner, restore_lock_path(target))
        ) from None
    return lock


def settle_data_folder(data_dir: Path, emit: Emit) -> None:
    """No backup may be reading Data; a swap an earlier restore left half-done is
    completed or rolled back first (said as a warning)."""
    check_no_readers(data_dir)
    recovery = recover(data_dir, have_lock=True)
    if recovery is not None:
        emit(Warning(recovery.message, code="restore-recovered"))


def load_account(path: Path) -> AccountKey | None:
    return AccountKey.load(path) if Path(path).exists() else None


def find_point(
    req: RestoreRequest, account: AccountKey | None, data_dir: Path, target: Path
) -> RestorePoint:
    """The point the request names, readable, and not a folder inside the data it would
    replace."""
    given = named_text(req.point)  # off-site or a destination's name: as given
    point = identify(
        given if isinstance(given, str) else given.absolute(),
        account.id_hex if account else None,
        salvage=req.salvage,
    )
    if not point.readable:
        raise DamagedArchiveError(
            _("Cannot restore {point}: {error}").format(point=req.point, error=point.error)
        )
    if point.is_folder and inside(Path(point.path).absolute(), target) and target == data_dir:
        raise UsageError(_("A folder inside the data folder cannot be restored over it."))
    return point


def new_practice(
    req: RestoreRequest, point: RestorePoint, data_dir: Path, has_place: bool, emit: Emit
) -> tuple[AccountKey, Path]:
    """No account key: only a point that needs none of this account's may start a new
    practice (a new account key, saved when the restore runs). *has_place*: there is a
    data folder, or the restore goes elsewhere; then the missing key is an error."""
    key_path = req.account_key_path
    ids = ", ".join(point.account_key_ids) or _("unknown")
    if source_class(point).copies_sealed_files or point.protection == "account":
        raise CannotUnlockError(
            _(
                "{this} is sealed with the account key {ids}; it can be restored only with "
                "that original account key file, and none was found at {path}."
            ).format(this=subject_of(point), ids=ids, path=key_path),
            hint=_("Copy the original account.key there or give it with --account-key."),
        )
    if has_place:
        AccountKey.load(key_path)  # raises the usual "account key not found" error
        raise AccountKeyError(_("Account key not found: {key_path}").format(key_path=key_path))
    emit(
        Warning(
            _(
                "There is no practice on this computer yet: a new account key will be created "
                "at {key_path} and the data folder at {data_dir}."
            ).format(key_path=key_path, data_dir=data_dir),
            code="new-account-key",
        )
    )
    return AccountKey.generate(), Path(key_path)


def check_same_account(point: RestorePoint, account: AccountKey) -> None:
    """A folder copy says which account it belongs to: refuse another's at once."""
    if point.account_key_ids and account.id_hex not in point.account_key_ids:
        raise OtherAccountError(
            _(
                "{this} belongs to another account (account key {ids}); this computer's "
                "account key is {mine}. Nothing was changed."
            ).format(
                this=subject_of(point),
                ids=", ".join(point.account_key_ids),
                mine=account.id_hex,
            )
        )


def target_rules(target: Path) -> fsrules.FsRules:
    """The name rules of the file system the restore writes to: THERABAK_FS_RULES, else
    the platform's and the file system's, tried out in an empty staging folder of our
    own (removed at once; a crash leaves it to the next run's cleanup)."""
    rules = fsrules.rules_for(target.parent)
    if rules.decided_by == fsrules.ENV_VAR:
        return rules
    try:
        probe_dir = new_staging(target)
    except OSError:
        return rules  # the restore itself will say why nothing can be written there
    try:
        return fsrules.probe(probe_dir, rules)
    finally:
        with contextlib.suppress(OSError):
            remove_tree(probe_dir)


def keep_old_name(data_dir: Path, name: str | None) -> Path:
    """Where the current data folder goes: the name the request brings (an earlier
    plan's, so what the user confirmed is what is made), else a new one."""
    if name is None:
        return before_restore_path(data_dir)
    prefix = before_restore_prefix(data_dir)
    if (
        not name.startswith(prefix)
        or len(name) == len(prefix)
        or Path(name).name != name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
    ):
        raise UsageError(
            _("The name for the current data folder must start with {prefix}: {name}").format(
                prefix=prefix, name=name
            )
        )
    return data_dir.parent / name


def inside(path: Path, folder: Path) -> bool:
    try:
        Path(path).absolute().relative_to(Path(folder).absolute())
        return True
    except ValueError:
        return False
