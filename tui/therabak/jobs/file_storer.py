"""Reading Data's files into a backup, with decrypt-retry: one implementation for the
single-file archive and the backup store.

Each file is read (its envelope decrypted with the account key, ``practice/source.py``)
into an :class:`EntrySink`'s entry writer. A failed read (a tag that does not hold,
a file torn or locked while the practice app writes it, a size or time that changed
while it was read) aborts that attempt (nothing of it reaches the backup's index) and
waits, without blocking the other files, for its next attempt after the policy's
backoff (DESIGN.md section 5). After the last attempt the policy decides: ``raw`` (the
sealed bytes as they are, flagged; restorable on this account only), ``skip`` or
``abort`` (:class:`BackupAborted`). Every retry and how it ended is an event.

The loop takes one file at a time; issue 19 (parallel workers) can hand files to
several readers, since a sink's entry writers are independent of each other.
"""

from __future__ import annotations

import contextlib
import gc
import heapq
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, cast

from therabak import faults
from therabak.errors import DecryptionError, ForeignKeyError, TherabakError, message_of
from therabak.events import Emit, FileOutcome, Retry, Warning
from therabak.fsutil import open_long
from therabak.i18n import _
from therabak.jobkit.cancel import CancelToken
from therabak.jobkit.progress import ProgressTracker
from therabak.jobkit.retry import OnFailure, RetryPolicy
from therabak.practice.account import AccountKey
from therabak.practice.envelope import HEADER_SIZE, parse_header
from therabak.practice.read_ahead import ReadAhead
from therabak.practice.scan import FileEntry
from therabak.practice.source import SourceChanged, SourceRead, read_plaintext, read_raw


class BackupAborted(TherabakError):
    """A file could not be read and the policy is ``abort``."""


class EntryWriter(Protocol):
    """One file's entry being written (an archive entry, a store file)."""

    done: bool

    def write(self, data: bytes) -> None: ...

    def abort(self) -> None: ...


class EntrySink(Protocol):
    """Where the files go: makes an entry writer per attempt and completes it."""

    def begin(self, entry: FileEntry, *, raw: bool = False, key_id: str = "") -> EntryWriter:
        """A writer for one attempt at *entry* (*raw*: its sealed bytes as they are, still
        sealed with the account key *key_id*)."""
        ...

    def finish(self, writer: EntryWriter, info: SourceRead) -> None:
        """The attempt read the whole file (*info*: as it was read): the entry is complete."""
        ...


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while files are stored.

    Storing creates no reference cycles worth collecting (reference counting frees
    everything), but tens of thousands of index entries make each collector pass
    long: measured 5-8 % of a backup of 32,000 files.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass(order=True)
class _Waiting:
    """A file whose read failed, waiting for its next attempt."""

    due: float
    seq: int
    entry: FileEntry = field(compare=False)
    attempt: int = field(compare=False)  # the next attempt, 1-based
    error: str = field(compare=False)


class FileStorer:
    """Stores files one by one; a failed read waits (without blocking the others) and is
    tried again after the policy's backoff, up to the policy's number of attempts."""

    def __init__(
        self,
        sink: EntrySink,
        *,
        data_dir: Path,
        account: AccountKey,
        policy: RetryPolicy,
        emit: Emit,
        cancel: CancelToken,
        progress: ProgressTracker,
    ) -> None:
        self.sink, self.account, self.policy, self.emit = sink, account, policy, emit
        self.cancel, self.progress = cancel, progress
        self.outcomes: list[FileOutcome] = []
        self.skipped: list[tuple[str, str]] = []
        self._waiting: list[_Waiting] = []
        self._seq = 0
        self._root = os.fspath(data_dir)

    def store_all(self, files: list[FileEntry], *, let_go: bool = False) -> None:
        """Store *files* in order (a failed read waits for its next attempt meanwhile).
        *let_go*: the caller gives the list up, and each entry is taken out of it (its
        place holds None) once its first attempt begins: a scan entry per stored file is
        not held to the end (for 100,000 files ~24 MB at the end of a store backup)."""
        ahead = ReadAhead(self._root, files)  # the next small files, fetched meanwhile
        slots = cast("list[FileEntry | None]", files)
        n, i = len(files), 0
        while i < n or self._waiting:
            self.cancel.check()
            now = time.monotonic()
            if self._waiting and (self._waiting[0].due <= now or i >= n):
                item = heapq.heappop(self._waiting)
                if item.due > now:
                    self.cancel.sleep(item.due - now)
                self._attempt(item.entry, item.attempt, item.error)
            else:
                faults.source_delay()
                ahead.reached(i)
                entry = files[i]
                if let_go:
                    slots[i] = None
                i += 1
                self._attempt(entry, 1, "")
                del entry
            faults.point("backup.body")

    def _attempt(self, entry: FileEntry, attempt: int, previous_error: str) -> None:
        path = os.path.join(self._root, entry.path)  # a str: cheaper than a Path per file
        self.progress.start_file(entry.path)
        ew = self.sink.begin(entry)
        progress_start = self.progress.bytes_done

        try:
            info = read_plaintext(
                path,
                entry.path,
                self.account,
                ew.write,
                attempt=attempt,
                on_bytes=self.progress.add_bytes,
                check_cancel=self.cancel.check,
            )
        except FileNotFoundError:
            ew.abort()
            self.progress.rewind_bytes(self.progress.bytes_done - progress_start)
            self.emit(
                Warning(
                    _("Deleted while the backup ran, not in the backup: {path}").format(
                        path=entry.path
                    ),
                    path=entry.path,
                    code="deleted",
                )
            )
            self.progress.add_bytes(entry.size)  # done with it: the bar still reaches 100 %
            self.progress.file_done()
            return
        except ForeignKeyError as e:  # another account's key: retrying cannot help
            ew.abort()
            self.progress.rewind_bytes(self.progress.bytes_done - progress_start)
            self._give_up(entry, Path(path), str(e), attempt)
            return
        except (DecryptionError, SourceChanged, OSError) as e:
            ew.abort()
            self.progress.rewind_bytes(self.progress.bytes_done - progress_start)
            error = describe_error(e)
            if attempt < self.policy.attempts:
                delay = self.policy.delay_after(attempt)
                self.emit(
                    Retry(
                        path=entry.path,
                        attempt=attempt,
                        max=self.policy.attempts,
                        error=error,
                        delay_s=delay,
                        code=error_code(e),
                    )
                )
                self._seq += 1
                heapq.heappush(
                    self._waiting,
                    _Waiting(time.monotonic() + delay, self._seq, entry, attempt + 1, error),
                )
            else:
                self._give_up(entry, Path(path), error, attempt)
            return
        except BaseException:
            if not ew.done:
                ew.abort()
            raise
        self.sink.finish(ew, info)
        if attempt > 1:
            outcome = FileOutcome(
                path=entry.path, outcome="recovered", attempts=attempt, error=previous_error
            )
            self.outcomes.append(outcome)
            self.emit(outcome)
        self.progress.file_done()

    def _give_up(self, entry: FileEntry, path: Path, error: str, attempts: int) -> None:
        if self.policy.on_failure is OnFailure.ABORT:
            self.emit(
                FileOutcome(path=entry.path, outcome="failed", attempts=attempts, error=error)
            )
            raise BackupAborted(
                _(
                    "{path} could not be read after {attempts} attempt(s) ({error}); the backup "
                    "was stopped and nothing was written."
                ).format(path=entry.path, attempts=attempts, error=error)
            )
        outcome_name = "skipped"
        if self.policy.on_failure is OnFailure.RAW and self._store_raw(entry, path):
            outcome_name = "raw"
        outcome = FileOutcome(path=entry.path, outcome=outcome_name, attempts=attempts, error=error)
        if outcome_name == "skipped":
            self.skipped.append((entry.path, error))
        self.outcomes.append(outcome)
        self.emit(outcome)
        self.progress.add_bytes(entry.size)  # the failed attempts' bytes were taken back
        self.progress.file_done()

    def _store_raw(self, entry: FileEntry, path: Path) -> bool:
        """Store a sealed file's bytes as they are (flagged raw). False when that fails too."""
        try:
            with open(open_long(path, os.O_RDONLY | getattr(os, "O_BINARY", 0)), "rb") as f:
                header = parse_header(f.read(HEADER_SIZE))
        except (OSError, DecryptionError):
            return False
        if header is None:  # a plain file has no raw form: it is skipped
            return False
        ew = self.sink.begin(entry, raw=True, key_id=header.key_id.hex())
        try:
            info = read_raw(path, ew.write, check_cancel=self.cancel.check)
        except (OSError, SourceChanged):
            ew.abort()
            return False
        except BaseException:
            ew.abort()
            raise
        self.sink.finish(ew, info)
        return True


def error_code(e: BaseException) -> str:
    """What kind of failure a read was (the Retry event's ``code``): the app says it in
    the user's words."""
    if isinstance(e, DecryptionError):
        return "decrypt"
    if isinstance(e, SourceChanged):
        return "changed"
    if isinstance(e, PermissionError):
        return "locked"
    return "read"


def describe_error(e: BaseException) -> str:
    """A failed read in words (the Retry event's ``error``)."""
    if isinstance(e, PermissionError):
        return _("file is locked or access denied")
    return message_of(e)
