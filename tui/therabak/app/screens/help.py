"""Help: the keys of every screen and what therabak does (opens with ?)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Static

from therabak.app.translated import Translated
from therabak.app.widgets.header import AppHeader
from therabak.i18n import N_, _


def _intro() -> Text:
    return Text(
        _(
            "therabak makes backups of the TheraPsy data folder. A manual backup (b) is one "
            "encrypted file, ideally on a USB stick; make one at least every two weeks. A "
            "folder backup (f) copies the Data folder as it is: fast, but it works with this "
            "account's key only. Restore (r) puts a backup back; the data it replaces is kept, "
            "so a restore can be undone. Jobs go on when this window closes; start therabak-tui "
            "again to see them."
        )
    )


def _declared_here(node: object, binding: Binding) -> bool:
    """A binding of therabak's own (not Textual's), also when the footer leaves it out."""
    for cls in type(node).__mro__:
        if not cls.__module__.startswith("therabak."):
            continue
        for b in cls.__dict__.get("BINDINGS", ()):
            if isinstance(b, Binding) and b.key == binding.key and b.action == binding.action:
                return True
    return False


#: Keys every screen has; listed after the screen's own unless it binds them itself.
def _common_keys() -> list[tuple[str, str, str]]:
    return [
        ("tab", "tab", _("Next field or list")),
        ("escape", "esc", _("Back (a running job goes on)")),
        ("f1", "F1", _("This help (also ? outside a password field)")),
        ("ctrl+p", "ctrl+p", _("Command palette: every main action by name")),
        ("ctrl+q", "ctrl+q", _("Quit")),
    ]


def _keys_table(screen: Screen) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", min_width=10)
    table.add_column()
    seen, keys = set(), set()
    for key_name, binding in screen.active_bindings.items():
        b = binding.binding
        listed = b.show or _declared_here(binding.node, b)
        if not listed or not b.description or b.description in seen:
            continue
        seen.add(b.description)
        keys.add(key_name)
        key = b.key_display or screen.app.get_key_display(b)
        table.add_row(Text(key), Text(b.tooltip or b.description))
    for key_name, shown, what in _common_keys():
        if key_name not in keys and what not in seen:  # no second "esc" line
            table.add_row(Text(shown), Text(what))
    return table


def screen_help(screen: Screen) -> Text:
    """What the screen below the help is for: its own words (``help_text``), or the
    app's introduction (the home screen)."""
    own = getattr(screen, "help_text", None)
    return Text(own()) if callable(own) else _intro()


class HelpScreen(Translated, ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", N_("Close")),
        Binding("question_mark", "close", N_("Close"), show=False),
        Binding("q", "close", N_("Close"), show=False),
    ]

    def __init__(self, for_screen: Screen) -> None:
        super().__init__()
        self.for_screen = for_screen

    def compose(self) -> ComposeResult:
        yield AppHeader(_("Help"))
        with VerticalScroll(id="help"):
            yield Static(screen_help(self.for_screen), classes="help-intro")
            yield Static(Text(_("Keys on this screen"), style="bold underline"))
            yield Static(_keys_table(self.for_screen))
        yield Footer(compact=True)

    def action_close(self) -> None:
        self.dismiss(None)
