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
import errno
import json
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from therabak.datafolder.names import RESERVED_SUFFIX, restore_lock_path
from therabak.errors import DataInUseError
from therabak.fsutil import followed_root
from therabak.i18n import N_, _
from therabak.processes import pid_alive

UNREADABLE_GRACE_S = 30.0
PRACTICE_LOCK = ".lock"


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
        pid = data["pid"]
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None
    # a pid is a plain integer in range; JSON also allows 1.5, true, 1e400 and Infinity
    if not isinstance(pid, int) or isinstance(pid, bool) or not 0 < pid < 2**31:
        return None
    return LockOwner(pid, str(data.get("started", "")), str(data.get("what", "")))


def _age_s(path: Path) -> float:
    try:
        return max(0.0, time.time() - path.stat().st_mtime)
    except OSError:
        return 0.0


def _write_owner(fd: int, what: str) -> None:
    """Write this process as the owner into a new lock or mark file, and close it."""
    try:
        doc = {"pid": os.getpid(), "started": datetime.now().astimezone().isoformat(), "what": what}
        os.write(fd, json.dumps(doc).encode("utf-8"))
    finally:
        os.close(fd)


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
            _write_owner(fd, self.what)
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


# ---- the final name a job will publish under -----------------------------------------

#: Suffixes tried for one time stamp before a job gives up (``-2``, ``-3``, ...).
MAX_NAME_TRIES = 1000


def reserve_name(
    folder: Path, names: Iterable[str], *, taken: Callable[[Path], bool], what: str
) -> tuple[Path, JobLock]:
    """Reserve the first of *names* in *folder* that is free, for this process, until
    the returned lock is released (after the job has published under it, or given up).

    A name is free when *taken* says nothing is there and no live job holds
    ``<name>.reserved`` (a job lock, taken with ``O_EXCL``; one of a process that is
    gone is broken). *taken* is asked again once the lock is held, so that a job that
    published and released meanwhile is seen: jobs started in the same second thus get
    ``<name>``, ``<name>-2``, ... each, instead of colliding when they publish.
    """
    for n, name in enumerate(names):
        if n >= MAX_NAME_TRIES:
            break
        final = Path(folder) / name
        if taken(final):
            continue
        lock = JobLock(final.with_name(final.name + RESERVED_SUFFIX), what=what)
        try:
            lock.acquire()
        except LockBusy:
            continue
        if taken(final):
            lock.release()
            continue
        return final, lock
    raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(folder))


def clear_stale_reservations(folder: Path, belongs: Callable[[str], bool]) -> list[Path]:
    """Remove the reservations in *folder* of jobs whose process is gone (killed while
    they ran), for final names that *belongs* recognises. Each is broken the way a
    stale job lock is (so a live job's reservation is never removed), then released."""
    removed = []
    try:
        names = [e.name for e in os.scandir(folder)]
    except OSError:
        return removed
    for name in sorted(names):
        if not name.endswith(RESERVED_SUFFIX) or not belongs(name[: -len(RESERVED_SUFFIX)]):
            continue
        path = Path(folder) / name
        lock = JobLock(path, what="cleanup")
        try:
            lock.acquire()
        except (LockBusy, OSError):
            continue
        lock.release()
        if lock.broke_stale is not None and not os.path.lexists(path):
            removed.append(path)
    return removed


# ---- jobs that read Data ----------------------------------------------------------------


def _reading_re(data_dir: Path) -> re.Pattern[str]:
    name = re.escape(Path(data_dir).name)
    return re.compile(rf"^\.{name}\.therabak-reading-(\d+)-[0-9a-f]+\.lock$")


def _live_owner(path: Path) -> LockOwner | None:
    """Who holds the lock file *path*, if a live process does (or one is just writing it)."""
    if not path.exists():
        return None
    owner = _read_owner(path)
    if owner is None:
        return LockOwner(0) if _age_s(path) < UNREADABLE_GRACE_S else None
    return owner if pid_alive(owner.pid) else None


def live_readers(data_dir: Path) -> list[LockOwner]:
    """The jobs reading *data_dir* right now; marks of processes that are gone are removed."""
    data_dir = followed_root(Path(data_dir).absolute())
    pattern = _reading_re(data_dir)
    found = []
    try:
        entries = list(os.scandir(data_dir.parent))
    except OSError:
        return []
    for entry in entries:
        m = pattern.match(entry.name)
        if not m:
            continue
        owner = _read_owner(Path(entry.path)) or LockOwner(int(m.group(1)))
        if pid_alive(owner.pid):
            found.append(owner)
        else:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
    return found


class DataReading:
    """Says that a job is reading the data folder (backup, folder backup, automatic backup).

    One small file per job beside ``Data``, ``.Data.therabak-reading-<pid>-<token>.lock``
    (any number of backups may read at once). A restore that would replace ``Data``
    refuses while one of a live process exists (:func:`live_readers`), and a job that
    reads ``Data`` refuses while a restore holds the restore lock: a backup never holds a
    mix of the data before and after a restore. Each side first makes itself visible and
    then looks for the other, so of two that start together at least one sees the other.
    Where nothing can be written beside ``Data`` (read-only media), nothing is marked:
    no restore can replace that data either.
    """

    def __init__(self, data_dir: Path, what: str = "backup") -> None:
        self.data_dir = followed_root(Path(data_dir).absolute())  # marks beside the real one
        self.what = what
        self.path: Path | None = None

    def acquire(self) -> DataReading:
        path = self.data_dir.parent / (
            f".{self.data_dir.name}.therabak-reading-{os.getpid()}-{os.urandom(4).hex()}.lock"
        )
        try:
            fd = os.open(
                path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600
            )
        except OSError:
            pass
        else:
            _write_owner(fd, self.what)
            self.path = path
        live_readers(self.data_dir)  # removes the marks of backups that died
        owner = _live_owner(restore_lock_path(self.data_dir))
        if owner is not None:
            self.release()
            text = (
                _(
                    "A restore of {data_dir} is running (process {pid}, since {started}); a "
                    "{what} now would hold a mix of the data before and after it. Try again "
                    "once it has finished."
                )
                if owner.pid
                else _(
                    "A restore of {data_dir} is running (just starting); a {what} now would "
                    "hold a mix of the data before and after it. Try again once it has finished."
                )
            )
            raise DataInUseError(
                text.format(
                    data_dir=self.data_dir,
                    pid=owner.pid,
                    started=owner.started,
                    what=_(READING_WHAT.get(self.what, self.what)),
                )
            )
        return self

    def release(self) -> None:
        if self.path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            self.path = None

    def __enter__(self) -> DataReading:
        return self.acquire()

    def __exit__(self, *_: object) -> None:
        self.release()


#: How the jobs that read Data are called in sentences ("a backup of ... is running").
READING_WHAT = {"backup": N_("backup"), "folder backup": N_("folder backup")}


def check_no_readers(data_dir: Path) -> None:
    """Refuse (exit 7) while a backup reads *data_dir*: a restore would change the data
    under it. The caller holds the restore lock already (see :class:`DataReading`)."""
    readers = live_readers(data_dir)
    if readers:
        r = readers[0]
        what = r.what or "backup"
        raise DataInUseError(
            _(
                "A {what} of {data_dir} is running (process {pid}, since {started}); restoring "
                "now would change the data under it. Try again once it has finished."
            ).format(
                what=_(READING_WHAT.get(what, what)),
                data_dir=Path(data_dir).absolute(),
                pid=r.pid,
                started=r.started,
            )
        )


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
