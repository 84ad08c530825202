"""The backup screen's password fields: what is wrong with what is typed (said beside
the fields, live), "No password" only after a second question, and a weak password only
after an explicit "use it anyway". A destination that holds a backup store takes its
password once (it opens the store; no strength, nothing to match)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Checkbox, Static

from therabak.app.screens.dialogs import ConfirmDialog
from therabak.app.widgets.password_input import PasswordInput
from therabak.i18n import _
from therabak.passwords import assess
from therabak.presentation import no_password_warning


class PasswordQuestions:
    """Mixin of the backup screen (a Textual screen with the step-2 form)."""

    store_exists: bool

    def _password_problem(self, *, live: bool = False) -> str | None:
        msg = self.query_one("#pw-msg", Static)
        if self.query_one("#nopw", Checkbox).value:
            msg.update(
                Text(_("No password: anyone with the file can read it."), style="bold yellow")
            )
            return None
        pw = self.query_one("#pw", PasswordInput).value
        pw2 = self.query_one("#pw2", PasswordInput).value
        if self.store_exists:  # it opens the store: typed once
            pw2 = pw
        problem = None
        if not pw:
            if not live:
                problem = _(
                    "The password is empty. Type a password (recommended), or tick "
                    "“No password” below."
                )
        elif pw2 and pw != pw2 or (not live and pw != pw2):
            problem = _("The two passwords differ. Type the same password twice.")
        strength = assess(pw) if pw else None
        if problem:
            msg.update(Text(problem, style="bold red"))
        elif self.store_exists:  # not a new password: no strength, nothing to match
            msg.update(
                Text(
                    _("The password the backup store got with its first backup."),
                    style="dim",
                )
            )
        elif strength is not None and pw == pw2 and strength.acceptable:
            msg.update(
                Text(
                    strength.words()
                    + " "
                    + _("Passwords match. Keep it safe: without it the backup cannot be opened."),
                    style="green",
                )
            )
        elif strength is not None:
            msg.update(
                Text(strength.words(), style="dim" if strength.acceptable else "bold yellow")
            )
        else:
            msg.update(
                Text(
                    _("Without the password the backup cannot be opened: keep it somewhere safe."),
                    style="dim",
                )
            )
        return problem

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        if event.checkbox.id != "nopw":
            return
        if event.value:  # only after the second confirmation

            def answer(sure: bool | None) -> None:
                if sure:
                    self._sync_password_fields()
                else:
                    event.checkbox.value = False  # comes back here with False

            self.app.push_screen(
                ConfirmDialog(
                    _("Back up without a password?"),
                    no_password_warning(),
                    yes=_("Yes, no password"),
                    no=_("Keep the password"),
                    danger=True,
                ),
                answer,
            )
            return
        self._sync_password_fields()

    def _sync_password_fields(self) -> None:
        nopw = self.query_one("#nopw", Checkbox).value
        for pid in ("#pw", "#pw2"):
            field = self.query_one(pid, PasswordInput)
            field.disabled = nopw
            if nopw:
                field.value = ""
        self._password_problem(live=True)
        self._schedule_estimate()

    def _ask_short_password(self, strength) -> None:
        """A password below the minimum only after a second, explicit question."""

        def answer(use_it: bool | None) -> None:
            if use_it:
                self.action_start(short_password_ok=True)
            else:
                field = self.query_one("#pw", PasswordInput)
                field.value = ""
                self.query_one("#pw2", PasswordInput).value = ""
                field.focus()

        self.app.push_screen(
            ConfirmDialog(
                _("Use this weak password?"),
                strength.words()
                + "\n\n"
                + _(
                    "A short or simple password can be guessed by anyone who gets the "
                    "backup file, given time. Use it only if the file never leaves a "
                    "place you control."
                ),
                yes=_("Use it anyway"),
                no=_("Choose another"),
                danger=True,
            ),
            answer,
        )
