"""The one-line header: app name, what the screen is for, and DEMO in demo mode."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label

from therabak.i18n import _


class AppHeader(Horizontal):
    DEFAULT_CSS = """
    AppHeader { dock: top; height: 1; background: $panel; }
    AppHeader > #header-title { width: 1fr; padding: 0 1; text-style: bold;
                                text-wrap: nowrap; text-overflow: ellipsis; }
    AppHeader > #header-demo { width: auto; padding: 0 1; background: $warning;
                               color: $background; text-style: bold; }
    """

    def __init__(self, title: str) -> None:
        super().__init__()
        self.title_text = title

    def compose(self) -> ComposeResult:
        yield Label(
            Text.assemble(("therabak", "bold"), (" · ", "dim"), self.title_text), id="header-title"
        )
        ctx = getattr(self.app, "ctx", None)
        if ctx is not None and ctx.demo:
            yield Label(_("DEMO"), id="header-demo")
