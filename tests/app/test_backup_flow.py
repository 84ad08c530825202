"""The manual backup, driven end to end with the keyboard on a demo practice (real engine,
real job processes)."""

from __future__ import annotations

from pathlib import Path

from app.apphelp import wait_for, wait_scan
from therabak.app.app import TherabakApp
from therabak.app.screens.backup import BackupScreen
from therabak.app.screens.dialogs import ConfirmDialog
from therabak.app.screens.progress import ProgressScreen
from therabak.app.widgets.category_tree import CategoryTree
from therabak.app.widgets.password_input import PasswordInput
from therabak.app.widgets.retry_panel import RetryPanel
from therabak.archive.reader import ArchiveReader
from therabak.jobs.runner import JobState
from therabak.practice.categories import BackupKind, Rules

FLAKY = "transient=0.25,transient-times=2,seed=tui-test"


def total_text(app) -> str:
    return str(app.screen.query_one("#total").render())


async def open_backup(pilot) -> BackupScreen:
    await pilot.press("b")
    await wait_scan(pilot)
    assert isinstance(pilot.app.screen, BackupScreen)
    return pilot.app.screen


async def to_step_two(pilot, dest: Path) -> None:
    await pilot.press("n")
    await pilot.pause()
    pilot.app.screen.query_one("#dest-input").value = str(dest)
    await pilot.pause()


async def type_passwords(pilot, first: str, second: str) -> None:
    screen = pilot.app.screen
    screen.query_one("#pw").focus()
    await pilot.press(*first)
    screen.query_one("#pw2").focus()
    await pilot.press(*second)
    await pilot.pause()


def test_tick_and_untick_change_the_live_total(make_ctx, run_app):
    app = TherabakApp(make_ctx())
    rules = Rules.load()

    async def body(pilot):
        screen = await open_backup(pilot)
        tree = screen.query_one(CategoryTree)
        assert tree.selection == rules.default_selection(BackupKind.MANUAL)
        before = screen.selected_totals()
        text_before = total_text(app)
        # the cursor starts on "Practice records": space unticks the whole group
        await pilot.press("space")
        after = screen.selected_totals()
        records = app.scan.node_totals(rules)["records"]
        assert after == (before[0] - records.files, before[1] - records.bytes)
        assert total_text(app) != text_before
        assert tree.tick_state(tree.node_for("records")) == "none"
        # into the group, tick one leaf back: the parent shows a partial tick
        await pilot.press("down", "space")
        assert tree.selection & set(rules.leaves_under("records")) == {"profiles"}
        assert tree.tick_state(tree.node_for("records")) == "some"
        assert (
            str(tree.render_label(tree.node_for("records"), tree.rich_style, tree.rich_style).plain)
            .lstrip("▾▸ ")
            .startswith("[~]")
        )
        # an excluded category says why when highlighted, and can be ticked in
        tree.move_cursor(tree.node_for("icd10"))
        await pilot.pause()
        assert "Re-downloaded automatically" in str(screen.query_one("#why").render())
        await pilot.press("space")
        assert "icd10" in tree.selection
        # "d" goes back to the documented defaults
        await pilot.press("d")
        assert tree.selection == rules.default_selection(BackupKind.MANUAL)
        assert screen.selected_totals() == before

    run_app(app, body)


def test_password_mismatch_and_empty_password_are_explained(make_ctx, run_app, usb):
    app = TherabakApp(make_ctx())

    async def body(pilot):
        await open_backup(pilot)
        await to_step_two(pilot, usb)
        screen = app.screen
        await pilot.press("ctrl+s")
        assert "password is empty" in str(screen.query_one("#pw-msg").render())
        await type_passwords(pilot, "geheim1", "geheim2")
        assert "differ" in str(screen.query_one("#pw-msg").render())
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, BackupScreen)  # nothing started
        assert app.ctx.runner.list_jobs() == []
        assert list(usb.iterdir()) == []

    run_app(app, body)


def test_no_password_needs_a_second_confirmation(make_ctx, run_app, usb):
    app = TherabakApp(make_ctx())

    async def body(pilot):
        await open_backup(pilot)
        await to_step_two(pilot, usb)
        await type_passwords(pilot, "half-typed", "")
        nopw = app.screen.query_one("#nopw")
        nopw.focus()
        await pilot.press("space")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        assert "ANYONE" in str(app.screen.query_one(".dialog-body").render())
        await pilot.press("escape")  # keep the password
        await pilot.pause()
        assert nopw.value is False
        assert app.screen.query_one("#pw", PasswordInput).value == "half-typed"
        await pilot.press("space")
        await pilot.pause()
        app.screen.query_one("#yes").press()
        await pilot.pause()
        assert nopw.value is True
        assert app.screen.query_one("#pw", PasswordInput).disabled
        await pilot.press("ctrl+s")
        await wait_for(
            pilot, lambda: isinstance(app.screen, ProgressScreen) and app.screen.view.finished
        )
        archive = Path(app.screen.view.final.extra["archive"])
        with ArchiveReader.open(archive) as reader:
            assert reader.header.protection == "none"

    run_app(app, body)


def test_a_backup_completes_with_retry_rows_visible(make_ctx, run_app, usb, app_practice):
    app = TherabakApp(make_ctx(job_env={"THERABAK_FAILPOINTS": FLAKY}))
    password = "Praxis-2026!"

    async def body(pilot):
        await open_backup(pilot)
        await to_step_two(pilot, usb)
        await type_passwords(pilot, password, password)
        assert "match" in str(app.screen.query_one("#pw-msg").render())
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ProgressScreen))
        screen = app.screen
        await wait_for(pilot, lambda: screen.view.finished)
        await pilot.pause(0.2)
        panel = screen.query_one(RetryPanel)
        assert panel.display and panel.row_count >= 3
        outcomes = {str(panel.get_cell(key, "outcome")) for key in panel.rows}
        assert outcomes == {"recovered"}
        tries = {str(panel.get_cell(key, "try")) for key in panel.rows}
        assert tries == {"3/5"}
        summary = str(screen.query_one("#summary").render())
        assert "Backup finished." in summary and "Verified" in summary
        assert "needed retries and were recovered" in summary
        final = screen.view.final
        assert final.exit_code == 0
        archive = Path(final.extra["archive"])
        assert archive.parent == usb
        with ArchiveReader.open(archive) as reader:
            assert reader.unlock(password=password) == "password"
            index = reader.read_index()
        assert {e.category for e in index.entries} <= Rules.load().default_selection(
            BackupKind.MANUAL
        )
        assert app.ctx.runner.get(screen.job.id).record.seen
        # back home: the backup is the last manual one, the reminder is gone
        await pilot.press("escape")
        await pilot.pause()
        assert not app.screen.query_one("#reminder").display

    run_app(app, body)


def test_cancel_asks_first_then_stops_the_job(make_ctx, run_app, usb):
    app = TherabakApp(make_ctx(job_env={"THERABAK_FAILPOINTS": "delay-ms=250"}))

    async def body(pilot):
        await open_backup(pilot)
        await to_step_two(pilot, usb)
        await type_passwords(pilot, "Praxis-Ablage", "Praxis-Ablage")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ProgressScreen))
        screen = app.screen
        await wait_for(
            pilot, lambda: screen.view.progress is not None and screen.view.progress.files_done >= 1
        )
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("escape")  # "keep going" first
        await pilot.pause()
        assert app.ctx.runner.get(screen.job.id).state is JobState.RUNNING
        await pilot.press("c")
        await pilot.pause()
        app.screen.query_one("#yes").press()
        await wait_for(pilot, lambda: screen.view.finished)
        assert screen.view.final.exit_code == 130
        assert "cancelled" in str(screen.query_one("#summary").render())
        assert app.ctx.runner.get(screen.job.id).state is JobState.CANCELLED
        assert list(usb.iterdir()) == []

    run_app(app, body)


def test_a_destination_without_room_is_refused(make_ctx, run_app, usb):
    app = TherabakApp(make_ctx(free=1_000_000))

    async def body(pilot):
        await open_backup(pilot)
        await to_step_two(pilot, usb)
        await wait_for(
            pilot, lambda: "Does NOT fit" in str(app.screen.query_one("#dest-space").render())
        )
        await type_passwords(pilot, "Praxis-Ablage", "Praxis-Ablage")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "Not enough space" in str(app.screen.query_one("#start-msg").render())
        assert app.ctx.runner.list_jobs() == []

    run_app(app, body)


def test_quick_pick_fills_the_destination(make_ctx, run_app, usb):
    app = TherabakApp(make_ctx())

    async def body(pilot):
        await open_backup(pilot)
        await pilot.press("n")
        app.screen.query_one("#dest-quick").focus()
        await pilot.press("enter")
        await pilot.pause()
        assert Path(app.screen.query_one("#dest-input").value).expanduser() == usb

    run_app(app, body)
