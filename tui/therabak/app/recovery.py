"""The recovery code and the emergency sheet in the app, without Textual: which backups
can have a code, the check of the password (or the current code) before a new code is
shown, the arguments of the jobs (``therabak recovery create|remove``,
``therabak emergency-sheet``; every secret goes to the job's standard input), and
whether the backups of each remembered destination have a code (public headers only,
no password needed).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from therabak.app.context import AppContext
from therabak.i18n import N_
from therabak.points.discovery import SearchPlace, list_points
from therabak.points.point import PointKind, RestorePoint

if TYPE_CHECKING:
    from therabak.crypto.recovery import RecoveryCode

#: The way to the recovery code on every unlock step (the emergency sheet names it with
#: these words, in both languages).
FORGOT = N_("Forgot the password? Use the recovery code")

#: The kinds of backup a recovery code can belong to: a manual backup with a password
#: (an automatic backup opens with the account key, a folder backup is not encrypted
#: by therabak).
CODE_KINDS = (PointKind.MANUAL,)


def can_have_code(point: RestorePoint) -> bool:
    """Can *point* be given a recovery code (a readable backup with a password)?"""
    return (
        point.readable
        and not point.is_folder
        and point.kind in CODE_KINDS
        and point.protection == "password"
        and not point.incomplete
    )


def check_secret(
    point: RestorePoint, password: str | None, recovery_code: RecoveryCode | None
) -> None:
    """Prove that *password* (or the current *recovery_code*) opens *point*, before a new
    code is shown or the job is started; raises the engine's errors (a wrong password:
    WrongPasswordError, exit 4). Changes nothing."""
    from therabak.jobs.recovery import unlock_for_change
    from therabak.jobs.store_keys import is_store, open_for_change

    if point.is_store or is_store(Path(point.path)):  # a store: its key file holds the slots
        open_for_change(Path(point.path), password=password, recovery_code=recovery_code)
    else:
        unlock_for_change(Path(point.path), password=password, recovery_code=recovery_code)


def point_ref(point: RestorePoint) -> str:
    """What names *point* on the job's command line."""
    return str(point.path)


def create_args(point: RestorePoint) -> list[str]:
    """``therabak recovery create`` for *point* (the secrets go to standard input)."""
    return ["create", point_ref(point)]


def remove_args(point: RestorePoint) -> list[str]:
    """``therabak recovery remove`` for *point* (the password goes to standard input)."""
    return ["remove", point_ref(point)]


def sheet_args(ctx: AppContext, out: Path, lang: str, *, include_code: bool) -> list[str]:
    """``therabak emergency-sheet`` into the folder *out*: the places the app searches
    (remembered destinations, the automatic-backup folder, removable media, and the
    folders searched before, given with ``--in``). The code, when it is printed, goes
    to standard input (``--recovery-code-stdin``), never here."""
    from therabak.settings import Settings

    args = ["--out", str(out), "--lang", lang]
    if include_code:
        args.append("--include-code")
    try:
        searched = Settings.load().searched_folders
    except Exception:  # noqa: BLE001 - the job says what is wrong with the settings
        searched = []
    for folder in searched:
        if Path(folder).expanduser().is_dir():
            args += ["--in", str(Path(folder).expanduser())]
    args += ["--data-dir", str(ctx.paths.data_dir), "--account-key", str(ctx.paths.account_key)]
    return args


def sheet_env(ctx: AppContext) -> dict[str, str | None]:
    """The sheet job's environment: the removable media the app sees are the ones the
    sheet lists (``THERABAK_MEDIA_ROOTS``), so it names the places the app shows."""
    media = os.pathsep.join(str(m) for m in ctx.removable_media())
    return {**ctx.job_env, "THERABAK_MEDIA_ROOTS": media}


def default_sheet_folder(ctx: AppContext) -> Path:
    """Where the sheet goes unless the user chooses: the documents folder, else home."""
    home = ctx.home if ctx.home is not None else Path.home()
    for name in ("Documents", "Dokumente"):
        if (home / name).is_dir():
            return home / name
    return home


@dataclass
class DestinationCodes:
    """Whether the backups in one remembered destination have a recovery code."""

    folder: str
    reachable: bool  # the folder is there now (a USB stick may not be plugged in)
    backups: int = 0  # backups there that can have a code (manual, with a password)
    with_code: int = 0  # ... and have one
    newest_has_code: bool | None = None  # the newest of them (None: there is none)
    newest: datetime | None = None


def destination_codes(folders: list[str], account_key_id: str | None) -> list[DestinationCodes]:
    """For each folder: how many of its password backups have a recovery code, from
    their public headers (no password needed; nothing is opened)."""
    out = []
    for folder in folders:
        place = SearchPlace(Path(folder).expanduser().absolute(), "remembered")
        listing = list_points(data_dir=None, account_key_id=account_key_id, places=[place])
        points = [p for p in listing.points if can_have_code(p)]
        facts = DestinationCodes(folder, place.available, len(points))
        facts.with_code = sum(1 for p in points if p.recovery_code)
        if points:
            newest = max(points, key=lambda p: p.created.timestamp() if p.created else 0.0)
            facts.newest_has_code = newest.recovery_code
            facts.newest = newest.created
        out.append(facts)
    return out
