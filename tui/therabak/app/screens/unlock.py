"""The unlock dialog: the password of a protected backup, checked by opening its index.

Checking runs Argon2id (the point of a password slot is that this is slow), so it runs
in a thread worker; a wrong password is said plainly and the field is cleared.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Static

from therabak.app.translated import Translated
from therabak.app.widgets.password_input import PasswordInput
from therabak.i18n import N_, _


class UnlockDialog(Translated, ModalScreen[tuple[str, object] | None]):
    """Dismisses with (password, what *check* returned), or None when cancelled.

    *check(password)* opens the backup; it raises the engine's errors when it cannot.
    """

    BINDINGS = [Binding("escape", "cancel", N_("Cancel"))]

    def __init__(self, title: str, check: Callable[[str], object]) -> None:
        super().__init__()
        self.title_text = title
        self.check = check
        self.busy = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.title_text, classes="dialog-title")
            yield Static(
                _("This backup is protected by a password. Type it and press Enter."),
                classes="dialog-body",
            )
            yield PasswordInput(id="unlock-pw", placeholder=_("backup password"))
            yield Static("", id="unlock-msg")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(PasswordInput).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.busy:
            return
        if not event.value:
            self._say(_("The password is empty."), "bold red")
            return
        self.busy = True
        self._say(_("Checking the password…"), "italic")
        self._check(event.value)

    def _say(self, text: str, style: str) -> None:
        self.query_one("#unlock-msg", Static).update(Text(text, style=style))

    @work(thread=True, exclusive=True, exit_on_error=False, group="unlock")
    def _check(self, password: str) -> None:
        from therabak.errors import TherabakError

        try:
            result = self.check(password)
        except TherabakError as e:
            self.app.call_from_thread(self._failed, str(e))
            return
        except OSError as e:
            self.app.call_from_thread(self._failed, e.strerror or str(e))
            return
        self.app.call_from_thread(self.dismiss, (password, result))

    def _failed(self, message: str) -> None:
        self.busy = False
        field = self.query_one(PasswordInput)
        field.value = ""
        field.focus()
        self._say(message, "bold red")

    def action_cancel(self) -> None:
        self.dismiss(None)
