"""Manual and automatic backups into a backup store: only what is new is written.

A backup into ``DEST`` goes into the store ``DEST/TheraPsy-Backups`` (store/place.py):

1. **Open** the store first (its key: the password, a recovery code, the account key, or
   its none slot): a wrong password is refused (exit 4) before anything else is
   reported or written. A destination without a store gets one, made after the scan and
   the space check (so a refused backup leaves nothing behind), locked as the request's
   protection says.
2. **Scan** Data (jobs/backup_scan.py: the same rules, the same files left out as for the
   single-file backup) and compare with the **parent**, the newest snapshot of this
   practice and kind: a file whose size, mtime and identity are unchanged (and whose
   content the store still holds) is taken over without being read (``reread`` reads
   every file); the sizes of the others are what the backup may write. The scan runs on
   a thread of its own from the start (``ScanBehind``), while the key is derived and the
   parent and the index are read; what it found, or the error it met, is taken after
   them, so the messages and errors come in the order above. The parent's blobs are
   checked against the index once, as a set; only a file with a blob the index lacks is
   looked up on its own.
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
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from therabak import faults, formatting, memtune
from therabak.datafolder.locks import DataReading
from therabak.errors import Cancelled, ExitCode, TherabakError
from therabak.events import Emit, FileOutcome, Phase, Summary, Warning, WarningLog
from therabak.fsutil import followed_root
from therabak.i18n import _
from therabak.jobkit import history
from therabak.jobkit.cancel import NEVER, CancelToken
from therabak.jobkit.progress import ProgressTracker
from therabak.jobs.backup_outcome import (
    LeftOut,
    outcome_exit_code,
    outcome_fields,
    outcome_json,
)
from therabak.jobs.backup_scan import Found, ScanBehind, announce_scan
from therabak.jobs.file_storer import EntryWriter, FileStorer, collector_paused
from therabak.jobs.store_request import StoreBackupRequest
from therabak.jobs.store_target import StoreTarget, open_target, warm_while_opening
from therabak.practice.categories import BackupKind
from therabak.settings import Settings

if TYPE_CHECKING:
    from therabak.practice.scan import FileEntry
    from therabak.practice.source import SourceRead
    from therabak.store.backup import BackupWriter, SnapshotMeta
    from therabak.store.core import Store
    from therabak.store.file_writer import FileWriter
    from therabak.store.snapshot import Snapshot

# The store's own modules (~30, and zstandard) are imported in _run_at once the scan of
# Data runs: with the page cache dropped, importing them took 70-100 ms that the scan
# waited for (store/, jobs/store_open.py, jobs/store_plan.py).


@dataclass
class StoreBackupResult:
    store: str  # the store's place: a path, or a URL without credentials
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
            "store": self.store,
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
            store=str(data["store"]),
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


# ---- the job --------------------------------------------------------------------------------


def run_store_backup(
    req: StoreBackupRequest, emit: Emit = lambda e: None, cancel: CancelToken = NEVER
) -> StoreBackupResult:
    req = replace(req, data_dir=followed_root(req.data_dir))
    with DataReading(req.data_dir, "backup"):  # no restore may swap Data meanwhile
        return _run(req, WarningLog(emit), cancel)


def _run(req: StoreBackupRequest, emit: WarningLog, cancel: CancelToken) -> StoreBackupResult:
    start = time.monotonic()
    target = open_target(req)
    try:
        emit(Phase("opening", target.place))
        # the scan of Data runs behind the key's derivation and the reading of the parent
        # and the index; its result (or its error) is taken where the scan ran before
        with ScanBehind(
            req.data_dir, req.rules, req.selection, target.dest, check=cancel.check
        ) as scanning:
            # the store's modules while the scan runs (with the page cache dropped they
            # took 70-100 ms that it waited for), and while the collector still runs (what
            # importing them leaves goes, not held through the backup)
            import therabak.jobs.store_open
            import therabak.jobs.store_plan  # noqa: F401

            # the collector paused from the start, not only while files are stored: the
            # parent's entries, the index and the scan are tens of thousands of objects
            # each, and each collector pass over them cost (bench practice: 35 of
            # load_index's 75 ms)
            with collector_paused():
                return _run_at(req, emit, cancel, target, start, scanning)
    finally:
        target.close()


def _run_at(
    req: StoreBackupRequest,
    emit: WarningLog,
    cancel: CancelToken,
    target: StoreTarget,
    start: float,
    scanning: ScanBehind,
) -> StoreBackupResult:
    from therabak.jobs.store_open import open_existing

    with warm_while_opening(target):  # the store's listings read into the cache meanwhile
        store = open_existing(target, req)  # the key first (Argon2id): a wrong one ends here
    emit(Phase("scanning", str(req.data_dir)))
    if store is None:
        found = scanning.result()
        return _into_new(req, emit, cancel, target, start, found)
    try:
        parent = store.latest(kind=str(req.kind), account_key_id=req.account.id_hex, keep_body=True)
        writer = store.begin_backup(parent, _meta(req))  # a shared lock until commit/abort
    except Exception:  # (an interrupt goes at once: the scan is stopped on the way out)
        scanning.result()  # the scan's error first, as when the scan ran before these
        raise
    try:
        found = scanning.result()
        cancel.check()
    except BaseException:
        writer.abort()
        raise
    return _write_or_abort(req, emit, cancel, store, writer, found, target, False, start)


def _meta(req: StoreBackupRequest) -> SnapshotMeta:
    from therabak.store.backup import SnapshotMeta
    from therabak.store.snapshot import SnapshotKind

    created = (req.created or faults.created() or datetime.now().astimezone()).replace(
        microsecond=0
    )
    return SnapshotMeta(
        kind=SnapshotKind(str(req.kind)),
        categories=tuple(sorted(req.selection)),
        account_key_id=req.account.id_hex,
        created=created,
    )


def _into_new(
    req: StoreBackupRequest,
    emit: WarningLog,
    cancel: CancelToken,
    target: StoreTarget,
    start: float,
    found: Found,
) -> StoreBackupResult:
    """The backup into a destination without a store: the store is made (after the
    space check, so a refused backup leaves nothing behind), or taken as another backup
    made it meanwhile."""
    from therabak.jobs.store_open import create_or_open
    from therabak.jobs.store_plan import check_space, plan_reuse, space_needed
    from therabak.store.index import BlobIndex

    cancel.check()
    meta = _meta(req)
    if target.folder is not None:  # off-site: a full quota is refused when it is hit
        plan = plan_reuse(found.files, None, BlobIndex())
        check_space(None, target.folder, space_needed(plan, _default_chunk()))
        del plan  # not held while the backup runs (a second list of every file)
    store, created_store = create_or_open(target, req)
    if created_store and req.on_created is not None:
        req.on_created(target.place)
    parent = None
    if not created_store:
        parent = store.latest(kind=str(req.kind), account_key_id=req.account.id_hex, keep_body=True)
    writer = store.begin_backup(parent, meta)  # a shared lock until commit or abort
    return _write_or_abort(req, emit, cancel, store, writer, found, target, created_store, start)


def _write_or_abort(
    req: StoreBackupRequest,
    emit: WarningLog,
    cancel: CancelToken,
    store: Store,
    writer: BackupWriter,
    found: Found,
    target: StoreTarget,
    created_store: bool,
    start: float,
) -> StoreBackupResult:
    try:
        return _write(req, emit, cancel, store, writer, found, target, created_store, start)
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
    target: StoreTarget,
    created_store: bool,
    start: float,
) -> StoreBackupResult:
    from therabak.jobs.store_plan import check_space, plan_reuse, space_needed

    index = store.index()
    # the scan's entries go as they are planned: those of the files taken over at once
    # (for 100,000 unchanged files ~30 MB), those to read once they are stored
    plan = plan_reuse(
        found.files,
        writer.parent,
        index,
        reread=req.reread,
        unchanged_all=writer.unchanged_all,  # the writer's own test, under its lock
        consume=True,
    )
    if not created_store and target.folder is not None:
        check_space(store, target.folder, space_needed(plan, store.config.chunk_size))
    announce_scan(emit, req.data_dir, target.dest, found)
    emit(
        Phase(
            "writing",
            _("{new} of {total} to write; the rest is already in the backup store").format(
                new=formatting.size(plan.bytes_new), total=formatting.size(plan.bytes_total)
            ),
        )
    )
    progress = ProgressTracker(
        emit,
        "writing",
        bytes_total=plan.bytes_to_read,
        files_total=len(plan.to_read),
        files_reused=len(plan.reused),
        bytes_reused=plan.bytes_reused,
    )
    writer.reuse_all(plan.reused_pairs())
    plan.reused.clear()
    storer = FileStorer(
        _StoreSink(writer),
        data_dir=req.data_dir,
        account=req.account,
        policy=req.retry,
        emit=emit,
        cancel=cancel,
        progress=progress,
    )
    if plan.to_read:  # streams 1 MiB buffers (a backup with nothing to read needs not ctypes)
        memtune.tune_for_streaming(memtune.STORE_MMAP_THRESHOLD)
        # the writer's chunk thread (a file's later chunks) needs concurrent.futures: it is
        # imported now, before the pack buffers exist, not at the peak (+0.8 MiB there)
        import concurrent.futures  # noqa: F401
    storer.store_all(plan.to_read, let_go=True)  # the collector paused (_run)
    for path, why in [*found.unsafe.items(), *storer.skipped]:
        writer.skip(path, why)
    progress.finish()
    cancel.check()
    # the files read go before the commit encodes the index and the snapshot, the moment
    # the most else is alive (emptied, not only dropped: the caller holds *found*)
    plan.to_read.clear()
    emit(Phase("syncing", target.place))
    snapshot = writer.commit()
    faults.point("backup.published")
    stats = writer.stats
    result = StoreBackupResult(
        store=target.place,
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
    _remember(req, result, snapshot, target.dest)
    emit(Summary.of("backup", result, target.place))
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
        from therabak.store.file_writer import FileWriter

        assert isinstance(writer, FileWriter)
        writer.finish(source_size=info.size, mtime_ns=info.mtime_ns, sealed=info.sealed)


def _remember(
    req: StoreBackupRequest, result: StoreBackupResult, snapshot: Snapshot, dest: Path | None
) -> None:
    """The backup in this computer's history (which ``status`` reads per destination,
    off-site ones too) and a local destination among the remembered folders."""
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
    if dest is not None and req.remember_destination and req.kind is BackupKind.MANUAL:
        with contextlib.suppress(TherabakError, OSError):
            settings = Settings.load()
            if settings.remember_destination(dest):
                settings.save()


__all__ = [
    "StoreBackupRequest",
    "StoreBackupResult",
    "run_store_backup",
]
