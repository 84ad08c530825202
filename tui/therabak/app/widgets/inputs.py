"""Form fields: inputs that follow the app's cursor-blink setting, a colour-free checkbox."""

from __future__ import annotations

from textual.binding import Binding
from textual.content import Content
from textual.widgets import Checkbox, Input, RadioButton


class BlinkFollowsApp(Input):
    """An Input whose cursor blinks only when the app's context says so."""

    def on_mount(self) -> None:
        ctx = getattr(self.app, "ctx", None)
        if ctx is not None and not ctx.cursor_blink:
            self.cursor_blink = False


class TextInput(BlinkFollowsApp):
    """A text field (paths, numbers). ``?`` opens the help here too: no folder name or
    number holds one (Windows forbids it in names), and a user who presses it wants
    help, not a question mark in the path. A password field types it (PasswordInput)."""

    BINDINGS = [Binding("question_mark", "app.help", show=False, priority=True)]


class TickBox(Checkbox):
    """A checkbox drawn as ``[x]`` / ``[ ]``: readable without colour (NO_COLOR)."""

    @property
    def _button(self) -> Content:
        return Content.styled("[x]" if self.value else "[ ]", "bold" if self.value else "")


class Choice(RadioButton):
    """A radio button drawn as ``(*)`` / ``( )``: readable without colour (NO_COLOR)."""

    @property
    def _button(self) -> Content:
        return Content.styled("(*)" if self.value else "( )", "bold" if self.value else "")
