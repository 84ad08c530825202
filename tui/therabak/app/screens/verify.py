"""Verify: pick a backup (an archive, or a backup in a store), unlock it if it has a
password (or with its recovery code), and read it completely (``therabak verify`` as a
job on the progress screen)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Footer, Static

from therabak.app.points import contents, needs_password, point_title, where_label
from therabak.app.screens.unlock import UnlockDialog, Unlocked
from therabak.app.translated import AppScreen
from therabak.app.widgets.header import AppHeader
from therabak.app.widgets.points_table import PointsTable, point_details, search_another_folder
from therabak.i18n import N_, _
from therabak.jobs.verify import VerifyRequest
from therabak.points.point import PointKind, RestorePoint

if TYPE_CHECKING:
    from therabak.crypto.recovery import RecoveryCode

ARCHIVE_KINDS = (PointKind.MANUAL, PointKind.AUTOMATIC)  # archives and backups in a store


class VerifyScreen(AppScreen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", N_("Back")),
        Binding("a", "search_folder", N_("Search a folder")),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.extra: list[Path] = []
        self.rules = None
        self.started = False  # the verify job was started: never a second one

    def help_text(self) -> str:
        return _(
            "Verify reads every file of a backup and checks it against its checksum, "
            "without changing anything (the backup's password is asked for when it has "
            "one). Check the backups on USB sticks now and then: a stick can fail "
            "unnoticed. a searches another folder (it is searched again next time)."
        )

    def compose(self) -> ComposeResult:
        yield AppHeader(_("Verify a backup"))
        with Vertical(id="points-step"):
            yield Static(
                _("Choose a backup: every file in it is read and checked."), classes="step-title"
            )
            yield PointsTable(self.app.ctx.now, lambda p: where_label(self.app.ctx, p), id="points")
            yield Static(Text(_("Looking for backups…"), style="italic"), id="points-msg")
            yield Static("", id="point-details")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        from therabak.app.points import rules_for_details

        self.rules = rules_for_details(self.app.rules)
        self.query_one(PointsTable).focus()
        self._find_worker(list(self.extra))

    def _msg(self, text: str, style: str = "") -> None:
        self.query_one("#points-msg", Static).update(Text(text, style=style))

    @work(thread=True, exclusive=True, exit_on_error=False, group="points")
    def _find_worker(self, extra: list[Path]) -> None:
        from therabak.app.points import find_points

        try:
            listing = find_points(self.app.ctx, extra)
        except Exception as e:  # noqa: BLE001 - shown, never a crash
            self.app.call_from_thread(self._msg, str(e), "bold red")
            return
        self.app.call_from_thread(self._found, listing.points)

    def _found(self, points: list[RestorePoint]) -> None:
        archives = [p for p in points if p.kind in ARCHIVE_KINDS]
        table = self.query_one(PointsTable)
        table.show(archives)
        if archives:
            self._msg(_("Enter: verify the highlighted backup  ·  a: search another folder"), "dim")
        else:
            self._msg(_("No backup archives found. Press a to search a folder."), "bold")

    def on_points_table_highlighted(self, event: PointsTable.Highlighted) -> None:
        if self.rules is not None:
            self.query_one("#point-details", Static).update(
                point_details(event.point, self.app.ctx, self.rules)
            )

    def action_search_folder(self) -> None:
        search_another_folder(self, self.extra, self._search_again)

    def _search_again(self) -> None:
        self._msg(_("Looking for backups…"), "italic")
        self._find_worker(list(self.extra))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        point = self.query_one(PointsTable).current
        if point is None:
            return
        if needs_password(point):
            ctx, rules = self.app.ctx, self.rules

            def unlocked(result: Unlocked | None) -> None:
                if result is not None:
                    self.start(point, result.password, result.recovery_code)

            self.app.push_screen(
                UnlockDialog(
                    _("Unlock {name}").format(name=point_title(point)),
                    lambda pw, code: contents(ctx, point, rules, pw, recovery_code=code),
                    has_code=point.recovery_code,
                ),
                unlocked,
            )
        else:
            self.start(point, None)

    def start(
        self, point: RestorePoint, password: str | None, recovery_code: RecoveryCode | None = None
    ) -> None:
        if self.started:
            return
        self.started = True
        ctx = self.app.ctx
        try:
            job = ctx.runner.start_request(
                VerifyRequest(point.ref, ctx.paths.data_dir, ctx.paths.account_key),
                password=password,
                recovery_code=recovery_code,
                title=_("Verify {name}").format(name=point_title(point)),
                target=point.ref,
                env=ctx.job_env,
            )
        except OSError as e:
            self.started = False
            self._msg(_("The job could not be started: {error}").format(error=e), "bold red")
            return
        from therabak.app.screens.progress import ProgressScreen

        self.app.switch_screen(ProgressScreen(job))
