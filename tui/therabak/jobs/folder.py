"""Folder backups ("Ordner-Backup"): a verified copy of ``Data`` as it is, plus a manifest.

The files stay sealed with the account key (nothing is decrypted), so a folder backup
is fast and immune to the decryption failures of manual backups, but only the same
account can use it. The name ``TheraPsy-Data-<time>`` is reserved when the job starts
(``-2``, ``-3``, ... when taken: datafolder/locks.py, ``reserve_name``); the copy goes to
``DEST/TheraPsy-Data-<time>.<pid>.partial/`` and is renamed to its final name once every
file is copied, the manifest is written and (by default) every copied file was read back
and checked. A destination inside Data is refused before any work: the copy would
be copied into itself.

The manifest (``therabak-manifest.json`` in the copy's top folder, JSON Lines; see
jobs/FORMAT.md) starts with one summary line (format, time, account key id, counts),
so listing restore points reads one line, followed by one line per file with its
size, modification time and the SHA-256 of the bytes as copied.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from therabak import faults
from therabak.archive.byteio import write_error
from therabak.datafolder.filecopy import (
    DestinationWriteFailed,
    sync_files,
)
from therabak.datafolder.locks import DataReading, clear_stale_reservations, reserve_name
from therabak.datafolder.manifest import MANIFEST_NAME, ManifestFile, folder_manifest
from therabak.datafolder.names import folder_name, is_folder_backup_name
from therabak.datafolder.partials import (
    LeftoverKind,
    partial_path,
    remove_leftover,
    remove_tree,
    sweep,
)
from therabak.datafolder.swap import recover
from therabak.errors import DamagedArchiveError, ExitCode, UsageError
from therabak.events import Emit, Phase, Summary, Warning, WarningLog, ignore
from therabak.fsutil import (
    followed_root,
    fsync_dir,
    make_new_private_dir,
    relative_inside,
    write_private,
)
from therabak.i18n import _, ngettext
from therabak.jobkit import history
from therabak.jobkit.cancel import NEVER, CancelToken
from therabak.jobkit.progress import ProgressTracker
from therabak.jobkit.workers import read_workers, worker_count
from therabak.jobs.backup import check_space, prepare_destination
from therabak.jobs.folder_copy import CopyGone, copy_files, destination_names, verify_copy
from therabak.jsonform import (
    damage_from,
    damage_json,
    renamed_from,
    renamed_json,
    warning_list,
    warnings_from,
)
from therabak.namemap import Renamed
from therabak.practice.categories import Rules
from therabak.practice.scan import FileEntry, require_data_dir, scan
from therabak.storedpaths import unsafe_reason

SPACE_MARGIN = 1 << 20


# ---- the job ---------------------------------------------------------------------------------


@dataclass
class FolderBackupRequest:
    """A folder backup, as the engine takes it and as ``therabak folder-backup`` is
    asked for it (:meth:`to_argv`)."""

    operation: ClassVar[str] = "folder-backup"

    data_dir: Path
    dest_dir: Path
    account_key_id: str
    rules: Rules
    verify: bool = True
    created: datetime | None = None
    remember_destination: bool = True  # so restore finds it there (as for manual backups)
    account_key_path: Path | None = None  # for a job's command line (None: the default)

    def to_argv(self) -> list[str]:
        argv = ["--dest", str(self.dest_dir), "--data-dir", str(self.data_dir)]
        if self.account_key_path is not None:
            argv += ["--account-key", str(self.account_key_path)]
        if not self.verify:
            argv.append("--no-verify")
        return argv


@dataclass
class FolderBackupResult:
    folder: Path
    files: int
    bytes: int
    duration_s: float
    verified: bool | None
    recopied: list[str] = field(default_factory=list)  # changed during the copy, copied again
    unstable: list[str] = field(default_factory=list)  # still changing after every attempt
    skipped: list[tuple[str, str]] = field(default_factory=list)
    damaged: list[tuple[str, str]] = field(default_factory=list)
    # stored under an escaped name: the destination cannot hold theirs (a restore gives
    # them their own names back; nothing to do for the user)
    renamed: list[Renamed] = field(default_factory=list)
    file_system: str = ""
    warnings: list[Warning] = field(default_factory=list)  # every warning the job printed

    @property
    def exit_code(self) -> ExitCode:
        if self.damaged:
            return ExitCode.DAMAGED
        if self.unstable or self.skipped or self.warnings:
            return ExitCode.WARNINGS
        return ExitCode.OK

    def to_json(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "files": self.files,
            "bytes": self.bytes,
            "verified": self.verified,
            "recopied": self.recopied,
            "unstable": self.unstable,
            "skipped": damage_json(self.skipped),
            "damaged": damage_json(self.damaged),
            "renamed": renamed_json(self.renamed),
            "file_system": self.file_system,
            "warnings": warning_list(self.warnings),
            "duration_s": self.duration_s,  # as the summary says it
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FolderBackupResult:
        return cls(
            folder=Path(data["folder"]),
            files=int(data["files"]),
            bytes=int(data["bytes"]),
            duration_s=float(data.get("duration_s", 0.0)),
            verified=data.get("verified"),
            recopied=list(data.get("recopied") or ()),
            unstable=list(data.get("unstable") or ()),
            skipped=damage_from(data.get("skipped")),
            damaged=damage_from(data.get("damaged")),
            renamed=renamed_from(data.get("renamed")),
            file_system=str(data.get("file_system", "")),
            warnings=warnings_from(data.get("warnings")),
        )


def clean_stale_partials(dest: Path) -> list[Path]:
    """Remove the copies (and name reservations) that folder backups which died left in
    *dest* (the one sweeper, datafolder/partials.py)."""
    removed = sweep(dest, belongs=is_folder_backup_name, kind=LeftoverKind.FOLDER)
    return removed + clear_stale_reservations(dest, is_folder_backup_name)


def refuse_destination_inside(data_dir: Path, dest: Path) -> None:
    """A folder backup into Data (or a folder inside it, or a link into it) would copy
    itself and could never be restored: refused before any work (exit 2)."""
    where = relative_inside(dest, data_dir)
    if where is not None:
        raise UsageError(
            _(
                "The destination {dest} lies inside the data folder {data_dir}: a folder "
                "backup there would copy itself. Choose a folder outside the data folder, "
                "ideally on a USB stick."
            ).format(dest=dest, data_dir=data_dir)
        )


def run_folder_backup(
    req: FolderBackupRequest, emit: Emit = ignore, cancel: CancelToken = NEVER
) -> FolderBackupResult:
    req = replace(req, data_dir=followed_root(req.data_dir))
    log = WarningLog(emit)
    refuse_destination_inside(req.data_dir, Path(req.dest_dir).expanduser().absolute())
    recovery = recover(req.data_dir)
    if recovery is not None:
        log(Warning(recovery.message, code="restore-recovered"))
    require_data_dir(req.data_dir)
    with DataReading(req.data_dir, "folder backup"):  # no restore may swap Data meanwhile
        return _run_folder_backup(req, log, cancel)


def _run_folder_backup(
    req: FolderBackupRequest, emit: WarningLog, cancel: CancelToken
) -> FolderBackupResult:
    start = time.monotonic()
    emit(Phase("scanning", str(req.data_dir)))
    scanned = scan(req.data_dir, req.rules)
    skipped: list[tuple[str, str]] = list(scanned.skipped)
    files: list[FileEntry] = []
    for f in scanned.files:
        if f.path == MANIFEST_NAME:
            skipped.append((f.path, _("has the name of therabak's manifest")))
        elif unsafe_reason(f.path) is not None:
            skipped.append(
                (f.path, _("the name could be taken for a path outside the data folder"))
            )
        else:
            files.append(f)
    scanned.files.clear()  # the entries are in *files* now: once, not twice
    files.sort(key=lambda f: f.path)
    total = sum(f.size for f in files)
    dest = prepare_destination(req.dest_dir)
    clean_stale_partials(dest)
    check_space(dest, total + SPACE_MARGIN + 200 * len(files))
    created = (req.created or faults.created() or datetime.now().astimezone()).replace(
        microsecond=0
    )
    final, reservation = reserve_name(
        dest,
        (folder_name(created, n) for n in itertools.count(1)),
        taken=os.path.lexists,
        what="folder backup",
    )
    try:
        return _copy_all(req, emit, cancel, files, skipped, dest, created, final, start)
    finally:
        reservation.release()  # after publishing: the name is taken by the copy now


def _copy_all(
    req: FolderBackupRequest,
    emit: WarningLog,
    cancel: CancelToken,
    files: list[FileEntry],
    skipped: list[tuple[str, str]],
    dest: Path,
    created: datetime,
    final: Path,
    start: float,
) -> FolderBackupResult:
    """Copy, check and publish the folder backup under its reserved name *final*."""
    partial = partial_path(final)
    for path, why in skipped:
        emit(
            Warning(
                _("Not copied: {path} ({why})").format(path=path, why=why),
                path=path,
                code="skipped-special",
            )
        )
    try:
        make_new_private_dir(partial)
    except FileExistsError:  # left by a process that died with this one's process id
        remove_leftover(partial, LeftoverKind.FOLDER)
        make_new_private_dir(partial)
    published = False
    result = FolderBackupResult(
        folder=final, files=0, bytes=0, duration_s=0.0, verified=None, skipped=[]
    )
    try:
        copied = _copy_files(req, emit, cancel, files, partial, final, result)
        _write_manifest(req, partial, dest, created, copied)
        result.files, result.bytes = len(copied), sum(c.size for c in copied)
        emit(Phase("syncing", str(final)))
        sync_files([partial / c.stored for c in copied])
        if req.verify:
            _check_copy(emit, cancel, partial, dest, final, copied, result)
        fsync_dir(partial)
        cancel.check()
        faults.point("folder.rename")
        try:
            os.rename(partial, final)
        except OSError as e:
            raise write_error(e, final) from None
        fsync_dir(dest)
        published = True
    except DestinationWriteFailed as e:  # a file of the copy could not be written
        raise write_error(e.error, partial, dest) from None
    finally:
        if not published:
            with contextlib.suppress(OSError):
                remove_tree(partial)
    faults.point("folder.published")
    result.duration_s = round(time.monotonic() - start, 3)
    result.warnings = list(emit.warnings)
    _remember(req, result, created, dest, final)
    emit(Summary.of("folder-backup", result, str(final)))
    return result


def _copy_files(
    req: FolderBackupRequest,
    emit: WarningLog,
    cancel: CancelToken,
    files: list[FileEntry],
    partial: Path,
    final: Path,
    result: FolderBackupResult,
) -> list[ManifestFile]:
    """Every file into *partial* under the name the destination can hold; what was
    copied (*result* gets the renamed files and what could not be copied). *files* is
    emptied once the copy begins."""
    total = sum(f.size for f in files)
    names = destination_names(partial, files)
    result.renamed, result.file_system = names.renamed, names.rules.label
    emit(Phase("copying", str(final)))
    progress = ProgressTracker(emit, "copying", bytes_total=total, files_total=len(files))
    pairs = [(f.path, names.target(f.path)) for f in files]
    # the scan's entries go before the copy begins (113,571 files: ~20 MB beside what the
    # copy holds of each file); their paths stay, in *pairs* (the caller needs no entry)
    files.clear()
    copied = copy_files(
        req.data_dir,
        partial,
        pairs,
        progress,
        cancel,
        result,
        emit,
        workers=worker_count(),
    )
    progress.finish()
    return copied


def _write_manifest(
    req: FolderBackupRequest,
    partial: Path,
    dest: Path,
    created: datetime,
    copied: list[ManifestFile],
) -> None:
    manifest = folder_manifest(
        created=created, account_key_id=req.account_key_id, data_dir=req.data_dir, files=copied
    )
    try:
        write_private(partial / MANIFEST_NAME, manifest)
    except OSError as e:
        raise write_error(e, partial, dest) from None
    faults.point("folder.manifest")


def _check_copy(
    emit: WarningLog,
    cancel: CancelToken,
    partial: Path,
    dest: Path,
    final: Path,
    copied: list[ManifestFile],
    result: FolderBackupResult,
) -> None:
    """Read the copy back; a copy that does not read back is not kept (raises)."""
    emit(Phase("verifying", str(final)))
    try:
        result.damaged = verify_copy(partial, copied, emit, cancel, workers=read_workers())
    except CopyGone as e:  # the stick pulled or the folder deleted meanwhile
        raise write_error(e.error, partial, dest) from None
    result.verified = not result.damaged
    if result.damaged:
        raise DamagedArchiveError(
            ngettext(
                "The copy at {dest} does not read back correctly ({n} file, "
                "{example}); the destination medium may be failing. Nothing was kept.",
                "The copy at {dest} does not read back correctly ({n} files, e.g. "
                "{example}); the destination medium may be failing. Nothing was kept.",
                len(result.damaged),
            ).format(dest=dest, n=len(result.damaged), example=result.damaged[0][0])
        )


def _remember(
    req: FolderBackupRequest, result: FolderBackupResult, created: datetime, dest: Path, final: Path
) -> None:
    """The backup in the history, and its destination in the settings when asked."""
    with contextlib.suppress(OSError):
        history.append(
            history.BackupRecord(
                kind=history.RecordKind.FOLDER,
                path=str(final),
                created=created.isoformat(),
                files=result.files,
                bytes=result.bytes,
                verified=result.verified,
                data_dir=str(req.data_dir),
            )
        )
    if req.remember_destination:
        from therabak.errors import TherabakError
        from therabak.settings import Settings

        with contextlib.suppress(TherabakError, OSError):
            settings = Settings.load()
            if settings.remember_destination(dest):
                settings.save()
