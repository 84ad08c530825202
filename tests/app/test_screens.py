"""Home, problem, help, settings and folder-backup screens; the password field; jobs that
run while no app is watching."""

from __future__ import annotations

from datetime import timedelta

from app.apphelp import NOW, add_history, screen_text, wait_for, wait_scan
from therabak.app.app import TherabakApp
from therabak.app.runner import JobState
from therabak.app.screens.dialogs import ConfirmDialog
from therabak.app.screens.folder import FolderBackupScreen
from therabak.app.screens.help import HelpScreen
from therabak.app.screens.home import HomeScreen, reminder_text
from therabak.app.screens.problem import ProblemScreen
from therabak.app.screens.progress import ProgressScreen
from therabak.app.screens.settings import SettingsScreen
from therabak.app.widgets.password_input import PasswordInput
from therabak.jobs.backup import BackupResult
from therabak.settings import PracticePaths, Settings


def test_home_shows_size_last_backups_and_the_reminder(make_ctx, run_app, app_practice):
    add_history(
        "manual",
        "/media/usb/TheraPsy-Backup-2026-02-10_090000.therabak",
        NOW - timedelta(days=20),
        app_practice.data_dir,
    )
    add_history(
        "auto",
        str(app_practice.data_dir.parent / "TheraPsy-Auto-Backups" / "a"),
        NOW - timedelta(hours=3),
        app_practice.data_dir,
    )
    app = TherabakApp(make_ctx())

    async def body(pilot):
        await wait_scan(pilot)
        screen = app.screen
        assert isinstance(screen, HomeScreen)
        assert "20 days old" in str(screen.query_one("#reminder").render())
        text = screen_text(app)
        assert "~/TheraPsy/Data" in text and "files" in text
        assert "20 days ago" in text and "3 hours ago" in text
        assert "Folder" in text and "never" in text
        for key, screen_type in (("s", SettingsScreen), ("f", FolderBackupScreen)):
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, screen_type)
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, HomeScreen)

    run_app(app, body)


def test_reminder_rules():
    assert "No manual backup yet" in reminder_text(None, NOW, 14)
    assert reminder_text(NOW - timedelta(days=14), NOW, 14) == ""
    assert "15 days old" in reminder_text(NOW - timedelta(days=15), NOW, 14)


def test_missing_data_folder_and_key_open_the_problem_screen(make_ctx, run_app, tmp_path):
    paths = PracticePaths(tmp_path / "nowhere" / "Data", tmp_path / "nowhere" / "account.key")
    app = TherabakApp(make_ctx(paths=paths))

    async def body(pilot):
        await pilot.pause()
        assert isinstance(app.screen, ProblemScreen)
        text = " ".join(str(w.render()) for w in app.screen.query(".problem"))
        assert "data folder was not found" in text and "--data-dir" in text
        assert "account key was not found" in text and "--account-key" in text
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running

    run_app(app, body)


def test_help_lists_the_keys_of_the_screen_below(make_ctx, run_app):
    app = TherabakApp(make_ctx())

    async def body(pilot):
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        for word in ("Backup", "Restore", "Folder backup", "Verify", "Settings", "Quit"):
            assert word in text
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)

    run_app(app, body)


def test_command_palette_lists_the_main_actions(make_ctx):
    app = TherabakApp(make_ctx())
    titles = [c.title for c in app.get_system_commands(HomeScreen())]
    assert titles[:10] == [
        "Backup",
        "Restore",
        "Folder backup",
        "Verify",
        "Settings",
        "Destinations",
        "Recovery codes",
        "Emergency sheet",
        "Help",
        "Quit",
    ]


def test_password_field_never_copies_or_cuts(make_ctx, run_app):
    app = TherabakApp(make_ctx())

    async def body(pilot):
        await pilot.press("b")
        await pilot.pause()
        await pilot.press("n")
        field = app.screen.query_one("#pw", PasswordInput)
        field.focus()
        await pilot.press(*"s3cret")
        await pilot.press("ctrl+shift+a")  # select all
        await pilot.press("ctrl+c", "ctrl+x")
        await pilot.pause()
        assert app.clipboard == ""
        assert field.value == "s3cret"
        assert field.selected_text == ""
        assert not field.allow_select

    run_app(app, body)


def test_settings_validate_and_save(make_ctx, run_app, isolated_env, usb):
    app = TherabakApp(make_ctx())

    async def body(pilot):
        await pilot.press("s")
        await pilot.pause()
        screen = app.screen
        screen.query_one("#keep-daily").value = "-3"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "Keep daily: must be between 0 and 1000" in str(
            screen.query_one("#settings-msg").render()
        )
        assert not (isolated_env / "settings.toml").exists()
        screen.query_one("#keep-daily").value = "10"
        screen.query_one("#retry-attempts").value = "7"
        screen.query_one("#auto-interval").value = "12,5"
        screen.destinations.append(str(usb))
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "Saved" in str(screen.query_one("#settings-msg").render())
        saved = Settings.load(isolated_env / "settings.toml")
        assert saved.auto.keep_daily == 10 and saved.retry.attempts == 7
        assert saved.auto.interval_hours == 12.5
        assert saved.remembered_destinations == [str(usb)]
        # leaving with unsaved changes asks first
        screen.query_one("#keep-weekly").value = "9"
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, SettingsScreen)

    run_app(app, body)


def test_folder_backup_checks_the_destination(make_ctx, run_app, app_practice):
    app = TherabakApp(make_ctx(free=1_000))

    async def body(pilot):
        await pilot.press("f")
        await wait_scan(pilot)
        screen = app.screen
        assert "FOR THIS ACCOUNT ONLY" in str(screen.query_one(".explain").render())
        screen.query_one("#dest-input").value = str(app_practice.data_dir / "inside")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "inside the data folder" in str(screen.query_one("#start-msg").render())
        # started at once, before the background free-space check has answered
        screen.query_one("#dest-input").value = str(app_practice.data_dir.parent / "copy")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "Not enough space" in str(screen.query_one("#start-msg").render())
        await wait_for(
            pilot, lambda: "Does NOT fit" in str(screen.query_one("#dest-space").render())
        )
        assert app.ctx.runner.list_jobs() == []

    run_app(app, body)


def test_home_reattaches_to_a_running_job_and_shows_its_result(
    make_ctx, run_app, app_practice, usb
):
    ctx = make_ctx()
    job = ctx.runner.start(
        "backup",
        [
            "--dest",
            str(usb),
            "--single-file",
            "--data-dir",
            str(app_practice.data_dir),
            "--account-key",
            str(app_practice.account_key),
        ],
        password="pw",
        title="Backup to ~/usb",
        env={"THERABAK_FAILPOINTS": "delay-ms=80"},
    )
    app = TherabakApp(ctx)

    async def body(pilot):
        await pilot.pause()
        table = app.screen.query_one("#jobs")
        assert table.display and job.id in table.rows
        # running, named by its phase once its events arrive ("writing 86%")
        state = str(table.get_cell(job.id, "state"))
        assert state.split()[0] in ("running", "counting", "writing", "syncing", "checking")
        await wait_for(pilot, lambda: ctx.runner.get(job.id).state is JobState.DONE)
        await wait_for(pilot, lambda: "done" in str(table.get_cell(job.id, "state")))
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ProgressScreen)
        await wait_for(pilot, lambda: app.screen.view.finished)
        assert "Backup finished." in str(app.screen.query_one("#summary").render())
        await pilot.press("escape")
        await pilot.pause()
        assert job.id not in app.screen.query_one("#jobs").rows  # seen: no longer listed

    run_app(app, body)
    assert ctx.runner.get(job.id).final.result(BackupResult).archive.exists()


def test_a_job_that_vanished_says_so_with_its_last_words(make_ctx, run_app):
    from therabak.app.runner import JobRecord
    from therabak.events import Phase

    ctx = make_ctx()
    runner = ctx.runner
    runner.root.mkdir(parents=True, exist_ok=True)
    record = JobRecord(
        id="20260302-100000-dead00",
        operation="backup",
        args=[],
        pid=0,
        started=NOW.isoformat(),
        title="Backup to ~/usb",
    )
    runner._save(record)
    runner.log_path(record.id).write_text(Phase("writing").to_line() + "\n")
    runner.stderr_path(record.id).write_text("x" * 5000 + "\nMemoryError: out of memory\n")
    app = TherabakApp(ctx)

    async def body(pilot):
        await pilot.pause()
        table = app.screen.query_one("#jobs")
        assert "no result" in str(table.get_cell(record.id, "state"))
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, ProgressScreen) and app.screen.query_one("#summary").display
            ),
        )
        text = str(app.screen.query_one("#summary").render())
        assert "ended without a result" in text and "MemoryError: out of memory" in text

    run_app(app, body)


def test_recovery_code_field_never_copies_or_cuts(make_ctx, run_app, home):
    """The code is shown as typed (to compare it with the paper), but like a password it
    never reaches a clipboard (over SSH, the client machine's)."""
    from therabak.app.widgets.code_input import RecoveryCodeInput

    app = TherabakApp(make_ctx())

    async def body(pilot):
        app.action_emergency_sheet()
        await pilot.pause()
        app.screen.query_one("#code-typed").value = True
        await pilot.pause()
        field = app.screen.query_one(RecoveryCodeInput)
        assert app.focused is field
        await pilot.press(*"7k2m-9qxh")
        await pilot.press("ctrl+shift+a")  # select all
        await pilot.press("ctrl+c", "ctrl+x")
        await pilot.pause()
        assert app.clipboard == ""
        assert field.value == "7k2m-9qxh"
        assert field.selected_text == ""
        assert not field.allow_select

    run_app(app, body)
