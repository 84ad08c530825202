"""What every manual backup shares before it begins, the single-file one's and the
store's: its ``therabak backup`` arguments and its local destination folder, made ready.
Apart from ``jobs/backup.py`` so that a store backup does not load the archive writer."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from therabak.errors import DataFolderError
from therabak.i18n import _
from therabak.practice.categories import BackupKind


def backup_argv(req: Any, dest: str) -> list[str]:
    """What every manual backup's ``therabak backup`` arguments begin with (the single-
    file one's and the store's): the destination, Data, the account key when not the
    default, the categories as the difference to the defaults (``--include``/
    ``--exclude``) and ``--verify``; never a secret. *req* has ``data_dir``,
    ``account_key_path``, ``rules``, ``selection`` and ``verify``."""
    argv = ["--dest", dest, "--data-dir", str(req.data_dir)]
    if req.account_key_path is not None:
        argv += ["--account-key", str(req.account_key_path)]
    defaults = req.rules.default_selection(BackupKind.MANUAL)
    include, exclude = sorted(req.selection - defaults), sorted(defaults - req.selection)
    if include:
        argv += ["--include", ",".join(include)]
    if exclude:
        argv += ["--exclude", ",".join(exclude)]
    if req.verify:
        argv.append("--verify")
    return argv


def prepare_destination(dest: Path) -> Path:
    dest = Path(dest).expanduser().absolute()
    if dest.exists() and not dest.is_dir():
        raise DataFolderError(_("The destination is not a folder: {dest}").format(dest=dest))
    if not dest.exists():
        if not dest.parent.is_dir():
            raise DataFolderError(
                _("The destination folder does not exist: {dest}").format(dest=dest)
            )
        dest.mkdir(mode=0o700)  # a folder therabak makes is private, like its files
    if not os.access(dest, os.W_OK):
        raise DataFolderError(_("The destination folder is not writable: {dest}").format(dest=dest))
    return dest


__all__ = ["backup_argv", "prepare_destination"]
