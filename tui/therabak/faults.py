"""Fault injection for tests and the demo: ``THERABAK_FAILPOINTS``.

Off unless the variable is set. Comma-separated ``name=value`` items:

``transient=F``       a fraction F (0..1) of source files fail decryption on their
                      first attempts, then succeed
``transient-times=K`` how many attempts fail for those files (default 2)
``permanent=F``       a fraction F of source files never decrypt
``seed=S``            which files are chosen (deterministic per path and seed)
``enospc-after=N``    writing to a backup destination fails with ENOSPC ("disk full")
                      once N bytes were written
``efbig-at=N``        a backup file cannot grow beyond N bytes: a write that would cross
                      that size writes up to it and fails with EFBIG, as on a FAT32
                      drive (a split backup moves on to its next volume)
``fstype=NAME``       the destination's file system is reported as NAME (e.g. ``vfat``;
                      ``unknown``: cannot be determined)
``crash-at=NAME``     the process kills itself (SIGKILL) at the named point:
                      backup: ``backup.body`` (after each file), ``backup.volume``
                      (after each finished volume of a split backup), ``backup.index``,
                      ``backup.trailer``, ``backup.rename`` (synced, not renamed),
                      ``backup.volumes-renamed`` (a split backup's volumes 2..N
                      renamed, the first not yet), ``backup.published`` (renamed,
                      nothing recorded yet);
                      restore: ``restore.staging`` (after each staged file),
                      ``restore.carry``, ``restore.staged`` (all staged and
                      checked), ``restore.journal``,
                      ``restore.swap`` (between the renames), ``restore.swapped``;
                      folder backup: ``folder.copy`` (after each file),
                      ``folder.manifest``, ``folder.rename``, ``folder.published``;
                      auto: ``auto.backup`` (written and verified, nothing deleted),
                      ``auto.retention`` (after each deleted old backup);
                      passwd: ``passwd.journal`` (new header journalled, archive
                      untouched), ``passwd.write`` (archive header half rewritten);
                      recovery create/remove: ``recovery.prepared`` (the new code
                      shown or written, nothing else), ``recovery.journal``,
                      ``recovery.write`` (as for passwd)
``crash-after-bytes=N``
                      the process kills itself once N bytes were written (the
                      archive of a backup, the staged or copied files of a restore
                      or folder backup)
``delay-ms=N``        sleep N ms before each file a backup reads or a restore stages
                      (to watch progress, or to act while a job runs)
``hold=PATH``         before each such file, wait while the file PATH exists (a test
                      holds a job mid-way and lets it go by deleting PATH)
``verify-delay-ms=N`` sleep N ms before each file a verification checks (``verify``,
                      the check after writing of ``backup --verify``, a folder
                      backup's read-back)
``denied=TEXT``       opening a source file whose path contains TEXT fails with
                      "permission denied" (as a file another program holds locked)
``created=TIME``      backups and folder backups take TIME (ISO 8601, e.g.
                      ``2026-03-02T10:30:00+01:00``) as their creation time, which names
                      them: jobs started together get the same time, as if started in
                      the same second, whatever the machine's speed

Example: ``THERABAK_FAILPOINTS="transient=0.05,transient-times=2,seed=demo"``.
"""

from __future__ import annotations

import errno
import hashlib
import os
import signal
import sys
import time
from dataclasses import dataclass
from datetime import datetime

_INT_ITEMS = (
    "transient_times",
    "delay_ms",
    "verify_delay_ms",
    "enospc_after",
    "efbig_at",
    "crash_after_bytes",
)


@dataclass
class Failpoints:
    transient: float = 0.0
    transient_times: int = 2
    permanent: float = 0.0
    seed: str = ""
    enospc_after: int | None = None
    efbig_at: int | None = None
    crash_at: str = ""
    crash_after_bytes: int | None = None
    delay_ms: int = 0
    verify_delay_ms: int = 0
    denied: str = ""
    fstype: str = ""
    created: str = ""
    hold: str = ""

    @property
    def active(self) -> bool:
        return self != Failpoints()

    @classmethod
    def parse(cls, spec: str) -> Failpoints:
        fp = cls()
        for item in filter(None, (s.strip() for s in spec.split(","))):
            name, _sep, value = item.partition("=")
            name = name.strip().replace("-", "_")
            value = value.strip()
            if name in ("transient", "permanent"):
                setattr(fp, name, float(value))
            elif name in _INT_ITEMS:
                setattr(fp, name, int(value))
            elif name in ("seed", "crash_at", "denied", "fstype", "hold"):
                setattr(fp, name, value)
            elif name == "created":
                datetime.fromisoformat(value)  # a ValueError names a bad time now
                fp.created = value
            else:
                raise ValueError(f"unknown failpoint {name!r}")
        return fp

    def _pick(self, path: str, salt: str) -> float:
        h = hashlib.sha256(f"{self.seed}\0{salt}\0{path}".encode()).digest()
        return int.from_bytes(h[:8], "big") / 2**64

    def decrypt_fails(self, path: str, attempt: int) -> bool:
        """Should reading *path* fail on this (1-based) attempt?"""
        if self.permanent and self._pick(path, "permanent") < self.permanent:
            return True
        return bool(
            self.transient
            and attempt <= self.transient_times
            and self._pick(path, "transient") < self.transient
        )


def _load() -> Failpoints:
    spec = os.environ.get("THERABAK_FAILPOINTS", "")
    if not spec:
        return Failpoints()
    try:
        return Failpoints.parse(spec)
    except ValueError as e:
        sys.stderr.write(f"therabak: ignoring THERABAK_FAILPOINTS: {e}\n")
        return Failpoints()


ACTIVE = _load()


def reload() -> Failpoints:
    global ACTIVE
    ACTIVE = _load()
    return ACTIVE


def kill_self() -> None:
    if hasattr(signal, "SIGKILL"):
        os.kill(os.getpid(), signal.SIGKILL)
    os._exit(137)


def point(name: str) -> None:
    """A named crash point."""
    if ACTIVE.crash_at and ACTIVE.crash_at == name:
        kill_self()


def before_write(position: int, n: int) -> None:
    """Called by destination writers before writing *n* bytes at *position*."""
    fp = ACTIVE
    if fp.crash_after_bytes is not None and position + n > fp.crash_after_bytes:
        kill_self()
    if fp.enospc_after is not None and position + n > fp.enospc_after:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    if fp.efbig_at is not None and position + n > fp.efbig_at:
        raise OSError(errno.EFBIG, os.strerror(errno.EFBIG))


def before_stream_write(position: int, n: int) -> None:
    """Called by a sink that spreads one archive over several files (volumes), with the
    position in the archive: crash-after-bytes and enospc-after count the archive's bytes.
    (efbig-at is per file: see :func:`file_size_limit`.)"""
    fp = ACTIVE
    if fp.crash_after_bytes is not None and position + n > fp.crash_after_bytes:
        kill_self()
    if fp.enospc_after is not None and position + n > fp.enospc_after:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def file_size_limit() -> int | None:
    """The size (efbig-at) beyond which a destination file cannot grow, or None."""
    return ACTIVE.efbig_at


def source_open(path: object) -> None:
    """Called before a job opens a source file (Data, or a folder backup it restores)."""
    if ACTIVE.denied and ACTIVE.denied in str(path):
        raise PermissionError(
            errno.EACCES, "Permission denied (injected by THERABAK_FAILPOINTS)", str(path)
        )


def created() -> datetime | None:
    """The creation time jobs take instead of the clock's (``created=``), or None."""
    if not ACTIVE.created:
        return None
    when = datetime.fromisoformat(ACTIVE.created)
    return when if when.tzinfo is not None else when.astimezone()


def source_delay() -> None:
    if ACTIVE.delay_ms:
        time.sleep(ACTIVE.delay_ms / 1000)
    while ACTIVE.hold and os.path.exists(ACTIVE.hold):
        time.sleep(0.05)


def verify_delay() -> None:
    if ACTIVE.verify_delay_ms:
        time.sleep(ACTIVE.verify_delay_ms / 1000)
