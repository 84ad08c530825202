"""Backups in a store, driven with the keyboard: the restore list shows the store's points
(with what was new in each), a point is unlocked with its password or its recovery code,
what comes back is the snapshot's tree, and the restore job brings every file back;
the verify screen verifies a store point."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

from app.apphelp import NOW, screen_text, wait_for
from restore_helpers import plaintext_tree
from store_read_support import WithRecovery
from store_support import CheapPassword, backup_data
from therabak.app.app import TherabakApp
from therabak.app.screens.progress import ProgressScreen
from therabak.app.screens.restore import RestoreScreen
from therabak.app.screens.unlock import UnlockDialog
from therabak.app.screens.verify import VerifyScreen
from therabak.app.widgets.category_tree import CategoryTree
from therabak.app.widgets.points_table import PointsTable
from therabak.crypto.recovery import RecoveryCode
from therabak.practice.account import AccountKey
from therabak.practice.envelope import seal_bytes
from therabak.storage.local import LocalStorage
from therabak.store.core import Store

PASSWORD = "Praxis-2026!"


def make_store(app_practice, usb: Path, code: RecoveryCode | None = None):
    """Two backups of the practice in ``usb/TheraPsy-Backups`` (a recording added
    between them); returns (store folder, snapshots, plaintext trees of Data at each)."""
    key = AccountKey.load(app_practice.account_key)
    data = app_practice.data_dir
    protection = WithRecovery(PASSWORD, code) if code else CheapPassword(PASSWORD)
    root = usb / "TheraPsy-Backups"
    store = Store.create(LocalStorage(root), protection, chunk_size=64 << 10, pack_size=1 << 20)
    snaps, trees = [], []
    for i, days in enumerate((3, 1)):
        if i:
            audio = data / "audio" / "K0001" / "2026-02-27-01.opus"
            audio.write_bytes(seal_bytes(key, random.Random(i).randbytes(300_000)))
        snaps.append(backup_data(store, data, key, created=NOW - timedelta(days=days)).snapshot)
        trees.append(plaintext_tree(data, key))
    return root, snaps, trees


async def open_store_point(pilot, screen_class, key: str, rows: int, row: int):
    await pilot.press(key)
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, screen_class)
    await wait_for(pilot, lambda: screen.query_one(PointsTable).row_count == rows)
    table = screen.query_one(PointsTable)
    table.move_cursor(row=row)
    await pilot.pause()
    return screen, table


def test_restore_a_store_point_with_the_recovery_code(make_ctx, run_app, usb, app_practice, home):
    code = RecoveryCode.generate()
    root, snaps, trees = make_store(app_practice, usb, code)
    target = home / "restored"
    app = TherabakApp(make_ctx())

    async def body(pilot):
        screen, table = await open_store_point(pilot, RestoreScreen, "r", rows=2, row=1)
        older = table.current
        assert older.ref == f"{root}@{snaps[0].snapshot_id}"  # keyed by reference
        assert older.added == snaps[0].header.added
        text = screen_text(pilot.app)
        assert "New" in text and "New in it:" in text and "recovery code" in text
        await pilot.press("enter")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, UnlockDialog) and dialog.check_action("use_code", ()) is True
        await pilot.press("ctrl+r")
        display = code.display()
        typo = display[:5] + ("A" if display[5] != "A" else "B") + display[6:]
        await pilot.press(*typo, "enter")
        await wait_for(pilot, lambda: "group 2" in screen_text(pilot.app))
        assert app.screen is dialog  # nothing tried, the code kept to be corrected
        assert dialog.query_one("#unlock-code").value == typo
        dialog.query_one("#unlock-code").value = ""
        await pilot.press(*display.lower(), "enter")  # small letters are the same code
        await wait_for(pilot, lambda: app.screen is screen and screen.step == "what")
        tree = screen.query_one(CategoryTree)
        assert tree.selection == tree.selectable
        assert screen.contents.totals["audio"].files == sum(
            1 for e in snaps[0].entries if e.category == "audio"
        )
        await pilot.press("tab")
        screen.query_one("#elsewhere").value = True
        await pilot.pause()
        to = screen.query_one("#to-input")
        to.value = str(target)
        to.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.step == "confirm")
        assert "(a backup store)" in screen_text(pilot.app)
        await pilot.press("ctrl+s")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, ProgressScreen) and app.screen.view.finished,
        )
        assert app.screen.view.final.exit_code == 0, app.screen.view.final
        assert app.screen.view.final.extra["point"] == older.ref

    run_app(app, body)
    key = AccountKey.load(app_practice.account_key)
    paths = {e.path for e in snaps[0].entries}
    assert plaintext_tree(target, key) == {p: v for p, v in trees[0].items() if p in paths}


def test_restore_a_store_point_over_the_data_with_the_password(
    make_ctx, run_app, usb, app_practice
):
    root, snaps, trees = make_store(app_practice, usb)
    data = app_practice.data_dir
    (data / "sessions" / "K0001").joinpath("2026-01-05-01.json").unlink(missing_ok=True)
    app = TherabakApp(make_ctx())

    async def body(pilot):
        screen, table = await open_store_point(pilot, RestoreScreen, "r", rows=2, row=0)
        assert table.current.snapshot_id == snaps[1].snapshot_id
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, UnlockDialog)
        assert app.screen.check_action("use_code", ()) is False  # this store has no code
        await pilot.press(*"falsch", "enter")
        await wait_for(pilot, lambda: "Wrong password" in screen_text(pilot.app))
        await pilot.press(*PASSWORD, "enter")
        await wait_for(pilot, lambda: app.screen is screen and screen.step == "what")
        await pilot.press("n")
        await wait_for(pilot, lambda: screen.step == "confirm")
        await pilot.press("ctrl+s")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, ProgressScreen) and app.screen.view.finished,
        )
        assert app.screen.view.final.exit_code == 0, app.screen.view.final

    run_app(app, body)
    key = AccountKey.load(app_practice.account_key)
    assert plaintext_tree(data, key) == trees[1]


def test_verify_a_store_point(make_ctx, run_app, usb, app_practice):
    root, snaps, _trees = make_store(app_practice, usb)
    app = TherabakApp(make_ctx())

    async def body(pilot):
        _screen, table = await open_store_point(pilot, VerifyScreen, "v", rows=2, row=1)
        assert table.current.snapshot_id == snaps[0].snapshot_id
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press(*PASSWORD, "enter")
        await wait_for(
            pilot, lambda: isinstance(app.screen, ProgressScreen) and app.screen.view.finished
        )
        final = app.screen.view.final
        assert final.operation == "verify" and final.exit_code == 0
        assert final.extra["snapshot_id"] == snaps[0].snapshot_id
        assert final.extra["files_ok"] == len(snaps[0].entries)
        assert "The backup is intact." in str(app.screen.query_one("#summary").render())

    run_app(app, body)
