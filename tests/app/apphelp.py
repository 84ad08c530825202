"""Helpers for the app's tests (imported by the tests; fixtures live in conftest.py)."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from therabak.jobkit import history

NOW = datetime(2026, 3, 2, 10, 30, tzinfo=timezone(timedelta(hours=1)))
GB = 1_000_000_000
SIZE = (80, 24)


def add_history(
    kind: str,
    path: str,
    created: datetime,
    data_dir: Path,
    *,
    files: int = 57,
    size: int = 2_000_000,
    verified: bool | None = True,
) -> None:
    history.append(
        history.BackupRecord(
            kind=kind,
            path=path,
            created=created.isoformat(),
            files=files,
            bytes=size,
            verified=verified,
            data_dir=str(data_dir),
        )
    )


async def wait_for(pilot, condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Let the app run until *condition* holds (fails the test after *timeout* seconds)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(
                "condition not reached in time; the screen:\n" + screen_text(pilot.app)
            )
        await pilot.pause(0.05)


async def wait_scan(pilot) -> None:
    """Until the data folder is counted and the home screen knows the scheduler's word."""
    await wait_for(pilot, lambda: pilot.app.scan is not None or bool(pilot.app.scan_error))
    await wait_schedule(pilot)
    await pilot.pause()


async def wait_schedule(pilot) -> None:
    """Until every screen that asks the scheduler (home, settings) has its answer, and
    the settings know whether each remembered destination's backups have a recovery code."""

    def answered() -> bool:
        return all(
            getattr(s, "schedule_checked", True) and getattr(s, "codes_checked", True)
            for s in pilot.app.screen_stack
        )

    await wait_for(pilot, answered)
    await pilot.pause()


def screen_text(app) -> str:
    """Everything the current screen shows, as plain text (via an SVG screenshot)."""
    svg = app.export_screenshot()
    rows: dict[float, dict[int, str]] = {}
    for m in re.finditer(r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)"[^>]*>([^<]*)</text>', svg):
        x, y = float(m[1]), float(m[2])
        rows.setdefault(y, {})[round(x / 12.2)] = html.unescape(m[3]).replace("\xa0", " ")
    lines = []
    for y in sorted(rows):
        line = ""
        for col in sorted(rows[y]):
            line = line.ljust(col) + rows[y][col]
        lines.append(line.rstrip())
    return "\n".join(lines)


def store_backup_first(ctx, dest: Path, password: str):
    """A backup into the store at *dest*, made by the engine before the app runs."""
    from therabak.archive.writer import Protection
    from therabak.jobs.store_backup import StoreBackupRequest, run_store_backup
    from therabak.practice.account import AccountKey
    from therabak.practice.categories import BackupKind, Rules

    rules = Rules.load()
    return run_store_backup(
        StoreBackupRequest(
            data_dir=ctx.paths.data_dir,
            account=AccountKey.load(ctx.paths.account_key),
            dest=str(dest),
            rules=rules,
            selection=rules.default_selection(BackupKind.MANUAL),
            protection=Protection(password=password),
            remember_destination=False,
        )
    )


async def no_recovery_code(pilot) -> None:
    """The first backup into a new store asks whether to make a recovery code: no."""
    from therabak.app.screens.dialogs import ConfirmDialog

    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog))
    assert "recovery code" in str(pilot.app.screen.query_one(".dialog-title").render())
    pilot.app.screen.query_one("#no").press()
    await pilot.pause()
