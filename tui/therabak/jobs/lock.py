"""Locks: therabak's own job locks, and the practice app's ``Data/.lock``.

**Job lock** (:class:`JobLock`): a small file created with ``O_CREAT | O_EXCL`` that
holds the owner's process id as JSON. A lock whose process is gone is *stale* and is
broken: it is first renamed to a unique name (only one contender can move a given
file), checked to still be the stale one, then deleted. A lock that has no readable
process id yet (its owner was just writing it) counts as held until it is older than
:data:`UNREADABLE_GRACE_S`.

**Practice app lock**: TheraPsy keeps ``Data/.lock`` while it runs. It holds a process
id; a live process means the app is running and a restore must not swap ``Data`` from
under it. A dead process id is a stale lock left by a crash and does not count.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from therabak.errors import DataInUseError
from therabak.fsutil import IS_WINDOWS
from therabak.i18n import _

UNREADABLE_GRACE_S = 30.0
PRACTICE_LOCK = ".lock"


def pid_alive(pid: int) -> bool:
    """Is process *pid* running? (Windows: OpenProcess; elsewhere: signal 0.)"""
    if pid <= 0:
        return False
    if IS_WINDOWS:
        import ctypes

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        try:
            code = ctypes.c_ulong()
            if kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
                return code.value == 259  # STILL_ACTIVE
            return True
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


@dataclass
class LockOwner:
    pid: int
    started: str = ""
    what: str = ""


class LockBusy(Exception):
    """Another live process holds the lock."""

    def __init__(self, owner: LockOwner | None) -> None:
        super().__init__(f"held by process {owner.pid if owner else '?'}")
        self.owner = owner


def _read_owner(path: Path) -> LockOwner | None:
    try:
        data = json.loads(path.read_text("utf-8"))
        return LockOwner(int(data["pid"]), str(data.get("started", "")), str(data.get("what", "")))
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None


def _age_s(path: Path) -> float:
    try:
        return max(0.0, time.time() - path.stat().st_mtime)
    except OSError:
        return 0.0


class JobLock:
    """An exclusive lock file; use as a context manager or :meth:`acquire` / :meth:`release`."""

    def __init__(self, path: Path, what: str = "") -> None:
        self.path = Path(path)
        self.what = what
        self.held = False
        self.broke_stale: LockOwner | None = None

    def acquire(self) -> JobLock:
        """Take the lock or raise :class:`LockBusy`; breaks a stale lock (at most a few times)."""
        for _attempt in range(5):
            try:
                fd = os.open(
                    self.path,
                    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                    0o600,
                )
            except FileExistsError:
                owner = _read_owner(self.path)
                if owner is None:
                    if _age_s(self.path) < UNREADABLE_GRACE_S:
                        raise LockBusy(None) from None
                elif owner.pid == os.getpid() or pid_alive(owner.pid):
                    raise LockBusy(owner) from None
                self._break_stale(owner)
                continue
            try:
                doc = {
                    "pid": os.getpid(),
                    "started": datetime.now().astimezone().isoformat(),
                    "what": self.what,
                }
                os.write(fd, json.dumps(doc).encode("utf-8"))
            finally:
                os.close(fd)
            self.held = True
            return self
        raise LockBusy(_read_owner(self.path))

    def _break_stale(self, seen: LockOwner | None) -> None:
        moved = self.path.with_name(f"{self.path.name}.stale-{os.getpid()}-{time.time_ns()}")
        try:
            os.rename(self.path, moved)
        except FileNotFoundError:
            return  # someone else broke it already
        except OSError:
            return
        now = _read_owner(moved)
        same = (now is None and seen is None) or (
            now is not None
            and seen is not None
            and now.pid == seen.pid
            and now.started == seen.started
        )
        if same:
            with contextlib.suppress(OSError):
                os.unlink(moved)
            self.broke_stale = seen
            return
        # We moved a fresh lock someone took meanwhile: put it back unless a newer one exists.
        try:
            os.link(moved, self.path)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            os.unlink(moved)

    def release(self) -> None:
        if not self.held:
            return
        owner = _read_owner(self.path)
        if owner is not None and owner.pid == os.getpid():
            with contextlib.suppress(OSError):
                os.unlink(self.path)
        self.held = False

    def __enter__(self) -> JobLock:
        return self.acquire()

    def __exit__(self, *_: object) -> None:
        self.release()


# ---- the practice app's lock -----------------------------------------------------------

_PID = re.compile(rb"\d{1,10}")


@dataclass
class PracticeLockState:
    present: bool
    pid: int | None = None
    alive: bool = False
    unreadable: str = ""  # why the lock could not be read (Windows: held open by the app)

    @property
    def in_use(self) -> bool:
        return self.present and (self.alive or bool(self.unreadable))


def practice_lock_state(data_dir: Path) -> PracticeLockState:
    path = Path(data_dir) / PRACTICE_LOCK
    try:
        data = path.read_bytes()[:256]
    except FileNotFoundError:
        return PracticeLockState(present=False)
    except IsADirectoryError:
        return PracticeLockState(present=True, unreadable=_("it is a folder"))
    except OSError as e:  # Windows: the running app holds it open without sharing
        return PracticeLockState(present=True, unreadable=e.strerror or str(e))
    m = _PID.search(data)
    if not m:
        return PracticeLockState(present=True, unreadable=_("it holds no process id"))
    pid = int(m.group())
    return PracticeLockState(present=True, pid=pid, alive=pid_alive(pid))


def check_practice_app(data_dir: Path, *, force: bool = False) -> PracticeLockState:
    """Refuse (exit 7) when the practice app holds ``Data/.lock``; ``force`` overrides."""
    state = practice_lock_state(data_dir)
    if state.in_use and not force:
        lock = Path(data_dir) / ".lock"
        if state.alive:
            message = _(
                "The practice data is in use: TheraPsy is running (process {pid} holds "
                "{lock}). Close TheraPsy and try again."
            ).format(pid=state.pid, lock=lock)
        else:
            message = _(
                "The practice data may be in use: {lock} exists and cannot be checked "
                "({reason}), so TheraPsy may be running. Close TheraPsy and try again."
            ).format(lock=lock, reason=state.unreadable)
        raise DataInUseError(message, hint=_("If you are sure TheraPsy is closed, use --force."))
    return state


def lock_busy_message(what: str, owner: LockOwner | None, path: Path) -> str:
    """*what*: "restore" or "automatic backup" (whole sentences per job, for translators)."""
    if what == "restore":
        text = (
            _("Another restore is running (process {pid}, since {started}; lock file {path}).")
            if owner
            else _("Another restore is running (a process just starting; lock file {path}).")
        )
    else:
        text = (
            _(
                "Another automatic backup is running (process {pid}, since {started}; "
                "lock file {path})."
            )
            if owner
            else _(
                "Another automatic backup is running (a process just starting; lock file {path})."
            )
        )
    if owner is None:
        return text.format(path=path)
    return text.format(pid=owner.pid, started=owner.started, path=path)
