"""Destination chooser: a path line, a folder picker (ctrl+o), quick picks for USB sticks
and remembered folders, the free space there against what the backup needs, and the file
system there (a backup larger than it holds in one file is split into volumes).

With *named*, the quick picks start with the destinations the settings name (a folder or
an off-site place, with their name): picking one puts its name in the line. An off-site
destination (named, or a URL typed) is never asked anything here (the network is the
screen's business, in a worker): the line under the field shows what the screen says
about it (:meth:`DestinationPicker.show_remote`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from therabak import formatting
from therabak.app.widgets.dir_picker import DirPicker, picker_start
from therabak.app.widgets.inputs import TextInput
from therabak.archive.volumes import set_size, volume_size_for, volumes_needed
from therabak.destinations import Destination, destinations
from therabak.errors import UsageError
from therabak.fsinfo import FsInfo
from therabak.fsutil import existing_ancestor
from therabak.i18n import _
from therabak.storage.url import is_url, parse_location


@dataclass
class SpaceCheck:
    path: str
    free: int | None  # None: cannot be determined
    same_disk: bool = False
    fs: FsInfo | None = None  # None: cannot be determined

    @property
    def volume_size(self) -> int | None:
        """The size a backup there is split at (None: it is not)."""
        return volume_size_for(self.fs.max_file_size if self.fs else None)

    def volumes(self, needed: int) -> int:
        return volumes_needed(needed, self.volume_size)

    def total(self, needed: int) -> int:
        """*needed* bytes of archive, with every volume's header when it is split."""
        return set_size(needed, self.volume_size)


#: how the line names two destinations chosen together ("Stick + Nextcloud")
BOTH_SEPARATOR = " + "


def both_value(local: Destination, remote: Destination) -> str:
    return f"{local.name}{BOTH_SEPARATOR}{remote.name}"


def path_example() -> str:
    """A full path, as the user's system writes one (for the messages)."""
    return "E:\\Backups" if os.name == "nt" else "/media/usb/Backups"


class DestinationPicker(Vertical):
    """``needed`` is the bytes the job needs there (None while unknown). *splits*: the job
    writes one archive, split into volumes where the file system limits a file's size.

    What is wrong with the folder typed is said on the line below it as it is typed
    (a relative path, a missing parent folder, no room), never only when starting."""

    needed: reactive[int | None] = reactive(None)

    class Picked(Message):
        """A folder was chosen from the quick picks or the folder picker."""

        def __init__(self, picker: DestinationPicker) -> None:
            super().__init__()
            self.picker = picker

        @property
        def control(self) -> DestinationPicker:
            return self.picker

    def __init__(self, *, id: str | None = None, splits: bool = False, named: bool = False) -> None:
        super().__init__(id=id)
        self.space: SpaceCheck | None = None
        self.splits = splits
        self.named = named
        self._named: dict[str, Destination] = {}  # casefolded name -> destination
        self._remote_line: Text = Text("")
        self._remote_error = False

    def compose(self) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield Label(_("Destination"), classes="form-label")
            yield TextInput(
                placeholder=_("a folder, ideally on a USB stick"), id="dest-input", compact=True
            )
            yield Button(_("Browse…"), id="dest-browse", compact=True)
        yield Static("", id="dest-space", classes="form-note")
        yield Static("", id="dest-remote", classes="form-note")  # for both: the off-site one
        yield Label(
            _("Quick picks (USB sticks, folders used before):"),
            id="dest-quick-title",
            classes="form-note",
        )
        yield OptionList(id="dest-quick", compact=True)

    def on_mount(self) -> None:
        self.query_one("#dest-remote").display = False
        quick = self.query_one("#dest-quick", OptionList)
        ctx = self.app.ctx
        options = []
        seen = set()
        settings, _error = self.app.load_settings()
        if self.named:
            for dest in destinations(settings):
                self._named[dest.name.casefold()] = dest
                kind = _("off-site") if dest.is_remote else _("folder")
                where = dest.where if dest.is_remote else ctx.display_path(dest.where)
                options.append(
                    Option(
                        Text.assemble((dest.name + "  ", "bold"), (f"{kind}  ", "dim"), where),
                        id=dest.name,
                    )
                )
        pair = self._first_pair()
        if pair is not None:  # two destinations, one routine: the folder, then off-site
            options.insert(
                0,
                Option(
                    Text.assemble(
                        (_("Both") + "  ", "bold"),
                        _("{local}, then {remote}").format(local=pair[0].name, remote=pair[1].name),
                    ),
                    id=both_value(*pair),
                ),
            )
        for medium in ctx.removable_media():
            seen.add(ctx.display_path(medium))
            options.append(
                Option(
                    Text.assemble((_("USB/external") + "  ", "bold"), ctx.display_path(medium)),
                    id=ctx.display_path(medium),
                )
            )
        for folder in settings.remembered_destinations:
            shown = ctx.display_path(folder)
            if shown not in seen:
                seen.add(shown)
                options.append(
                    Option(Text.assemble((_("used before") + "  ", "dim"), shown), id=shown)
                )
        if self._named:
            self.query_one("#dest-quick-title", Label).update(
                _("Quick picks (your destinations, USB sticks, folders used before):")
            )
        quick.add_options(options)
        quick.styles.height = min(len(options), 4 if self._named else 3)
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

    def _first_pair(self) -> tuple[Destination, Destination] | None:
        """The first folder and the first off-site destination the settings name, when
        there are both."""
        named = list(self._named.values())
        local = next((d for d in named if not d.is_remote), None)
        remote = next((d for d in named if d.is_remote), None)
        return (local, remote) if local is not None and remote is not None else None

    def both(self) -> tuple[Destination, Destination] | None:
        """The two named destinations chosen together ("Stick + Nextcloud"), or None."""
        names = [n.strip().casefold() for n in self.value.split(BOTH_SEPARATOR)]
        if len(names) != 2:
            return None
        found = [self._named.get(n) for n in names]
        if None in found or found[0].is_remote or not found[1].is_remote:
            return None
        return found[0], found[1]

    def destination(self) -> Destination | None:
        """The destination the settings name so (case does not matter), or the
        off-site place typed as a URL; None for a folder typed."""
        if not self.value:
            return None
        pair = self.both()
        if pair is not None:
            return pair[0]
        named = self._named.get(self.value.casefold())
        if named is not None:
            return named
        if self.named and is_url(self.value):
            try:
                return Destination("", parse_location(self.value))
            except UsageError:
                return None
        return None

    def remote(self) -> Destination | None:
        """The off-site destination chosen, None for a folder."""
        pair = self.both()
        if pair is not None:
            return pair[1]
        dest = self.destination()
        return dest if dest is not None and dest.is_remote else None

    def label(self) -> str:
        """The destination as the job's title says it: its name, or the folder."""
        pair = self.both()
        if pair is not None:
            return _("{local}, then {remote}").format(local=pair[0].name, remote=pair[1].name)
        dest = self.destination()
        if dest is not None:
            return dest.label
        path = self.path()
        return self.app.ctx.display_path(path) if path is not None else self.value

    def path(self) -> Path | None:
        """The folder typed (or the named local destination's), None when there is none,
        it is not a full path or the destination is off-site."""
        if not self.value:
            return None
        dest = self.destination()
        if dest is not None and dest.is_remote:
            return None  # (for both: the folder's)
        text = dest.location.path if dest is not None else self.value
        typed = Path(text).expanduser()
        return typed.absolute() if typed.is_absolute() else None

    def path_problem(self) -> str | None:
        """What is wrong with the folder typed itself (None: nothing)."""
        if not self.value:
            return _("Choose a destination folder.")
        if self.remote() is not None and self.both() is None:
            return None  # asked over the network, by the screen
        if self.named and is_url(self.value):
            try:
                parse_location(self.value)
            except UsageError as e:
                return e.message
        path = self.path()
        if path is None:  # relative: it would depend on where the app was started
            return _(
                "Type the folder's full path, for example {example} (“{typed}” alone "
                "would be a folder inside {cwd})."
            ).format(
                example=path_example(),
                typed=self.value,
                cwd=self.app.ctx.display_path(Path.cwd()),
            )
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
        return None

    def problem(self) -> str | None:
        """Why this destination cannot be used (None when it can)."""
        problem = self.path_problem()
        if problem:
            return problem
        if self.remote() is not None and self.both() is None:
            return None  # the screen knows whether the server answers
        path = self.path()
        assert path is not None
        space = self.space
        if space is None or space.path != str(path):  # started before the check came back
            space = self.space = self._measure(path)
        needed = self.needed
        if needed is not None and self.splits:
            needed = space.total(needed)
        if space.free is not None and needed is not None and space.free < needed:
            return _("Not enough space there: about {need} are needed, {free} are free.").format(
                need=formatting.size(needed), free=formatting.size(space.free)
            )
        return None

    def show_problem(self, problem: str) -> None:
        """Say *problem* on the line under the field (where the eye and focus go); a
        lack of space is said there already, with the numbers ("Does NOT fit")."""
        if self.path_problem() is None and self.space is not None:
            self._render_space()
            return
        line = self.query_one("#dest-space", Static)
        line.update(Text(problem))
        line.set_class(True, "error")

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
            self.post_message(self.Picked(self))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "dest-browse":
            event.stop()
            self.browse()

    def browse(self) -> None:
        def picked(path: Path | None) -> None:
            if path is not None:
                self.value = self.app.ctx.display_path(path)
                self.post_message(self.Picked(self))

        self.app.push_screen(
            DirPicker(picker_start(self.app.ctx, self.path()), must_exist=False), picked
        )

    # ---- free space -------------------------------------------------------------------

    def check_space(self) -> None:
        path = self.path()
        self._render_space()  # no stale verdict for the previous path
        if path is None or self.path_problem():
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
        fs = ctx.fs_info(path)
        return SpaceCheck(str(path), free, same, fs if fs.fstype else None)

    @work(thread=True, exclusive=True, exit_on_error=False, group="space")
    def _space_worker(self, path: Path) -> None:
        self.app.call_from_thread(self._space_done, self._measure(path))

    def _space_done(self, check: SpaceCheck) -> None:
        path = self.path()
        if path is not None and str(path) == check.path:
            self.space = check
            self._render_space()

    def show_remote(self, text: str, *, error: bool = False) -> None:
        """What the screen knows about the off-site destination chosen ("asking the
        server…", "holds a backup store", why it cannot be reached): the line under it."""
        self._remote_line = Text(text, style="" if error else "dim")
        self._remote_error = error
        self._render_space()

    def _render_space(self) -> None:
        line = self.query_one("#dest-space", Static)
        second = self.query_one("#dest-remote", Static)
        both = self.both() is not None
        second.display = both
        if both:
            second.update(self._remote_line)
            second.set_class(self._remote_error, "error")
        elif self.remote() is not None:
            line.update(self._remote_line)
            line.set_class(self._remote_error, "error")
            return
        space, needed = self.space, self.needed
        problem = self.path_problem() if self.value else None
        if problem:
            line.update(Text(problem))
            line.set_class(True, "error")
            return
        path = self.path()
        if space is None or path is None or space.path != str(path):
            need = (
                _("The backup needs about {need}.").format(need=formatting.size(needed))
                if needed is not None
                else ""
            )
            line.update(Text(need, style="dim"))
            line.set_class(False, "error")
            return
        new_folder = [] if path.exists() else [_("A new folder: it is made when the job starts.")]
        fs_parts = self._fs_parts(space, needed)
        if space.free is None:
            line.update(
                Text(
                    "  ".join(
                        [*new_folder, _("Free space there cannot be determined."), *fs_parts]
                    ),
                    style="dim",
                )
            )
            line.set_class(False, "error")
            return
        if needed is not None and self.splits:
            needed = space.total(needed)
        parts = [*new_folder, _("Free there: {free}.").format(free=formatting.size(space.free))]
        fits = needed is None or space.free >= needed
        if needed is not None:
            parts.append(_("Needs about {need}.").format(need=formatting.size(needed)))
        parts += fs_parts
        if not fits:
            parts.append(_("Does NOT fit."))
        elif space.same_disk:
            parts.append(_("Same disk as the data: an external drive is safer."))
        line.update(Text("  ".join(parts)))
        line.set_class(not fits, "error")

    def _fs_parts(self, space: SpaceCheck, needed: int | None) -> list[str]:
        """The file system there, and whether the backup will be split into volumes."""
        fs = space.fs
        if fs is None:
            return []
        if fs.max_file_size is None:
            return [_("File system: {fs}.").format(fs=fs.label)]
        parts = [
            _("File system: {fs} (files up to {limit}).").format(
                fs=fs.label, limit=formatting.size(fs.max_file_size)
            )
        ]
        count = space.volumes(needed) if needed is not None else 1
        if count > 1 and self.splits:
            parts.append(
                _("The backup will be split into {n} files (volumes) of up to {size}.").format(
                    n=count, size=formatting.size(space.volume_size or 0)
                )
            )
        return parts
