"""A password field that never puts its contents on a clipboard.

Textual's Input copies selected text to the terminal's clipboard over OSC 52 (ctrl+c,
ctrl+x, and the screen's text selection): over SSH that clipboard is the client
machine's. Here copy and cut do nothing and the text cannot be selected for copying.
"""

from __future__ import annotations

from therabak.app.widgets.inputs import TextInput


class PasswordInput(TextInput):
    ALLOW_SELECT = False  # not part of a screen-wide text selection

    def __init__(
        self, *, placeholder: str = "", id: str | None = None, compact: bool = True
    ) -> None:
        super().__init__(placeholder=placeholder, password=True, id=id, compact=compact)

    def action_copy(self) -> None:
        """Copying a password is not allowed (it would leave this machine)."""

    def action_cut(self) -> None:
        """Cutting a password is not allowed (it would leave this machine)."""

    @property
    def selected_text(self) -> str:
        return ""
