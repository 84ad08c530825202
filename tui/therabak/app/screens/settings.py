"""Settings: what the CLI's settings file holds, edited with validation and saved with
``Settings.save()`` (remembered destinations, reminder, automatic backups, retries), and
the button that sets automatic backups up with the system's scheduler, or removes them
(``therabak.schedule``; ``settings_schedule.py``). The fields and their checks are
``app/settings_form.py``."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.validation import Integer
from textual.widgets import Button, Footer, Input, Label, Select, Static
from textual.widgets.option_list import Option

from therabak.app.recovery import DestinationCodes
from therabak.app.screens.dialogs import ConfirmDialog
from therabak.app.screens.settings_schedule import ScheduleSection
from therabak.app.settings_form import (
    FIELDS,
    ON_FAILURE,
    SECTIONS,
    Field,
    LocalNumber,
    field_problem,
    field_value,
    format_number,
    language_options,
)
from therabak.app.translated import AppScreen
from therabak.app.widgets.dir_picker import DirPicker, picker_start
from therabak.app.widgets.folder_list import FolderList
from therabak.app.widgets.header import AppHeader
from therabak.app.widgets.inputs import TextInput
from therabak.i18n import N_, _, ngettext


def code_state(codes: DestinationCodes) -> Text:
    """Whether the backups in a remembered destination have a recovery code, in a few
    words beside the folder."""
    n, k = codes.backups, codes.with_code
    if not codes.reachable:
        return Text(_("not there now"), "dim")
    if not n:
        return Text(_("no backup with a password"), "dim")
    if k == n:
        return Text(
            ngettext("recovery code: yes", "recovery code: yes, all {n} backups", n).format(n=n),
            "green",
        )
    if not k:
        return Text(
            ngettext("no recovery code", "no recovery code in {n} backups", n).format(n=n),
            "yellow",
        )
    text = _("recovery code: {k} of {n} backups").format(k=k, n=n)
    if not codes.newest_has_code:
        text += " " + _("(not the newest)")
    return Text(text, "yellow")


def named_destinations_text(settings) -> Text:
    """The named destinations in one line: "USB-Stick, Nextcloud (off-site)"."""
    if not settings.destinations:
        return Text(_("none yet"), style="dim")
    from therabak.settings import check_destination_where
    from therabak.storage.url import is_url

    parts = []
    for entry in settings.destinations:
        remote = is_url(entry.where) and not check_destination_where(entry.where)
        parts.append(_("{name} (off-site)").format(name=entry.name) if remote else entry.name)
    return Text(", ".join(parts), overflow="ellipsis", no_wrap=True)


#: Whose retention the keep-daily/weekly/monthly fields are (issue 16): the automatic
#: backups' store's, never the stores of the destinations.
RETENTION_NOTE = N_(
    "These numbers are the retention of the automatic backups' store in the folder above: "
    "after each automatic backup it keeps the newest backup of each of that many days, "
    "weeks and months and forgets the others. Backups at your destinations are not touched."
)

#: The label column's width in English (app.tcss); longer translations widen it.
LABEL_WIDTH = 14


class SettingsScreen(ScheduleSection, AppScreen):
    BINDINGS = [
        Binding("ctrl+s", "save", N_("Save")),
        Binding("escape", "back", N_("Back")),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.settings = None
        self.load_error = ""
        self.destinations: list[str] = []
        self.searched: list[str] = []
        self._saved_form: tuple = ()
        self.schedule_status = None  # ScheduleStatus once the scheduler answered
        self.schedule_checked = False  # the last question to the scheduler has its answer
        # whether each remembered destination's backups have a recovery code (by folder)
        self.codes: dict[str, DestinationCodes] = {}
        self.codes_checked = False  # the last look at the destinations has its answer

    def help_text(self) -> str:
        return _(
            "The settings of therabak, in the same file the command line reads. ctrl+s "
            "saves; a value that cannot be used is said beside its field, which gets the "
            "focus, and nothing is saved until it is fixed. Folder lists: x removes the "
            "highlighted folder, a adds one. Beside each remembered destination: whether "
            "its backups have a recovery code (read from their headers, no password "
            "needed). “Recovery codes…” gives a backup a code or removes it; “Emergency "
            "sheet…” makes the page to print for a forgotten password or a new computer."
        )

    def compose(self) -> ComposeResult:
        self.settings, self.load_error = self.app.load_settings()
        self.destinations = list(self.settings.remembered_destinations)
        self.searched = list(self.settings.searched_folders)
        yield AppHeader(_("Settings"))
        with VerticalScroll(id="settings"):
            if self.load_error:
                yield Static(
                    Text(
                        self.load_error
                        + "\n"
                        + _("Saving writes a fresh file with the values shown here."),
                        style="bold red",
                    ),
                    classes="form-error",
                )
            yield from self._compose_language_and_folders()
            section = None
            for f in FIELDS:
                if f.section != section:
                    section = f.section
                    yield Static(_(SECTIONS[section]), classes="section-title")
                    if section == "auto":
                        yield from self._compose_schedule_and_folder()
                yield from self._compose_field(f)
            with Horizontal(classes="form-row"):
                yield Label(_("Then"), classes="form-label")
                yield Select(
                    [(_(label), value) for value, label in ON_FAILURE],
                    value=self.settings.retry.on_failure,
                    allow_blank=False,
                    id="on-failure",
                    compact=True,
                )
            yield Static(_("Destinations"), classes="section-title")
            with Horizontal(classes="form-row", id="named-row"):
                yield Label(_("Named"), classes="form-label")
                yield Static(named_destinations_text(self.settings), id="named-destinations")
                yield Button(_("Manage…"), id="manage-destinations", compact=True)
            yield Static("", id="settings-msg", classes="form-error")
            yield Button(_("Save"), id="save", variant="primary", compact=True)
        yield Footer(compact=True)

    def _compose_language_and_folders(self) -> ComposeResult:
        """The language; the remembered destinations (and the recovery buttons); the
        folders also searched for backups."""
        yield Static(_("Interface"), classes="section-title")
        with Horizontal(classes="form-row"):
            yield Label(_("Language"), classes="form-label")
            yield Select(
                language_options(),
                value=self.settings.language,
                allow_blank=False,
                id="language",
                compact=True,
            )
        yield Static(_("Remembered destinations"), classes="section-title")
        yield FolderList(id="destinations", compact=True)
        yield Static(
            Text(_("a: add a folder   x/Del: remove the highlighted one"), style="dim"),
            classes="form-note",
        )
        with Horizontal(classes="form-row", id="recovery-row"):
            yield Label(_("Recovery"), classes="form-label")
            yield Button(_("Recovery codes…"), id="open-recovery", compact=True)
            yield Button(_("Emergency sheet…"), id="open-sheet", compact=True)
        yield Static(_("Also searched for backups"), classes="section-title")
        yield FolderList(id="searched", compact=True)

    def _compose_schedule_and_folder(self) -> ComposeResult:
        """The automatic backups' first rows: the scheduler's entry, their folder."""
        with Horizontal(classes="form-row", id="schedule-row"):
            yield Label(_("Scheduled"), classes="form-label")
            yield Static(Text(_("checking…"), "dim"), id="schedule-state")
            yield Button(_("Set up"), id="schedule-toggle", compact=True, disabled=True)
        yield Static("", id="schedule-msg", classes="form-note")
        with Horizontal(classes="form-row"):
            yield Label(_("Folder"), classes="form-label")
            yield TextInput(
                self.settings.auto.folder,
                id="auto-folder",
                placeholder=_("beside the Data folder"),
                compact=True,
            )

    def _compose_field(self, f: Field) -> ComposeResult:
        """A number field's row and its error line; after the last retention field the
        button that applies it now and the note whose retention it is."""
        holder = getattr(self.settings, f.section) if f.section else self.settings
        validator = (Integer if f.kind is int else LocalNumber)(minimum=f.low, maximum=f.high)
        with Horizontal(classes="form-row"):
            yield Label(_(f.label), classes="form-label")
            yield TextInput(
                format_number(getattr(holder, f.attr)),
                id=f.id,
                compact=True,
                validators=[validator],
                classes="number",
            )
            yield Label(_(f.unit), classes="unit")
            if f.id == "keep-monthly":  # the retention above, applied now
                yield Button(
                    _("Free space now"),
                    id="prune-auto",
                    compact=True,
                    tooltip=_(
                        "Forgets the automatic backups these numbers do not keep, "
                        "then frees the space only they used (prune)."
                    ),
                )
        yield Static("", id=f"{f.id}-error", classes="field-error")
        if f.id == "keep-monthly":
            yield Static(Text(_(RETENTION_NOTE)), id="retention-note", classes="form-note")

    def on_mount(self) -> None:
        self.after_recompose()

    def after_recompose(self) -> None:
        self._fit_labels()
        self._fill_folders()
        for error in self.query(".field-error"):
            error.display = False
        self.query_one("#destinations", FolderList).focus(scroll_visible=False)
        self._saved_form = self._form()
        self.schedule_checked = False
        self._schedule_worker()
        self._look_for_codes()

    def on_screen_resume(self) -> None:
        self._look_for_codes()  # back from the recovery codes screen
        # back from the destinations: show them as the settings file now names them
        settings, _error = self.app.load_settings()
        self.query_one("#named-destinations", Static).update(named_destinations_text(settings))

    def _look_for_codes(self) -> None:
        self.codes_checked = False
        self._codes_worker(list(self.destinations))

    # ---- recovery codes of the remembered destinations ------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="codes")
    def _codes_worker(self, folders: list[str]) -> None:
        from therabak.app.recovery import destination_codes

        try:
            found = destination_codes(folders, None)
        except Exception:  # noqa: BLE001 - the list then shows the folders alone
            found = []
        self.app.call_from_thread(self._codes_found, found)

    def _codes_found(self, found: list[DestinationCodes]) -> None:
        self.codes.update({c.folder: c for c in found})
        self._fill_folders()
        self.codes_checked = True

    def _fit_labels(self) -> None:
        """Widen the label column when the labels are longer (German), and move what is
        aligned with the fields along with it."""
        labels = list(self.query(".form-label").results(Label))
        width = max([LABEL_WIDTH] + [len(str(label.render())) + 1 for label in labels])
        if width == LABEL_WIDTH:
            return
        for label in labels:
            label.styles.width = width
        for folders in self.query(FolderList):
            folders.styles.margin = (0, 1, 0, width + 1)
        for note in self.query(".form-note, .field-error"):
            note.styles.padding = (0, 1, 0, width + 1)
        self.query_one("#save").styles.margin = (1, 1, 1, width + 1)

    def _form(self) -> tuple:
        """Everything the form holds, to tell whether it changed."""
        values = tuple(self.query_one(f"#{f.id}", Input).value for f in FIELDS)
        return (
            values,
            self.query_one("#auto-folder", Input).value,
            self.query_one("#on-failure", Select).value,
            tuple(self.destinations),
            tuple(self.searched),
            self.query_one("#language", Select).value,
        )

    @property
    def dirty(self) -> bool:
        return self._form() != self._saved_form

    # ---- folder lists -----------------------------------------------------------------

    def _folders(self, olist: FolderList) -> list[str]:
        return self.searched if olist.id == "searched" else self.destinations

    def _fill_folders(self) -> None:
        empty = {
            "destinations": _("(none yet: each backup remembers its folder)"),
            "searched": _("(none yet: a folder searched with a is added)"),
        }
        for olist in self.query(FolderList):
            folders = self._folders(olist)
            olist.clear_options()
            if folders:
                olist.add_options(Option(self._folder_text(olist, d), id=d) for d in folders)
            else:
                olist.add_option(
                    Option(Text(empty[olist.id or ""], style="dim"), id="", disabled=True)
                )
            olist.styles.height = max(1, min(len(folders), 4))

    def _folder_text(self, olist: FolderList, folder: str) -> Text:
        text = Text(self.app.ctx.display_path(folder))
        codes = self.codes.get(folder) if olist.id == "destinations" else None
        if codes is not None:
            text.append("  ")
            text.append(code_state(codes))
        return text

    def remove_folder(self, olist: FolderList) -> None:
        folders = self._folders(olist)
        if olist.highlighted is None or not folders:
            return
        option = olist.get_option_at_index(olist.highlighted)
        if option.id in folders:
            folders.remove(option.id)
            self._fill_folders()

    def add_folder(self, olist: FolderList) -> None:
        folders = self._folders(olist)

        def picked(path) -> None:
            if path is not None and str(path) not in folders:
                folders.append(str(path))
                self._fill_folders()
                if olist.id == "destinations":
                    self._look_for_codes()

        self.app.push_screen(DirPicker(picker_start(self.app.ctx)), picked)

    # ---- saving -------------------------------------------------------------------------

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            await self.action_save()
        elif event.button.id == "schedule-toggle":
            await self.toggle_schedule()
        elif event.button.id == "manage-destinations":
            from therabak.app.screens.destinations import DestinationsScreen

            self.app.push_screen(DestinationsScreen())
        elif event.button.id == "open-recovery":
            from therabak.app.screens.recovery import RecoveryScreen

            self.app.push_screen(RecoveryScreen())
        elif event.button.id == "open-sheet":
            from therabak.app.screens.sheet import EmergencySheetScreen

            self.app.push_screen(EmergencySheetScreen())
        elif event.button.id == "prune-auto":
            self.prune_auto_store()

    # ---- the automatic backups' store: forget by the retention, then prune -------------

    def prune_auto_store(self) -> None:
        """Run ``therabak prune`` on the automatic backups' store with the saved retention
        as a job (its progress and summary on the progress screen)."""
        from therabak.errors import TherabakError
        from therabak.jobs.auto import auto_store_folder
        from therabak.practice.account import AccountKey
        from therabak.store.place import store_exists

        ctx = self.app.ctx
        message = self.query_one("#settings-msg", Static)
        if self.dirty:
            message.update(Text(_("Save the settings first: prune uses the saved numbers.")))
            return
        folder = self.settings.auto_folder(ctx.paths.data_dir)
        try:
            account = AccountKey.load(ctx.paths.account_key)
            store = auto_store_folder(folder, account.id_hex)
            exists = store_exists(store)
        except (TherabakError, OSError):
            exists = False
        if not exists:
            message.update(
                Text(
                    _("There is no store of automatic backups in {folder} yet.").format(
                        folder=ctx.display_path(folder)
                    )
                )
            )
            return
        a = self.settings.auto
        args = [
            str(store),
            "--keep-daily",
            str(a.keep_daily),
            "--keep-weekly",
            str(a.keep_weekly),
            "--keep-monthly",
            str(a.keep_monthly),
            "--data-dir",
            str(ctx.paths.data_dir),
            "--account-key",
            str(ctx.paths.account_key),
        ]
        try:
            job = ctx.runner.start(
                "prune",
                args,
                data_dir=ctx.paths.data_dir,
                title=_("Free space in {store}").format(store=ctx.display_path(store)),
                target=str(store),
                env=ctx.job_env,
            )
        except OSError as e:
            message.update(
                Text(
                    _("The job could not be started: {error}").format(error=e.strerror or e),
                    style="bold red",
                )
            )
            return
        from therabak.app.screens.progress import ProgressScreen

        self.app.push_screen(ProgressScreen(job))

    def _field_problem(self, f: Field) -> str | None:
        return field_problem(f, self.query_one(f"#{f.id}", Input).value)

    def _show_field_error(self, f: Field, problem: str | None) -> None:
        error = self.query_one(f"#{f.id}-error", Static)
        error.update(Text(problem or "", style="bold red"))
        error.display = bool(problem)

    def on_input_changed(self, event: Input.Changed) -> None:
        """A field's error goes as soon as its value is fixed (it stays while it is not)."""
        for f in FIELDS:
            if event.input.id == f.id and self.query_one(f"#{f.id}-error").display:
                self._show_field_error(f, self._field_problem(f))

    def collect(self) -> str | None:
        """Copy the form into ``self.settings``; the first problem, or None. Every field
        with a problem says it beside itself; the first one gets the focus."""
        from therabak.errors import ConfigError

        s = self.settings
        first: Field | None = None
        problems = []
        for f in FIELDS:
            problem = self._field_problem(f)
            self._show_field_error(f, problem)
            if problem:
                problems.append(problem)
                first = first or f
                continue
            value = field_value(f, self.query_one(f"#{f.id}", Input).value)
            setattr(getattr(s, f.section) if f.section else s, f.attr, value)
        if first is not None:
            field = self.query_one(f"#{first.id}", Input)
            field.focus(scroll_visible=False)
            # once the layout shows the error line (its size counts in the scroll range)
            self.set_timer(0.05, lambda: self._reveal(first))
            return problems[0]
        s.auto.folder = self.query_one("#auto-folder", Input).value.strip()
        s.retry.on_failure = str(self.query_one("#on-failure", Select).value)
        s.language = str(self.query_one("#language", Select).value)
        s.remembered_destinations = list(self.destinations)
        s.searched_folders = list(self.searched)
        # named on the destinations screen meanwhile (saved there): kept as the file has them
        s.destinations = self.app.load_settings()[0].destinations if not self.load_error else []
        try:
            s.validate()
        except ConfigError as e:
            return str(e)
        return None

    def _reveal(self, f: Field) -> None:
        """Scroll so the field and its error line are both in view."""
        box = self.query_one("#settings", VerticalScroll)
        row = self.query_one(f"#{f.id}", Input).parent
        both = row.virtual_region.union(self.query_one(f"#{f.id}-error").virtual_region)
        box.scroll_to_region(both, animate=False, immediate=True)

    async def action_save(self) -> None:
        msg = self.query_one("#settings-msg", Static)
        before = self._saved_form[-1] if self._saved_form else None
        problem = self.collect()
        if problem:
            msg.update(Text(_("Not saved: {problem}").format(problem=problem), style="bold red"))
            return
        try:
            self.settings.save()
        except OSError as e:
            msg.update(
                Text(
                    _("The settings could not be saved: {error}").format(error=e.strerror or e),
                    style="bold red",
                )
            )
            return
        self._saved_form = self._form()
        from therabak.settings import config_file

        if self.settings.language != before:  # every screen now speaks the new language
            await self.app.switch_language(self.settings.language)
            msg = self.query_one("#settings-msg", Static)
        msg.update(
            Text(
                _("Saved to {path}.").format(
                    path=self.app.ctx.display_path(self.settings.path or config_file())
                ),
                style="green",
            )
        )
        # The form is taller than 24 rows (folder lists, automatic backups): the word
        # that it was saved must be seen wherever the form was scrolled to.
        self.call_after_refresh(msg.scroll_visible, animate=False, immediate=True)

    def action_back(self) -> None:
        if not self.dirty:
            self.app.pop_screen()
            return

        def answer(leave: bool | None) -> None:
            if leave:
                self.app.pop_screen()

        self.app.push_screen(
            ConfirmDialog(
                _("Leave without saving?"),
                _("Your changes to the settings are not saved."),
                yes=_("Leave"),
                no=_("Stay"),
                danger=True,
            ),
            answer,
        )
