"""A password field that never puts its contents on a clipboard.

Textual's Input copies selected text to the terminal's clipboard over OSC 52 (ctrl+c,
ctrl+x, and the screen's text selection): over SSH that clipboard is the client
machine's. Here copy and cut do nothing and the text cannot be selected for copying.

Focusing it does not select what is typed (Input's default): the dots do not show that
the next key would replace the whole password, and coming back to a field must not
lose it. ``?`` types a question mark here (F1 opens the help).
"""

from __future__ import annotations

from therabak.app.widgets.inputs import BlinkFollowsApp


class PasswordInput(BlinkFollowsApp):
    ALLOW_SELECT = False  # not part of a screen-wide text selection

    def __init__(
        self, *, placeholder: str = "", id: str | None = None, compact: bool = True
    ) -> None:
        super().__init__(
            placeholder=placeholder,
            password=True,
            id=id,
            compact=compact,
            select_on_focus=False,
        )

    def action_copy(self) -> None:
        """Copying a password is not allowed (it would leave this machine)."""

    def action_cut(self) -> None:
        """Cutting a password is not allowed (it would leave this machine)."""

    @property
    def selected_text(self) -> str:
        return ""
