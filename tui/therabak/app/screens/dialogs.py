"""Small modal dialogs: a yes/no confirmation."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Static

from therabak.app.translated import Translated
from therabak.i18n import N_


class ConfirmDialog(Translated, ModalScreen[bool]):
    """Asks a question; the safe answer is focused. Escape means no."""

    BINDINGS = [
        Binding("tab,left,right", "app.focus_next", N_("Other answer"), key_display="tab"),
        Binding("escape", "no", N_("Cancel")),
    ]

    def __init__(
        self, title: str, body: str | Text, *, yes: str, no: str, danger: bool = False
    ) -> None:
        super().__init__()
        self.title_text, self.body, self.yes, self.no, self.danger = title, body, yes, no, danger

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
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_no(self) -> None:
        self.dismiss(False)
