"""Manual and automatic backups into a backup store: only what is new is written.

A backup into ``DEST`` goes into the store ``DEST/TheraPsy-Backups`` (store/place.py):

1. **Open** the store first (its key: the password, a recovery code, the account key, or
   its none slot): a wrong password is refused (exit 4) before any other work. A
   destination without a store gets one, made after the scan and the space check (so a
   refused backup leaves nothing behind), locked as the request's protection says.
2. **Scan** Data (jobs/backup_scan.py: the same rules, the same files left out as for the
   single-file backup) and compare with the **parent**, the newest snapshot of this
   practice and kind: a file whose size, mtime and identity are unchanged (and whose
   content the store still holds) is taken over without being read (``reread`` reads
   every file); the sizes of the others are what the backup may write.
3. **Space**: that estimate (and a margin) against the free space; when it is short,
   the refusal (exit 6) says how much forgetting the oldest snapshots would free.
4. **Write** (phase ``writing``): the files to read go through the one decrypt-retry
   implementation (jobs/file_storer.py), their content into the store's packs. A cancel
   or an error here leaves no snapshot: nothing of this backup is visible; the packs it
   put are adopted by the next backup or reclaimed by prune.
5. **Commit**: the last pack, the index, the durability barrier, the snapshot (the
   backup exists from here on).
6. **Verify** on request (phase ``checking``): the packs this backup wrote are read back
   from the device, every file's references checked (store/verify.py). A cancel here
   keeps the backup, unverified (exit 3).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from therabak import faults, formatting, memtune
from therabak.archive.writer import Protection
from therabak.crypto.recovery import RecoveryCode
from therabak.crypto.slots import SlotType
from therabak.datafolder.locks import DataReading, JobLock, LockBusy
from therabak.errors import Cancelled, ExitCode, NotEnoughSpaceError, TherabakError, UsageError
from therabak.events import Emit, FileOutcome, Phase, Summary, Warning, WarningLog
from therabak.fsutil import followed_root, reported_free_space
from therabak.i18n import _, ngettext
from therabak.jobkit import history
from therabak.jobkit.cancel import NEVER, CancelToken
from therabak.jobkit.progress import ProgressTracker
from therabak.jobkit.retry import RetryPolicy
from therabak.jobs.backup import (
    LeftOut,
    outcome_exit_code,
    outcome_fields,
    outcome_json,
    prepare_destination,
)
from therabak.jobs.backup_scan import Found, announce_scan, scan_for_backup
from therabak.jobs.file_storer import EntryWriter, FileStorer, collector_paused
from therabak.practice.account import AccountKey
from therabak.practice.categories import BackupKind, Rules
from therabak.practice.scan import FileEntry
from therabak.practice.source import SourceRead
from therabak.settings import Settings
from therabak.storage.local import LocalStorage
from therabak.store.backup import BackupWriter, FileWriter, SnapshotMeta, same_file
from therabak.store.core import Store
from therabak.store.errors import NotAStoreError
from therabak.store.index import BlobIndex
from therabak.store.keyfile import Unlock
from therabak.store.place import store_folder
from therabak.store.snapshot import Snapshot, SnapshotEntry, SnapshotKind

#: Room for the snapshot, index files and pack headers on top of the new content.
SPACE_MARGIN = 1 << 20
#: Per file in the backup (its snapshot entry) and per new chunk (index and pack header).
SPACE_PER_FILE = 160
SPACE_PER_CHUNK = 128


@dataclass
class StoreBackupRequest:
    """A backup into a store, as the engine takes it and, for a manual one, as
    ``therabak backup`` is asked for it (:meth:`to_argv`; the password goes to a job's
    standard input, a recovery code is never on a command line)."""

    operation: ClassVar[str] = "backup"

    data_dir: Path
    account: AccountKey
    dest_dir: Path  # the destination folder (the store is DEST/TheraPsy-Backups) or a store
    rules: Rules
    selection: frozenset[str]
    protection: Protection  # a new store's key slots; an existing store opens with it too
    kind: BackupKind = BackupKind.MANUAL
    verify: bool = False
    reread: bool = False  # read every file, even those unchanged since the parent
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    remember_destination: bool = True
    created: datetime | None = None
    #: opens an existing store instead of the password (never makes a slot)
    recovery_code: RecoveryCode | None = field(default=None, repr=False)
    #: called once a new store exists (before any file is read): a new recovery code in
    #: its key file now matters, so the caller shows it (or keeps the file it wrote)
    on_created: Callable[[Path], None] | None = None
    account_key_path: Path | None = None  # for a job's command line (None: the default)

    def to_argv(self) -> list[str]:
        """The ``therabak backup`` arguments of this manual store backup; the categories
        as the difference to the defaults (``--include``/``--exclude``); never a secret."""
        argv = ["--dest", str(self.dest_dir), "--data-dir", str(self.data_dir)]
        if self.account_key_path is not None:
            argv += ["--account-key", str(self.account_key_path)]
        defaults = self.rules.default_selection(BackupKind.MANUAL)
        include, exclude = sorted(self.selection - defaults), sorted(defaults - self.selection)
        if include:
            argv += ["--include", ",".join(include)]
        if exclude:
            argv += ["--exclude", ",".join(exclude)]
        if self.verify:
            argv.append("--verify")
        if self.reread:
            argv.append("--reread")
        if self.protection.unprotected:
            argv.append("--no-password")
        return argv


@dataclass
class StoreBackupResult:
    store: Path
    snapshot: str  # the new snapshot's id
    created_store: bool
    files: int
    files_reused: int
    files_read: int
    bytes_total: int  # content bytes of every file in the backup
    bytes_new: int  # content bytes of chunks the store did not hold
    bytes_stored: int  # bytes this backup put into the store (packs, index, snapshot)
    duration_s: float
    retried: list[FileOutcome] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    verified: bool | None = None
    verify_cancelled: bool = False
    damaged: list[tuple[str, str]] = field(default_factory=list)
    recovery_code: bool = False  # the store has a recovery slot (never the code itself)
    warnings: list[Warning] = field(default_factory=list)
    left_out: list[LeftOut] = field(default_factory=list)  # backups inside Data, not read

    @property
    def raw(self) -> list[str]:
        return [o.path for o in self.retried if o.outcome == "raw"]

    @property
    def exit_code(self) -> ExitCode:
        return outcome_exit_code(self)

    def to_json(self) -> dict[str, Any]:
        """The summary's fields: those of a single-file backup's (``archive`` null, no
        volumes) and the store's own."""
        return {
            "archive": None,
            "store": str(self.store),
            "snapshot": self.snapshot,
            "created_store": self.created_store,
            "volumes": [],
            "volume_size": None,
            "files": self.files,
            "files_reused": self.files_reused,
            "files_read": self.files_read,
            "bytes_in": self.bytes_total,
            "bytes_total": self.bytes_total,
            "bytes_new": self.bytes_new,
            "bytes_stored": self.bytes_stored,
            **outcome_json(self),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StoreBackupResult:
        return cls(
            store=Path(data["store"]),
            snapshot=str(data["snapshot"]),
            created_store=bool(data["created_store"]),
            files=int(data["files"]),
            files_reused=int(data["files_reused"]),
            files_read=int(data["files_read"]),
            bytes_total=int(data["bytes_total"]),
            bytes_new=int(data["bytes_new"]),
            bytes_stored=int(data["bytes_stored"]),
            **outcome_fields(data),
        )


# ---- opening ------------------------------------------------------------------------------


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


# ---- what is new ----------------------------------------------------------------------------


@dataclass
class ReusePlan:
    """Which files a backup takes over from its parent unread, and which it reads."""

    reused: list[tuple[FileEntry, SnapshotEntry]]
    to_read: list[FileEntry]
    bytes_total: int  # every file, as the scan saw it
    bytes_to_read: int  # the files to read
    bytes_new: int  # an estimate of the content the store does not hold yet
    files_total: int

    @property
    def bytes_reused(self) -> int:
        return sum(e.size for _f, e in self.reused)


def plan_reuse(
    files: list[FileEntry],
    parent: Snapshot | None,
    index: BlobIndex,
    *,
    reread: bool = False,
    unchanged: Callable[[FileEntry], SnapshotEntry | None] | None = None,
) -> ReusePlan:
    """Compare the scan with *parent*: a file whose size, mtime and identity match and
    whose content *index* still holds is reused; the others are read. *unchanged* (the
    backup writer's own test, under its lock) overrides the test on *index*. With
    *reread*, every file is read, but only the changed ones count as new."""
    before = {e.path: e for e in parent.entries} if parent is not None else {}

    def still_there(f: FileEntry) -> SnapshotEntry | None:
        prev = before.get(f.path)
        if prev is None or not same_file(prev, f.size, f.mtime_ns, f.identity):
            return None
        return prev if all(b in index for b in prev.blobs) else None

    test = unchanged or still_there
    reused: list[tuple[FileEntry, SnapshotEntry]] = []
    to_read: list[FileEntry] = []
    new = 0
    for f in files:
        prev = test(f)
        if prev is None:
            new += f.size
            to_read.append(f)
        elif reread:
            to_read.append(f)
        else:
            reused.append((f, prev))
    return ReusePlan(
        reused=reused,
        to_read=to_read,
        bytes_total=sum(f.size for f in files),
        bytes_to_read=sum(f.size for f in to_read),
        bytes_new=new,
        files_total=len(files),
    )


def space_needed(plan: ReusePlan, chunk_size: int) -> int:
    """Bytes a backup needs at its destination: the new content (sealed, uncompressed:
    at most that), its index and pack headers, the snapshot, a margin."""
    chunks = sum(-(-f.size // chunk_size) for f in plan.to_read) if chunk_size else 0
    return (
        plan.bytes_new
        + SPACE_MARGIN
        + SPACE_PER_FILE * plan.files_total
        + (SPACE_PER_CHUNK * chunks)
    )


def check_space(store: Store | None, folder: Path, needed: int) -> None:
    """Refuse (exit 6) when *needed* bytes are not free at *folder*, saying what
    forgetting the oldest snapshots of *store* would free."""
    free = reported_free_space(folder if folder.exists() else folder.parent)
    if free is None or free >= needed:  # None: the file system does not say
        return
    message = _(
        "Not enough space at {dest}: this backup writes about {need}, {free} are free."
    ).format(dest=folder, need=formatting.size(needed), free=formatting.size(free))
    if store is not None:
        message += " " + _forget_advice(store, folder, needed - free)
    raise NotEnoughSpaceError(message)


def _forget_advice(store: Store, folder: Path, short: int) -> str:
    from therabak.store.errors import DamagedStoreError
    from therabak.store.prune import gains_of_forgetting_oldest

    try:
        gains = gains_of_forgetting_oldest(store, enough=short)
    except DamagedStoreError:
        return _("Run 'therabak check' on the store: a snapshot cannot be read.")
    if not gains:
        return _("The store holds no older backup to forget: use another (larger) medium.")
    last = gains[-1]
    keep = len(store.snapshots()) - last.count
    if last.bytes_freed >= short:
        text = ngettext(
            "Forgetting the oldest backup ({when}) would free about {size}: ",
            "Forgetting the {n} oldest backups (up to {when}) would free about {size}: ",
            last.count,
        )
    else:
        text = ngettext(
            "Forgetting the oldest backup ({when}) would free only about {size}; use another "
            "(larger) medium, or forget it: ",
            "Forgetting even the {n} oldest backups (up to {when}) would free only about "
            "{size}; use another (larger) medium, or forget them: ",
            last.count,
        )
    return text.format(
        n=last.count,
        when=formatting.local_time(last.oldest[-1].created),
        size=formatting.size(last.bytes_freed),
    ) + (f'therabak forget "{folder}" --keep-last {keep}, then therabak prune "{folder}".')


@dataclass
class Estimate:
    """What a backup into a destination would write, before it starts (the app shows it
    after the destination and the password: "writes 120 MB of 2.0 GB")."""

    store: Path
    exists: bool  # the destination holds a store already
    bytes_total: int
    bytes_new: int
    files_total: int
    files_reused: int
    recovery_code: bool  # the store has a recovery code (False for a new one)


def estimate_backup(
    dest: Path,
    *,
    data_dir: Path,
    account: AccountKey,
    rules: Rules,
    selection: frozenset[str],
    protection: Protection,
) -> Estimate:
    """Open the store in *dest* (if there is one: a wrong password raises exit 4's
    error, a store locked otherwise than *protection* says exit 2's), scan Data and
    compare with the newest backup of this practice there. Changes nothing."""
    data_dir = followed_root(Path(data_dir))
    folder = store_folder(Path(dest).expanduser().absolute())
    req = StoreBackupRequest(
        data_dir=data_dir,
        account=account,
        dest_dir=Path(dest),
        rules=rules,
        selection=selection,
        protection=protection,
    )
    store = open_existing(folder, req)
    found = scan_for_backup(data_dir, rules, selection, folder.parent)
    if store is None:
        plan = plan_reuse(found.files, None, BlobIndex())
    else:
        parent = store.latest(kind=str(BackupKind.MANUAL), account_key_id=account.id_hex)
        plan = plan_reuse(found.files, parent, store.index())
    return Estimate(
        store=folder,
        exists=store is not None,
        bytes_total=plan.bytes_total,
        bytes_new=plan.bytes_new,
        files_total=plan.files_total,
        files_reused=len(plan.reused),
        recovery_code=store is not None and store.has_recovery_code,
    )


# ---- the job --------------------------------------------------------------------------------


def run_store_backup(
    req: StoreBackupRequest, emit: Emit = lambda e: None, cancel: CancelToken = NEVER
) -> StoreBackupResult:
    req = replace(req, data_dir=followed_root(req.data_dir))
    with DataReading(req.data_dir, "backup"):  # no restore may swap Data meanwhile
        return _run(req, WarningLog(emit), cancel)


def _run(req: StoreBackupRequest, emit: WarningLog, cancel: CancelToken) -> StoreBackupResult:
    start = time.monotonic()
    memtune.tune_for_streaming()
    dest = prepare_destination(req.dest_dir)
    folder = store_folder(dest)
    emit(Phase("opening", str(folder)))
    store = open_existing(folder, req)  # the key first (Argon2id), before any other work
    emit(Phase("scanning", str(req.data_dir)))
    found = scan_for_backup(req.data_dir, req.rules, req.selection, dest)
    cancel.check()
    created = (req.created or faults.created() or datetime.now().astimezone()).replace(
        microsecond=0
    )
    meta = SnapshotMeta(
        kind=SnapshotKind(str(req.kind)),
        categories=tuple(sorted(req.selection)),
        account_key_id=req.account.id_hex,
        created=created,
    )
    created_store = False
    if store is None:
        plan = plan_reuse(found.files, None, BlobIndex())
        check_space(None, folder, space_needed(plan, _default_chunk()))
        store, created_store = create_or_open(folder, req)
        if created_store and req.on_created is not None:
            req.on_created(folder)
    parent = None
    if not created_store:
        parent = store.latest(kind=str(req.kind), account_key_id=req.account.id_hex)
    writer = store.begin_backup(parent, meta)  # a shared lock until commit or abort
    try:
        return _write(req, emit, cancel, store, writer, found, dest, created_store, start)
    except BaseException:
        writer.abort()  # no snapshot: nothing of this backup is visible
        raise


def _default_chunk() -> int:
    from therabak.store.config import DEFAULT_CHUNK_SIZE

    return DEFAULT_CHUNK_SIZE


def _write(
    req: StoreBackupRequest,
    emit: WarningLog,
    cancel: CancelToken,
    store: Store,
    writer: BackupWriter,
    found: Found,
    dest: Path,
    created_store: bool,
    start: float,
) -> StoreBackupResult:
    folder = Path(store.location)

    def unchanged(f: FileEntry) -> SnapshotEntry | None:
        return writer.unchanged(f.path, f.size, f.mtime_ns, f.identity)

    index = store.index()
    plan = plan_reuse(found.files, writer.parent, index, reread=req.reread, unchanged=unchanged)
    if not created_store:
        check_space(store, folder, space_needed(plan, store.config.chunk_size))
    announce_scan(emit, req.data_dir, dest, found)
    emit(
        Phase(
            "writing",
            _("{new} of {total} to write; the rest is already in the backup store").format(
                new=formatting.size(plan.bytes_new), total=formatting.size(plan.bytes_total)
            ),
        )
    )
    for f, prev in plan.reused:
        writer.reuse(prev, category=f.category)
    progress = ProgressTracker(
        emit,
        "writing",
        bytes_total=plan.bytes_to_read,
        files_total=len(plan.to_read),
        files_reused=len(plan.reused),
        bytes_reused=plan.bytes_reused,
    )
    storer = FileStorer(
        _StoreSink(writer),
        data_dir=req.data_dir,
        account=req.account,
        policy=req.retry,
        emit=emit,
        cancel=cancel,
        progress=progress,
    )
    with collector_paused():
        storer.store_all(plan.to_read)
    for path, why in [*found.unsafe.items(), *storer.skipped]:
        writer.skip(path, why)
    progress.finish()
    cancel.check()
    emit(Phase("syncing", str(folder)))
    snapshot = writer.commit()
    faults.point("backup.published")
    stats = writer.stats
    result = StoreBackupResult(
        store=folder,
        snapshot=snapshot.snapshot_id,
        created_store=created_store,
        files=stats.files,
        files_reused=stats.files_reused,
        files_read=stats.files - stats.files_reused,
        bytes_total=stats.bytes_in,
        bytes_new=stats.bytes_new,
        bytes_stored=stats.bytes_added,
        duration_s=0.0,
        retried=storer.outcomes,
        skipped=[*found.unsafe.items(), *storer.skipped],
        recovery_code=store.has_recovery_code,
        left_out=[LeftOut(f.path, f.size) for f in found.left_out],
    )
    del plan, found
    if req.verify:
        _verify(store, writer, snapshot, result, emit, cancel)
    result.duration_s = round(time.monotonic() - start, 3)
    result.warnings = list(emit.warnings)
    _remember(req, result, snapshot, dest)
    emit(Summary.of("backup", result, str(folder)))
    return result


def _verify(
    store: Store,
    writer: BackupWriter,
    snapshot: Snapshot,
    result: StoreBackupResult,
    emit: Emit,
    cancel: CancelToken,
) -> None:
    from therabak.store.verify import verify_written

    emit(Phase("verifying", str(store.location)))
    try:
        verdict = verify_written(
            store, snapshot, writer.new_packs, emit=emit, check_cancel=cancel.check
        )
    except (Cancelled, KeyboardInterrupt):
        # The backup was complete before its check began: cancelling the check keeps
        # it, unverified, and says so.
        result.verify_cancelled = True
        emit(
            Warning(
                _(
                    "The check was cancelled: the backup is complete but not verified. Keep "
                    'it (check it later with: therabak check "{store}" --read-data) or forget '
                    "it: snapshot {id}"
                ).format(store=store.location, id=snapshot.snapshot_id[:8]),
                path=str(store.location),
                code="verify-cancelled",
            )
        )
        return
    result.verified = not verdict.damaged
    result.damaged = verdict.damaged


class _StoreSink:
    """The store's side of the file storer: one store file writer per attempt."""

    def __init__(self, writer: BackupWriter) -> None:
        self.writer = writer

    def begin(self, entry: FileEntry, *, raw: bool = False, key_id: str = "") -> FileWriter:
        return self.writer.add_file(
            entry.path,
            entry.category,
            mtime_ns=entry.mtime_ns,
            identity=entry.identity,
            raw=raw,
            key_id=key_id,
            source_size=entry.size,
        )

    def finish(self, writer: EntryWriter, info: SourceRead) -> None:
        assert isinstance(writer, FileWriter)
        writer.finish(source_size=info.size, mtime_ns=info.mtime_ns, sealed=info.sealed)


def _remember(
    req: StoreBackupRequest, result: StoreBackupResult, snapshot: Snapshot, dest: Path
) -> None:
    kind = (
        history.RecordKind.MANUAL if req.kind is BackupKind.MANUAL else history.RecordKind.AUTOMATIC
    )
    with contextlib.suppress(OSError):
        history.append(
            history.BackupRecord(
                kind=kind,
                path=str(result.store),
                created=snapshot.created.isoformat(),
                files=result.files,
                bytes=result.bytes_stored,
                verified=result.verified,
                data_dir=str(req.data_dir),
                extra={"store": True, "snapshot": snapshot.snapshot_id},
            )
        )
    if req.remember_destination and req.kind is BackupKind.MANUAL:
        with contextlib.suppress(TherabakError, OSError):
            settings = Settings.load()
            if settings.remember_destination(dest):
                settings.save()


__all__ = [
    "Estimate",
    "ReusePlan",
    "StoreBackupRequest",
    "StoreBackupResult",
    "check_space",
    "estimate_backup",
    "plan_reuse",
    "run_store_backup",
    "space_needed",
]
