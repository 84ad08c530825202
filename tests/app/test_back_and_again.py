"""Back and again at every step of every flow: Escape goes back a step, and the step is
entered again (the same point, another point, the same folder ...) without a crash, a
duplicate widget or a lost value."""

from __future__ import annotations

from app.apphelp import wait_for
from app.test_restore_flow import PASSWORD, backup_with_cli, open_restore
from therabak.app.app import TherabakApp
from therabak.app.screens.restore import RestoreScreen
from therabak.app.screens.unlock import UnlockDialog
from therabak.app.widgets.category_tree import CategoryTree
from therabak.app.widgets.points_table import PointsTable


async def _enter_point(pilot, screen: RestoreScreen, path) -> None:
    table = screen.query_one(PointsTable)
    table.move_cursor(row=list(table.rows).index(str(path)))
    await pilot.press("enter")
    await pilot.pause()
    if isinstance(pilot.app.screen, UnlockDialog):
        await pilot.press(*PASSWORD, "enter")
    await wait_for(pilot, lambda: pilot.app.screen is screen and screen.step == "what")


def test_restore_step_two_back_and_again_does_not_crash(make_ctx, run_app, usb, app_practice):
    archive = backup_with_cli(usb, app_practice)
    app = TherabakApp(make_ctx())

    async def body(pilot):
        screen = await open_restore(pilot)
        for _ in range(3):
            await _enter_point(pilot, screen, archive)
            assert len(screen.query(CategoryTree)) == 1
            await pilot.press("escape")
            await pilot.pause()
            assert screen.step == "points"

    run_app(app, body)
