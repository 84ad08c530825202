"""The minimal Textual app: one screen with the preview, or one with a friendly problem.

Keyboard only (q quits), fits 80x24 (the tree scrolls). Replaced by the full UI later.
"""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from therabak.app.model import PracticeView, Problem

CSS = """
#where { padding: 0 1; color: $text-muted; }
#tree { padding: 0 1; }
#reasons { padding: 1 1 0 1; color: $text-muted; }
#total { padding: 0 1; text-style: bold; height: auto; }
#problem-title { padding: 1 2 0 2; text-style: bold; color: $error; }
#problem { padding: 1 2; }
.warning { padding: 0 1; color: $warning; }
"""


def not_included_lines(view: PracticeView) -> list[str]:
    """One line per reason: "Not included: Background images, ICD-10 catalog - Re-down..."."""
    by_reason: dict[str, list[str]] = {}
    for row in view.preview.rows:
        if row.leaf and row.id not in view.preview.selection:
            by_reason.setdefault(row.reason or "excluded", []).append(row.label)
    return [f"Not included: {', '.join(labels)}. {why}" for why, labels in by_reason.items()]


def total_text(view: PracticeView) -> str:
    from therabak import formatting
    from therabak.practice.preview import KIND_NAMES

    p = view.preview
    return (
        f"A {KIND_NAMES[p.kind]} backup would contain {formatting.files(p.selected.files)}, "
        f"{formatting.size(p.selected.bytes)}\n"
        f"(of {formatting.files(p.total.files)}, {formatting.size(p.total.bytes)} in Data)"
    )


class PreviewScreen(Screen):
    def __init__(self, view: PracticeView) -> None:
        super().__init__()
        self.view = view

    def compose(self) -> ComposeResult:
        v = self.view
        yield Header()
        yield Static(
            f"Data folder:  {v.paths.data_dir}\n"
            f"Account key:  {v.paths.account_key}  (id {v.key_id})",
            id="where",
            markup=False,
        )
        for warning in v.warnings:
            yield Static(f"Warning: {warning}", classes="warning", markup=False)
        with VerticalScroll():
            yield Static("\n".join(v.preview.tree_lines(reasons=False)), id="tree", markup=False)
            yield Static("\n".join(not_included_lines(v)), id="reasons", markup=False)
            for path, why in v.preview.skipped:
                yield Static(f"Skipped: {path} ({why})", classes="warning", markup=False)
        yield Static(total_text(v), id="total", markup=False)
        yield Footer()


class MessageScreen(Screen):
    def __init__(self, problem: Problem) -> None:
        super().__init__()
        self.problem = problem

    def compose(self) -> ComposeResult:
        p = self.problem
        yield Header()
        yield Static(p.title, id="problem-title", markup=False)
        body = p.message
        if p.hint:
            body += f"\n\n{p.hint}"
        body += (
            "\n\nTo look around first, open the demo practice:  therabak-tui --demo"
            "\nPress q to quit."
        )
        yield Static(body, id="problem", markup=False)
        yield Footer()


class TherabakApp(App[None]):
    TITLE = "therabak"
    SUB_TITLE = "backup and restore for TheraPsy"
    CSS = CSS
    BINDINGS = [Binding("q", "quit", "Quit")]

    def __init__(self, state: PracticeView | Problem) -> None:
        super().__init__()
        self.state = state

    def on_mount(self) -> None:
        if isinstance(self.state, Problem):
            self.push_screen(MessageScreen(self.state))
        else:
            self.push_screen(PreviewScreen(self.state))
