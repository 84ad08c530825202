"""Small modal dialogs: a yes/no confirmation; a new recovery code, shown once."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Static

from therabak.app.translated import Translated
from therabak.crypto.recovery import RecoveryCode
from therabak.i18n import N_, _


class ConfirmDialog(Translated, ModalScreen[bool]):
    """Asks a question; the safe answer is focused. Escape means no."""

    BINDINGS = [
        Binding("tab,left,right", "app.focus_next", N_("Other answer"), key_display="tab"),
        Binding("escape", "no", N_("Cancel")),
    ]

    def __init__(
        self,
        title: str,
        body: str | Text,
        *,
        yes: str,
        no: str,
        danger: bool = False,
        yes_first: bool = False,
    ) -> None:
        super().__init__()
        self.title_text, self.body, self.yes, self.no, self.danger = title, body, yes, no, danger
        self.yes_first = yes_first  # the recommended answer is yes: it has the focus

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.title_text, classes="dialog-title")
            yield Static(self.body, classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.no, id="no", compact=True)
                yield Button(
                    self.yes, id="yes", compact=True, variant="error" if self.danger else "primary"
                )
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#yes" if self.yes_first else "#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_no(self) -> None:
        self.dismiss(False)


class RecoveryCodeDialog(Translated, ModalScreen[bool]):
    """Shows a new recovery code once, with what to do with it. Yes: it was written down
    (the backup starts); no (Escape): back to the form, no code is kept."""

    BINDINGS = [
        Binding("tab,left,right", "app.focus_next", N_("Other answer"), key_display="tab"),
        Binding("escape", "no", N_("Cancel")),
    ]

    def __init__(self, code: RecoveryCode) -> None:
        super().__init__()
        self._code = code

    def compose(self) -> ComposeResult:
        groups = self._code.groups()
        half = len(groups) // 2
        shown = Text("-".join(groups[:half]) + "\n" + "-".join(groups[half:]), style="bold")
        with Vertical(classes="dialog"):
            yield Static(_("Your recovery code"), classes="dialog-title")
            yield Static(shown, id="code", classes="dialog-code")
            yield Static(
                _(
                    "Write it down or print it now, and keep it with the practice papers, "
                    "apart from the stick: it opens these backups when the password is "
                    "forgotten, and whoever has it can read them. It is shown only this once."
                ),
                classes="dialog-body",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button(_("Back"), id="no", compact=True)
                yield Button(_("Written down: start"), id="yes", compact=True, variant="primary")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#yes", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_no(self) -> None:
        self.dismiss(False)
