"""The record of every run of ``therabak auto``: when, and how it ended.

``<state dir>/auto-runs.jsonl``, one JSON object per line (``FORMAT.md``): the last run
and its result are what ``schedule status`` and the app's home screen show, so a
scheduler that starts therabak but sees it fail (a missing account key, a full disk)
is noticed. Holds times, paths and messages, never secrets. Kept short: past
:data:`MAX_BYTES` the file is rewritten with its last :data:`KEEP` lines.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from therabak.errors import ExitCode
from therabak.fsutil import write_private
from therabak.i18n import N_, Message, _, english
from therabak.settings import state_dir

RUNS_FILE = "auto-runs.jsonl"
MAX_BYTES = 256 * 1024
KEEP = 200


class AutoOutcome(StrEnum):
    BACKUP = "backup"  # a backup was made (exit 0, or 3 with warnings)
    NOT_DUE = "not-due"
    BUSY = "busy"  # another run was active
    FAILED = "failed"
    INTERRUPTED = "interrupted"


#: How each outcome is said (translated where shown).
OUTCOME_TEXTS = {
    AutoOutcome.BACKUP: N_("backup made"),
    AutoOutcome.NOT_DUE: N_("not due yet"),
    AutoOutcome.BUSY: N_("another run was active"),
    AutoOutcome.FAILED: N_("FAILED"),
    AutoOutcome.INTERRUPTED: N_("interrupted"),
}


@dataclass
class AutoRun:
    started: str  # ISO 8601 with offset
    ended: str
    exit_code: int
    outcome: str  # AutoOutcome
    message: str = ""  # English
    message_i18n: dict | None = None  # the message as msgid and arguments
    data_dir: str = ""
    archive: str | None = None
    pid: int = field(default_factory=os.getpid)

    @property
    def started_at(self) -> datetime:
        return datetime.fromisoformat(self.started)

    @property
    def shown_message(self) -> str:
        """The message in the current language."""
        return (
            Message.from_data(self.message_i18n, self.message)
            if self.message_i18n
            else self.message
        )

    @property
    def ok(self) -> bool:
        return self.exit_code in (ExitCode.OK, ExitCode.WARNINGS)

    def result_text(self) -> str:
        """The result in a few words (with the message when it failed)."""
        try:
            outcome = AutoOutcome(self.outcome)
        except ValueError:
            return self.outcome
        if outcome is AutoOutcome.BACKUP and self.exit_code == ExitCode.WARNINGS:
            return _("backup made, with warnings")
        text = _(OUTCOME_TEXTS[outcome])
        if outcome in (AutoOutcome.FAILED, AutoOutcome.INTERRUPTED) and self.shown_message:
            return _("{result}: {message}").format(result=text, message=self.shown_message)
        return text

    def to_dict(self) -> dict:
        return {
            "started": self.started,
            "ended": self.ended,
            "exit_code": self.exit_code,
            "outcome": self.outcome,
            "message": self.message,
            "archive": self.archive,
        }


def runs_path() -> Path:
    return state_dir() / RUNS_FILE


def make_run(
    started: datetime,
    exit_code: int,
    outcome: AutoOutcome,
    message: str,
    data_dir: Path,
    archive: Path | None = None,
) -> AutoRun:
    return AutoRun(
        started=started.isoformat(timespec="seconds"),
        ended=datetime.now().astimezone().isoformat(timespec="seconds"),
        exit_code=int(exit_code),
        outcome=outcome.value,
        message=english(message),
        message_i18n=message.to_data() if isinstance(message, Message) else None,
        data_dir=str(data_dir),
        archive=str(archive) if archive else None,
    )


def record(run: AutoRun) -> None:
    path = runs_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    line = (json.dumps(asdict(run), ensure_ascii=False) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0), 0o600)
    try:
        os.write(fd, line)
        size = os.fstat(fd).st_size
    finally:
        os.close(fd)
    if size > MAX_BYTES:
        with contextlib.suppress(OSError):
            lines = path.read_bytes().splitlines(keepends=True)[-KEEP:]
            write_private(path, b"".join(lines))


def read_all() -> list[AutoRun]:
    try:
        text = runs_path().read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    out = []
    for line in text.splitlines():
        try:
            run = AutoRun(**json.loads(line))
            run.started_at  # noqa: B018 - validates the timestamp
            out.append(run)
        except (ValueError, TypeError):
            continue  # a torn line after a crash
    return out


def last_run(data_dir: Path | None = None) -> AutoRun | None:
    runs = [r for r in read_all() if data_dir is None or Path(r.data_dir) == Path(data_dir)]
    return max(runs, key=lambda r: r.started_at, default=None)
