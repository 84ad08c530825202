"""The app as a new user meets it (issue 14): what a cancel means, the undo folder's
name, errors where the eye is, finding backups, the backup form's focus, the retry
table, and the smaller things (cut words, phases, password strength, help, the
folders kept from before restores)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from app.apphelp import NOW, screen_text, wait_for, wait_scan
from app.test_restore_flow import PASSWORD, backup_with_cli, open_restore
from app.test_snapshots import fake_job, running_events
from conftest import run_cli
from therabak.app.app import TherabakApp
from therabak.app.jobview import JobView
from therabak.app.runner import Job, JobRecord, JobState
from therabak.app.screens.backup import BackupScreen
from therabak.app.screens.cleanup import KeptFoldersDialog
from therabak.app.screens.dialogs import ConfirmDialog
from therabak.app.screens.help import HelpScreen
from therabak.app.screens.home import HomeScreen
from therabak.app.screens.progress import ProgressScreen
from therabak.app.screens.settings import SettingsScreen
from therabak.app.screens.unlock import UnlockDialog
from therabak.app.widgets.dir_picker import DirPicker
from therabak.app.widgets.points_table import PointsTable
from therabak.events import Phase, Progress
from therabak.jobkit import history
from therabak.jobs.restore import RestoreResult
from therabak.settings import Settings
from therabak.storage.local import LocalStorage
from therabak.store.core import Store
from therabak.store.keyfile import Unlock

LONG = "Praxis-Ablage-2026"


def run_sized(app, body, size) -> None:
    async def main():
        async with app.run_test(size=size) as pilot:
            await body(pilot)

    asyncio.run(main())


async def to_step_two(pilot, dest: Path | str | None = None) -> BackupScreen:
    await pilot.press("b")
    await wait_scan(pilot)
    await pilot.press("n")
    await pilot.pause()
    screen = pilot.app.screen
    if dest is not None:
        screen.query_one("#dest-input").value = str(dest)
        await pilot.pause()
    return screen


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector).render())


async def no_recovery_code(pilot) -> None:
    """A first backup into a new store asks whether to make a recovery code: no."""
    await wait_for(
        pilot,
        lambda: (
            isinstance(pilot.app.screen, ConfirmDialog)
            and "recovery code" in str(pilot.app.screen.query_one(".dialog-title").render())
        ),
    )
    pilot.app.screen.query_one("#no").press()
    await pilot.pause()


async def no_password(pilot) -> None:
    """Tick "No password" and confirm it."""
    pilot.app.screen.query_one("#nopw").focus()
    await pilot.press("space")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog))
    pilot.app.screen.query_one("#yes").press()
    await pilot.pause()


# ---- 2: what a cancel means ------------------------------------------------------------------


async def check_cancelled(pilot, app) -> ProgressScreen:
    """The backup just started: once it checks what it wrote, c asks to cancel the check
    (the question is on screen when this returns)."""
    await wait_for(pilot, lambda: isinstance(app.screen, ProgressScreen))
    progress = app.screen
    await wait_for(pilot, lambda: progress.view.phase == "verifying" and progress.view.progress)
    await pilot.press("c")
    await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
    return progress


def test_cancel_while_checking_keeps_the_complete_backup_and_offers_to_delete_it(
    make_ctx, run_app, usb
):
    app = TherabakApp(make_ctx(job_env={"THERABAK_FAILPOINTS": "verify-delay-ms=250"}))

    async def body(pilot):
        screen = await to_step_two(pilot, usb)
        for field in ("#pw", "#pw2"):
            screen.query_one(field).focus()
            await pilot.press(*LONG)
        assert screen.query_one("#verify").value  # verify after writing: on by default
        await pilot.press("ctrl+s")
        await no_recovery_code(pilot)
        progress = await check_cancelled(pilot, app)
        question = str(app.screen.query_one(".dialog-body").render())
        assert "already complete" in question and "kept in the backup store" in question
        assert "keep it or delete it" in question
        app.screen.query_one("#yes").press()
        await wait_for(pilot, lambda: progress.view.finished)
        summary = text_of(progress, "#summary")
        assert "in the backup store as a restore point, not verified" in summary
        assert "Nothing was changed" not in summary and "k: keep it  ·  d: delete it" in summary
        store = Store.open(LocalStorage(usb / "TheraPsy-Backups"), Unlock(password=LONG))
        point = progress.view.final.extra["snapshot"]
        assert [i.snapshot_id for i in store.snapshots()] == [point]
        assert [r.extra.get("snapshot") for r in history.read_all()] == [point]
        # delete: asked, then the store's password (a wrong one is refused, nothing goes)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        body_text = str(app.screen.query_one(".dialog-body").render())
        assert "removes this restore point from the backup store" in body_text
        app.screen.query_one("#yes").press()
        await wait_for(pilot, lambda: isinstance(app.screen, UnlockDialog))
        await pilot.press(*"Falsches-Passwort", "enter")
        await wait_for(pilot, lambda: "Wrong password" in text_of(app.screen, "#unlock-msg"))
        assert [i.snapshot_id for i in store.snapshots()] == [point]
        await pilot.press(*LONG, "enter")
        await wait_for(pilot, lambda: app.screen is progress, timeout=30)
        await wait_for(pilot, lambda: progress.kept_or_deleted == "deleted")
        assert "Deleted: the backup is gone." in text_of(progress, "#summary")
        assert store.snapshots() == []  # the point is forgotten: nothing lists it
        assert history.read_all() == []  # nobody's last backup any more
        listed = run_cli("list", "--in", usb, "--no-media", "--json")
        assert json.loads(listed.stdout)["points"] == []

    run_app(app, body)


def test_a_store_backup_whose_check_was_cancelled_can_be_kept(make_ctx, run_app, usb):
    """k keeps it (the point stays, its record stays), and d is then no longer offered;
    a store without a password is not asked for one."""
    app = TherabakApp(make_ctx(job_env={"THERABAK_FAILPOINTS": "verify-delay-ms=250"}))

    async def body(pilot):
        await to_step_two(pilot, usb)
        await no_password(pilot)
        await pilot.press("ctrl+s")
        progress = await check_cancelled(pilot, app)
        app.screen.query_one("#yes").press()
        await wait_for(pilot, lambda: progress.view.finished)
        await pilot.press("k")
        await pilot.pause()
        assert "Kept (not verified)." in text_of(progress, "#summary")
        await pilot.press("d")
        await pilot.pause()
        assert app.screen is progress  # nothing more to choose
        store = Store.open(LocalStorage(usb / "TheraPsy-Backups"), Unlock())
        assert [i.snapshot_id for i in store.snapshots()] == [progress.view.final.extra["snapshot"]]

    run_app(app, body)


def test_a_store_backup_without_password_is_deleted_without_asking_one(make_ctx, run_app, usb):
    app = TherabakApp(make_ctx(job_env={"THERABAK_FAILPOINTS": "verify-delay-ms=250"}))

    async def body(pilot):
        await to_step_two(pilot, usb)
        await no_password(pilot)
        await pilot.press("ctrl+s")
        progress = await check_cancelled(pilot, app)
        app.screen.query_one("#yes").press()
        await wait_for(pilot, lambda: progress.view.finished)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        app.screen.query_one("#yes").press()
        await wait_for(pilot, lambda: progress.kept_or_deleted == "deleted", timeout=30)
        store = Store.open(LocalStorage(usb / "TheraPsy-Backups"), Unlock())
        assert store.snapshots() == []

    run_app(app, body)


def test_cancel_while_writing_removes_the_unfinished_file_and_says_so(make_ctx, run_app, usb):
    app = TherabakApp(make_ctx(job_env={"THERABAK_FAILPOINTS": "delay-ms=250"}))

    async def body(pilot):
        screen = await to_step_two(pilot, usb)
        for field in ("#pw", "#pw2"):
            screen.query_one(field).focus()
            await pilot.press(*LONG)
        await pilot.press("ctrl+s")
        await no_recovery_code(pilot)
        await wait_for(pilot, lambda: isinstance(app.screen, ProgressScreen))
        progress = app.screen
        await wait_for(pilot, lambda: progress.view.progress is not None)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert "Nothing of it becomes a backup" in str(
            app.screen.query_one(".dialog-body").render()
        )
        app.screen.query_one("#yes").press()
        await wait_for(pilot, lambda: progress.view.finished)
        assert "Nothing of it became a backup" in text_of(progress, "#summary")
        store = Store.open(LocalStorage(usb / "TheraPsy-Backups"), Unlock(password=LONG))
        assert store.snapshots() == []  # what it wrote is adopted by the next, or pruned

    run_app(app, body)


# ---- 3: the undo folder's name --------------------------------------------------------------


def test_the_plan_names_the_folder_the_restore_makes(make_ctx, run_app, usb, app_practice):
    backup_with_cli(usb, app_practice)
    app = TherabakApp(make_ctx())

    async def body(pilot):
        screen = await open_restore(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, UnlockDialog))
        await pilot.press(*PASSWORD, "enter")
        await wait_for(pilot, lambda: screen.step == "what")
        await pilot.press("n")
        await wait_for(pilot, lambda: screen.step == "confirm")
        planned = screen.plan.keep_old_at
        assert planned.name in screen_text(app)
        await pilot.pause(1.5)  # the user reads the plan: the clock moves on
        await pilot.press("ctrl+s")
        await wait_for(
            pilot, lambda: isinstance(app.screen, ProgressScreen) and app.screen.view.finished
        )
        final = app.screen.view.final
        assert final.exit_code == 0, final
        assert final.result(RestoreResult).before_restore == planned
        assert planned.is_dir()

    run_app(app, body)


# ---- 4: settings errors where the eye is ----------------------------------------------------


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("field", ["reminder-days", "retry-max"])
def test_a_settings_error_shows_beside_its_field(make_ctx, isolated_env, size, field):
    app = TherabakApp(make_ctx())

    async def body(pilot):
        await pilot.press("s")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SettingsScreen)
        screen.query_one(f"#{field}").value = "-5"
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        assert app.focused is screen.query_one(f"#{field}")
        error = text_of(screen, f"#{field}-error")
        assert "must be between" in error
        assert error in screen_text(app)  # on the screen, not below its edge
        assert not (isolated_env / "settings.toml").exists()
        screen.query_one(f"#{field}").value = "5"  # fixed: the error goes
        await pilot.pause()
        assert not screen.query_one(f"#{field}-error").display

    run_sized(app, body, size)


# ---- 6: finding a backup --------------------------------------------------------------------


def test_where_tells_copies_apart_and_a_searched_folder_is_remembered(
    make_ctx, run_app, usb, app_practice, home
):
    archive = backup_with_cli(usb, app_practice)
    nas = home / "nas"
    nas.mkdir()
    copy = nas / archive.name
    shutil.copy2(archive, copy)
    app = TherabakApp(make_ctx())

    async def body(pilot):
        screen = await open_restore(pilot)
        table = screen.query_one(PointsTable)
        assert list(table.rows) == [str(archive)]
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, DirPicker))
        line = app.screen.query_one("#picker-path")
        assert line.value == "~/usb/"  # it starts on the USB stick, not in ~
        line.value = "~/na"
        line.cursor_position = len(line.value)
        await pilot.press("tab")
        assert line.value == "~/nas/"  # completed
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is screen and table.row_count == 2)
        where = {str(table.get_cell(k, "where")) for k in table.rows}
        assert where == {"~/usb", "~/nas"}
        assert "~/nas" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        screen = await open_restore(pilot)  # next time: searched again, by itself
        await wait_for(pilot, lambda: screen.query_one(PointsTable).row_count == 2)
        assert Settings.load().searched_folders == [str(nas)]

    run_app(app, body)


def test_the_folder_picker_completes_and_lists_candidates(make_ctx, run_app, home):
    for name in ("Praxis-Archiv", "Praxis-Alt", "Privat"):
        (home / name).mkdir()
    app = TherabakApp(make_ctx())

    async def body(pilot):
        await to_step_two(pilot)
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, DirPicker))
        picker = app.screen
        line = picker.query_one("#picker-path")
        assert app.focused is line
        line.value = "~/Pr"
        line.cursor_position = len(line.value)
        await pilot.press("tab")
        assert line.value == "~/Pr"  # "Praxis-…" and "Privat": listed, not guessed
        hint = text_of(picker, "#picker-hint")
        assert "Praxis-Archiv" in hint and "Privat" in hint
        await pilot.press("a", "tab")
        assert line.value == "~/Praxis-A"
        await pilot.press("r", "tab")
        assert line.value == "~/Praxis-Archiv/"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, BackupScreen)
        assert app.screen.query_one("#dest-input").value == "~/Praxis-Archiv"

    run_app(app, body)


# ---- 7: the backup form ----------------------------------------------------------------------


def test_a_quick_pick_moves_on_and_keeps_the_password(make_ctx, run_app, usb):
    app = TherabakApp(make_ctx())

    async def body(pilot):
        screen = await to_step_two(pilot)
        screen.query_one("#pw").focus()
        await pilot.press(*LONG)
        screen.query_one("#dest-quick").focus()
        await pilot.press("enter")
        await pilot.pause()
        assert Path(screen.query_one("#dest-input").value).expanduser() == usb
        assert app.focused is screen.query_one("#pw2")  # the next empty field
        assert screen.query_one("#pw").value == LONG
        await pilot.press(*LONG)
        screen.query_one("#pw").focus()  # back to a filled password field: nothing lost
        await pilot.press("x")
        assert screen.query_one("#pw").value == LONG + "x"

    run_app(app, body)


def test_question_mark_opens_help_in_a_path_and_types_in_a_password(make_ctx, run_app):
    app = TherabakApp(make_ctx())

    async def body(pilot):
        screen = await to_step_two(pilot)
        screen.query_one("#dest-input").focus()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert screen.query_one("#dest-input").value == ""
        screen.query_one("#pw").focus()
        await pilot.press("question_mark")
        await pilot.pause()
        assert app.screen is screen and screen.query_one("#pw").value == "?"
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)

    run_app(app, body)


def test_the_destination_line_says_what_is_wrong_as_it_is_typed(make_ctx, run_app, usb, home):
    app = TherabakApp(make_ctx())

    async def body(pilot):
        screen = await to_step_two(pilot, "backups")  # relative: refused, never guessed
        line = lambda: text_of(screen, "#dest-space")  # noqa: E731
        assert "full path" in line() and "Free there" not in line()
        for field in ("#pw", "#pw2"):
            screen.query_one(field).focus()
            await pilot.press(*LONG)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.ctx.runner.list_jobs() == [] and isinstance(app.screen, BackupScreen)
        assert app.focused is screen.query_one("#dest-input")
        screen.query_one("#dest-input").value = str(home / "nowhere" / "deeper")
        await pilot.pause()
        assert "does not exist" in line() and "Free there" not in line()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "does not exist" in text_of(screen, "#start-msg")
        screen.query_one("#dest-input").value = str(usb / "new")  # a new folder on the stick
        await wait_for(pilot, lambda: "Free there" in line())
        assert "A new folder" in line() and "does not exist" not in line()
        assert text_of(screen, "#start-msg") == ""  # the old refusal is gone

    run_app(app, body)


def test_n_on_a_button_does_not_start_the_plan(make_ctx, run_app, usb, app_practice, home):
    backup_with_cli(usb, app_practice)
    app = TherabakApp(make_ctx())

    async def body(pilot):
        screen = await open_restore(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, UnlockDialog))
        await pilot.press(*PASSWORD, "enter")
        await wait_for(pilot, lambda: screen.step == "what")
        screen.query_one("#elsewhere").value = True
        await pilot.pause()
        screen.query_one("#to-input").value = str(home / "restored")
        screen.query_one("#to-browse").focus()  # the user thinks the folder field has it
        await pilot.press("n")
        await pilot.pause(0.5)
        assert screen.step == "what" and screen.plan is None and not screen.busy
        screen.query_one("#to-plan").focus()  # the button says what it does: it goes on
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.step == "confirm")

    run_app(app, body)


# ---- 8: the retry table ----------------------------------------------------------------------


@pytest.mark.parametrize("size", [(60, 24), (80, 24), (120, 40)], ids=["60", "80", "120"])
def test_the_retry_table_speaks_plainly_and_fits_the_width(make_ctx, usb, size):
    ctx = make_ctx()
    app = TherabakApp(ctx)

    async def body(pilot):
        screen = ProgressScreen(fake_job(ctx, usb), follow=False)
        await pilot.app.push_screen(screen)
        screen.apply(running_events())
        await pilot.pause()
        text = screen_text(app)
        flowing = " ".join(text.split())
        assert "DecryptionFail" not in text
        assert "could not be decrypted" in text  # the column, and the note below
        assert "the practice app may be writing it" in flowing
        assert "%" in text and "Outcome" in text and "retrying" in text
        for line in text.splitlines():
            assert len(line) <= size[0]
        if size[0] >= 120:  # a wide terminal shows whole file names
            assert "documents/K0004/Befundbericht [Entwurf] 1.pdf" in text

    run_sized(app, body, size)


# ---- 9: the smaller things -------------------------------------------------------------------


def test_german_ages_and_english_notes_are_not_cut(make_ctx, run_app, app_practice, usb):
    from therabak import i18n
    from therabak.archive.writer import Protection
    from therabak.jobs.backup import BackupRequest, run_backup
    from therabak.practice.account import AccountKey
    from therabak.practice.categories import BackupKind, Rules

    rules = Rules.load()
    key = AccountKey.load(app_practice.account_key)
    run_backup(
        BackupRequest(
            data_dir=app_practice.data_dir,
            account=key,
            dest_dir=usb,
            rules=rules,
            selection=rules.default_selection(BackupKind.AUTOMATIC),
            kind=BackupKind.AUTOMATIC,
            protection=Protection(account_key=key.key, account_key_id=key.key_id),
            created=NOW - timedelta(minutes=1),
            remember_destination=False,
        )
    )
    app = TherabakApp(make_ctx())

    async def body(pilot):
        screen = await open_restore(pilot)
        assert "a minute ago" in screen_text(app)
        await pilot.press("enter")  # an automatic backup: no password, no audio
        await wait_for(pilot, lambda: screen.step == "what")
        await pilot.pause()
        assert "not in this backup" in screen_text(app)
        await pilot.press("escape", "escape")
        await pilot.pause()
        i18n.set_language("de")
        try:
            screen = await open_restore(pilot)
            assert "vor einer Minute" in screen_text(app)
        finally:
            i18n.set_language("en")

    run_app(app, body)


def test_the_home_job_row_names_the_phase(make_ctx, run_app):
    app = TherabakApp(make_ctx())

    async def body(pilot):
        await pilot.pause()
        home = app.screen
        assert isinstance(home, HomeScreen)
        record = JobRecord(
            id="20260302-103000-abcdef",
            operation="backup",
            args=[],
            pid=0,
            started=NOW.isoformat(),
        )
        job = Job(record, JobState.RUNNING)
        view = home.views[job.id] = JobView()
        view.apply([Phase("writing"), Progress("writing", 68, 100, 40, 57)], 0.0)
        assert str(home._state_text(job)) == "writing 68%"
        view.apply([Phase("verifying"), Progress("verifying", 7, 100, 4, 57)], 0.0)
        assert str(home._state_text(job)) == "checking 7%"

    run_app(app, body)


def test_a_short_password_is_said_and_needs_a_second_yes(make_ctx, run_app, usb):
    app = TherabakApp(make_ctx())

    async def body(pilot):
        screen = await to_step_two(pilot, usb)
        for field in ("#pw", "#pw2"):
            screen.query_one(field).focus()
            await pilot.press(*"abc")
        assert "Too short: 3 characters" in text_of(screen, "#pw-msg")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("escape")  # choose another
        await pilot.pause()
        assert app.ctx.runner.list_jobs() == []
        assert screen.query_one("#pw").value == "" and app.focused is screen.query_one("#pw")
        for field in ("#pw", "#pw2"):
            screen.query_one(field).focus()
            await pilot.press(*"abc")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        app.screen.query_one("#yes").press()  # explicitly: use it anyway
        await no_recovery_code(pilot)
        await wait_for(pilot, lambda: isinstance(app.screen, ProgressScreen))
        assert len(app.ctx.runner.list_jobs()) == 1
        for field, words in ((LONG, "Strong"), ("aaaaaaaaaaaa", "Weak"), ("kurz-aber-ok", "Good")):
            from therabak.passwords import assess

            assert assess(field).words().startswith(words)

    run_app(app, body)


def test_help_is_about_the_screen_below_and_lists_esc_once(make_ctx, run_app):
    app = TherabakApp(make_ctx())

    async def body(pilot):
        await pilot.press("question_mark")
        await pilot.pause()
        home_help = screen_text(app)
        await pilot.press("escape", "b")
        await wait_scan(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        backup_help = screen_text(app)
        assert "A manual backup (b) is one" in home_help
        assert "A manual backup in two steps" in backup_help
        assert "A manual backup (b) is one" not in backup_help
        assert len(re.findall(r"^ *esc {2,}", backup_help, re.MULTILINE)) == 1

    run_app(app, body)


def test_old_before_restore_folders_are_shown_and_removed(make_ctx, run_app, app_practice, home):
    dest = home / "nas"
    r = run_cli(
        "folder-backup",
        "--dest",
        dest,
        "--data-dir",
        app_practice.data_dir,
        "--account-key",
        app_practice.account_key,
        "--json",
    )
    folder = json.loads(r.stdout.splitlines()[-1])["folder"]
    made = []
    for _ in range(3):
        r = run_cli(
            "restore",
            folder,
            "--yes",
            "--data-dir",
            app_practice.data_dir,
            "--account-key",
            app_practice.account_key,
            "--json",
        )
        assert r.returncode == 0, r.stderr
        made.append(Path(json.loads(r.stdout.splitlines()[-1])["before_restore"]))
    newest = made[-1]
    app = TherabakApp(make_ctx())

    async def body(pilot):
        await wait_for(pilot, lambda: len(app.screen.kept_folders) == 3)
        await pilot.pause()
        assert "3 folders beside Data" in screen_text(app)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, KeptFoldersDialog))
        dialog = app.screen
        assert [dialog.query_one(f"#kept-{i}").value for i in range(3)] == [False, True, True]
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen))
        await wait_for(pilot, lambda: len(app.screen.kept_folders) == 1)
        assert [p for p in made if p.exists()] == [newest]
        await pilot.press("c")  # the newest: only after a second question
        await wait_for(pilot, lambda: isinstance(app.screen, KeptFoldersDialog))
        app.screen.query_one("#kept-0").value = True
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("escape")  # keep it
        await pilot.pause()
        assert newest.is_dir()

    run_app(app, body)
