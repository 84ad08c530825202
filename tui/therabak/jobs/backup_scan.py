"""What a backup takes from Data: the scan, the files it leaves out, and the warnings
that say so. Shared by the single-file backup and the store backup."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from therabak.datafolder.nesting import backups_inside, left_out_message
from therabak.events import Emit, Warning
from therabak.fsutil import relative_inside
from therabak.i18n import _, ngettext
from therabak.practice.categories import Rules
from therabak.practice.scan import FileEntry, scan
from therabak.storedpaths import unsafe_reason


@dataclass
class Found:
    """What the scan found, handed to the writing step, which lets go of it before the
    verify pass reads the index back (so memory holds one file list at a time)."""

    skipped: list[tuple[str, str]]
    left_out: list[FileEntry]
    files: list[FileEntry]
    total: int
    unsafe: dict[str, str]  # path -> why: left out, a reader would refuse the path


def scan_for_backup(
    data_dir: Path,
    rules: Rules,
    selection: frozenset[str],
    dest: Path | None,
    *,
    on_folder: Callable[[int, int], None] | None = None,
) -> Found:
    """Scan Data, leaving out the backups kept inside it (datafolder/nesting.py) and the files
    whose names a reader would refuse. *dest*: the destination folder (None off-site).
    *on_folder* is called after each folder (it may raise to stop the scan)."""
    here = () if dest is None else (dest,)
    scanned = scan(
        data_dir,
        rules,
        leave_out=backups_inside(data_dir, *here),
        on_folder=on_folder,
        read_ahead=True,
    )
    files = scanned.selected_files(selection)
    unsafe = _unsafe_names(files)
    if unsafe:
        files = [f for f in files if f.path not in unsafe]
    return Found(scanned.skipped, scanned.left_out, files, sum(f.size for f in files), unsafe)


class _Stop(Exception):
    """Ends a scan whose result nobody will take (:meth:`ScanBehind.close`)."""


class ScanBehind:
    """:func:`scan_for_backup` on a thread of its own, started at once: the walk of Data
    (a stat per file, waiting in the kernel with the GIL free) goes on while the caller
    derives the key and reads the parent snapshot and the index. :meth:`result` gives
    what the scan found, or raises what it raised, on the caller's thread, so errors
    and messages come as when the scan ran there. *check* (a cancel token's check) runs
    after every folder; :meth:`close` stops a scan whose result is no longer wanted and
    waits for its thread: nothing of it runs afterwards."""

    def __init__(
        self,
        data_dir: Path,
        rules: Rules,
        selection: frozenset[str],
        dest: Path | None,
        *,
        check: Callable[[], None] = lambda: None,
    ) -> None:
        self._args = (data_dir, rules, selection, dest)
        self._check = check
        self._stop = threading.Event()
        self._found: Found | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="backup-scan", daemon=True)
        self._thread.start()

    def _folder_done(self, _files: int, _bytes: int) -> None:
        if self._stop.is_set():
            raise _Stop
        self._check()

    def _run(self) -> None:
        try:
            self._found = scan_for_backup(*self._args, on_folder=self._folder_done)
        except _Stop:
            pass
        except BaseException as e:  # noqa: BLE001 - raised again on the caller's thread
            self._error = e

    def result(self) -> Found:
        """Wait for the scan; what it found, or its exception raised here."""
        self._thread.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        assert self._found is not None, "the scan was closed"
        return self._found

    def close(self) -> None:
        """Stop the scan if it still runs (its result and errors are dropped) and wait."""
        self._stop.set()
        self._thread.join()
        self._error = None

    def __enter__(self) -> ScanBehind:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _say_left_out(emit: Emit, data_dir: Path, dest: Path | None, left_out: list[FileEntry]) -> None:
    """Warn that backups inside Data were left out (datafolder/nesting.py)."""
    from therabak import formatting

    if dest is not None and relative_inside(dest, data_dir) is not None:
        emit(
            Warning(
                ngettext(
                    "The destination {dest} lies inside the data folder: the backup there "
                    "({n} file, {size}) is left out of this backup, and a backup on the same "
                    "disk as the data does not protect against losing that disk. Choose a "
                    "folder outside the data folder, ideally on a USB stick.",
                    "The destination {dest} lies inside the data folder: the backups there "
                    "({n} files, {size}) are left out of this backup, and a backup on the same "
                    "disk as the data does not protect against losing that disk. Choose a "
                    "folder outside the data folder, ideally on a USB stick.",
                    len(left_out),
                ).format(
                    dest=dest,
                    n=len(left_out),
                    size=formatting.size(sum(f.size for f in left_out)),
                ),
                path=str(dest),
                code="destination-inside-data",
            )
        )
    elif left_out:
        emit(Warning(left_out_message(left_out), code="backups-left-out"))


def announce_scan(emit: Emit, data_dir: Path, dest: Path | None, found: Found) -> None:
    """The warnings about what the backup leaves out: backups kept inside Data, what is
    not a file (or cannot be read), names a reader would refuse."""
    _say_left_out(emit, data_dir, dest, found.left_out)
    for path, why in found.skipped:
        emit(
            Warning(
                _("Not backed up: {path} ({why})").format(path=path, why=why),
                path=path,
                code="skipped-special",
            )
        )
    for path, why in found.unsafe.items():
        emit(
            Warning(
                _("Not backed up: {path} ({why})").format(path=path, why=why),
                path=path,
                code="unsafe-name",
            )
        )


def _unsafe_names(files: list[FileEntry]) -> dict[str, str]:
    """The files whose path a reader would refuse as unsafe (``index.check_relative_path``:
    a name beginning with a drive letter and colon at the top of Data, or holding ``..``
    between backslashes), which a backup therefore leaves out, each with a warning. No
    other name is left out: what a target cannot hold is the restore's business."""
    reason = _("the name could be taken for a path outside the data folder")
    return {f.path: reason for f in files if unsafe_reason(f.path) is not None}
