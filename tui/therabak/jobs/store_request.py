"""What a backup into a store is asked to do (:class:`StoreBackupRequest`): the one
type the CLI, the app, the automatic backup and the engine's store steps
(``store_open``, ``store_estimate``, ``store_backup``) share. Apart from the job so that
those steps depend on the request, not on the job that runs them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from therabak.crypto.protection import Protection
from therabak.crypto.recovery import RecoveryCode
from therabak.jobkit.retry import RetryPolicy
from therabak.jobs.backup_args import backup_argv
from therabak.practice.account import AccountKey
from therabak.practice.categories import BackupKind, Rules
from therabak.storage.network import RetryNotice


@dataclass
class StoreBackupRequest:
    """A backup into a store, as the engine takes it and, for a manual one, as
    ``therabak backup`` is asked for it (:meth:`to_argv`; the password goes to a job's
    standard input, a recovery code is never on a command line)."""

    operation: ClassVar[str] = "backup"

    data_dir: Path
    account: AccountKey
    #: where to, exactly as ``--dest`` takes it: a folder (the store is
    #: DEST/TheraPsy-Backups, or the store's own folder), a URL or a destination's name
    dest: str
    rules: Rules
    selection: frozenset[str]
    protection: Protection  # a new store's key slots; an existing store opens with it too
    kind: BackupKind = BackupKind.MANUAL
    verify: bool = False
    reread: bool = False  # read every file, even those unchanged since the parent
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    remember_destination: bool = True
    created: datetime | None = None
    #: opens an existing store instead of the password (never makes a slot)
    recovery_code: RecoveryCode | None = field(default=None, repr=False)
    #: called once a new store exists (before any file is read): a new recovery code in
    #: its key file now matters, so the caller shows it (or keeps the file it wrote)
    #: with the store's place (a path, or a URL without credentials)
    on_created: Callable[[str], None] | None = None
    account_key_path: Path | None = None  # for a job's command line (None: the default)
    #: bytes per second off-site (None: the named destination's limit, if any)
    limit_upload: int | None = None
    #: hears every retry of a transient network failure (off-site)
    on_retry: Callable[[RetryNotice], None] | None = field(default=None, repr=False)
    #: remove a stale lock another computer left while making the store off-site (only
    #: on request, ``--break-lock``; never on a job's command line)
    break_lock: bool = False

    def to_argv(self) -> list[str]:
        """The ``therabak backup`` arguments of this manual store backup; the categories
        as the difference to the defaults (``--include``/``--exclude``); never a secret."""
        argv = backup_argv(self, str(self.dest))
        if self.reread:
            argv.append("--reread")
        if self.protection.unprotected:
            argv.append("--no-password")
        if self.limit_upload is not None:
            argv += ["--limit-upload", str(self.limit_upload)]
        return argv
