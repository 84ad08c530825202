"""The manual backup, driven end to end with the keyboard on a demo practice (real engine,
real job processes): into the destination's backup store."""

from __future__ import annotations

from pathlib import Path

from app.apphelp import no_recovery_code, store_backup_first, wait_for, wait_scan
from therabak.app.app import TherabakApp
from therabak.app.runner import JobState
from therabak.app.screens.backup import BackupScreen
from therabak.app.screens.dialogs import ConfirmDialog
from therabak.app.screens.progress import ProgressScreen
from therabak.app.widgets.category_tree import CategoryTree
from therabak.app.widgets.password_input import PasswordInput
from therabak.app.widgets.retry_panel import RetryPanel
from therabak.jobs.store_backup import StoreBackupResult
from therabak.practice.categories import BackupKind, Rules
from therabak.storage.local import LocalStorage
from therabak.store.core import Store
from therabak.store.keyfile import Unlock
from therabak.store.public import peek

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
        await pilot.press("ctrl+s")  # no password: no recovery code either
        await wait_for(
            pilot, lambda: isinstance(app.screen, ProgressScreen) and app.screen.view.finished
        )
        store = app.screen.view.final.result(StoreBackupResult).store
        assert store == str(usb / "TheraPsy-Backups")
        assert peek(LocalStorage(Path(store))).protection == ("none",)

    run_app(app, body)


def test_a_backup_completes_with_retry_rows_visible(make_ctx, run_app, usb, app_practice):
    app = TherabakApp(make_ctx(job_env={"THERABAK_FAILPOINTS": FLAKY}))
    password = "Praxis-2026!"

    async def body(pilot):
        await open_backup(pilot)
        await to_step_two(pilot, usb)
        await type_passwords(pilot, password, password)
        assert "match" in str(app.screen.query_one("#pw-msg").render())
        assert "A new backup store" in str(app.screen.query_one("#estimate").render())
        await pilot.press("ctrl+s")
        await no_recovery_code(pilot)
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
        result = final.result(StoreBackupResult)
        folder = Path(result.store)
        assert folder.parent == usb
        store = Store.open(LocalStorage(folder), Unlock(password=password))
        assert not store.has_recovery_code  # "no code" was the answer
        snapshot = store.load_snapshot(result.snapshot)
        assert {e.category for e in snapshot.entries} <= Rules.load().default_selection(
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
        await no_recovery_code(pilot)
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
        summary = str(screen.query_one("#summary").render())
        assert "cancelled" in summary and "Nothing of it became a backup" in summary
        assert app.ctx.runner.get(screen.job.id).state is JobState.CANCELLED
        store = Store.open(LocalStorage(usb / "TheraPsy-Backups"), Unlock(password="Praxis-Ablage"))
        assert store.snapshots() == []  # nothing of the cancelled backup is visible

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


def test_a_backup_into_an_existing_store_says_first_how_much_is_new(make_ctx, run_app, usb):
    """One password field (it opens the store); a wrong one is refused before any job
    starts; the right one shows "writes X of Y" before the start, and the summary says
    what was taken over unread. No recovery-code question for an existing store."""
    from therabak import formatting

    ctx = make_ctx()
    first = store_backup_first(ctx, usb, "Praxis-Ablage")
    entries = (
        Store.open(LocalStorage(first.store), Unlock(password="Praxis-Ablage"))
        .load_snapshot(first.snapshot)
        .entries
    )
    entry = next(e for e in entries if e.size and not e.sealed and not e.raw)
    changed = ctx.paths.data_dir / entry.path
    changed.write_bytes(changed.read_bytes() + b" and one more line")
    app = TherabakApp(ctx)

    async def body(pilot):
        await open_backup(pilot)
        await to_step_two(pilot, usb)
        screen = app.screen
        assert screen.store_exists
        assert not screen.query_one("#pw2-row").display  # typed once: it opens the store
        assert "holds a backup store" in str(screen.query_one("#store-note").render())
        screen.query_one("#pw").focus()
        await pilot.press(*"Falsches-Passwort")
        await pilot.press("ctrl+s")  # waits for the store to open: it does not
        await wait_for(pilot, lambda: screen.estimate_error != "")
        await pilot.pause()
        assert isinstance(app.screen, BackupScreen)
        assert app.ctx.runner.list_jobs() == []
        assert str(screen.query_one("#start-msg").render()) == screen.estimate_error
        screen.query_one("#pw", PasswordInput).value = ""
        screen.query_one("#pw").focus()
        await pilot.press(*"Praxis-Ablage")
        await wait_for(
            pilot, lambda: "Writes" in str(screen.query_one("#estimate").render()), timeout=30
        )
        e = screen.estimate
        # the total as step 1 counted it (sizes on disk); new: the one changed file
        assert e.exists and (e.files_total, e.bytes_total) == screen.selected_totals()
        assert e.bytes_new == entry.size + len(b" and one more line")
        assert e.files_reused == first.files - 1
        assert str(screen.query_one("#estimate").render()) == (
            f"Writes {formatting.size(e.bytes_new)} of {formatting.size(e.bytes_total)}; "
            "the rest is already in the backup store."
        )
        await pilot.press("ctrl+s")  # no recovery-code question: straight to the progress
        await wait_for(pilot, lambda: isinstance(app.screen, ProgressScreen))
        progress = app.screen
        await wait_for(pilot, lambda: progress.view.finished, timeout=60)
        final = progress.view.final
        assert final.exit_code == 0
        assert final.extra["files_reused"] == first.files - 1
        assert final.extra["files_read"] == 1
        summary = str(progress.query_one("#summary").render())
        reused = formatting.files(first.files - 1)
        assert f"{reused} unchanged since the last backup were not read again" in summary
        store = Store.open(LocalStorage(first.store), Unlock(password="Praxis-Ablage"))
        assert len(store.snapshots()) == 2

    run_app(app, body)


def test_a_new_store_gets_the_recovery_code_shown_once(make_ctx, run_app, usb):
    """Yes to the question: the code is shown; "Back" starts nothing and forgets it; the
    next yes shows another code, and "written down" starts the backup, whose new store
    then opens with that code (handed to the job on stdin, never in argv)."""
    from therabak.app.screens.dialogs import RecoveryCodeDialog

    app = TherabakApp(make_ctx())

    async def body(pilot):
        await open_backup(pilot)
        await to_step_two(pilot, usb)
        await type_passwords(pilot, "Praxis-Ablage", "Praxis-Ablage")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("enter")  # the recommended answer has the focus
        await wait_for(pilot, lambda: isinstance(app.screen, RecoveryCodeDialog))
        first = app.screen._code
        await pilot.press("escape")  # back to the form: nothing starts
        await wait_for(pilot, lambda: isinstance(app.screen, BackupScreen))
        assert app.ctx.runner.list_jobs() == [] and list(usb.iterdir()) == []
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RecoveryCodeDialog))
        code = app.screen._code
        assert code != first
        shown = str(app.screen.query_one("#code").render()).replace("\n", "-")
        assert shown == "-".join(code.groups())
        await pilot.press("enter")  # written down: start
        await wait_for(pilot, lambda: isinstance(app.screen, ProgressScreen))
        screen = app.screen
        await wait_for(pilot, lambda: screen.view.finished)
        final = screen.view.final
        assert final.exit_code == 0, final
        record = app.ctx.runner.get(screen.job.id).record
        assert code.compact() not in " ".join(record.args)
        folder = Path(final.extra["store"])
        store = Store.open(LocalStorage(folder), Unlock(recovery_code=code))
        assert store.has_recovery_code
        assert [s.snapshot_id for s in store.snapshots()] == [final.extra["snapshot"]]

    run_app(app, body)


def test_the_estimate_follows_the_ticked_categories(make_ctx, run_app, usb):
    """Back to step 1, untick a group, forward again: the line says the new total."""
    from therabak import formatting

    ctx = make_ctx()
    store_backup_first(ctx, usb, "Praxis-Ablage")
    app = TherabakApp(ctx)

    async def body(pilot):
        await open_backup(pilot)
        await to_step_two(pilot, usb)
        screen = app.screen
        screen.query_one("#pw").focus()
        await pilot.press(*"Praxis-Ablage")
        await wait_for(pilot, lambda: screen.estimate is not None, timeout=30)
        before = screen.estimate
        await pilot.press("escape")  # back to step 1
        await pilot.pause()
        screen.query_one(CategoryTree).focus()
        await pilot.press("space")  # untick the first group
        after_totals = screen.selected_totals()
        assert after_totals[1] < before.bytes_total
        await wait_for(
            pilot,
            lambda: (
                screen.estimate is not None and screen.estimate.bytes_total != before.bytes_total
            ),
            timeout=30,
        )
        assert (screen.estimate.files_total, screen.estimate.bytes_total) == after_totals
        await pilot.press("n")
        await pilot.pause()
        assert formatting.size(after_totals[1]) in str(screen.query_one("#estimate").render())

    run_app(app, body)


def test_settings_free_space_in_the_automatic_store(make_ctx, run_app, app_practice):
    """Settings → "Free space now": a prune job with the saved retention forgets the
    automatic backups it does not keep (two of one day: the older goes) and frees space."""
    from datetime import timedelta

    from app.apphelp import NOW, wait_schedule
    from therabak.archive.writer import Protection
    from therabak.jobs.store_backup import StoreBackupRequest, run_store_backup
    from therabak.practice.account import AccountKey
    from therabak.settings import Settings

    ctx = make_ctx()
    account = AccountKey.load(ctx.paths.account_key)
    folder = Settings.load().auto_folder(ctx.paths.data_dir)
    rules = Rules.load()
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for hours in (3, 1):
        made.append(
            run_store_backup(
                StoreBackupRequest(
                    data_dir=ctx.paths.data_dir,
                    account=account,
                    dest=str(folder / "TheraPsy-Backups"),
                    rules=rules,
                    selection=rules.default_selection(BackupKind.AUTOMATIC),
                    protection=Protection(account_key=account.key, account_key_id=account.key_id),
                    kind=BackupKind.AUTOMATIC,
                    remember_destination=False,
                    created=NOW - timedelta(hours=hours),
                )
            )
        )
        (ctx.paths.data_dir / f"auto-{hours}.txt").write_bytes(bytes([hours]) * 50_000)
    app = TherabakApp(ctx)

    async def body(pilot):
        await pilot.press("s")
        await wait_schedule(pilot)
        app.screen.query_one("#prune-auto").press()
        await wait_for(pilot, lambda: isinstance(app.screen, ProgressScreen))
        screen = app.screen
        await wait_for(pilot, lambda: screen.view.finished)
        final = screen.view.final
        assert final.exit_code == 0, final
        assert final.extra["forgotten"] == [made[0].snapshot]
        summary = str(screen.query_one("#summary").render())
        assert "1 automatic backup the retention does not keep was forgotten." in summary
        store = Store.open(LocalStorage(made[0].store), Unlock(account=account))
        assert [s.snapshot_id for s in store.snapshots()] == [made[1].snapshot]

    run_app(app, body)
