"""A small local record of finished backups (for ``status`` and the app's home screen).

One JSON object per line in ``<state dir>/history.jsonl``. Holds paths and times,
never secrets or patient data.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from therabak.settings import state_dir

HISTORY_FILE = "history.jsonl"


class RecordKind(StrEnum):
    """What a history record is about."""

    MANUAL = "manual"  # a manual backup
    AUTOMATIC = "auto"  # an automatic backup (written as its archive header says it)
    FOLDER = "folder"  # a folder backup
    RESTORE = "restore"  # a restore
    DELETED = "deleted"  # the backup at its path was deleted (by the user's choice)


DELETED = RecordKind.DELETED


@dataclass
class BackupRecord:
    kind: RecordKind | str  # a kind this version does not know stays a str
    path: str
    created: str  # ISO 8601 with offset
    files: int = 0
    bytes: int = 0
    verified: bool | None = None
    data_dir: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def created_at(self) -> datetime:
        return datetime.fromisoformat(self.created)


def history_path() -> Path:
    return state_dir() / HISTORY_FILE


def append(record: BackupRecord) -> None:
    path = history_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    line = json.dumps(asdict(record), ensure_ascii=False) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, line.encode("utf-8"))
    finally:
        os.close(fd)


def read_all() -> list[BackupRecord]:
    """Every record, oldest first, except the backups deleted since (see :func:`forget`)."""
    try:
        text = history_path().read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    out = []
    for line in text.splitlines():
        try:
            data = json.loads(line)
            out.append(BackupRecord(**data))
            out[-1].created_at  # noqa: B018 - validates the timestamp
        except (ValueError, TypeError):
            continue  # a torn last line after a crash: ignore it
    # (backup names hold their time: a path is never reused for another one; a store's
    # path is, so a forgotten point of a store is named by its snapshot id too)
    deleted = {r.path for r in out if r.kind == DELETED and not _point_of(r)}
    forgotten = {(r.path, _point_of(r)) for r in out if r.kind == DELETED and _point_of(r)}
    if deleted or forgotten:
        out = [
            r
            for r in out
            if r.kind != DELETED
            and r.path not in deleted
            and (not _point_of(r) or (r.path, _point_of(r)) not in forgotten)
        ]
    return out


def _point_of(record: BackupRecord) -> str:
    """The snapshot id of a store backup's record ("" for any other)."""
    sid = record.extra.get("snapshot") if isinstance(record.extra, dict) else None
    return sid if isinstance(sid, str) else ""


def forget(path: Path | str, snapshot: str = "") -> None:
    """Record that the backup at *path* (with *snapshot*: that point of the store at
    *path*) was deleted by the user's choice: it is no longer anybody's last backup.
    The file stays append-only."""
    with contextlib.suppress(OSError):
        append(
            BackupRecord(
                kind=DELETED,
                path=str(path),
                created=datetime.now().astimezone().isoformat(timespec="seconds"),
                extra={"snapshot": snapshot} if snapshot else {},
            )
        )


def last_of(kind: RecordKind, data_dir: Path | None = None) -> BackupRecord | None:
    records = [
        r
        for r in read_all()
        if r.kind == kind
        and (data_dir is None or not r.data_dir or Path(r.data_dir) == Path(data_dir))
    ]
    return max(records, key=lambda r: r.created_at, default=None)
