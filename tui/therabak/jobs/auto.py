"""Automatic backups: core categories, account-key slot, local folder, retention.

Made to be started by a scheduler every hour (Windows Task Scheduler, launchd,
systemd timer, cron): a run does nothing unless the newest automatic backup is older
than the interval (``--force`` skips that check), so running it often is harmless.

* **What**: the categories whose rule says ``auto = true`` (profiles, sessions,
  therapists, finances), as a snapshot of a backup store locked with one account-key
  slot (no password to remember; restorable on this account only), verified after
  writing (what it wrote read back). Only what changed since the last one is written.
* **Where**: the store ``TheraPsy-Backups`` in ``Settings.auto_folder`` (default
  ``TheraPsy-Auto-Backups`` beside ``Data``); when that store belongs to another
  account (a new account key), ``TheraPsy-Backups-<its key id>`` beside it. Automatic
  backups made before, archives ``TheraPsy-Auto-<time>.therabak`` in that folder, stay
  where they are (listed and restorable) until the retention removes them.
* **Retention**: after a successful, verified backup: of this account's automatic
  backups (the store's snapshots and the older archives together) keep the newest of
  each of the last ``keep_daily`` days, ``keep_weekly`` ISO weeks and ``keep_monthly``
  months that have backups (as restic's ``forget --keep-*``), and always the newest;
  forget the other snapshots (then prune the store) and delete the other archives.
  Only files whose names match the automatic-backup pattern are ever deleted.
* **Concurrency**: a lock file ``<auto folder>/.therabak-auto.lock`` (O_EXCL + process id,
  stale locks broken). A second run while one is active exits at once with code 0 and
  says so: the active run is doing the work, and waiting would only pile up runs.
* **Due**: "the last backup" is the newest archive in the folder by its name's time, or a
  history record of an automatic backup whose file still exists. A run is due when that is
  older than the interval less a small slack (5 % of it, at most 10 minutes), so an hourly
  scheduler does not miss a daily backup by a few seconds.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

from therabak import faults, formatting
from therabak.archive.volumes import delete_set
from therabak.archive.writer import Protection
from therabak.datafolder.locks import JobLock, LockBusy, lock_busy_message
from therabak.datafolder.names import STAMP_FORMAT
from therabak.datafolder.swap import recover
from therabak.errors import ExitCode, TherabakError
from therabak.events import Emit, Phase, Summary, Warning, WarningLog, ignore, warning_list
from therabak.fsutil import followed_root, make_private_dir
from therabak.i18n import _
from therabak.jobkit import history
from therabak.jobkit.cancel import NEVER, CancelToken
from therabak.jobkit.retry import RetryPolicy
from therabak.jobs.store_backup import StoreBackupResult, run_store_backup
from therabak.jobs.store_request import StoreBackupRequest
from therabak.practice.account import AccountKey
from therabak.practice.categories import BackupKind, Rules
from therabak.practice.scan import require_data_dir
from therabak.retention import RetentionPolicy, kept
from therabak.settings import AutoSettings, Settings
from therabak.storage.local import LocalStorage
from therabak.store.core import Store
from therabak.store.keyfile import Unlock
from therabak.store.place import STORE_FOLDER, is_store_name
from therabak.store.public import peek

AUTO_NAME_RE = re.compile(r"^TheraPsy-Auto-(\d{4}-\d{2}-\d{2}_\d{6})(?:-(\d+))?\.therabak$")
LOCK_NAME = ".therabak-auto.lock"
MAX_SLACK = timedelta(minutes=10)


@dataclass
class AutoRequest:
    data_dir: Path
    account: AccountKey
    rules: Rules
    settings: Settings
    force: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    now: datetime | None = None  # for tests: the time the run believes it is


@dataclass
class AutoResult:
    ran: bool
    reason: str  # due | forced | first | not-due | busy
    folder: Path
    archive: Path | None = None  # where the backup is: the store's folder (or an archive)
    last: datetime | None = None
    next_due: datetime | None = None
    deleted: list[Path] = field(default_factory=list)  # archives removed by the retention
    forgotten: list[str] = field(default_factory=list)  # snapshots removed by the retention
    pruned: bool = False  # the store was pruned after forgetting
    backup: StoreBackupResult | None = None
    snapshot: str | None = None
    message: str = ""
    warnings: list[Warning] = field(default_factory=list)  # every warning the job printed

    @property
    def exit_code(self) -> ExitCode:
        code = self.backup.exit_code if self.backup is not None else ExitCode.OK
        return ExitCode.WARNINGS if code == ExitCode.OK and self.warnings else code

    def to_json(self) -> dict:
        b = self.backup
        return {
            "ran": self.ran,
            "reason": self.reason,
            "folder": str(self.folder),
            "archive": str(self.archive) if self.archive else None,
            "last": self.last.isoformat() if self.last else None,
            "next_due": self.next_due.isoformat() if self.next_due else None,
            "store": str(b.store) if b else None,
            "snapshot": self.snapshot,
            "deleted": [str(p) for p in self.deleted],
            "forgotten": self.forgotten,
            "pruned": self.pruned,
            "files": b.files if b else None,
            "files_reused": b.files_reused if b else None,
            "bytes_new": b.bytes_new if b else None,
            "bytes_stored": b.bytes_stored if b else None,
            "verified": b.verified if b else None,
            "raw": b.raw if b else [],
            "message": self.message,
            "warnings": warning_list(self.warnings),
        }


def auto_archives(folder: Path) -> list[tuple[datetime, Path]]:
    """Automatic-backup archives in *folder* by the time in their names, newest first."""
    out = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            m = AUTO_NAME_RE.match(entry.name)
            if not m or not entry.is_file(follow_symlinks=False):
                continue
            try:
                when = datetime.strptime(m.group(1), STAMP_FORMAT).astimezone()
            except ValueError:
                continue
            out.append((when, Path(entry.path), int(m.group(2) or 1)))
    out.sort(key=lambda t: (t[0], t[2]), reverse=True)
    return [(w, p) for w, p, _n in out]


def auto_store_folder(folder: Path, account_key_id: str) -> Path:
    """The store automatic backups of the account *account_key_id* go into: the
    ``TheraPsy-Backups`` in *folder*, unless that one is locked with another account's
    key (its public key slots say so): then ``TheraPsy-Backups-<key id>``."""
    main = folder / STORE_FOLDER
    try:
        facts = peek(LocalStorage(main))
    except (TherabakError, OSError):
        return main  # none yet (or unreadable: opening it says why)
    if not facts.account_key_ids or account_key_id in facts.account_key_ids:
        return main
    return folder / f"{STORE_FOLDER}-{account_key_id}"


def auto_stores(folder: Path) -> list[Path]:
    """The automatic backups' stores in *folder* (this account's, and others')."""
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if entry.is_dir(follow_symlinks=False) and is_store_name(entry.name):
                found.append(Path(entry.path))
    return sorted(found)


def auto_snapshots(store: Path) -> list[tuple[datetime, str]]:
    """(time, snapshot id) of the automatic snapshots in *store*, newest first (from
    their public headers: no key needed)."""
    try:
        facts = peek(LocalStorage(store))
    except (TherabakError, OSError):
        return []
    out = [
        (info.created.astimezone(), info.snapshot_id)
        for info in facts.snapshots
        if str(info.header.kind) == "auto"
    ]
    out.sort(reverse=True)
    return out


def last_auto_backup(folder: Path, data_dir: Path) -> tuple[datetime, Path] | None:
    """The newest automatic backup: an archive in *folder*, a snapshot of a store in it
    (its place is the store's folder), or what the history says (if still there)."""
    candidates = auto_archives(folder)[:1]
    for store in auto_stores(folder):
        newest = auto_snapshots(store)[:1]
        candidates += [(when, store) for when, _sid in newest]
    record = history.last_of(history.RecordKind.AUTOMATIC, data_dir)
    if record is not None and Path(record.path).exists():
        with contextlib.suppress(ValueError):
            candidates.append((record.created_at.astimezone(), Path(record.path)))
    return max(candidates, key=lambda t: t[0], default=None)


def interval(settings: AutoSettings) -> timedelta:
    return timedelta(hours=settings.interval_hours)


def slack(settings: AutoSettings) -> timedelta:
    return min(MAX_SLACK, interval(settings) * 0.05)


def next_due(last: datetime | None, settings: AutoSettings) -> datetime | None:
    return None if last is None else last + interval(settings) - slack(settings)


def retained(
    archives: list[tuple[datetime, Path]], keep_daily: int, keep_weekly: int, keep_monthly: int
) -> set[Path]:
    """The archives the policy keeps (newest first input); the newest is always kept."""
    policy = RetentionPolicy(daily=keep_daily, weekly=keep_weekly, monthly=keep_monthly)
    return set(kept(archives, policy))


def apply_retention(folder: Path, settings: AutoSettings, emit: Emit = ignore) -> list[Path]:
    """Delete the automatic-backup archives in *folder* that the retention does not keep
    (the archives alone: automatic backups made before they went into a store)."""
    archives = auto_archives(folder)
    keep = retained(archives, settings.keep_daily, settings.keep_weekly, settings.keep_monthly)
    return _delete_archives([p for _w, p in archives if p not in keep], emit)


def _delete_archives(paths: list[Path], emit: Emit) -> list[Path]:
    deleted = []
    for path in paths:
        if not AUTO_NAME_RE.match(path.name):
            continue
        try:
            delete_set(path)  # a split one: every volume, the first one first
            deleted.append(path)
            faults.point("auto.retention")  # after each deletion
        except OSError as e:
            emit(
                Warning(
                    _("Could not delete an old automatic backup {path}: {strerror}").format(
                        path=path, strerror=e.strerror
                    ),
                    path=str(path),
                    code="retention",
                )
            )
    return deleted


def apply_store_retention(
    folder: Path,
    store: Store,
    settings: AutoSettings,
    account_key_id: str,
    emit: Emit = ignore,
    *,
    just_made: str | None = None,
) -> tuple[list[Path], list[str], bool]:
    """The retention over this account's automatic backups, the store's snapshots and the
    older archives in *folder* together: (archives deleted, snapshots forgotten, pruned).
    What it does not keep is forgotten (snapshots) or deleted (archives); a prune then
    reclaims the space, unless another job uses the store (the next run prunes).
    *just_made* (the snapshot this run wrote) counts as the newest of the backups made in
    the same second: a snapshot's time has whole seconds, and the backup just verified is
    never the one a policy gives up."""
    from therabak.store.errors import StoreLockedError
    from therabak.store.prune import ForgetPlan, forget, prune

    items: list[tuple[datetime, tuple[str, str]]] = [
        (when, ("archive", str(path))) for when, path in auto_archives(folder)
    ]
    infos = {}
    for info in store.snapshots():
        if str(info.header.kind) != "auto":
            continue
        try:
            owner = store.load_snapshot(info.snapshot_id).account_key_id
        except TherabakError:
            continue  # a damaged snapshot is never forgotten by a policy
        if owner == account_key_id:
            infos[info.snapshot_id] = info
            items.append((info.created.astimezone(), ("snapshot", info.snapshot_id)))
    items.sort(key=lambda t: (t[0], t[1] == ("snapshot", just_made)), reverse=True)
    policy = RetentionPolicy(
        daily=settings.keep_daily, weekly=settings.keep_weekly, monthly=settings.keep_monthly
    )
    keep = set(kept(items, policy))
    gone = [key for _w, key in items if key not in keep]
    deleted = _delete_archives([Path(p) for kind, p in gone if kind == "archive"], emit)
    old = [infos[sid] for kind, sid in gone if kind == "snapshot"]
    forgotten: list[str] = []
    pruned = False
    if old:
        try:
            forgotten = forget(store, ForgetPlan(keep=[], forget=old), emit)
            faults.point("auto.forgotten")
            prune(store, emit=emit)
            pruned = True
        except StoreLockedError:
            pass  # another job uses the store: the next run forgets and prunes
    return deleted, forgotten, pruned


def run_auto(req: AutoRequest, emit: Emit = ignore, cancel: CancelToken = NEVER) -> AutoResult:
    start = time.monotonic()
    req = replace(req, data_dir=followed_root(req.data_dir))
    emit = log = WarningLog(emit)  # an automatic backup that printed a warning exits 3
    recovery = recover(req.data_dir)
    if recovery is not None:
        emit(Warning(recovery.message, code="restore-recovered"))
    require_data_dir(req.data_dir)
    settings = req.settings.auto
    folder = req.settings.auto_folder(req.data_dir)
    if not folder.parent.is_dir():
        from therabak.errors import DataFolderError

        raise DataFolderError(
            _(
                "The folder for automatic backups cannot be created: {parent} does not exist."
            ).format(parent=folder.parent)
        )
    make_private_dir(folder)
    lock = JobLock(folder / LOCK_NAME, what="automatic backup")
    try:
        lock.acquire()
    except LockBusy as e:
        result = AutoResult(
            ran=False,
            reason="busy",
            folder=folder,
            message=_("{message} Nothing to do.").format(
                message=lock_busy_message("automatic backup", e.owner, folder / LOCK_NAME)
            ),
            warnings=list(log.warnings),
        )
        emit(
            Summary(
                operation="auto",
                exit_code=result.exit_code,
                duration_s=0.0,
                message=result.message,
                extra=result.to_json(),
            )
        )
        return result
    try:
        if lock.broke_stale is not None:
            emit(
                Warning(
                    _(
                        "Removed a stale lock of automatic-backup process {pid}, which is no "
                        "longer running."
                    ).format(pid=lock.broke_stale.pid),
                    code="stale-lock",
                )
            )
        return _run_locked(req, folder, settings, emit, cancel, start)
    finally:
        lock.release()


def _run_locked(
    req: AutoRequest,
    folder: Path,
    settings: AutoSettings,
    emit: WarningLog,
    cancel: CancelToken,
    start: float,
) -> AutoResult:
    """Under the folder's lock: a backup when one is due (or forced), then the retention;
    when none is due, a result that says when the next one is."""
    now = req.now or datetime.now().astimezone()
    last = last_auto_backup(folder, req.data_dir)
    last_time = last[0] if last else None
    due_at = next_due(last_time, settings)
    if last is None:
        reason = "first"
    elif req.force:
        reason = "forced"
    elif due_at is not None and now < due_at:
        result = AutoResult(
            ran=False,
            reason="not-due",
            folder=folder,
            archive=last[1],
            last=last_time,
            next_due=due_at,
            message=_(
                "Not due: the last automatic backup is from {last}; the next is due after {due}."
            ).format(last=formatting.local_time(last_time), due=formatting.local_time(due_at)),
            warnings=list(emit.warnings),
        )
        _summary(result, emit, start)
        return result
    else:
        reason = "due"
    emit(Phase("auto", f"automatic backup ({reason}) into {folder}"))
    backup = _back_up(req, folder, emit, cancel)
    result = AutoResult(
        ran=True,
        reason=reason,
        folder=folder,
        archive=Path(backup.store),
        last=last_time,
        backup=backup,
        snapshot=backup.snapshot,
    )
    created = history.last_of(history.RecordKind.AUTOMATIC, req.data_dir)
    made = (
        created.created_at if created and created.extra.get("snapshot") == backup.snapshot else now
    )
    result.next_due = next_due(made, settings)
    faults.point("auto.backup")  # written and verified, nothing deleted yet
    _retain(req, folder, settings, backup, result, emit)
    result.message = _("Automatic backup written: {path}").format(path=backup.store)
    result.warnings = list(emit.warnings)
    _summary(result, emit, start)
    return result


def _back_up(
    req: AutoRequest, folder: Path, emit: WarningLog, cancel: CancelToken
) -> StoreBackupResult:
    """The automatic backup itself: into the account's store in *folder*, verified; its
    own summary is not passed on (the auto job's ends the stream)."""

    def inner(event) -> None:  # the auto job's summary is the one that ends the stream
        if not isinstance(event, Summary):
            emit(event)

    store_dir = auto_store_folder(folder, req.account.id_hex)
    return run_store_backup(
        StoreBackupRequest(
            data_dir=req.data_dir,
            account=req.account,
            dest=str(store_dir),
            rules=req.rules,
            selection=req.rules.default_selection(BackupKind.AUTOMATIC),
            protection=Protection(account_key=req.account.key, account_key_id=req.account.key_id),
            kind=BackupKind.AUTOMATIC,
            verify=True,
            retry=req.retry,
            remember_destination=False,
            created=req.now,
        ),
        emit=inner,
        cancel=cancel,
    )


def _retain(
    req: AutoRequest,
    folder: Path,
    settings: AutoSettings,
    backup: StoreBackupResult,
    result: AutoResult,
    emit: WarningLog,
) -> None:
    """The retention after a backup that verified (into *result*); after one that did
    not, nothing is deleted and a warning says so."""
    if backup.verified:
        emit(Phase("retention", str(folder)))
        store = Store.open(LocalStorage(Path(backup.store)), Unlock(account=req.account))
        result.deleted, result.forgotten, result.pruned = apply_store_retention(
            folder, store, settings, req.account.id_hex, emit, just_made=backup.snapshot
        )
    else:
        emit(
            Warning(
                _("The new automatic backup did not verify; no older backup was deleted."),
                path=str(backup.store),
                code="not-verified",
            )
        )


def _summary(result: AutoResult, emit: WarningLog, start: float) -> None:
    """The summary that ends the auto job's stream."""
    emit(
        Summary(
            operation="auto",
            exit_code=result.exit_code,
            duration_s=round(time.monotonic() - start, 3),
            message=result.message,
            extra=result.to_json(),
        )
    )
