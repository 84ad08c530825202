"""The friendly screen for a missing data folder or account key: what, where, how to fix."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Footer, Static

from therabak.app.context import Problem
from therabak.app.translated import AppScreen
from therabak.app.widgets.header import AppHeader
from therabak.i18n import N_, _


class ProblemScreen(AppScreen):
    BINDINGS = [
        Binding("r", "app.restore", N_("Restore a backup")),
        Binding("q", "quit", N_("Quit")),
        Binding("escape", "quit", N_("Quit"), show=False),
    ]

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__()
        self.problems = problems

    def compose(self) -> ComposeResult:
        yield AppHeader(_("Something is missing"))
        with VerticalScroll(id="problems"):
            for problem in self.problems:
                text = Text(problem.title, style="bold")
                text.append("\n")
                text.append(problem.detail)
                text.append("\n\n")
                text.append(problem.fix)
                yield Static(text, classes="problem")
            yield Static(
                _(
                    "On a new computer, a backup with a password can be restored without "
                    "the old data folder and key: press r."
                ),
                classes="hint",
            )
        yield Footer(compact=True)

    def action_quit(self) -> None:
        """Leave with exit code 1: therabak-tui could not work on the practice."""
        self.app.exit(return_code=1)
