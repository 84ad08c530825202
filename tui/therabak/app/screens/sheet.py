"""The emergency sheet: one A4 page to print and keep with the practice papers (where the
backups are, how to restore them on a new computer), written by ``therabak
emergency-sheet`` as a job into the folder the user chooses, in the language chosen.

The recovery code goes on the sheet only when the user chooses it (the code just made
on the recovery codes screen, or one typed here and checked as it is typed), with the
warning that whoever holds such a sheet can read the backups; it reaches the job on its
standard input only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Footer, Input, Label, RadioSet, Static

from therabak.app.recovery import default_sheet_folder, sheet_args, sheet_env
from therabak.app.translated import AppScreen
from therabak.app.widgets.code_input import RecoveryCodeInput, code_status
from therabak.app.widgets.destination import path_example
from therabak.app.widgets.dir_picker import DirPicker, picker_start
from therabak.app.widgets.header import AppHeader
from therabak.app.widgets.inputs import Choice, TextInput
from therabak.i18n import N_, _

if TYPE_CHECKING:
    from therabak.crypto.recovery import RecoveryCode

LANGUAGES = (("de", "Deutsch"), ("en", "English"))


def sheet_explanation() -> str:
    return _(
        "The emergency sheet is one A4 page to print and keep with the practice papers: "
        "what the backups are, where they are, and how to restore them on a new "
        "computer, step by step. Make a new one when the backups move."
    )


def code_warning() -> str:
    return _(
        "Whoever holds a sheet with the code can read the backups. Print it, keep it "
        "locked away like the practice's keys, and then delete the PDF file."
    )


class EmergencySheetScreen(AppScreen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", N_("Back")),
        Binding("ctrl+o", "browse", N_("Browse")),
        Binding("ctrl+s", "write", N_("Write the sheet")),
    ]

    def __init__(self, made_code: RecoveryCode | None = None) -> None:
        super().__init__()
        self.made_code = made_code  # the code just made on the recovery codes screen
        self.started = False  # the job was started: never a second one

    def help_text(self) -> str:
        return _(
            "The emergency sheet is a PDF to print: where the backups are and how to "
            "restore them on a new computer. Choose the folder it is written to (ctrl+o "
            "opens the folder picker), its language, and whether it holds the recovery "
            "code (then whoever holds the sheet can read the backups); ctrl+s writes it."
        )

    def compose(self) -> ComposeResult:
        from therabak.i18n import get_language

        ctx = self.app.ctx
        lang = get_language()
        yield AppHeader(_("Emergency sheet"))
        with VerticalScroll(id="sheet"):
            yield Static(Text(sheet_explanation()), classes="explain")
            with Horizontal(classes="form-row"):
                yield Label(_("Folder"), classes="form-label")
                yield TextInput(
                    ctx.display_path(default_sheet_folder(ctx)),
                    placeholder=_("the folder the PDF is written to"),
                    id="sheet-folder",
                    compact=True,
                )
                yield Button(_("Browse…"), id="sheet-browse", compact=True)
            with Horizontal(classes="form-row radio-row"):
                yield Label(_("Language"), classes="form-label")
                with RadioSet(id="sheet-lang", compact=True):
                    for code, name in LANGUAGES:
                        yield Choice(name, id=f"lang-{code}", value=code == lang)
            yield Static(_("Recovery code on the sheet"), classes="section-title")
            with RadioSet(id="sheet-code", compact=True):
                yield Choice(
                    _("No: boxes to write it in by hand"),
                    id="code-none",
                    value=self.made_code is None,
                )
                if self.made_code is not None:
                    yield Choice(_("Yes: the code just made"), id="code-made", value=True)
                yield Choice(_("Yes: I type it in"), id="code-typed")
            with Horizontal(classes="form-row", id="code-row"):
                yield Label(_("Code"), classes="form-label")
                yield RecoveryCodeInput(id="sheet-code-input")
            yield Static(code_status("").text, id="sheet-code-check", classes="form-note")
            yield Static(Text(code_warning(), "bold yellow"), id="sheet-warning", classes="explain")
            yield Static("", id="sheet-msg", classes="form-error")
            yield Button(_("Write the sheet"), id="write", variant="primary", compact=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._show_code_fields()
        self.query_one("#sheet-folder").focus()

    def after_recompose(self) -> None:
        self._show_code_fields()

    # ---- the form ----------------------------------------------------------------------

    def _code_choice(self) -> str:
        pressed = self.query_one("#sheet-code", RadioSet).pressed_button
        return (pressed.id or "code-none") if pressed is not None else "code-none"

    def _show_code_fields(self) -> None:
        choice = self._code_choice()
        typed = choice == "code-typed"
        self.query_one("#code-row").display = typed
        self.query_one("#sheet-code-check").display = typed
        self.query_one("#sheet-warning").display = choice != "code-none"

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        if event.radio_set.id == "sheet-code":
            self._show_code_fields()
            if self._code_choice() == "code-typed":
                self.query_one(RecoveryCodeInput).focus()
        self._say("")

    def on_input_changed(self, event: Input.Changed) -> None:
        if isinstance(event.input, RecoveryCodeInput):
            self.query_one("#sheet-code-check", Static).update(code_status(event.value).text)
        self._say("")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_write()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "sheet-browse":
            self.action_browse()
        elif event.button.id == "write":
            self.action_write()

    def _say(self, text: str, style: str = "bold red") -> None:
        self.query_one("#sheet-msg", Static).update(Text(text, style=style))

    def action_browse(self) -> None:
        def picked(path: Path | None) -> None:
            if path is not None:
                self.query_one("#sheet-folder", Input).value = self.app.ctx.display_path(path)

        typed = self.query_one("#sheet-folder", Input).value.strip()
        start = Path(typed).expanduser() if typed else None
        self.app.push_screen(DirPicker(picker_start(self.app.ctx, start)), picked)

    def _folder(self) -> Path | None:
        """The folder typed, when it is one; else None (and the form says why)."""
        field = self.query_one("#sheet-folder", Input)
        value = field.value.strip()
        folder = Path(value).expanduser() if value else None
        if folder is None:
            problem = _("Choose the folder the sheet is written to.")
        elif not folder.is_absolute():
            problem = _("Type the folder's full path, for example {example}.").format(
                example=path_example()
            )
        elif not folder.is_dir():
            problem = _("There is no folder {path}.").format(path=value)
        else:
            return folder
        self._say(problem)
        field.focus()
        return None

    def _code(self) -> tuple[bool, RecoveryCode | None]:
        """(fine, the code to print): not fine when the code typed has a typo (said)."""
        from therabak.crypto.recovery import RecoveryCode, RecoveryCodeTypoError

        choice = self._code_choice()
        if choice == "code-made":
            return True, self.made_code
        if choice != "code-typed":
            return True, None
        field = self.query_one(RecoveryCodeInput)
        try:
            return True, RecoveryCode.parse(field.value)
        except RecoveryCodeTypoError as e:
            self._say(str(e))
            field.focus()
            return False, None

    def action_write(self) -> None:
        if self.started:
            return
        folder = self._folder()
        if folder is None:
            return
        fine, code = self._code()
        if not fine:
            return
        pressed = self.query_one("#sheet-lang", RadioSet).pressed_button
        lang = (pressed.id or "lang-en").removeprefix("lang-") if pressed else "en"
        ctx = self.app.ctx
        self.started = True
        try:
            job = ctx.runner.start(
                "emergency-sheet",
                sheet_args(ctx, folder, lang, include_code=code is not None),
                recovery_code=code,
                data_dir=ctx.paths.data_dir,
                title=_("Emergency sheet in {folder}").format(folder=ctx.display_path(folder)),
                target=str(folder),
                env=sheet_env(ctx),
            )
        except OSError as e:
            self.started = False
            self._say(_("The job could not be started: {error}").format(error=e))
            return
        from therabak.app.screens.progress import ProgressScreen

        self.app.switch_screen(ProgressScreen(job))
