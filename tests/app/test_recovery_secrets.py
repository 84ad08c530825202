"""Secrets on the app's path: a recovery code made in the app, used to restore, printed on
the emergency sheet the user asked for, replaced and removed, never appears anywhere
else: not in the command line of any job the app starts (nor its environment), not in
the job records, logs and error files, the settings, the history, or any other file
below the test's folder; only in the sheet the user asked for. The password neither.

The jobs are real processes started by the app's runner; their command lines are taken
where they are handed to ``subprocess.Popen`` (a spy that records and passes on).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from app.apphelp import wait_for
from app.test_recovery_flow import (
    PASSWORD,
    backup_with_cli,
    finished_job,
    open_recovery_from_settings,
)
from conftest import IS_WINDOWS
from test_secrets import Scan, add_code
from therabak.app import runner as runner_module
from therabak.app.app import TherabakApp
from therabak.app.screens.recovery import NewCodeDialog, RecoveryScreen
from therabak.app.screens.restore import RestoreScreen
from therabak.app.screens.sheet import EmergencySheetScreen
from therabak.app.screens.unlock import UnlockDialog

pytestmark = [pytest.mark.slow, pytest.mark.skipif(IS_WINDOWS, reason="POSIX file modes")]


@pytest.fixture
def started(monkeypatch):
    """The command line and environment of every job the app starts."""
    seen: list[tuple[list[str], dict[str, str]]] = []
    real = subprocess.Popen

    def spy(args, *a, **kw):
        seen.append(([str(x) for x in args], dict(kw.get("env") or {})))
        return real(args, *a, **kw)

    monkeypatch.setattr(runner_module.subprocess, "Popen", spy)
    return seen


def test_the_code_never_leaves_where_it_belongs(
    make_ctx, run_app, usb, app_practice, home, tmp_path, started
):
    archive = backup_with_cli(usb, app_practice)
    sheets = home / "Dokumente"
    sheets.mkdir()
    app = TherabakApp(make_ctx())
    codes: list = []
    written: list[Path] = []

    async def make_code(pilot, *, with_code=None) -> None:
        await pilot.press("k")
        await pilot.pause()
        if with_code is None:
            await pilot.press(*PASSWORD, "enter")
        else:
            await pilot.press("ctrl+r", *with_code.display(), "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, NewCodeDialog))
        codes.append(app.screen.code)
        await pilot.press("tab", "enter")
        progress = await finished_job(pilot)
        assert progress.view.final.exit_code == 0, progress.view.final
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, RecoveryScreen))

    async def body(pilot):
        screen = await open_recovery_from_settings(pilot)
        await make_code(pilot)
        # the emergency sheet with the code just made
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, EmergencySheetScreen)
        await pilot.press("ctrl+s")
        progress = await finished_job(pilot)
        assert progress.view.final.extra["includes_code"]
        written.append(Path(progress.view.final.extra["sheet"]))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        # a restore opened with the code
        app.action_restore()
        await wait_for(pilot, lambda: isinstance(app.screen, RestoreScreen))
        restore = app.screen

        def listed() -> bool:
            table = restore.query("#points")
            return bool(table) and table.first().row_count == 1

        await wait_for(pilot, listed)
        assert restore.query_one("#points").current.recovery_code
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, UnlockDialog))
        await pilot.press("ctrl+r", *codes[0].display(), "enter")
        await wait_for(pilot, lambda: restore.step == "what")
        await pilot.press("n")
        await wait_for(pilot, lambda: restore.step == "confirm")
        await pilot.press("ctrl+s")
        progress = await finished_job(pilot)
        assert progress.view.final.exit_code == 0, progress.view.final
        # replaced (opened with the old code), then removed
        await pilot.press("escape")
        app.action_recovery_codes()
        await wait_for(pilot, lambda: isinstance(app.screen, RecoveryScreen))
        codes_screen = app.screen
        await wait_for(
            pilot,
            lambda: (
                bool(codes_screen.query("#points"))
                and codes_screen.query_one("#points").row_count == 1
            ),
        )
        await make_code(pilot, with_code=codes[0])
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("tab", "enter")
        await pilot.pause()
        await pilot.press(*PASSWORD, "enter")
        progress = await finished_job(pilot)
        assert progress.view.final.exit_code == 0, progress.view.final

    run_app(app, body)

    scan = Scan()
    scan.add(PASSWORD, "password")
    for i, code in enumerate(codes):
        add_code(scan, code, f"recovery code {i + 1}")
    # the app's jobs (and every other process the test started: the CLI's backup)
    jobs = [argv[3:5] for argv, _env in started if "--json" in argv]
    assert [op for op in jobs if op[0] != "backup"] == [
        ["recovery", "create"],
        ["emergency-sheet", "--out"],
        ["restore", str(archive)],
        ["recovery", "create"],
        ["recovery", "remove"],
    ]
    for argv, env in started:
        scan.search("\0".join(argv), f"the command line of {argv[3]}")
        scan.search("\0".join(f"{k}={v}" for k, v in env.items()), f"the environment of {argv[3]}")
    allowed = set(written)  # the sheet the user asked for, with the code on it
    searched = 0
    for p in tmp_path.rglob("*"):
        if p.is_file() and not p.is_symlink() and p not in allowed:
            scan.search(p.read_bytes(), str(p.relative_to(tmp_path)))
            searched += 1
    assert scan.hits == []
    assert len(list(app.ctx.runner.root.glob("*.json"))) == 5 and searched > 100
    assert archive.exists() and written[0].parent == sheets
