"""The unlock dialog: the password of a protected backup, or its recovery code, checked by
opening its index (an archive's, a store snapshot's).

Checking a password runs Argon2id (the point of a password slot is that this is slow),
so it runs in a thread worker; a wrong password is said plainly and the field is
cleared. A backup with a recovery code offers it (ctrl+r): the code is shown as it is
typed (people copy it from paper, 32 characters), checked for typos before anything is
tried (the message names the group), and kept in the field so one group can be fixed.
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

from therabak.app.points import Secret
from therabak.app.translated import Translated
from therabak.app.widgets.password_input import PasswordInput
from therabak.i18n import N_, _


class UnlockDialog(Translated, ModalScreen[tuple[Secret, object] | None]):
    """Dismisses with (the Secret typed, what *check* returned), or None when cancelled.

    *check(secret)* opens the backup; it raises the engine's errors when it cannot.
    *recovery*: the backup has a recovery code, so ctrl+r offers it instead.
    """

    BINDINGS = [
        Binding("escape", "cancel", N_("Cancel")),
        Binding("ctrl+r", "switch", N_("Password or recovery code")),
    ]

    def __init__(
        self, title: str, check: Callable[[Secret], object], *, recovery: bool = False
    ) -> None:
        super().__init__()
        self.title_text = title
        self.check = check
        self.recovery = recovery
        self.use_code = False
        self.busy = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.title_text, classes="dialog-title")
            yield Static(self._body(), id="unlock-body", classes="dialog-body")
            yield PasswordInput(id="unlock-pw", placeholder=_("backup password"))
            yield Static("", id="unlock-msg")
        yield Footer(compact=True)

    def _body(self) -> str:
        if self.use_code:
            return _(
                "Type the backup's recovery code (8 groups of 4 characters, as on the paper) "
                "and press Enter. ctrl+r: back to the password."
            )
        text = _("This backup is protected by a password. Type it and press Enter.")
        if self.recovery:
            text += "\n" + _("Password forgotten? ctrl+r: open it with its recovery code.")
        return text

    def on_mount(self) -> None:
        self.query_one(PasswordInput).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "switch":
            return self.recovery
        return True

    def action_switch(self) -> None:
        if self.busy:
            return
        self.use_code = not self.use_code
        field = self.query_one(PasswordInput)
        field.value = ""
        field.password = not self.use_code  # a code is copied from paper: shown as typed
        field.placeholder = (
            _("recovery code, e.g. 7K2M-9QXH-…") if self.use_code else _("backup password")
        )
        self.query_one("#unlock-body", Static).update(self._body())
        self._say("", "")
        field.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.busy:
            return
        if not event.value:
            empty = (
                _("The recovery code is empty.") if self.use_code else _("The password is empty.")
            )
            self._say(empty, "bold red")
            return
        if self.use_code:
            from therabak.crypto.recovery import RecoveryCode, RecoveryCodeTypoError

            try:
                secret = Secret(recovery_code=RecoveryCode.parse(event.value))
            except RecoveryCodeTypoError as e:  # nothing tried: fix the group it names
                self._say(str(e), "bold red")
                return
            self._say(_("Checking the recovery code…"), "italic")
        else:
            secret = Secret(password=event.value)
            self._say(_("Checking the password…"), "italic")
        self.busy = True
        self._check(secret)

    def _say(self, text: str, style: str) -> None:
        self.query_one("#unlock-msg", Static).update(Text(text, style=style))

    @work(thread=True, exclusive=True, exit_on_error=False, group="unlock")
    def _check(self, secret: Secret) -> None:
        from therabak.errors import TherabakError

        try:
            result = self.check(secret)
        except TherabakError as e:
            self.app.call_from_thread(self._failed, str(e))
            return
        except OSError as e:
            self.app.call_from_thread(self._failed, e.strerror or str(e))
            return
        self.app.call_from_thread(self.dismiss, (secret, result))

    def _failed(self, message: str) -> None:
        self.busy = False
        field = self.query_one(PasswordInput)
        if not self.use_code:
            field.value = ""  # a password is typed blind: start again
        field.focus()
        self._say(message, "bold red")

    def action_cancel(self) -> None:
        self.dismiss(None)
