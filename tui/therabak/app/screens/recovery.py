"""Recovery codes: give a backup a recovery code, replace it, or remove it.

The backups with a password are listed with whether each has a code. ``k`` asks for the
password (or the current code: "Forgot the password?"), makes a new code in the app and
shows it once (:class:`NewCodeDialog`); only when the user says it is written down does
``therabak recovery create`` run as a job, with the secrets on its standard input. ``x``
removes a code (after a question, with the password). ``e`` opens the emergency sheet,
offering the code just made while this screen is open.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Footer, Static

from therabak.app.points import remember_searched, where_label
from therabak.app.recovery import can_have_code, check_secret, create_args, remove_args
from therabak.app.runner import Job, JobState
from therabak.app.screens.dialogs import ConfirmDialog
from therabak.app.screens.unlock import UnlockDialog, Unlocked
from therabak.app.translated import AppScreen, Translated
from therabak.app.widgets.dir_picker import DirPicker, picker_start
from therabak.app.widgets.header import AppHeader
from therabak.app.widgets.points_table import HEADERS, MAX_WIDTH, PointsTable, point_details
from therabak.i18n import N_, _
from therabak.points.point import RestorePoint

if TYPE_CHECKING:
    from therabak.crypto.recovery import RecoveryCode


class CodesTable(PointsTable):
    """The backups that can have a recovery code, and whether each has one."""

    # Enter gives a new code, as k does; the line under the table names the keys (the
    # footer has no room for the table's own at 80 columns)
    BINDINGS = [
        Binding("enter", "select_cursor", N_("New code"), show=False),
        Binding("o", "flip_order", N_("Sort by date"), show=False),
    ]

    fixed = ("age", "kind", "size", "code")
    headers = {**HEADERS, "code": N_("Recovery code")}
    max_width = {**MAX_WIDTH, "code": 22}

    def _cells(self, p: RestorePoint) -> tuple[Text, ...]:
        age, kind, size, *_rest = super()._cells(p)
        code = Text(_("yes"), "green") if p.recovery_code else Text(_("none"), "yellow")
        return age, kind, size, code


class NewCodeDialog(Translated, ModalScreen[bool]):
    """Shows a new recovery code once, with what to do with it. True: it is written down,
    save it in the backup; False (or Escape): nothing changes. "Cancel" has the focus:
    Enter alone never saves a code nobody wrote down."""

    BINDINGS = [
        Binding("tab,left,right", "app.focus_next", N_("Other answer"), key_display="tab"),
        Binding("escape", "cancel", N_("Cancel")),
    ]

    def __init__(self, code: RecoveryCode, name: str, *, replacing: bool) -> None:
        super().__init__()
        self.code = code
        self.backup_name = name
        self.replacing = replacing

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="new-code-dialog"):
            yield Static(
                _("The new recovery code for {name}").format(name=self.backup_name),
                classes="dialog-title",
            )
            yield Static(Text(self.code.display(), "bold"), id="new-code")
            body = Text(
                _(
                    "Write it down now, exactly as shown: it is shown only this once. "
                    "(After saving, press e to print it on the emergency sheet.) It has no "
                    "letters I, L, O or U: 0 is a zero, 1 a one."
                )
            )
            body.append(
                "\n\n"
                + _(
                    "Keep it apart from the backup, not on the same stick or in the same "
                    "bag: whoever has the code and the backup can read it. With the code, "
                    "the backup opens when its password is forgotten."
                )
            )
            if self.replacing:
                body.append(
                    "\n\n" + _("The backup's current recovery code then stops working."), "bold"
                )
            yield Static(body, classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button(_("Cancel"), id="no", compact=True)
                yield Button(_("Written down: save it"), id="yes", variant="primary", compact=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_cancel(self) -> None:
        self.dismiss(False)


class RecoveryScreen(AppScreen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", N_("Back")),
        Binding("k", "new_code", N_("New code")),
        Binding("x", "remove_code", N_("Remove code")),
        Binding("e", "sheet", N_("Emergency sheet")),
        Binding("a", "search_folder", N_("Search a folder"), show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.extra: list[Path] = []
        self.rules = None
        self.busy = False
        # the code made on this screen and the job that saves it: offered for the
        # emergency sheet once that job succeeded (kept in memory only, never written)
        self.made: tuple[RecoveryCode, Job] | None = None
        self.note: Text | None = None  # what the last action left to say

    def help_text(self) -> str:
        return _(
            "A recovery code opens a backup when its password is forgotten: a second key, "
            "32 characters in 8 groups, to write down or print on the emergency sheet and "
            "keep apart from the backup. k gives the highlighted backup a new code (an "
            "earlier one stops working), x removes its code, e makes the emergency sheet, "
            "a searches another folder. Only backups with a password can have a code."
        )

    def compose(self) -> ComposeResult:
        yield AppHeader(_("Recovery codes"))
        with Vertical(id="points-step"):
            yield Static(
                _("Choose a backup with a password: give it a recovery code, or remove its code."),
                classes="step-title",
            )
            yield CodesTable(self.app.ctx.now, lambda p: where_label(self.app.ctx, p), id="points")
            yield Static(Text(_("Looking for backups…"), style="italic"), id="points-msg")
            yield Static("", id="point-details")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        from therabak.app.points import rules_for_details

        self.rules = rules_for_details(self.app.rules)
        self.query_one(CodesTable).focus()
        self.refresh_points()

    def on_screen_resume(self) -> None:
        self.refresh_points()  # back from a job: the codes may have changed

    def _msg(self, text: str | Text, style: str = "") -> None:
        self.query_one("#points-msg", Static).update(
            text if isinstance(text, Text) else Text(text, style=style)
        )

    # ---- the list -----------------------------------------------------------------------

    def refresh_points(self) -> None:
        self._find_worker(list(self.extra))

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
        table = self.query_one(CodesTable)
        current = table.current
        table.show([p for p in points if can_have_code(p)])
        if current is not None and str(current.path) in table.rows:
            table.move_cursor(row=table.get_row_index(str(current.path)))
        self._say_keys()

    def _say_keys(self) -> None:
        if self.note is not None:
            self._msg(self.note)
            return
        table = self.query_one(CodesTable)
        if not table.row_count:
            self._msg(
                _(
                    "No backup with a password was found. Make one with b on the home "
                    "screen, or press a to search a folder."
                ),
                "bold",
            )
            return
        text = Text(
            _(
                "k: new recovery code  ·  x: remove it  ·  e: emergency sheet  ·  "
                "a: search a folder"
            ),
            "dim",
        )
        saved = self._saved_code_job()
        if saved is not None:
            text = Text(
                _(
                    "The new code is saved in {name}. Press e to print it on the emergency "
                    "sheet (it is kept only while this screen is open)."
                ).format(name=Path(saved.record.target).name),
                "green",
            )
        self._msg(text)

    def _note(self, text: str, style: str) -> None:
        """Say *text* under the table until the next action."""
        self.note = Text(text, style)
        self._msg(self.note)

    def _saved_code_job(self) -> Job | None:
        """The job that saved the code made here, once it succeeded."""
        if self.made is None:
            return None
        job = self.app.ctx.runner.get(self.made[1].id)
        if job is None or job.state is not JobState.DONE or job.exit_code != 0:
            return None
        return job

    def on_points_table_highlighted(self, event: PointsTable.Highlighted) -> None:
        point = event.point
        details = Text("")
        if point is not None and self.rules is not None:
            details = point_details(point, self.app.ctx, self.rules)
        self.query_one("#point-details", Static).update(details)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_new_code()

    def action_search_folder(self) -> None:
        def picked(path: Path | None) -> None:
            if path is not None:
                remember_searched(path)
                if path not in self.extra:
                    self.extra.append(path)
                self._msg(_("Looking for backups…"), "italic")
                self.refresh_points()

        self.app.push_screen(DirPicker(picker_start(self.app.ctx)), picked)

    # ---- a new code ---------------------------------------------------------------------

    def action_new_code(self) -> None:
        point = self.query_one(CodesTable).current
        if point is None or self.busy:
            return
        self.note = None

        def unlocked(result: Unlocked | None) -> None:
            if result is None:
                return
            from therabak.crypto.recovery import RecoveryCode

            code = RecoveryCode.generate()

            def answered(save: bool | None) -> None:
                if save:
                    self._create(point, result, code)
                else:
                    self._note(_("Nothing was changed; that code was not saved."), "bold")

            self.app.push_screen(
                NewCodeDialog(code, point.path.name, replacing=point.recovery_code), answered
            )

        self.app.push_screen(
            UnlockDialog(
                _("New recovery code for {name}").format(name=point.path.name),
                lambda pw, code: check_secret(point, pw, code),
                has_code=point.recovery_code,
            ),
            unlocked,
        )

    def _create(self, point: RestorePoint, opened: Unlocked, code: RecoveryCode) -> None:
        job = self._start(
            create_args(point),
            point,
            _("New recovery code for {name}").format(name=point.path.name),
            password=opened.password,
            recovery_code=opened.recovery_code,
            new_recovery_code=code,
        )
        if job is not None:
            self.made = (code, job)

    # ---- removing the code ----------------------------------------------------------------

    def action_remove_code(self) -> None:
        point = self.query_one(CodesTable).current
        if point is None or self.busy:
            return
        self.note = None
        if not point.recovery_code:
            self._note(_("This backup has no recovery code."), "bold")
            return

        def unlocked(result: Unlocked | None) -> None:
            if result is not None:
                self._start(
                    remove_args(point),
                    point,
                    _("Remove the recovery code of {name}").format(name=point.path.name),
                    password=result.password,
                )

        def answered(remove: bool | None) -> None:
            if remove:
                # the password, never the code: removing the code with the code alone
                # could leave a backup whose password nobody knows
                self.app.push_screen(
                    UnlockDialog(
                        _("Remove the recovery code of {name}").format(name=point.path.name),
                        lambda pw, _code: check_secret(point, pw, None),
                        body=_("Removing the recovery code needs the backup's password."),
                    ),
                    unlocked,
                )

        self.app.push_screen(
            ConfirmDialog(
                _("Remove the recovery code?"),
                _(
                    "The backup then opens with its password only: if the password is "
                    "forgotten, the backup is lost. Copies of the backup made before keep "
                    "their code."
                ),
                yes=_("Remove it"),
                no=_("Keep it"),
                danger=True,
            ),
            answered,
        )

    # ---- jobs ------------------------------------------------------------------------------

    def _start(
        self,
        args: list[str],
        point: RestorePoint,
        title: str,
        *,
        password: str | None = None,
        recovery_code: RecoveryCode | None = None,
        new_recovery_code: RecoveryCode | None = None,
    ) -> Job | None:
        ctx = self.app.ctx
        try:
            job = ctx.runner.start(
                "recovery",
                args,
                password=password,
                recovery_code=recovery_code,
                new_recovery_code=new_recovery_code,
                data_dir=ctx.paths.data_dir,
                title=title,
                target=str(point.path),
                env=ctx.job_env,
            )
        except OSError as e:
            self._msg(_("The job could not be started: {error}").format(error=e), "bold red")
            return None
        from therabak.app.screens.progress import ProgressScreen

        self.app.push_screen(ProgressScreen(job))  # back here when it is closed
        return job

    # ---- the emergency sheet ------------------------------------------------------------------

    def action_sheet(self) -> None:
        from therabak.app.screens.sheet import EmergencySheetScreen

        made = self.made[0] if self.made and self._saved_code_job() else None
        self.app.push_screen(EmergencySheetScreen(made_code=made))
