"""Verify: waits for the restore-point listing of the restore engine (issue 4)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static

from therabak.app.widgets.header import AppHeader
from therabak.i18n import _


class VerifyScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", _("Back"))]

    def compose(self) -> ComposeResult:
        yield AppHeader(_("Verify"))
        yield Static(_("This version of therabak cannot list restore points yet."), classes="hint")
        yield Footer(compact=True)
