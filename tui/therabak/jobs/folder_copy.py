"""Copying a folder backup's files: the name each file gets on the destination, one
file copied (again while it changes under us, a while later while it is locked), and
the copy read back and compared with the manifest. The job around it is
``jobs/folder.py``.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Protocol

from therabak import fsrules
from therabak.datafolder.filecopy import ByteBudget, copy_file, sha256_file
from therabak.datafolder.manifest import ManifestFile
from therabak.events import Emit, Warning, ignore
from therabak.fsutil import open_long, unlink_long
from therabak.i18n import _
from therabak.jobkit.cancel import NEVER, CancelToken
from therabak.jobkit.progress import ProgressTracker
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
) -> ManifestFile | None:
    """Copy one file, again while it changes under us; None when it could not be copied."""
    error = ""
    for attempt in range(1, COPY_ATTEMPTS + 1):
        counted = 0

        def on_bytes(n: int) -> None:
            nonlocal counted
            counted += n
            progress.add_bytes(n)

        try:
            got = copy_file(
                data_dir / rel,
                partial,
                stored,
                budget=budget,
                on_bytes=on_bytes,
                check_cancel=cancel.check,
            )
        except FileNotFoundError:
            progress.rewind_bytes(counted)
            _discard(partial, stored)
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
        except PermissionError:  # Windows: the practice app holds the file right now
            progress.rewind_bytes(counted)
            _discard(partial, stored)
            error = _("file is locked or access denied")
            cancel.sleep(RETRY_DELAY_S * attempt)
            continue
        if not got.changed:
            return ManifestFile(rel, got.size, got.mtime_ns, got.sha256, stored)
        progress.rewind_bytes(counted)
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


def verify_copy(
    root: Path, files: list[ManifestFile], emit: Emit = ignore, cancel: CancelToken = NEVER
) -> list[tuple[str, str]]:
    """Read every file back (from the device where the OS allows) and compare its hash."""
    from therabak.events import Damaged

    damaged: list[tuple[str, str]] = []
    progress = ProgressTracker(
        emit, "verifying", bytes_total=sum(f.size for f in files), files_total=len(files)
    )
    for f in files:
        cancel.check()
        progress.start_file(f.path)
        path = Path(root) / f.stored
        _drop_cache(path)
        try:
            size, sha = sha256_file(path, on_bytes=progress.add_bytes, check_cancel=cancel.check)
        except OSError as e:
            size, sha = -1, _("unreadable ({error})").format(error=e.strerror)
        if size != f.size or sha != f.sha256:
            reason = sha if size < 0 else _("content differs from the manifest")
            damaged.append((f.path, reason))
            emit(Damaged(path=f.path, reason=reason))
        progress.file_done()
    progress.finish()
    return damaged


def _drop_cache(path: Path) -> None:
    if not hasattr(os, "posix_fadvise"):
        return
    with contextlib.suppress(OSError):
        fd = open_long(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
