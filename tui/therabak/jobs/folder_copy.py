"""Copying a folder backup's files: the name each file gets on the destination, one
file copied (again while it changes under us, a while later while it is locked), and
the copy read back and compared with the manifest. The job around it is
``jobs/folder.py``.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial as partial_fn
from pathlib import Path
from typing import Protocol

from therabak import faults, fsrules
from therabak.datafolder.filecopy import ByteBudget, CopyResult, copy_file, sha256_file
from therabak.datafolder.manifest import ManifestFile
from therabak.events import Emit, Warning, ignore
from therabak.fsutil import open_long, unlink_long
from therabak.i18n import _
from therabak.jobkit.cancel import NEVER, CancelToken
from therabak.jobkit.progress import ProgressTracker
from therabak.jobkit.workers import InOrder, SharedCount
from therabak.namemap import NamePlan
from therabak.practice.scan import FileEntry

COPY_ATTEMPTS = 3
RETRY_DELAY_S = 0.5


class CopyOutcomes(Protocol):
    """Where :func:`copy_one` notes what happened to a file (``FolderBackupResult``)."""

    recopied: list[str]
    unstable: list[str]
    skipped: list[tuple[str, str]]


def destination_names(partial: Path, files: list[FileEntry]) -> NamePlan:
    """Where each file goes in the copy: its own name where the destination's file system
    can hold it, an escaped one elsewhere (the manifest keeps both). The rules are tried
    out in the new, empty copy folder."""
    rules = fsrules.probe(partial, fsrules.rules_for(partial))
    return NamePlan(rules, [f.path for f in files], root_length=rules.length(str(partial)))


@dataclass
class Attempt:
    """One attempt at copying a file: what it gave (or the error that retries it) and the
    bytes it counted (taken back from the progress when it is tried again)."""

    got: CopyResult | None
    error: FileNotFoundError | PermissionError | None
    counted: int


def attempt_copy(
    data_dir: Path,
    partial: Path,
    rel: str,
    stored: str,
    budget: ByteBudget,
    add_bytes: Callable[[int], None],
    check: Callable[[], None],
    known_dirs: set[str] | None = None,
) -> Attempt:
    """Copy *rel* once (on any thread: it emits nothing). A source gone or locked comes
    back as the attempt's error; anything else (the destination failing, a cancel) is
    raised."""
    counted = 0

    def on_bytes(n: int) -> None:
        nonlocal counted
        counted += n
        add_bytes(n)

    try:
        got = copy_file(
            data_dir / rel,
            partial,
            stored,
            budget=budget,
            on_bytes=on_bytes,
            check_cancel=check,
            known_dirs=known_dirs,
        )
    except (FileNotFoundError, PermissionError) as e:
        return Attempt(None, e, counted)
    return Attempt(got, None, counted)


def copy_one(
    data_dir: Path,
    partial: Path,
    rel: str,
    stored: str,
    budget: ByteBudget,
    progress: ProgressTracker,
    cancel: CancelToken,
    result: CopyOutcomes,
    emit: Emit,
    *,
    first: Attempt | None = None,
    known_dirs: set[str] | None = None,
) -> ManifestFile | None:
    """Copy one file, again while it changes under us; None when it could not be copied.

    On the job's thread (it emits the file's warnings). *first*: the first attempt, made
    already by a worker thread (its bytes already counted in *progress*); the retries
    are made here, in turn."""
    error = ""
    for attempt in range(1, COPY_ATTEMPTS + 1):
        if attempt == 1 and first is not None:
            tried = first
        else:
            tried = attempt_copy(
                data_dir,
                partial,
                rel,
                stored,
                budget,
                progress.add_bytes,
                cancel.check,
                known_dirs,
            )
        got = tried.got
        if got is None:
            progress.rewind_bytes(tried.counted)
            _discard(partial, stored)
            if isinstance(tried.error, FileNotFoundError):
                if not _exists(data_dir / rel):
                    emit(
                        Warning(
                            _("Deleted while the copy ran, not in the folder backup: {rel}").format(
                                rel=rel
                            ),
                            path=rel,
                            code="deleted",
                        )
                    )
                    return None
                error = _("file not found")
                continue
            # Windows: the practice app holds the file right now
            error = _("file is locked or access denied")
            cancel.sleep(RETRY_DELAY_S * attempt)
            continue
        if not got.changed:
            return ManifestFile(rel, got.size, got.mtime_ns, got.sha256, stored)
        progress.rewind_bytes(tried.counted)
        if attempt == 1:
            result.recopied.append(rel)
        if attempt < COPY_ATTEMPTS:
            _discard(partial, stored)
            cancel.sleep(RETRY_DELAY_S * attempt)
            continue
        result.unstable.append(rel)
        emit(
            Warning(
                _(
                    "Kept changing while it was copied; the copy may not be consistent: {rel}"
                ).format(rel=rel),
                path=rel,
                code="unstable",
            )
        )
        return ManifestFile(rel, got.size, got.mtime_ns, got.sha256, stored)
    result.skipped.append((rel, error))
    emit(
        Warning(
            _("Could not be copied: {rel} ({error})").format(rel=rel, error=error),
            path=rel,
            code="skipped",
        )
    )
    return None


def _discard(root: Path, rel: str) -> None:
    with contextlib.suppress(OSError):
        unlink_long(root / rel)


def _exists(path: Path) -> bool:
    from therabak.fsutil import stat_long

    try:
        stat_long(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return True


def copy_files(
    data_dir: Path,
    partial: Path,
    files: list[tuple[str, str]],
    progress: ProgressTracker,
    cancel: CancelToken,
    result: CopyOutcomes,
    emit: Emit,
    workers: int = 1,
) -> list[ManifestFile]:
    """Copy *files* (``(rel, stored)``) from *data_dir* into *partial*, in order; what
    was copied. With more than one worker (``jobkit.workers``) the first attempt at each
    file (create, read, hash, write) runs on a few threads while this thread takes the
    files in order, retries what changed or was locked, emits every event and passes the
    ``folder.copy`` fault point after each file: the same events, in the same order, as
    with one. Nothing of the pool runs once this returns or raises (the caller removes
    *partial* on an error)."""
    budget = ByteBudget()
    known_dirs: set[str] = set()  # folders made below partial (shared: mkdir is atomic)
    copied: list[ManifestFile] = []

    def one(rel: str, stored: str, first: Attempt | None) -> None:
        got = copy_one(
            data_dir,
            partial,
            rel,
            stored,
            budget,
            progress,
            cancel,
            result,
            emit,
            first=first,
            known_dirs=known_dirs,
        )
        if got is not None:
            copied.append(got)
        progress.file_done()
        faults.point("folder.copy")

    if workers <= 1 or len(files) <= 1:
        for rel, stored in files:
            cancel.check()
            faults.source_delay()
            progress.start_file(rel)
            one(rel, stored, None)
        return copied

    counted = SharedCount()

    def forward_bytes() -> None:
        progress.add_bytes(counted.take())

    def check() -> None:
        pool.check()
        cancel.check()

    def work(item: tuple[str, str]) -> Attempt:
        faults.source_delay()
        rel, stored = item
        return attempt_copy(
            data_dir, partial, rel, stored, budget, counted.add_bytes, check, known_dirs
        )

    pool: InOrder[tuple[str, str], Attempt] = InOrder(
        work, files, workers=workers, on_wait=forward_bytes, name="therabak-folder"
    )
    with contextlib.closing(pool.results()) as results:
        for (rel, stored), future in results:
            cancel.check()
            forward_bytes()
            progress.start_file(rel)
            one(rel, stored, future.result())  # a worker's error is raised here, in order
    return copied


_GONE = {errno.ENOENT, getattr(errno, "ENODEV", -1), getattr(errno, "ENXIO", -1)}


class CopyGone(Exception):
    """The copy's folder vanished while it was read back (the drive removed, the folder
    deleted): not a failing medium; the caller says what happened."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


def verify_copy(
    root: Path,
    files: list[ManifestFile],
    emit: Emit = ignore,
    cancel: CancelToken = NEVER,
    workers: int = 1,
) -> list[tuple[str, str]]:
    """Read every file back and compare it with the manifest: the damaged files.

    Called once the copy is synced: each file's clean pages are dropped from the page
    cache first (``posix_fadvise(DONTNEED)``, Linux), so it is read from the device.
    Elsewhere (Windows, macOS) there is no such call and the read may come from the
    cache (README "Folder backup"). With more than one worker the files are read on a
    few threads (a device answers several reads at once faster than one after the
    other); the Damaged events and the progress come from this thread, in order. Raises
    CopyGone as soon as *root* itself is gone."""
    from therabak.events import Damaged

    damaged: list[tuple[str, str]] = []
    progress = ProgressTracker(
        emit, "verifying", bytes_total=sum(f.size for f in files), files_total=len(files)
    )
    counted = SharedCount()

    def forward_bytes() -> None:
        progress.add_bytes(counted.take())

    def check() -> None:
        if pool is not None:
            pool.check()
        cancel.check()

    def read_back(f: ManifestFile) -> tuple[int, str]:
        faults.verify_delay()
        try:
            return read_from_device(
                Path(root) / f.stored, on_bytes=counted.add_bytes, check_cancel=check
            )
        except OSError as e:
            if e.errno in _GONE and not _exists(Path(root)):
                raise CopyGone(e) from None
            return -1, _("unreadable ({error})").format(error=e.strerror)

    pool: InOrder[ManifestFile, tuple[int, str]] | None = None
    if workers > 1 and len(files) > 1:
        pool = InOrder(
            read_back, files, workers=workers, on_wait=forward_bytes, name="therabak-check"
        )
        outcomes: Iterator[tuple[ManifestFile, Callable[[], tuple[int, str]]]] = (
            (f, future.result) for f, future in pool.results()
        )
    else:
        outcomes = ((f, partial_fn(read_back, f)) for f in files)
    with contextlib.closing(outcomes):
        for f, outcome in outcomes:
            cancel.check()
            progress.start_file(f.path)
            size, sha = outcome()
            forward_bytes()
            if size != f.size or sha != f.sha256:
                reason = sha if size < 0 else _("content differs from the manifest")
                damaged.append((f.path, reason))
                emit(Damaged(path=f.path, reason=reason))
            progress.file_done()
    progress.finish()
    return damaged


def read_from_device(
    path: Path,
    *,
    on_bytes: Callable[[int], None] | None = None,
    check_cancel: Callable[[], None] | None = None,
) -> tuple[int, str]:
    """Size and SHA-256 of *path*, its clean cached pages dropped first where the system
    allows (``posix_fadvise(DONTNEED)``: Linux), so the bytes come from the device; one
    open for both."""
    fd = open_long(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    if hasattr(os, "posix_fadvise"):
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        except OSError:
            pass
    return sha256_file(fd, on_bytes=on_bytes, check_cancel=check_cancel)  # closes fd
