"""A folder picker dialog: a folders-only tree, a path line, keyboard first.

Enter picks the highlighted folder, Space opens or closes it, Backspace goes to the
parent folder, and a path typed into the line (Enter) jumps there.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DirectoryTree, Footer, Input, Static

from therabak.app.translated import Translated
from therabak.app.widgets.inputs import TextInput
from therabak.fsutil import existing_ancestor
from therabak.i18n import N_, _


class FolderTree(DirectoryTree):
    ICON_NODE = "▸ "
    ICON_NODE_EXPANDED = "▾ "
    ICON_FILE = "  "

    BINDINGS = [
        Binding("enter", "select_cursor", N_("Choose"), key_display="enter"),
        Binding("space", "toggle_node", N_("Open"), key_display="space"),
        Binding("backspace", "parent", N_("Up"), key_display="⌫"),
    ]

    def __init__(self, path: Path, *, id: str | None = None) -> None:
        super().__init__(path, id=id)
        self.auto_expand = False
        self.show_root = False  # the path line above says where this is

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        out = []
        for p in paths:
            try:
                if p.is_dir() and not p.name.startswith("."):
                    out.append(p)
            except OSError:
                continue
        return out

    def action_parent(self) -> None:
        current = Path(self.path)
        if current.parent != current:
            self.path = current.parent
            self.screen.query_one("#picker-path", Input).value = self.app.ctx.display_path(
                current.parent
            )


class DirPicker(Translated, ModalScreen[Path | None]):
    BINDINGS = [
        Binding("escape", "cancel", N_("Cancel")),
        Binding("ctrl+s", "choose_here", N_("Choose the folder above")),
    ]

    def __init__(self, start: Path | None = None) -> None:
        super().__init__()
        start = start or Path.home()
        self.start = existing_ancestor(start)
        if not self.start.is_dir():
            self.start = self.start.parent

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Static(_("Choose a folder"), classes="dialog-title")
            yield TextInput(self.app.ctx.display_path(self.start), id="picker-path", compact=True)
            yield FolderTree(self.start, id="picker-tree")
            yield Static(
                Text(
                    _(
                        "Enter: choose the highlighted folder  ·  Space: open it  ·  "
                        "Backspace: up  ·  ctrl+s: choose the folder above"
                    ),
                    style="dim",
                )
            )
        yield Footer(compact=True)

    def on_mount(self) -> None:
        tree = self.query_one(FolderTree)
        tree.focus()
        tree.cursor_line = 0

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        path = Path(event.value).expanduser()
        if path.is_dir():
            self.query_one(FolderTree).path = path
            self.query_one(FolderTree).focus()
        else:
            self.notify(
                _("Not a folder: {path}").format(path=path), severity="warning", markup=False
            )

    def on_directory_tree_directory_selected(self, event: DirectoryTree.DirectorySelected) -> None:
        event.stop()
        self.dismiss(Path(event.path))

    def on_directory_tree_file_selected(self, event: DirectoryTree.FileSelected) -> None:
        event.stop()

    def action_choose_here(self) -> None:
        self.dismiss(Path(self.query_one(FolderTree).path))

    def action_cancel(self) -> None:
        self.dismiss(None)
