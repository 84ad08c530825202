"""A folder picker dialog: a path line first, a folders-only tree below, keyboard first.

The path line has the focus: type a path (Tab completes a folder's name, as in a shell;
when several fit, they are listed) and press Enter to choose it. Down goes into the
tree: Enter chooses the highlighted folder, Space opens or closes it, Backspace goes to
the parent folder; the path line follows the highlighted folder. It opens where the
field's folder is, else on the first USB stick, else in the home folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DirectoryTree, Footer, Input, Static, Tree

from therabak.app.translated import Translated
from therabak.app.widgets.inputs import TextInput
from therabak.fsutil import existing_ancestor
from therabak.i18n import N_, _

MAX_LISTED = 8


def picker_start(ctx, preferred: Path | None = None) -> Path:
    """Where the picker opens: *preferred* (e.g. the folder already in the field) or the
    nearest folder above it that exists, else the first USB stick, else home."""
    for candidate in (preferred, *ctx.removable_media()):
        if candidate is None:
            continue
        found = existing_ancestor(Path(candidate))
        if found.is_dir() and found != Path(found.anchor):
            return found
    return Path.home()


def subfolders(folder: Path) -> list[str]:
    """The names of *folder*'s visible subfolders, sorted ([] when it cannot be read)."""
    try:
        with os.scandir(folder) as entries:
            names = []
            for e in entries:
                try:
                    if e.is_dir() and not e.name.startswith("."):
                        names.append(e.name)
                except OSError:
                    continue
    except OSError:
        return []
    return sorted(names, key=str.casefold)


def complete(text: str, base: Path) -> tuple[str, list[str]]:
    """Tab completion of the typed *text* (relative paths are below *base*): the new
    text, and the folder names that fit (several: the text is completed as far as they
    agree; one: completed with a separator; none: the text stays)."""
    typed = Path(text).expanduser() if text else base
    if not typed.is_absolute():
        typed = base / typed
    if not text or text.endswith(("/", os.sep)):
        folder, part = typed, ""
    else:
        folder, part = typed.parent, typed.name
    matches = [n for n in subfolders(folder) if n.casefold().startswith(part.casefold())]
    if not matches:
        return text, []
    prefix = text[: len(text) - len(part)] if part else text
    if len(matches) == 1:
        return prefix + matches[0] + os.sep, matches
    common = os.path.commonprefix([m.casefold() for m in matches])
    if len(common) > len(part):
        return prefix + matches[0][: len(common)], matches
    return text, matches


class PathLine(TextInput):
    """The picker's path line: Tab completes, Down goes into the folder list."""

    BINDINGS = [
        Binding("tab", "complete", N_("Complete"), show=False, priority=True),
        Binding("down", "into_tree", show=False),
    ]

    def action_complete(self) -> None:
        self.screen.complete_path()

    def action_into_tree(self) -> None:
        self.screen.into_tree()


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
            self.screen.show_path(current.parent)


class DirPicker(Translated, ModalScreen[Path | None]):
    """Dismisses with the chosen folder, or None. *must_exist*: False lets a folder be
    chosen that does not exist yet (a backup destination, made by the backup) when the
    folder it would be made in exists."""

    BINDINGS = [
        Binding("escape", "cancel", N_("Cancel")),
        Binding("ctrl+s", "choose_here", N_("Choose the folder in the path line")),
    ]

    def __init__(self, start: Path | None = None, *, must_exist: bool = True) -> None:
        super().__init__()
        start = existing_ancestor(Path(start)) if start is not None else Path.home()
        self.start = start if start.is_dir() else start.parent
        self.must_exist = must_exist
        self._set_value = ""  # what the picker itself put in the path line last

    def help_text(self) -> str:
        return _(
            "Type the folder's path and press Enter; Tab completes a folder's name (when "
            "several fit, they are listed). Or go down into the list: Enter chooses the "
            "highlighted folder, Space opens it, Backspace goes up one folder."
        )

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Static(_("Choose a folder"), classes="dialog-title")
            yield PathLine(self._shown(self.start), id="picker-path", compact=True)
            yield Static("", id="picker-hint")
            yield FolderTree(self.start, id="picker-tree")
            yield Static(
                Text(
                    _(
                        "Type a path, Tab completes, Enter chooses it  ·  ↓: the list "
                        "(Enter chooses, Space opens, Backspace: up)"
                    ),
                    style="dim",
                )
            )
        yield Footer(compact=True)

    def on_mount(self) -> None:
        line = self.query_one(PathLine)
        self._set_value = line.value
        line.focus()
        line.cursor_position = len(line.value)
        self._list(self.start)

    def _list(self, folder: Path) -> None:
        """Show *folder*'s subfolders in the tree, and say so when it has none."""
        tree = self.query_one(FolderTree)
        if Path(tree.path) != folder:
            tree.path = folder
        if not subfolders(folder):
            self._hint(_("No folders in here."))

    # ---- the path line ----------------------------------------------------------------

    def _shown(self, folder: Path) -> str:
        """*folder* as the path line shows it: ``~`` for home, a separator at the end
        (so typing goes on with a name inside it, and Tab lists what is there)."""
        text = self.app.ctx.display_path(folder)
        return text if text.endswith(("/", os.sep)) else text + os.sep

    def _typed(self) -> Path | None:
        """The folder typed in the path line (relative: below the folder the list shows)."""
        text = self.query_one(PathLine).value.strip()
        if not text:
            return None
        path = Path(text).expanduser()
        if not path.is_absolute():
            path = Path(self.query_one(FolderTree).path) / path
        return Path(os.path.normpath(path))

    def _hint(self, text: str, style: str = "dim") -> None:
        self.query_one("#picker-hint", Static).update(Text(text, style=style))

    def show_path(self, folder: Path) -> None:
        line = self.query_one(PathLine)
        line.value = self._set_value = self._shown(folder)
        line.cursor_position = len(line.value)

    def complete_path(self) -> None:
        line = self.query_one(PathLine)
        tree = self.query_one(FolderTree)
        new, matches = complete(line.value, Path(tree.path))
        if new != line.value:
            line.value = self._set_value = new
            line.cursor_position = len(new)
        if len(matches) > 1:
            listed = "  ".join(matches[:MAX_LISTED])
            if len(matches) > MAX_LISTED:
                listed += "  " + _("… and {n} more").format(n=len(matches) - MAX_LISTED)
            self._hint(listed)
        elif not matches:
            if new == line.value and line.value.endswith(("/", os.sep)):
                self.into_tree()  # nothing to complete: Tab goes on, as everywhere
                return
            self._hint(_("No folder there starts like that."), "bold")
        else:
            self._hint("")
        typed = self._typed()
        if typed is not None:  # the list shows where the candidates are
            folder = typed if typed.is_dir() else typed.parent
            if folder.is_dir() and folder != Path(tree.path):
                self._list(folder)

    def into_tree(self) -> None:
        tree = self.query_one(FolderTree)
        typed = self._typed()
        if typed is not None:
            folder = existing_ancestor(typed)
            if folder.is_dir() and folder != Path(tree.path):
                self._list(folder)
        tree.focus()
        if tree.cursor_line < 0:
            tree.cursor_line = 0

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_choose_here()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.value != self._set_value:  # typed: an earlier hint no longer applies
            self._set_value = event.value
            self._hint("")

    # ---- the tree -----------------------------------------------------------------------

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        tree = self.query_one(FolderTree)
        data = event.node.data
        if tree.has_focus and data is not None:
            self.show_path(Path(data.path))

    def on_directory_tree_directory_selected(self, event: DirectoryTree.DirectorySelected) -> None:
        event.stop()
        self.dismiss(Path(event.path))

    def on_directory_tree_file_selected(self, event: DirectoryTree.FileSelected) -> None:
        event.stop()

    # ---- choosing -----------------------------------------------------------------------

    def action_choose_here(self) -> None:
        path = self._typed()
        if path is None:
            self._hint(_("Type a folder's path first."), "bold")
            return
        if path.is_dir() or (not self.must_exist and not path.exists() and path.parent.is_dir()):
            self.dismiss(path)
            return
        self._hint(_("Not a folder: {path}").format(path=self.app.ctx.display_path(path)), "bold")
        self.query_one(PathLine).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)
