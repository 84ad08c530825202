"""The unlock dialog: the password of a protected backup, checked by opening it; or, when
the backup has a recovery code, "Forgot the password? Use the recovery code".

Checking a password runs Argon2id (the point of a password slot is that this is slow),
so it runs in a thread worker; a wrong password is said plainly and the field is
cleared. A recovery code is checked as it is typed (its check characters: a typo names
its group before anything is tried) and then opens the backup the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, ContentSwitcher, Footer, Input, Static

from therabak.app.recovery import FORGOT
from therabak.app.translated import Translated
from therabak.app.widgets.code_input import RecoveryCodeInput, code_status
from therabak.app.widgets.password_input import PasswordInput
from therabak.i18n import N_, _

if TYPE_CHECKING:
    from therabak.crypto.recovery import RecoveryCode


@dataclass(frozen=True)
class Unlocked:
    """What opened the backup (the password or the recovery code; ``repr`` shows
    neither) and what the check returned."""

    password: str | None = field(default=None, repr=False)
    recovery_code: RecoveryCode | None = field(default=None, repr=False)
    result: object = field(default=None, repr=False)


#: check(password, recovery_code) opens the backup with one of them (the other is None)
#: and raises the engine's errors when it cannot.
Check = Callable[["str | None", "RecoveryCode | None"], object]


class UnlockDialog(Translated, ModalScreen[Unlocked | None]):
    """Dismisses with :class:`Unlocked`, or None when cancelled.

    *has_code*: the backup has a recovery code, so the way to it is offered. *body*
    replaces the sentence that asks for the password."""

    BINDINGS = [
        Binding("escape", "cancel", N_("Cancel")),
        Binding("ctrl+r", "use_code", N_("Recovery code")),
    ]

    def __init__(
        self, title: str, check: Check, *, has_code: bool = False, body: str | None = None
    ) -> None:
        super().__init__()
        self.title_text = title
        self.check = check
        self.has_code = has_code
        self.body = body
        self.busy = False
        self.mode = "password"  # | "code"

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="unlock-dialog"):
            yield Static(self.title_text, classes="dialog-title")
            with ContentSwitcher(initial="password-mode", id="unlock-modes"):
                with Vertical(id="password-mode"):
                    yield Static(
                        self.body
                        or _("This backup is protected by a password. Type it and press Enter."),
                        classes="dialog-body",
                    )
                    yield PasswordInput(id="unlock-pw", placeholder=_("backup password"))
                    if self.has_code:
                        yield Button(_(FORGOT), id="use-code", compact=True, classes="link")
                with Vertical(id="code-mode"):
                    yield Static(
                        _(
                            "Type the backup's recovery code, from the emergency sheet or "
                            "wherever you wrote it down. Small or capital letters are the same."
                        ),
                        classes="dialog-body",
                    )
                    yield RecoveryCodeInput(id="unlock-code")
                    yield Static(code_status("").text, id="code-check")
                    yield Button(
                        _("Use the password instead"),
                        id="use-password",
                        compact=True,
                        classes="link",
                    )
            yield Static("", id="unlock-msg")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(PasswordInput).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "use_code":
            return self.has_code and self.mode == "password"
        return True

    # ---- switching between the password and the code ------------------------------------

    def action_use_code(self) -> None:
        if not self.has_code or self.busy:
            return
        self._switch("code")

    def _switch(self, mode: str) -> None:
        self.mode = mode
        self.query_one(ContentSwitcher).current = f"{mode}-mode"
        self._say("", "")
        if mode == "code":
            self.query_one(RecoveryCodeInput).focus()
        else:
            self.query_one(PasswordInput).focus()
        self.refresh_bindings()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if self.busy:
            return
        if event.button.id == "use-code":
            self._switch("code")
        elif event.button.id == "use-password":
            self._switch("password")

    def on_input_changed(self, event: Input.Changed) -> None:
        if isinstance(event.input, RecoveryCodeInput):
            event.stop()
            self.query_one("#code-check", Static).update(code_status(event.value).text)
            self._say("", "")

    # ---- opening -----------------------------------------------------------------------

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.busy:
            return
        if isinstance(event.input, RecoveryCodeInput):
            status = code_status(event.value)
            if status.code is None:
                # not complete, or a typo: said under the field, and nothing is tried
                from therabak.crypto.recovery import RecoveryCode, RecoveryCodeTypoError

                try:
                    RecoveryCode.parse(event.value)
                except RecoveryCodeTypoError as e:
                    self.query_one("#code-check", Static).update(Text(str(e), "bold red"))
                return
            self.busy = True
            self._say(_("Checking the recovery code…"), "italic")
            self._check(None, status.code)
            return
        if not event.value:
            self._say(_("The password is empty."), "bold red")
            return
        self.busy = True
        self._say(_("Checking the password…"), "italic")
        self._check(event.value, None)

    def _say(self, text: str, style: str) -> None:
        self.query_one("#unlock-msg", Static).update(Text(text, style=style))

    @work(thread=True, exclusive=True, exit_on_error=False, group="unlock")
    def _check(self, password: str | None, code: RecoveryCode | None) -> None:
        from therabak.errors import TherabakError

        try:
            result = self.check(password, code)
        except TherabakError as e:
            self.app.call_from_thread(self._failed, str(e))
            return
        except OSError as e:
            self.app.call_from_thread(self._failed, e.strerror or str(e))
            return
        self.app.call_from_thread(self.dismiss, Unlocked(password, code, result))

    def _failed(self, message: str) -> None:
        self.busy = False
        if self.mode == "code":
            # a well-formed code that does not open this backup: kept, to compare it
            # with the paper group by group
            self.query_one(RecoveryCodeInput).focus()
        else:
            field = self.query_one(PasswordInput)
            field.value = ""
            field.focus()
        self._say(message, "bold red")

    def action_cancel(self) -> None:
        self.dismiss(None)
