"""Back and again at every step of every flow: Escape goes back a step, and the step is
entered again (the same point, another point, the same dialog ...) without a crash, a
duplicate widget, a lost value or a second job.

The flows: backup, restore from an archive, from a folder backup and from a
before-restore folder, verify, folder backup, settings, help.
"""

from __future__ import annotations

import json
from pathlib import Path

from app.apphelp import wait_for, wait_scan
from app.test_restore_flow import PASSWORD, backup_with_cli, open_restore
from conftest import run_cli
from therabak.app.app import TherabakApp
from therabak.app.screens.backup import BackupScreen
from therabak.app.screens.dialogs import ConfirmDialog
from therabak.app.screens.folder import FolderBackupScreen
from therabak.app.screens.help import HelpScreen
from therabak.app.screens.home import HomeScreen
from therabak.app.screens.progress import ProgressScreen
from therabak.app.screens.restore import RestoreScreen
from therabak.app.screens.settings import SettingsScreen
from therabak.app.screens.unlock import UnlockDialog
from therabak.app.screens.verify import VerifyScreen
from therabak.app.widgets.category_tree import CategoryTree
from therabak.app.widgets.dir_picker import DirPicker
from therabak.app.widgets.points_table import PointsTable
from therabak.storage.local import LocalStorage
from therabak.store.core import Store
from therabak.store.keyfile import Unlock

LONG = "Praxis-Ablage-2026"


async def _enter_point(pilot, screen: RestoreScreen, path) -> None:
    table = screen.query_one(PointsTable)
    table.focus()
    table.move_cursor(row=list(table.rows).index(str(path)))
    await pilot.press("enter")
    await pilot.pause()
    if isinstance(pilot.app.screen, UnlockDialog):
        await pilot.press(*PASSWORD, "enter")
    await wait_for(pilot, lambda: pilot.app.screen is screen and screen.step == "what")


async def _escape(pilot, times: int = 1) -> None:
    for _ in range(times):
        await pilot.press("escape")
        await pilot.pause()


async def _to_plan(pilot, screen: RestoreScreen) -> None:
    screen.query_one(CategoryTree).focus()
    await pilot.press("n")
    await wait_for(pilot, lambda: screen.step == "confirm")


async def _restore_loop(pilot, point: Path, other: Path | None = None) -> RestoreScreen:
    """Every step of a restore of *point*, each left with Esc and entered again; at the
    end the plan is shown and confirmed twice (ctrl+s twice): one job."""
    app = pilot.app
    screen = await open_restore(pilot)
    for round_ in range(2):
        await _enter_point(pilot, screen, point)  # step 2
        assert len(screen.query(CategoryTree)) == 1
        await _escape(pilot)  # back to step 1
        assert screen.step == "points"
        if other is not None:  # another point in between
            await _enter_point(pilot, screen, other)
            await _escape(pilot)
        await _enter_point(pilot, screen, point)
        await _to_plan(pilot, screen)
        await _escape(pilot)  # back to step 2, the same tree
        assert screen.step == "what" and len(screen.query(CategoryTree)) == 1
        await _to_plan(pilot, screen)
        if round_ == 0:  # leave the screen altogether and come back
            await _escape(pilot, 3)
            assert isinstance(app.screen, HomeScreen)
            screen = await open_restore(pilot)
    await pilot.press("ctrl+s", "ctrl+s")
    await wait_for(pilot, lambda: isinstance(app.screen, ProgressScreen))
    progress = app.screen
    await wait_for(pilot, lambda: progress.view.finished)
    assert progress.view.final.exit_code == 0, progress.view.final
    assert len(app.ctx.runner.list_jobs()) == 1  # ctrl+s twice: one restore
    return screen


def test_restore_from_an_archive_back_and_again(make_ctx, run_app, usb, app_practice, home):
    archive = backup_with_cli(usb, app_practice)
    folder = _folder_backup(app_practice, home / "nas")
    app = TherabakApp(make_ctx())

    async def body(pilot):
        await _restore_loop(pilot, archive, other=folder)

    run_app(app, body)


def _folder_backup(paths, dest: Path) -> Path:
    proc = run_cli(
        "folder-backup",
        "--dest",
        dest,
        "--data-dir",
        paths.data_dir,
        "--account-key",
        paths.account_key,
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    return Path(json.loads(proc.stdout.splitlines()[-1])["folder"])


def test_restore_from_a_folder_backup_back_and_again(make_ctx, run_app, app_practice, home):
    folder = _folder_backup(app_practice, home / "nas")
    app = TherabakApp(make_ctx())

    async def body(pilot):
        await _restore_loop(pilot, folder)

    run_app(app, body)


def test_restore_from_a_before_restore_folder_back_and_again(make_ctx, run_app, app_practice, home):
    folder = _folder_backup(app_practice, home / "nas")
    proc = run_cli(
        "restore",
        folder,
        "--yes",
        "--data-dir",
        app_practice.data_dir,
        "--account-key",
        app_practice.account_key,
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    before = Path(json.loads(proc.stdout.splitlines()[-1])["before_restore"])
    app = TherabakApp(make_ctx())

    async def body(pilot):
        await _restore_loop(pilot, before)

    run_app(app, body)


def test_backup_back_and_again_keeps_what_was_typed(make_ctx, run_app, usb):
    app = TherabakApp(make_ctx())

    async def body(pilot):
        await pilot.press("b")
        await wait_scan(pilot)
        screen = app.screen
        for _ in range(2):
            await pilot.press("n")
            await pilot.pause()
            assert screen.step == "where"
            await _escape(pilot)
            assert screen.step == "what" and isinstance(app.screen, BackupScreen)
        await pilot.press("n")
        dest = screen.query_one("#dest-input")
        dest.value = str(usb)
        screen.query_one("#pw").focus()
        await pilot.press(*LONG)
        screen.query_one("#pw2").focus()
        await pilot.press(*LONG)
        for _ in range(2):  # the folder picker, twice
            await pilot.press("ctrl+o")
            await wait_for(pilot, lambda: isinstance(app.screen, DirPicker))
            await _escape(pilot)
            assert app.screen is screen
        for _ in range(2):  # the no-password question, twice, answered "keep it"
            screen.query_one("#nopw").focus()
            await pilot.press("space")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
            await _escape(pilot)
            assert screen.query_one("#nopw").value is False
        await _escape(pilot)  # step 1, then step 2 again: nothing typed is lost
        await pilot.press("n")
        await pilot.pause()
        assert Path(dest.value) == usb
        assert screen.query_one("#pw").value == LONG == screen.query_one("#pw2").value
        await _escape(pilot, 2)  # home; a new backup screen starts empty
        assert isinstance(app.screen, HomeScreen)
        await pilot.press("b")
        await wait_scan(pilot)
        assert app.screen is not screen and app.screen.step == "what"
        await pilot.press("n")
        assert app.screen.query_one("#pw").value == ""
        app.screen.query_one("#dest-input").value = str(usb)
        for field in ("#pw", "#pw2"):
            app.screen.query_one(field).focus()
            await pilot.press(*LONG)
        await pilot.press("ctrl+s", "ctrl+s")  # the second lands on the code question
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        app.screen.query_one("#no").press()  # no recovery code
        await wait_for(pilot, lambda: isinstance(app.screen, ProgressScreen))
        await wait_for(pilot, lambda: app.screen.view.finished)
        assert len(app.ctx.runner.list_jobs()) == 1  # ctrl+s twice: one backup
        store = Store.open(LocalStorage(usb / "TheraPsy-Backups"), Unlock(password=LONG))
        assert len(store.snapshots()) == 1

    run_app(app, body)


def test_verify_back_and_again(make_ctx, run_app, usb, app_practice):
    backup_with_cli(usb, app_practice)
    app = TherabakApp(make_ctx())

    async def body(pilot):
        for _ in range(2):  # in and out of the screen
            await pilot.press("v")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, VerifyScreen)
            table = screen.query_one(PointsTable)
            await wait_for(pilot, lambda t=table: t.row_count == 1)
            for _ in range(2):  # the unlock dialog, twice
                await pilot.press("enter")
                await wait_for(pilot, lambda: isinstance(app.screen, UnlockDialog))
                await _escape(pilot)
                assert app.screen is screen
            for _ in range(2):  # the folder picker, twice
                await pilot.press("a")
                await wait_for(pilot, lambda: isinstance(app.screen, DirPicker))
                await _escape(pilot)
                assert app.screen is screen
            await _escape(pilot)
            assert isinstance(app.screen, HomeScreen)
        await pilot.press("v")
        await pilot.pause()
        screen = app.screen
        await wait_for(pilot, lambda: screen.query_one(PointsTable).row_count == 1)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, UnlockDialog))
        await pilot.press(*PASSWORD, "enter")
        await wait_for(
            pilot, lambda: isinstance(app.screen, ProgressScreen) and app.screen.view.finished
        )
        assert app.screen.view.final.exit_code == 0
        assert len(app.ctx.runner.list_jobs()) == 1

    run_app(app, body)


def test_folder_backup_back_and_again(make_ctx, run_app, home):
    app = TherabakApp(make_ctx())
    dest = home / "nas"

    async def body(pilot):
        for _ in range(2):
            await pilot.press("f")
            await wait_scan(pilot)
            screen = app.screen
            assert isinstance(screen, FolderBackupScreen)
            for _ in range(2):
                await pilot.press("ctrl+o")
                await wait_for(pilot, lambda: isinstance(app.screen, DirPicker))
                await _escape(pilot)
                assert app.screen is screen
            await _escape(pilot)
            assert isinstance(app.screen, HomeScreen)
        await pilot.press("f")
        await wait_scan(pilot)
        app.screen.query_one("#dest-input").value = str(dest)
        await pilot.press("ctrl+s", "ctrl+s")
        await wait_for(
            pilot, lambda: isinstance(app.screen, ProgressScreen) and app.screen.view.finished
        )
        assert app.screen.view.final.exit_code == 0
        assert len(app.ctx.runner.list_jobs()) == 1
        assert len(list(dest.iterdir())) == 1

    run_app(app, body)


def test_settings_back_and_again(make_ctx, run_app, isolated_env):
    app = TherabakApp(make_ctx())

    async def body(pilot):
        await pilot.press("s")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SettingsScreen)
        for _ in range(2):  # the folder picker of the destinations, twice
            screen.query_one("#destinations").focus()
            await pilot.press("a")
            await wait_for(pilot, lambda: isinstance(app.screen, DirPicker))
            await _escape(pilot)
            assert app.screen is screen
        screen.query_one("#keep-daily").value = "9"
        for _ in range(2):  # leave unsaved: asked, stay
            await _escape(pilot)
            assert isinstance(app.screen, ConfirmDialog)
            await _escape(pilot)
            assert app.screen is screen
        await pilot.press("ctrl+s")
        await pilot.pause()
        await _escape(pilot)
        assert isinstance(app.screen, HomeScreen)
        await pilot.press("s")
        await pilot.pause()
        assert app.screen is not screen
        assert app.screen.query_one("#keep-daily").value == "9"  # saved, read again

    run_app(app, body)


def test_help_back_and_again(make_ctx, run_app):
    app = TherabakApp(make_ctx())

    async def body(pilot):
        for key in ("question_mark", "f1"):
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            await pilot.press(key)  # the same key closes it
            await pilot.pause()
            assert isinstance(app.screen, HomeScreen)
        await pilot.press("b")
        await wait_scan(pilot)
        for _ in range(2):
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            await _escape(pilot)
            assert isinstance(app.screen, BackupScreen)

    run_app(app, body)
