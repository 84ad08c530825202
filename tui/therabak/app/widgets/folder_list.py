"""A list of folders in the settings, edited with keys."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import OptionList

from therabak.i18n import N_


class FolderList(OptionList):
    """A list of folders in the settings (remembered destinations, folders searched for
    backups): x or Delete removes the highlighted one, a adds one."""

    BINDINGS = [
        Binding("delete,x", "remove", N_("Remove")),
        Binding("a", "add", N_("Add folder")),
    ]

    def action_remove(self) -> None:
        self.screen.remove_folder(self)

    def action_add(self) -> None:
        self.screen.add_folder(self)
