"""Manual and automatic backups: scan, read every file (decrypt-retry), seal, publish.

The final name is reserved when the backup starts (datafolder/locks.py: ``reserve_name``, with
``-2``, ``-3``, ... when it is taken, so backups started in the same second do not
collide). The archive is written as ``<name>.<pid>.partial`` (datafolder/partials.py),
fsynced and renamed, so a crash or a cancel never leaves a file that looks like a
finished backup. Where the
destination's file system limits the size of a file (FAT32: 4 GiB), or a volume size
is asked for, or the file system refuses a larger file while it is written, the
archive is split into volumes ``<name>``, ``<name>.002``, ... (archive/volumes/),
written the same way and renamed the first volume last.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from therabak import faults, fsinfo, memtune
from therabak.archive.volumes import (
    MAX_VOLUMES,
    VolumeSink,
    delete_later_orphans,
    later_volumes,
    open_source,
    set_size,
    volume_size_for,
    volumes_needed,
)
from therabak.archive.writer import ArchiveKeys, ArchiveWriter, Protection
from therabak.archive.writer import EntryWriter as ArchiveEntry
from therabak.datafolder.locks import DataReading, clear_stale_reservations, reserve_name
from therabak.datafolder.names import archive_name, is_archive_output
from therabak.datafolder.partials import LeftoverKind, being_written, sweep
from therabak.errors import (
    Cancelled,
    ExitCode,
    NotEnoughSpaceError,
    TherabakError,
    UsageError,
)
from therabak.events import (
    Emit,
    FileOutcome,
    Phase,
    Summary,
    Warning,
    WarningLog,
    ignore,
)
from therabak.fsutil import (
    followed_root,
    fsync_dir,
    reported_free_space,
)
from therabak.i18n import _
from therabak.jobkit import history
from therabak.jobkit.cancel import NEVER, CancelToken
from therabak.jobkit.progress import ProgressTracker
from therabak.jobkit.retry import RetryPolicy
from therabak.jobs.backup_args import backup_argv, prepare_destination
from therabak.jobs.backup_outcome import (
    LeftOut,
    outcome_exit_code,
    outcome_fields,
    outcome_json,
)
from therabak.jobs.backup_scan import Found, announce_scan, scan_for_backup
from therabak.jobs.file_storer import (  # noqa: F401 - BackupAborted: part of this API
    BackupAborted,
    FileStorer,
    collector_paused,
)
from therabak.practice.account import AccountKey
from therabak.practice.categories import BackupKind, Rules
from therabak.practice.scan import FileEntry
from therabak.practice.source import SourceRead
from therabak.settings import Settings

# Room for headers, index and framing on top of the data itself.
SPACE_MARGIN = 1 << 20


@dataclass
class BackupRequest:
    """A backup, as the engine takes it and, for a manual one, as ``therabak backup`` is
    asked for it (:meth:`to_argv`; the password goes to a job's standard input)."""

    operation: ClassVar[str] = "backup"

    data_dir: Path
    account: AccountKey
    dest_dir: Path
    rules: Rules
    selection: frozenset[str]
    protection: Protection
    kind: BackupKind = BackupKind.MANUAL
    verify: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    remember_destination: bool = True
    created: datetime | None = None
    volume_size: int | None = None  # split into volume files of at most this many bytes
    account_key_path: Path | None = None  # for a job's command line (None: the default)

    def to_argv(self) -> list[str]:
        """The ``therabak backup --single-file`` arguments of this manual backup; the
        categories as the difference to the defaults (``--include``/``--exclude``); never
        a secret."""
        argv = ["--single-file", *backup_argv(self, str(self.dest_dir))]
        if self.protection.unprotected:
            argv.append("--no-password")
        if self.volume_size is not None:
            argv += ["--volume-size", str(self.volume_size)]
        return argv


@dataclass
class BackupResult:
    archive: Path  # the archive, or the first volume of a split one
    files: int
    bytes_in: int
    bytes_stored: int
    duration_s: float
    retried: list[FileOutcome] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    verified: bool | None = None
    damaged: list[tuple[str, str]] = field(default_factory=list)
    volumes: list[Path] = field(default_factory=list)  # every file of the backup, in order
    volume_size: int | None = None  # the size volumes were limited to (None: not limited)
    file_system: str = ""  # the destination's, as far as known (e.g. "FAT32")
    verify_cancelled: bool = False  # the check after writing was cancelled: not verified
    recovery_code: bool = False  # the backup has a recovery slot (never the code itself)
    warnings: list[Warning] = field(default_factory=list)  # every warning the job printed
    left_out: list[LeftOut] = field(default_factory=list)  # backups inside Data, not read

    @property
    def raw(self) -> list[str]:
        return [o.path for o in self.retried if o.outcome == "raw"]

    def to_json(self) -> dict[str, Any]:
        return {
            "archive": str(self.archive),
            "volumes": [str(p) for p in self.volumes],
            "volume_size": self.volume_size,
            "file_system": self.file_system,
            "files": self.files,
            "bytes_in": self.bytes_in,
            "bytes_stored": self.bytes_stored,
            **outcome_json(self),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BackupResult:
        return cls(
            archive=Path(data["archive"]),
            files=int(data["files"]),
            bytes_in=int(data["bytes_in"]),
            bytes_stored=int(data["bytes_stored"]),
            volumes=[Path(p) for p in data.get("volumes") or ()],
            volume_size=data.get("volume_size"),
            file_system=str(data.get("file_system", "")),
            **outcome_fields(data),
        )

    @property
    def exit_code(self) -> ExitCode:
        return outcome_exit_code(self)


def clean_stale_partials(folder: Path) -> list[Path]:
    """Remove what backups that died left in *folder* (the one sweeper, datafolder/partials.py):
    ``*.partial`` archives and volumes and the reservations of their names, then the
    later volumes of split backups that died while they were renamed (``X.therabak.002``
    ... without ``X.therabak``; see :func:`delete_later_orphans`)."""
    removed = sweep(folder, belongs=is_archive_output, kind=LeftoverKind.FILE)
    removed += clear_stale_reservations(folder, is_archive_output)
    removed += delete_later_orphans(folder, writing=being_written)
    return removed


def _name_taken(final: Path) -> bool:
    """Is a backup (or a volume of one, or one being written) already called *final*?"""
    return (
        os.path.lexists(final)
        or bool(later_volumes(final))
        or being_written(final.parent, final.name)
    )


def space_needed(bytes_total: int, files: int, volume_size: int | None = None) -> int:
    """Bytes a backup of *files* files holding *bytes_total* bytes needs at its destination
    (split into volumes of *volume_size* bytes: each volume's header too)."""
    return set_size(bytes_total + SPACE_MARGIN + 512 * files, volume_size)


def check_space(dest: Path, needed: int) -> None:
    free = reported_free_space(dest)
    if free is not None and free < needed:  # None: the file system does not say
        from therabak import formatting

        raise NotEnoughSpaceError(
            _("Not enough space at {dest}: the backup needs about {need}, {free} are free.").format(
                dest=dest, need=formatting.size(needed), free=formatting.size(free)
            )
        )


def run_backup(
    req: BackupRequest, emit: Emit = ignore, cancel: CancelToken = NEVER
) -> BackupResult:
    req = replace(req, data_dir=followed_root(req.data_dir))
    with DataReading(req.data_dir, "backup"):  # no restore may swap Data meanwhile
        return _run_backup(req, WarningLog(emit), cancel)


def _run_backup(req: BackupRequest, emit: WarningLog, cancel: CancelToken) -> BackupResult:
    # Argon2id first: its 64 MiB are touched and freed before the scan's file list and
    # the index exist, so the peak memory is the larger of the two, not their sum.
    keys = ArchiveKeys(req.protection)
    memtune.tune_for_streaming()
    dest = prepare_destination(req.dest_dir)
    emit(Phase("scanning", str(req.data_dir)))
    found = scan_for_backup(req.data_dir, req.rules, req.selection, dest)
    clean_stale_partials(dest)
    fs = fsinfo.probe(dest)
    volume_size = volume_size_for(fs.max_file_size, req.volume_size)
    needed = space_needed(found.total, len(found.files), volume_size)
    check_space(dest, needed)
    if volumes_needed(needed, volume_size) > MAX_VOLUMES:
        from therabak import formatting

        raise UsageError(
            _(
                "Volumes of {size} are too small for this backup (it would need more than "
                "{most}); choose a larger volume size."
            ).format(size=formatting.size(volume_size or 0), most=MAX_VOLUMES)
        )
    created = (req.created or faults.created() or datetime.now().astimezone()).replace(
        microsecond=0
    )
    final, reservation = reserve_name(
        dest,
        (archive_name(req.kind, created, n) for n in itertools.count(1)),
        taken=_name_taken,
        what="backup",
    )
    try:
        return _write_backup(req, emit, cancel, keys, found, dest, fs, volume_size, created, final)
    finally:
        reservation.release()  # after publishing: the name is taken by the backup now


def _write_backup(
    req: BackupRequest,
    emit: WarningLog,
    cancel: CancelToken,
    keys: ArchiveKeys,
    found: Found,
    dest: Path,
    fs: fsinfo.FsInfo,
    volume_size: int | None,
    created: datetime,
    final: Path,
) -> BackupResult:
    """Write, publish and (on request) verify the backup under its reserved name."""
    announce_scan(emit, req.data_dir, dest, found)
    written = _write_archive(req, emit, cancel, keys, found, volume_size, created, final)
    faults.point("backup.published")
    if os.name != "nt":
        for path in written.volumes:
            with contextlib.suppress(OSError):
                os.chmod(path, 0o600)
    fsync_dir(dest)
    result = _result_of(req, written, found, fs, final)
    if written.sink.refused_at is not None:
        _warn_split_at_limit(emit, written, fs, final)
    if req.verify:
        # The verify pass reads the index back: let the written one and the file list
        # go first, so memory holds one index at a time, not two.
        archive_key = written.writer.archive_key
        written.writer.entries = []
        found.files = []
        _verify_written(emit, cancel, final, archive_key, result)
    result.duration_s = round(written.progress.elapsed, 3)
    result.warnings = list(emit.warnings)
    _remember(req, result, created, dest)
    emit(Summary.of("backup", result, str(final)))
    return result


@dataclass
class _Written:
    """A backup written and published: its writer (the index), its volumes, what
    happened to the files."""

    writer: ArchiveWriter
    sink: VolumeSink
    volumes: list[Path]
    retried: list[FileOutcome]
    skipped: list[tuple[str, str]]
    progress: ProgressTracker


def _write_archive(
    req: BackupRequest,
    emit: WarningLog,
    cancel: CancelToken,
    keys: ArchiveKeys,
    found: Found,
    volume_size: int | None,
    created: datetime,
    final: Path,
) -> _Written:
    """Every file into the archive, synced and published under *final* (its volumes);
    nothing published (the partial files discarded) when anything fails."""
    files, total = found.files, found.total
    sink = VolumeSink(final, volume_size=volume_size)
    published = False
    try:
        writer = ArchiveWriter(
            sink,
            protection=req.protection,
            kind=req.kind.value,
            categories=tuple(sorted(req.selection)),
            created=created,
            keys=keys,
        )
        emit(Phase("writing", str(final)))
        progress = ProgressTracker(emit, "writing", bytes_total=total, files_total=len(files))
        storer = FileStorer(
            _ArchiveSink(writer),
            data_dir=req.data_dir,
            account=req.account,
            policy=req.retry,
            emit=emit,
            cancel=cancel,
            progress=progress,
        )
        storer.skipped.extend(found.unsafe.items())
        with collector_paused():
            storer.store_all(files)
        retried, skipped = storer.outcomes, storer.skipped
        progress.finish()
        cancel.check()
        writer.finish(
            account_key_id=req.account.id_hex,
            skipped=[{"path": p, "reason": r} for p, r in skipped],
        )
        emit(Phase("syncing", str(final)))
        sink.sync()
        sink.close()
        cancel.check()
        faults.point("backup.rename")
        volumes = sink.publish()
        published = True
    finally:
        if not published:
            sink.discard()
    return _Written(writer, sink, volumes, retried, skipped, progress)


def _result_of(
    req: BackupRequest, written: _Written, found: Found, fs: fsinfo.FsInfo, final: Path
) -> BackupResult:
    """The result of a published backup (not yet verified, no duration yet)."""
    entries, volumes = written.writer.entries, written.volumes
    return BackupResult(
        archive=final,
        files=len(entries),
        bytes_in=sum(e.size for e in entries),
        bytes_stored=sum(p.stat().st_size for p in volumes),
        duration_s=0.0,
        retried=written.retried,
        skipped=written.skipped,
        volumes=volumes,
        volume_size=written.sink.volume_size,
        file_system=fs.label,
        recovery_code=req.protection.recovery_code is not None,
        left_out=[LeftOut(f.path, f.size) for f in found.left_out],
    )


def _warn_split_at_limit(
    emit: WarningLog, written: _Written, fs: fsinfo.FsInfo, final: Path
) -> None:
    """The destination refused a file that large: the backup went into volumes."""
    from therabak import formatting

    emit(
        Warning(
            _(
                "The destination refused files larger than {size} ({file_system}): the "
                "backup was split into {n} volumes."
            ).format(
                size=formatting.size(written.sink.refused_at or 0),
                file_system=fs.label or _("file system unknown"),
                n=len(written.volumes),
            ),
            path=str(final),
            code="split-at-limit",
        )
    )


def _verify_written(
    emit: WarningLog,
    cancel: CancelToken,
    final: Path,
    archive_key: bytes,
    result: BackupResult,
) -> None:
    """Read the published backup back and check every file; *result* says the verdict,
    or that the check was cancelled."""
    from therabak.archive.reader import ArchiveReader  # the reader: only to verify
    from therabak.jobs.verify import verify_archive

    emit(Phase("verifying", str(final)))
    try:
        source = open_source(final)
        source.drop_cache()
        with ArchiveReader(source, name=str(final)) as reader:
            reader.archive_key = archive_key
            verdict = verify_archive(reader, emit, cancel)
    except (Cancelled, KeyboardInterrupt):
        # The backup was complete before its check began: cancelling the check
        # keeps it, unverified, and says so (the user may keep or delete it).
        result.verify_cancelled = True
        emit(
            Warning(
                _(
                    "The check was cancelled: the backup is complete but not verified. "
                    "Keep it (verify it later) or delete it: {path}"
                ).format(path=final),
                path=str(final),
                code="verify-cancelled",
            )
        )
    else:
        result.verified = not verdict.damaged
        result.damaged = verdict.damaged


def _remember(req: BackupRequest, result: BackupResult, created: datetime, dest: Path) -> None:
    kind = (
        history.RecordKind.MANUAL if req.kind is BackupKind.MANUAL else history.RecordKind.AUTOMATIC
    )
    with contextlib.suppress(OSError):
        history.append(
            history.BackupRecord(
                kind=kind,
                path=str(result.archive),
                created=created.isoformat(),
                files=result.files,
                bytes=result.bytes_stored,
                verified=result.verified,
                data_dir=str(req.data_dir),
                extra={"volumes": len(result.volumes)} if len(result.volumes) > 1 else {},
            )
        )
    if req.remember_destination and req.kind is BackupKind.MANUAL:
        with contextlib.suppress(TherabakError, OSError):
            settings = Settings.load()
            if settings.remember_destination(dest):
                settings.save()


class _ArchiveSink:
    """The archive's side of the file storer (jobs/file_storer.py): one archive entry per
    attempt."""

    def __init__(self, writer: ArchiveWriter) -> None:
        self.writer = writer

    def begin(self, entry: FileEntry, *, raw: bool = False, key_id: str = "") -> ArchiveEntry:
        return self.writer.begin(
            path=entry.path,
            category=entry.category,
            mtime_ns=entry.mtime_ns,
            raw=raw,
            key_id=key_id,
        )

    def finish(self, ew: ArchiveEntry, info: SourceRead) -> None:  # type: ignore[override]
        if not ew.raw:  # a raw entry keeps the scan's mtime and is sealed by definition
            ew.mtime_ns = info.mtime_ns
            ew.sealed = info.sealed
        ew.finish()
