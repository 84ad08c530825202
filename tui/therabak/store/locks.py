"""Store locks (``locks/<32 hex>``): who works on a store right now.

Every job that works on a store puts a lock object of its own (a unique name, so no
two writers ever meet on one object), then lists ``locks/``: a backup or a check (shared
locks) gives way to a prune, forget or password change (exclusive) and those give way to
every other lock. Both put before they look, so of two jobs that start together at least
one sees the other. A lock names its host, process id, user and time (sealed with the
lock key: host and user names are nobody's business) and is rewritten every
:data:`REFRESH_S` while held. It is **stale** when it was not refreshed for
:data:`STALE_S`, or when it belongs to this host and its process is gone; stale locks
of this host are ignored; a stale lock of another host (maybe only asleep, or with its
clock off) is refused like a live one, naming the host and since when, and removed only
on request (``break_locks``, ``--break-lock``), as every lock is.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import re
import socket
import threading
import time
from dataclasses import dataclass, replace

from therabak.errors import TherabakError
from therabak.i18n import _
from therabak.processes import pid_alive, process_identity
from therabak.storage.base import Storage, StorageError
from therabak.store.errors import DamagedStoreError, StoreError, StoreLockedError
from therabak.store.keys import StoreKeys, seal, unseal

PREFIX = "locks/"
REFRESH_S = 5 * 60.0
STALE_S = 30 * 60.0
_AAD = b"therabak store lock v1"
_NAME_RE = re.compile(r"locks/[0-9a-f]{32}")


def this_host() -> str:
    with contextlib.suppress(OSError):
        return socket.gethostname()[:255]
    return ""


def _this_user() -> str:
    try:
        return getpass.getuser()[:255]
    except (OSError, KeyError, ImportError):
        return ""


@dataclass(frozen=True)
class LockInfo:
    name: str
    host: str
    pid: int
    user: str
    what: str
    exclusive: bool
    created: float  # Unix seconds
    refreshed: float
    identity: str = ""  # the process's start time where the system says (tells pid reuse)

    def stale(self, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        if now - self.refreshed > STALE_S:
            return True
        return self.host == this_host() and not pid_alive(self.pid, self.identity)

    def describe(self) -> str:
        since = _when(self.created)
        return _("{what} by process {pid} of {user} on {host}, since {since}").format(
            what=self.what or _("a job"), pid=self.pid, user=self.user, host=self.host, since=since
        )


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def _aad(keys: StoreKeys, name: str) -> bytes:
    return _AAD + keys.store_id + name.encode("ascii")


def encode_lock(keys: StoreKeys, info: LockInfo) -> bytes:
    doc = {
        "host": info.host,
        "pid": info.pid,
        "user": info.user,
        "what": info.what,
        "exclusive": info.exclusive,
        "created": info.created,
        "refreshed": info.refreshed,
        "identity": info.identity,
    }
    return seal(keys.lock, json.dumps(doc).encode("utf-8"), _aad(keys, info.name))


def parse_lock(keys: StoreKeys, data: bytes, name: str) -> LockInfo:
    plain = unseal(keys.lock, data, _aad(keys, name), name=name)
    try:
        doc = json.loads(plain)
        info = LockInfo(
            name=name,
            host=str(doc["host"]),
            pid=int(doc["pid"]),
            user=str(doc["user"]),
            what=str(doc["what"]),
            exclusive=bool(doc["exclusive"]),
            created=float(doc["created"]),
            refreshed=float(doc["refreshed"]),
            identity=str(doc.get("identity", "")),
        )
    except (ValueError, KeyError, TypeError, OverflowError):
        raise DamagedStoreError(
            _("{name} is damaged ({what}).").format(name=name, what=_("not readable")), name=name
        ) from None
    return info


def read_locks(
    storage: Storage, keys: StoreKeys, *, skip: str = ""
) -> tuple[list[LockInfo], list[str]]:
    """(every readable lock but *skip*, the names of those that cannot be read)."""
    found, bad = [], []
    for obj in storage.list(PREFIX):
        if not _NAME_RE.fullmatch(obj.name) or obj.name == skip:
            continue
        try:
            found.append(parse_lock(keys, storage.get(obj.name), obj.name))
        except DamagedStoreError:
            bad.append(obj.name)
        except StorageError:
            continue  # released meanwhile
    return found, bad


class StoreLock:
    """One job's lock on a store; a context manager."""

    def __init__(self, storage: Storage, keys: StoreKeys, *, exclusive: bool, what: str) -> None:
        self.storage, self.keys = storage, keys
        self.exclusive, self.what = exclusive, what
        self.name = f"{PREFIX}{os.urandom(16).hex()}"
        self.held = False
        self.ignored_stale: list[LockInfo] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failed: BaseException | None = None
        now = time.time()
        self._info = LockInfo(
            name=self.name,
            host=this_host(),
            pid=os.getpid(),
            user=_this_user(),
            what=what,
            exclusive=exclusive,
            created=now,
            refreshed=now,
            identity=process_identity(os.getpid()) or "",
        )

    def acquire(self) -> StoreLock:
        self.storage.put_bytes(self.name, encode_lock(self.keys, self._info))
        self.held = True
        try:
            locks, _bad = read_locks(self.storage, self.keys, skip=self.name)  # not ours
            now = time.time()
            for other in locks:
                if other.name == self.name:
                    continue
                if not (self.exclusive or other.exclusive):
                    continue
                if other.stale(now):
                    if other.host == this_host():  # its process is gone: certain
                        self.ignored_stale.append(other)
                        continue
                    # another computer's: maybe only asleep (a laptop's lid closed), or its
                    # clock is off. Broken only on request, never by guessing.
                    raise StoreLockedError(
                        _(
                            "The backup store is in use by another computer: {who}; its lock "
                            "has not been renewed since {refreshed}."
                        ).format(who=other.describe(), refreshed=_when(other.refreshed)),
                        hint=_(
                            "if that computer no longer works on this store (it crashed or "
                            "was switched off), run the command again with --break-lock"
                        ),
                    )
                raise StoreLockedError(
                    _("The backup store is in use: {who}.").format(who=other.describe()),
                    hint=_(
                        "wait until that job ends; if it is known to be gone, "
                        "run the command again with --break-lock"
                    ),
                )
        except BaseException:
            self.release()
            raise
        self._thread = threading.Thread(target=self._refresh_loop, name="store-lock", daemon=True)
        self._thread.start()
        return self

    def _refresh_loop(self) -> None:
        while not self._stop.wait(REFRESH_S):
            try:
                self.refresh()
            except TherabakError as e:
                self._failed = e

    def refresh(self) -> None:
        self._info = replace(self._info, refreshed=time.time())
        self.storage.replace(self.name, encode_lock(self.keys, self._info))

    def confirm(self) -> None:
        """Raise unless the lock is still ours (before a commit): a lock broken by someone
        else, or never refreshed in time, means another job may have changed the store."""
        if self._failed is not None or time.time() - self._info.refreshed > STALE_S:
            raise StoreError(
                _(
                    "This job's lock on the backup store could not be kept fresh; "
                    "nothing was committed."
                )
            )
        if self.storage.size(self.name) is None:
            raise StoreError(
                _(
                    "This job's lock on the backup store was removed by someone else; "
                    "nothing was committed."
                )
            )

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        if self.held:
            self.held = False
            with contextlib.suppress(TherabakError):
                self.storage.delete(self.name)

    def __enter__(self) -> StoreLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def break_locks(storage: Storage, keys: StoreKeys, *, keep: str = "") -> list[str]:
    """Delete every lock object but *keep* (only on request: when the user knows no other
    job uses the store). Returns the names deleted."""
    gone = []
    for obj in list(storage.list(PREFIX)):
        if obj.name != keep and _NAME_RE.fullmatch(obj.name):
            storage.delete(obj.name)
            gone.append(obj.name)
    return gone
