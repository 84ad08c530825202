"""The app and names a target cannot hold (issue 13): a note before the backup, the
plan and the summary of a restore that gives files escaped names."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.apphelp import screen_text, wait_for, wait_scan
from app.test_restore_flow import PASSWORD, backup_with_cli, open_restore
from therabak.app.app import TherabakApp
from therabak.app.screens.backup import BackupScreen
from therabak.app.screens.progress import ProgressScreen
from therabak.app.widgets.category_tree import CategoryTree

ODD = "documents/K0001/Termin 14:00.txt"


def total_text(app) -> str:
    return str(app.screen.query_one("#total").render())


def test_the_backup_screen_notes_names_windows_cannot_hold(make_ctx, run_app, app_practice):
    (app_practice.data_dir / ODD).write_bytes(b"x")
    app = TherabakApp(make_ctx())

    async def body(pilot):
        await pilot.press("b")
        await wait_scan(pilot)
        screen = app.screen
        assert isinstance(screen, BackupScreen)
        await wait_for(pilot, lambda: "Selected:" in total_text(app))
        assert f"1 name Windows cannot hold as it is (restored there escaped): {ODD}" in (
            total_text(app)
        )
        tree = screen.query_one(CategoryTree)
        tree.move_cursor(tree.node_for("files"))
        await pilot.press("space")  # documents no longer in the backup: no note
        await pilot.pause()
        assert "Selected:" in total_text(app) and "Windows" not in total_text(app)

    run_app(app, body)


def test_a_restore_with_escaped_names_says_so_in_the_plan_and_the_summary(
    make_ctx, run_app, usb, app_practice, home, monkeypatch: pytest.MonkeyPatch
):
    (app_practice.data_dir / ODD).write_bytes(b"x")
    backup_with_cli(usb, app_practice)
    monkeypatch.setenv("THERABAK_FS_RULES", "windows")  # the plan (here) and the job
    app = TherabakApp(make_ctx(job_env={"THERABAK_FS_RULES": "windows"}))
    target = home / "restored"

    async def body(pilot):
        screen = await open_restore(pilot)
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press(*PASSWORD, "enter")
        await wait_for(pilot, lambda: screen.step == "what")
        await pilot.press("tab")
        screen.query_one("#elsewhere").value = True
        await pilot.pause()
        to = screen.query_one("#to-input")
        to.value = str(target)
        to.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.step == "confirm")
        text = screen_text(app)
        assert "1 file will get another name: Windows cannot hold its name as it is." in text
        await pilot.press("ctrl+s")
        await wait_for(
            pilot, lambda: isinstance(app.screen, ProgressScreen) and app.screen.view.finished
        )
        final = app.screen.view.final
        assert final.exit_code == 3
        summary = str(app.screen.query_one("#summary").render())
        assert "1 file was restored under another name (Windows cannot hold" in summary
        assert f"{ODD} → documents/K0001/Termin 14%3A00.txt" in summary
        assert "therabak-renamed.json" in summary
        # renamed files need the user's attention; the job's warning is listed as well
        assert summary.splitlines()[0] == "Restore finished; some files need attention."
        assert "1 warning:" in summary and "1 file gets another name" in summary

    run_app(app, body)
    assert (Path(target) / "documents/K0001/Termin 14%3A00.txt").read_bytes() == b"x"
