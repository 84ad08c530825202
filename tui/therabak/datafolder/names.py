"""The names therabak gives what it writes, and how to recognise them.

At a destination:

* a manual backup: ``TheraPsy-Backup-<time>.therabak``, an automatic one
  ``TheraPsy-Auto-<time>.therabak``; when that name is taken (jobs started in the same
  second), ``…-2.therabak``, ``…-3.therabak``, ...; the later volumes of a split backup
  add ``.002``, ``.003``, ... (archive/volumes/naming.py);
* a folder backup: the folder ``TheraPsy-Data-<time>`` (``-2``, ... likewise);
* a backup store: the folder ``TheraPsy-Backups`` (store/place.py), which holds every
  store backup made to that destination;
* while they are written: ``<name>.<pid>.partial`` (datafolder/partials.py), and the
  reservation of the final name, ``<name>.reserved`` (a job lock, datafolder/locks.py).

Beside ``Data`` (all derived from the data folder's own name, so ``--data-dir
X/Praxis`` gives ``Praxis.before-restore-...``): the restore's journal
``.Data.therabak-restore.json`` and lock ``.Data.therabak-restore.lock``, and the
folder that keeps the data a restore replaced, ``Data.before-restore-<time>``.

``<time>`` is local time, ``YYYY-MM-DD_HHMMSS``. Import-light on purpose: the scan of
Data (and the preview) use :func:`is_backup_output` to leave backups out.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path

from therabak.datafolder.partials import parse_partial
from therabak.practice.categories import BackupKind

STAMP_FORMAT = "%Y-%m-%d_%H%M%S"
ARCHIVE_SUFFIX = ".therabak"
NAME_PREFIX = {BackupKind.MANUAL: "TheraPsy-Backup-", BackupKind.AUTOMATIC: "TheraPsy-Auto-"}
FOLDER_PREFIX = "TheraPsy-Data-"
RESERVED_SUFFIX = ".reserved"  # datafolder/locks.py: reserve_name
#: The folder a backup store gets in a destination (``E:\\TheraPsy-Backups``; store/place.py).
STORE_FOLDER = "TheraPsy-Backups"

_ARCHIVE_RE = re.compile(r"^TheraPsy-.*\.therabak(?:\.[0-9]{3})?$", re.DOTALL)
_FOLDER_RE = re.compile(
    rf"^{FOLDER_PREFIX}[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}_[0-9]{{6}}(?:-[0-9]+)?$"
)


def stamp(when: datetime | None = None) -> str:
    return (when or datetime.now().astimezone()).strftime(STAMP_FORMAT)


def archive_name(kind: BackupKind, created: datetime, n: int = 1) -> str:
    """The name of the *n*-th backup of *kind* made at *created* (``-n`` from 2 on)."""
    suffix = "" if n == 1 else f"-{n}"
    return f"{NAME_PREFIX[kind]}{stamp(created)}{suffix}{ARCHIVE_SUFFIX}"


def folder_name(created: datetime, n: int = 1) -> str:
    suffix = "" if n == 1 else f"-{n}"
    return f"{FOLDER_PREFIX}{stamp(created)}{suffix}"


def is_archive_output(name: str) -> bool:
    """Is *name* the final name of a backup archive or of one of its later volumes?"""
    return bool(_ARCHIVE_RE.match(name))


def is_folder_backup_name(name: str) -> bool:
    return bool(_FOLDER_RE.match(name))


def is_store_name(name: str) -> bool:
    """``TheraPsy-Backups``, or ``TheraPsy-Backups-<key id>`` (jobs/auto.py)."""
    return name == STORE_FOLDER or name.startswith(STORE_FOLDER + "-")


def is_backup_output(name: str, is_dir: bool) -> bool:
    """Is the entry *name* (a folder when *is_dir*) something therabak writes at a
    destination: a backup, a volume, a folder backup, one of them being written, or the
    reservation of its name?"""
    final = name
    parsed = parse_partial(name)
    if parsed is not None:
        final = parsed[0]
    elif not is_dir and name.endswith(RESERVED_SUFFIX):
        final = name[: -len(RESERVED_SUFFIX)]
        return is_archive_output(final) or is_folder_backup_name(final)
    if is_dir:
        return is_folder_backup_name(final) or is_store_name(name)
    return is_archive_output(final)


# ---- beside the data folder -----------------------------------------------------------------


def journal_path(data_dir: Path) -> Path:
    data_dir = Path(data_dir)
    return data_dir.parent / f".{data_dir.name}.therabak-restore.json"


def restore_lock_path(data_dir: Path) -> Path:
    data_dir = Path(data_dir)
    return data_dir.parent / f".{data_dir.name}.therabak-restore.lock"


def before_restore_prefix(data_dir: Path) -> str:
    return f"{Path(data_dir).name}.before-restore-"


def before_restore_path(data_dir: Path, when: datetime | None = None) -> Path:
    data_dir = Path(data_dir)
    base = data_dir.parent / f"{before_restore_prefix(data_dir)}{stamp(when)}"
    path, n = base, 1
    while os.path.lexists(path):
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path
