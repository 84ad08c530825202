"""Destination chooser: a path line, a folder picker (ctrl+o), quick picks for USB sticks
and remembered folders, and the free space there against what the backup needs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from therabak import formatting
from therabak.app.widgets.dir_picker import DirPicker
from therabak.app.widgets.inputs import TextInput
from therabak.fsutil import existing_ancestor
from therabak.i18n import _


@dataclass
class SpaceCheck:
    path: str
    free: int | None  # None: cannot be determined
    same_disk: bool = False


class DestinationPicker(Vertical):
    """``needed`` is the bytes the job needs there (None while unknown)."""

    needed: reactive[int | None] = reactive(None)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.space: SpaceCheck | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield Label(_("Destination"), classes="form-label")
            yield TextInput(
                placeholder=_("a folder, ideally on a USB stick"), id="dest-input", compact=True
            )
            yield Button(_("Browse…"), id="dest-browse", compact=True)
        yield Static("", id="dest-space", classes="form-note")
        yield Label(
            _("Quick picks (USB sticks, folders used before):"),
            id="dest-quick-title",
            classes="form-note",
        )
        yield OptionList(id="dest-quick", compact=True)

    def on_mount(self) -> None:
        quick = self.query_one("#dest-quick", OptionList)
        ctx = self.app.ctx
        options = []
        seen = set()
        for medium in ctx.removable_media():
            seen.add(ctx.display_path(medium))
            options.append(
                Option(
                    Text.assemble((_("USB/external") + "  ", "bold"), ctx.display_path(medium)),
                    id=ctx.display_path(medium),
                )
            )
        settings, _error = self.app.load_settings()
        for folder in settings.remembered_destinations:
            shown = ctx.display_path(folder)
            if shown not in seen:
                seen.add(shown)
                options.append(
                    Option(Text.assemble((_("used before") + "  ", "dim"), shown), id=shown)
                )
        quick.add_options(options)
        quick.styles.height = min(len(options), 3)
        if options:
            quick.highlighted = 0
        quick.display = bool(options)
        self.query_one("#dest-quick-title").display = bool(options)
        self._render_space()

    # ---- value ------------------------------------------------------------------------

    @property
    def value(self) -> str:
        return self.query_one("#dest-input", Input).value.strip()

    @value.setter
    def value(self, text: str) -> None:
        self.query_one("#dest-input", Input).value = text

    def path(self) -> Path | None:
        return Path(self.value).expanduser().absolute() if self.value else None

    def problem(self) -> str | None:
        """Why this destination cannot be used (None when it can)."""
        path = self.path()
        if path is None:
            return _("Choose a destination folder.")
        data = self.app.ctx.paths.data_dir
        try:
            if path == data or path.is_relative_to(data):
                return _("The destination is inside the data folder; choose another folder.")
        except ValueError:
            pass
        if path.exists() and not path.is_dir():
            return _("The destination is a file, not a folder.")
        if not path.exists() and not path.parent.is_dir():
            return _("The destination's parent folder does not exist: {path}").format(
                path=self.app.ctx.display_path(path.parent)
            )
        space = self.space
        if space is None or space.path != str(path):  # started before the check came back
            space = self.space = self._measure(path)
        if space.free is not None and self.needed is not None and space.free < self.needed:
            return _("Not enough space there: about {need} are needed, {free} are free.").format(
                need=formatting.size(self.needed), free=formatting.size(space.free)
            )
        return None

    # ---- events -----------------------------------------------------------------------

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "dest-input":
            self.check_space()

    def watch_needed(self) -> None:
        self._render_space()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.value = event.option.id
            self.query_one("#dest-input", Input).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "dest-browse":
            event.stop()
            self.browse()

    def browse(self) -> None:
        def picked(path: Path | None) -> None:
            if path is not None:
                self.value = str(path)

        self.app.push_screen(DirPicker(self.path()), picked)

    # ---- free space -------------------------------------------------------------------

    def check_space(self) -> None:
        path = self.path()
        self._render_space()  # no stale verdict for the previous path
        if path is None:
            self.space = None
            return
        self._space_worker(path)

    def _measure(self, path: Path) -> SpaceCheck:
        ctx = self.app.ctx
        try:
            free: int | None = ctx.free_space(path)
        except OSError:
            free = None
        same = False
        try:
            same = os.stat(existing_ancestor(path)).st_dev == os.stat(ctx.paths.data_dir).st_dev
        except OSError:
            pass
        return SpaceCheck(str(path), free, same)

    @work(thread=True, exclusive=True, exit_on_error=False, group="space")
    def _space_worker(self, path: Path) -> None:
        self.app.call_from_thread(self._space_done, self._measure(path))

    def _space_done(self, check: SpaceCheck) -> None:
        path = self.path()
        if path is not None and str(path) == check.path:
            self.space = check
            self._render_space()

    def _render_space(self) -> None:
        line = self.query_one("#dest-space", Static)
        space, needed = self.space, self.needed
        if space is None or self.path() is None or space.path != str(self.path()):
            need = (
                _("The backup needs about {need}.").format(need=formatting.size(needed))
                if needed is not None
                else ""
            )
            line.update(Text(need, style="dim"))
            line.set_class(False, "error")
            return
        if space.free is None:
            line.update(Text(_("Free space there cannot be determined."), style="dim"))
            return
        parts = [_("Free there: {free}.").format(free=formatting.size(space.free))]
        fits = needed is None or space.free >= needed
        if needed is not None:
            parts.append(_("Needs about {need}.").format(need=formatting.size(needed)))
        if not fits:
            parts.append(_("Does NOT fit."))
        elif space.same_disk:
            parts.append(_("Same disk as the data: an external drive is safer."))
        line.update(Text("  ".join(parts)))
        line.set_class(not fits, "error")
