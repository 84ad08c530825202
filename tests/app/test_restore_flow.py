"""Restore and verify, driven with the keyboard: a backup made in the app is restored by
the app after the data changed, and ``therabak diff`` then finds the data identical."""

from __future__ import annotations

import json
from pathlib import Path

from app.apphelp import no_recovery_code, screen_text, wait_for, wait_scan
from conftest import run_cli
from restore_helpers import flip_byte, plaintext_tree
from therabak.app.app import TherabakApp
from therabak.app.screens.problem import ProblemScreen
from therabak.app.screens.progress import ProgressScreen
from therabak.app.screens.restore import RestoreScreen
from therabak.app.screens.unlock import UnlockDialog
from therabak.app.screens.verify import VerifyScreen
from therabak.app.widgets.category_tree import CategoryTree
from therabak.app.widgets.points_table import PointsTable
from therabak.jobs.folder import FolderBackupResult
from therabak.jobs.restore import RestoreResult
from therabak.jobs.store_backup import StoreBackupResult
from therabak.points.stores import point_ref
from therabak.practice.account import AccountKey
from therabak.settings import PracticePaths

PASSWORD = "Praxis-2026!"
FLAKY = "transient=0.2,transient-times=2,seed=restore-test"


def diff(archive: Path, paths) -> dict:
    proc = run_cli(
        "diff",
        archive,
        "--data-dir",
        paths.data_dir,
        "--account-key",
        paths.account_key,
        "--json",
        "--password-stdin",
        input=PASSWORD + "\n",
    )
    assert proc.returncode in (0, 3), proc.stderr
    return json.loads(proc.stdout)


async def backup_in_app(pilot, usb: Path) -> Path:
    app = pilot.app
    await pilot.press("b")
    await wait_scan(pilot)
    await pilot.press("n")
    dest = app.screen.query_one("#dest-input")
    dest.value = str(usb)
    dest.focus()
    await pilot.press("enter", *PASSWORD, "enter", *PASSWORD, "enter")
    await no_recovery_code(pilot)  # the first backup into a new store asks
    await wait_for(pilot, lambda: isinstance(app.screen, ProgressScreen))
    screen = app.screen
    await wait_for(pilot, lambda: screen.view.finished)
    assert screen.view.final.exit_code == 0
    assert screen.view.retries  # the flaky source needed retries
    await pilot.press("escape")
    await pilot.pause()
    made = screen.view.final.result(StoreBackupResult)
    return point_ref(made.store, made.snapshot)  # the point, as the restore list names it


async def open_restore(pilot) -> RestoreScreen:
    await pilot.press("r")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, RestoreScreen)
    await wait_for(pilot, lambda: screen.query_one(PointsTable).row_count > 0)
    return screen


def backup_with_cli(usb: Path, paths) -> Path:
    """A password backup of *paths* made with the CLI into *usb*; its archive."""
    proc = run_cli(
        "backup",
        "--dest",
        usb,
        "--single-file",
        "--data-dir",
        paths.data_dir,
        "--account-key",
        paths.account_key,
        "--password-stdin",
        "--json",
        input=PASSWORD + "\n",
    )
    assert proc.returncode == 0, proc.stderr
    return Path(json.loads(proc.stdout.splitlines()[-1])["archive"])


def test_backup_then_restore_after_changes_is_identical(make_ctx, run_app, usb, app_practice):
    app = TherabakApp(make_ctx(job_env={"THERABAK_FAILPOINTS": FLAKY}))
    data = app_practice.data_dir
    state: dict = {}

    async def body(pilot):
        archive = state["archive"] = await backup_in_app(pilot, usb)
        # the data changes after the backup: a note is lost, a profile is overwritten
        victims = sorted((data / "sessions").rglob("*.json"))[:2]
        for v in victims:
            v.unlink()
        profile = sorted((data / "profiles").glob("*.json"))[0]
        profile.write_bytes(b"overwritten by mistake")
        changed = diff(archive, app_practice)
        assert not changed["identical"]

        screen = await open_restore(pilot)
        table = screen.query_one(PointsTable)
        assert str(archive) in table.points
        table.move_cursor(row=list(table.rows).index(str(archive)))
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, UnlockDialog)
        await pilot.press(*"wrong password", "enter")
        await wait_for(
            pilot, lambda: "Wrong password" in str(app.screen.query_one("#unlock-msg").render())
        )
        await pilot.press(*PASSWORD, "enter")
        await wait_for(pilot, lambda: app.screen is screen and screen.step == "what")
        tree = screen.query_one(CategoryTree)
        assert tree.selection == tree.selectable  # everything the backup holds, ticked
        assert "icd10" not in tree.selectable  # a manual backup has no ICD-10 catalog
        await pilot.press("n")
        await wait_for(pilot, lambda: screen.step == "confirm")
        plan = str(screen.plan.keep_old_at)
        assert "before-restore" in plan
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ProgressScreen))
        progress = app.screen
        await wait_for(pilot, lambda: progress.view.finished)
        final = progress.view.final
        assert final.exit_code == 0, final
        summary = str(progress.query_one("#summary").render())
        assert "Restore finished." in summary and "To undo" in summary
        state["before"] = final.result(RestoreResult).before_restore

    run_app(app, body)
    assert diff(state["archive"], app_practice)["identical"]
    before = state["before"]
    assert before.is_dir() and before.parent == data.parent
    assert not (before / "profiles").joinpath("K0001.json").read_bytes().startswith(b"{")


def test_restore_into_another_folder_selectively(make_ctx, run_app, usb, app_practice, home):
    ctx = make_ctx()
    backup_with_cli(usb, app_practice)
    target = home / "restored"
    app = TherabakApp(ctx)
    before = {p: p.stat().st_mtime_ns for p in app_practice.data_dir.rglob("*")}

    async def body(pilot):
        screen = await open_restore(pilot)
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press(*PASSWORD, "enter")
        await wait_for(pilot, lambda: screen.step == "what")
        tree = screen.query_one(CategoryTree)
        tree.move_cursor(tree.node_for("files"))
        await pilot.press("space")  # no audio, documents, other data
        assert tree.selection == {"profiles", "sessions", "therapists", "finances"}
        await pilot.press("tab")
        screen.query_one("#elsewhere").value = True
        await pilot.pause()
        to = screen.query_one("#to-input")
        to.value = str(target)
        to.focus()
        await pilot.press("enter")  # Enter in the folder field goes on
        await wait_for(pilot, lambda: screen.step == "confirm")
        assert screen.plan.mode == "folder" and screen.plan.keep_old_at is None
        await pilot.press("ctrl+s")
        await wait_for(
            pilot,
            lambda: isinstance(pilot.app.screen, ProgressScreen) and pilot.app.screen.view.finished,
        )
        assert pilot.app.screen.view.final.exit_code == 0

    run_app(app, body)
    restored = {p.name for p in target.iterdir() if p.is_dir()}
    assert restored == {"profiles", "sessions", "therapists", "finances"}
    assert {p: p.stat().st_mtime_ns for p in app_practice.data_dir.rglob("*")} == before


def test_verify_a_backup_from_the_list(make_ctx, run_app, usb, app_practice):
    backup_with_cli(usb, app_practice)
    app = TherabakApp(make_ctx())

    async def body(pilot):
        await pilot.press("v")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, VerifyScreen)
        await wait_for(pilot, lambda: screen.query_one(PointsTable).row_count == 1)
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press(*PASSWORD, "enter")
        await wait_for(
            pilot, lambda: isinstance(app.screen, ProgressScreen) and app.screen.view.finished
        )
        assert app.screen.view.final.operation == "verify"
        assert "The backup is intact." in str(app.screen.query_one("#summary").render())

    run_app(app, body)


def test_folder_backup_runs_and_home_shows_it(make_ctx, run_app, usb, app_practice):
    app = TherabakApp(make_ctx())

    async def body(pilot):
        await pilot.press("f")
        await wait_scan(pilot)
        dest = app.screen.query_one("#dest-input")
        dest.value = str(usb)
        await pilot.press("ctrl+s")
        await wait_for(
            pilot, lambda: isinstance(app.screen, ProgressScreen) and app.screen.view.finished
        )
        final = app.screen.view.final
        assert final.operation == "folder-backup" and final.exit_code == 0
        summary = str(app.screen.query_one("#summary").render())
        assert "Folder backup finished." in summary and "this account's key only" in summary
        folder = final.result(FolderBackupResult).folder
        assert folder.parent == usb and (folder / "profiles").is_dir()
        await pilot.press("escape")
        await pilot.pause()
        (line,) = [x for x in screen_text(app).splitlines() if x.startswith(" Folder ")]
        assert "in ~/usb" in line and "never" not in line

    run_app(app, body)


def test_new_computer_restores_a_password_backup_from_the_problem_screen(
    make_ctx, run_app, usb, app_practice, home
):
    archive = backup_with_cli(usb, app_practice)
    new = PracticePaths(home / "NewPC" / "Data", home / "NewPC" / "account.key")
    app = TherabakApp(make_ctx(paths=new))

    async def body(pilot):
        await pilot.pause()
        assert isinstance(app.screen, ProblemScreen)
        screen = await open_restore(pilot)
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press(*PASSWORD, "enter")
        await wait_for(pilot, lambda: screen.step == "what")
        await pilot.press("n")
        await wait_for(pilot, lambda: screen.step == "confirm")
        assert screen.plan.mode == "new-data" and screen.plan.new_account_key is not None
        assert "A NEW account key" in screen_text(app)
        await pilot.press("ctrl+s")
        await wait_for(
            pilot, lambda: isinstance(app.screen, ProgressScreen) and app.screen.view.finished
        )
        assert app.screen.view.final.exit_code == 3  # a warning: a new account key
        summary = str(app.screen.query_one("#summary").render())
        assert summary.startswith("Restore finished with warnings.")
        assert "A new account key was created" in summary

    run_app(app, body)
    assert new.data_dir.is_dir() and new.account_key.is_file()
    proc = run_cli(
        "diff",
        archive,
        "--data-dir",
        new.data_dir,
        "--account-key",
        new.account_key,
        "--json",
        "--password-stdin",
        input=PASSWORD + "\n",
    )
    assert json.loads(proc.stdout)["identical"], proc.stdout


def _damage(archive: Path, where: str) -> str:
    """Flip a byte near the end of a session note's entry, or in the index; returns the
    note's path."""
    from therabak.archive.reader import ArchiveReader

    with ArchiveReader.open(archive) as reader:
        reader.unlock(password=PASSWORD)
        index = reader.read_index()
        index_offset, _length = reader.index_location()
    victim = next(e for e in index.entries if e.path.startswith("sessions/"))
    at = victim.offset + victim.length - 20 if where == "entry" else index_offset + 30
    flip_byte(archive, at)
    return victim.path


async def _choose_and_unlock(pilot) -> RestoreScreen:
    screen = await open_restore(pilot)
    await pilot.press("enter")
    await pilot.pause()
    await pilot.press(*PASSWORD, "enter")
    await wait_for(pilot, lambda: screen.step == "what")
    return screen


async def _restore_now(pilot, screen: RestoreScreen) -> ProgressScreen:
    await wait_for(pilot, lambda: screen.step == "confirm")
    await pilot.press("ctrl+s")
    await wait_for(
        pilot,
        lambda: isinstance(pilot.app.screen, ProgressScreen) and pilot.app.screen.view.finished,
    )
    return pilot.app.screen


def test_a_damaged_backup_refused_then_salvaged_in_the_app(make_ctx, run_app, usb, app_practice):
    """A note's entry is damaged: the plain restore stops with nothing changed and tells
    the user, in the app's words, to tick the salvage option; with it ticked every intact
    file comes back and the damaged note keeps its current version."""
    archive = backup_with_cli(usb, app_practice)
    victim = _damage(archive, "entry")
    data = app_practice.data_dir
    key = AccountKey.load(app_practice.account_key)
    original = plaintext_tree(data, key)
    current_victim = (data / victim).read_bytes()
    lost = sorted(p for p in (data / "sessions").rglob("*.json") if p.name != Path(victim).name)[0]
    lost.unlink()  # the data changed since the backup: a note is gone
    before = {p: p.stat().st_mtime_ns for p in data.rglob("*")}
    app = TherabakApp(make_ctx())

    async def body(pilot):
        screen = await _choose_and_unlock(pilot)
        assert screen.query_one("#salvage").value is False
        await pilot.press("n")
        progress = await _restore_now(pilot, screen)
        assert progress.view.final.exit_code == 5
        summary = str(progress.query_one("#summary").render())
        assert "tick “If the backup is damaged: restore every intact file”" in summary
        assert "--salvage" not in summary
        assert {p: p.stat().st_mtime_ns for p in data.rglob("*")} == before  # nothing changed
        await pilot.press("escape")
        await pilot.pause()
        screen = await _choose_and_unlock(pilot)
        screen.query_one("#salvage").focus()
        await pilot.press("space")
        assert screen.query_one("#salvage").value is True
        await pilot.press("n")
        progress = await _restore_now(pilot, screen)
        assert progress.view.final.exit_code == 3  # files need attention: the damaged note
        assert victim in str(progress.query_one("#summary").render())

    run_app(app, body)
    now = plaintext_tree(data, key)
    rel = lost.relative_to(data).as_posix()
    assert now[rel] == original[rel]  # the intact note came back, as it was backed up
    assert (data / victim).read_bytes() == current_victim  # the damaged one kept its version


def test_a_damaged_index_is_listed_by_salvage_and_restored(
    make_ctx, run_app, usb, app_practice, home
):
    """The index is damaged: the app lists the intact entries instead (reading the whole
    backup), says why, offers only a salvage restore, and that brings the files back."""
    archive = backup_with_cli(usb, app_practice)
    _damage(archive, "index")
    key = AccountKey.load(app_practice.account_key)
    original = plaintext_tree(app_practice.data_dir, key)
    target = home / "restored"
    app = TherabakApp(make_ctx())

    async def body(pilot):
        screen = await _choose_and_unlock(pilot)
        assert screen.contents.index_damage
        salvage = screen.query_one("#salvage")
        assert salvage.value is True and salvage.disabled  # the only way this point restores
        notice = screen.query_one("#damage-msg")
        message = str(notice.render())
        assert notice.display and "damaged" in message and "intact files" in message
        assert screen.query_one(CategoryTree).selection  # the categories found, ticked
        screen.query_one("#elsewhere").value = True
        await pilot.pause()
        to = screen.query_one("#to-input")
        to.value = str(target)
        to.focus()
        await pilot.press("enter")
        progress = await _restore_now(pilot, screen)
        assert progress.view.final.exit_code == 3  # the damaged index is reported
        assert "(index)" in str(progress.query_one("#summary").render())

    run_app(app, body)
    restored = plaintext_tree(target, key)
    core = [p for p in original if p.startswith(("profiles/", "sessions/", "finances/"))]
    assert core and all(restored[p][1] == original[p][1] for p in core)
