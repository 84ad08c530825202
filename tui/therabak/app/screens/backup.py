"""Manual backup in two steps: what (the category tree) and where/how (destination,
password, verify). Starting runs ``therabak backup`` as a job and shows its progress."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Checkbox, ContentSwitcher, Footer, Label, Static, Tree

from therabak import formatting
from therabak.app.screens.dialogs import ConfirmDialog
from therabak.app.translated import AppScreen
from therabak.app.widgets.category_tree import CategoryTree
from therabak.app.widgets.destination import DestinationPicker
from therabak.app.widgets.header import AppHeader
from therabak.app.widgets.inputs import TickBox
from therabak.app.widgets.password_input import PasswordInput
from therabak.i18n import N_, _, ngettext
from therabak.passwords import MIN_LENGTH, assess


def no_password_warning() -> str:
    return _(
        "Without a password, ANYONE who gets this backup file can read every session "
        "note, recording and invoice in it, and any TheraPsy user can import it. Only "
        "do this if the file never leaves a place you control."
    )


class BackupScreen(AppScreen):
    BINDINGS = [
        Binding("escape", "back", N_("Back")),
        Binding("n", "next", N_("Next")),
        Binding("d", "defaults", N_("Defaults")),
        Binding("ctrl+o", "browse", N_("Browse")),
        Binding("ctrl+s", "start", N_("Start backup")),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.step = "what"
        self.rules = None
        self.rules_error = ""
        self.started = False  # a job was started: a second ctrl+s must not start another

    def help_text(self) -> str:
        return _(
            "A manual backup in two steps. Step 1: tick what goes into it (Space ticks, "
            "Enter opens a group); what the rules leave out says why when highlighted. "
            "Step 2: the destination (ideally a USB stick; Tab moves on, ctrl+o opens the "
            "folder picker), a password typed twice (at least {min} characters; without "
            "it the backup cannot be opened, and nobody can recover it) and whether the "
            "backup is read back and checked after writing."
        ).format(min=MIN_LENGTH)

    # ---- layout ---------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        from therabak.errors import ConfigError
        from therabak.practice.categories import BackupKind, Rules
        from therabak.settings import user_rules_file

        self.rules = self.app.rules
        if self.rules is None:
            try:
                self.rules = Rules.load(user_rules_file())
            except ConfigError as e:
                self.rules_error = str(e)
        yield AppHeader(_("Manual backup"))
        with ContentSwitcher(initial="what", id="steps"):
            with Vertical(id="what"):
                yield Static(_("Step 1 of 2 · What goes into the backup"), classes="step-title")
                if self.rules is not None:
                    yield CategoryTree.for_backup(
                        self.rules,
                        self.rules.default_selection(BackupKind.MANUAL),
                        BackupKind.MANUAL,
                        id="tree",
                    )
                else:
                    yield Static(Text(self.rules_error, style="bold red"))
                yield Static("", id="why", classes="hint")
                yield Static("", id="total", classes="total")
            with VerticalScroll(id="where"):
                yield Static(_("Step 2 of 2 · Where to, and the password"), classes="step-title")
                yield DestinationPicker(id="dest", splits=True)
                with Horizontal(classes="form-row"):
                    yield Label(_("Password"), classes="form-label")
                    yield PasswordInput(id="pw")
                with Horizontal(classes="form-row"):
                    yield Label(_("Repeat it"), classes="form-label")
                    yield PasswordInput(id="pw2")
                yield Static("", id="pw-msg", classes="form-note")
                yield TickBox(
                    _("No password (not recommended)"),
                    id="nopw",
                    compact=True,
                    classes="form-check",
                )
                yield TickBox(
                    _("Verify after writing (reads the backup back and checks it)"),  # ≤ 62 cells
                    value=True,
                    id="verify",
                    compact=True,
                    classes="form-check",
                )
                yield Static("", id="start-msg", classes="form-error")
                yield Button(_("Start backup"), id="start", variant="primary", compact=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.watch(self.app, "scan", self._scan_changed, init=True)
        self.app.request_scan()
        if self.rules is not None:
            tree = self.query_one(CategoryTree)
            tree.focus()
            tree.cursor_line = 0
            self._update_total()

    # ---- step 1: what -------------------------------------------------------------------

    def _scan_changed(self, scan) -> None:
        if scan is None or self.rules is None:
            self._update_total()
            return
        self.query_one(CategoryTree).set_totals(scan.node_totals(self.rules))
        self._update_total()

    def selected_totals(self) -> tuple[int, int] | None:
        """(files, bytes) of what is ticked, None while the scan runs."""
        scan = self.app.scan
        if scan is None or self.rules is None:
            return None
        t = scan.selected_total(self.query_one(CategoryTree).selection)
        return t.files, t.bytes

    def _update_total(self) -> None:
        if self.rules is None:
            return
        total = self.query_one("#total", Static)
        chosen = self.selected_totals()
        scan = self.app.scan
        if self.app.scan_error:
            total.update(Text(self.app.scan_error, style="bold red"))
        elif chosen is None:
            total.update(Text(_("Counting files…"), style="dim"))
        else:
            files, size = chosen
            everything = scan.total
            text = Text(
                _("Selected: {files}, {size} (of {all_files}, {all_size})").format(
                    files=formatting.files(files),
                    size=formatting.size(size),
                    all_files=formatting.files(everything.files),
                    all_size=formatting.size(everything.bytes),
                )
            )
            odd = scan.selected_notes(self.query_one(CategoryTree).selection)
            if odd.files:
                text.append(
                    "\n"
                    + ngettext(
                        "{n} name Windows cannot hold as it is (restored there escaped): {first}",
                        "{n} names Windows cannot hold as they are (restored there escaped), "
                        "e.g. {first}",
                        odd.files,
                    ).format(n=odd.files, first=formatting.name(odd.examples[0])),
                    style="yellow not bold",
                )
            total.update(text)
        dest = self.query_one(DestinationPicker)
        if chosen is not None:
            from therabak.jobs.backup import space_needed

            dest.needed = space_needed(chosen[1], chosen[0])
        else:
            dest.needed = None

    def on_category_tree_changed(self, event: CategoryTree.Changed) -> None:
        self._update_total()
        self._show_why(self.query_one(CategoryTree).cursor_node)

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        self._show_why(event.node)

    def _show_why(self, node) -> None:
        why = self.query_one("#why", Static)
        if node is None or node.data is None:
            why.update("")
            return
        data = node.data
        if not data.leaf:
            text = _("Space ticks or unticks everything in “{label}”.").format(label=_(data.label))
        elif not data.default:
            text = _("Not in backups by default: {reason}").format(
                reason=_(data.reason) if data.reason else _("excluded by the rules.")
            )
        elif data.ticked:
            text = _("Included by default.")
        else:
            text = _("Included by default, unticked by you.")
        why.update(Text(text))

    def action_defaults(self) -> None:
        from therabak.practice.categories import BackupKind

        self.query_one(CategoryTree).set_selection(self.rules.default_selection(BackupKind.MANUAL))

    def action_next(self) -> None:
        if self.rules is None:
            return
        if not self.query_one(CategoryTree).selection:
            self.query_one("#why", Static).update(
                Text(_("Nothing is ticked: tick at least one category."), style="bold red")
            )
            return
        self._go("where")
        self.query_one("#dest-input").focus()

    def _go(self, step: str) -> None:
        self.step = step
        self.query_one(ContentSwitcher).current = step
        self.refresh_bindings()

    def action_back(self) -> None:
        if self.step == "where":
            self._go("what")
            self.query_one(CategoryTree).focus()
        else:
            self.app.pop_screen()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("next", "defaults"):
            return self.step == "what"
        if action in ("start", "browse"):
            return self.step == "where"
        return True

    # ---- step 2: where and how -----------------------------------------------------------

    def action_browse(self) -> None:
        self.query_one(DestinationPicker).browse()

    def on_destination_picker_picked(self, event: DestinationPicker.Picked) -> None:
        """A quick pick or the folder picker filled the destination: on to the first
        field still to fill (never back to the destination, never over a password)."""
        self._focus_next_empty()

    def _focus_next_empty(self) -> None:
        if self.query_one("#nopw", Checkbox).value:
            self.query_one("#start").focus()
            return
        pw = self.query_one("#pw", PasswordInput).value
        pw2 = self.query_one("#pw2", PasswordInput).value
        if not pw:
            self.query_one("#pw").focus()
        elif pw2 != pw:
            self.query_one("#pw2").focus()
        else:
            self.query_one("#start").focus()

    def on_input_submitted(self, event) -> None:
        """Enter moves through the form: destination, password, repeat, start."""
        event.stop()
        following = {"dest-input": "#pw", "pw": "#pw2"}.get(event.input.id or "")
        if event.input.id == "dest-input" and self.query_one("#nopw", Checkbox).value:
            following = "#start"
        if following:
            self.query_one(following).focus()
        elif event.input.id == "pw2":
            self.action_start()

    def on_input_changed(self, event) -> None:
        if event.input.id in ("pw", "pw2"):
            self._password_problem(live=True)
        elif event.input.id == "dest-input":
            # the line under the field says what is wrong with the new folder, live:
            # a refusal of the previous one must not stay
            self.query_one("#start-msg", Static).update("")

    def _password_problem(self, *, live: bool = False) -> str | None:
        msg = self.query_one("#pw-msg", Static)
        if self.query_one("#nopw", Checkbox).value:
            msg.update(
                Text(_("No password: anyone with the file can read it."), style="bold yellow")
            )
            return None
        pw = self.query_one("#pw", PasswordInput).value
        pw2 = self.query_one("#pw2", PasswordInput).value
        problem = None
        if not pw:
            if not live:
                problem = _(
                    "The password is empty. Type a password (recommended), or tick "
                    "“No password” below."
                )
        elif pw2 and pw != pw2 or (not live and pw != pw2):
            problem = _("The two passwords differ. Type the same password twice.")
        strength = assess(pw) if pw else None
        if problem:
            msg.update(Text(problem, style="bold red"))
        elif strength is not None and pw == pw2 and strength.acceptable:
            msg.update(
                Text(
                    strength.words()
                    + " "
                    + _("Passwords match. Keep it safe: without it the backup cannot be opened."),
                    style="green",
                )
            )
        elif strength is not None:
            msg.update(
                Text(strength.words(), style="dim" if strength.acceptable else "bold yellow")
            )
        else:
            msg.update(
                Text(
                    _("Without the password the backup cannot be opened: keep it somewhere safe."),
                    style="dim",
                )
            )
        return problem

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        if event.checkbox.id != "nopw":
            return
        if event.value:  # only after the second confirmation

            def answer(sure: bool | None) -> None:
                if sure:
                    self._sync_password_fields()
                else:
                    event.checkbox.value = False  # comes back here with False

            self.app.push_screen(
                ConfirmDialog(
                    _("Back up without a password?"),
                    no_password_warning(),
                    yes=_("Yes, no password"),
                    no=_("Keep the password"),
                    danger=True,
                ),
                answer,
            )
            return
        self._sync_password_fields()

    def _sync_password_fields(self) -> None:
        nopw = self.query_one("#nopw", Checkbox).value
        for pid in ("#pw", "#pw2"):
            field = self.query_one(pid, PasswordInput)
            field.disabled = nopw
            if nopw:
                field.value = ""
        self._password_problem(live=True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            self.action_start()

    def action_start(self, short_password_ok: bool = False) -> None:
        from therabak.practice.categories import BackupKind

        if self.started:
            return
        message = self.query_one("#start-msg", Static)
        tree = self.query_one(CategoryTree)
        selection = tree.selection
        dest = self.query_one(DestinationPicker)
        if not selection:
            message.update(
                Text(
                    _("Nothing is ticked: go back (Esc) and tick at least one category."),
                    style="bold red",
                )
            )
            return
        problem = dest.problem()
        if problem:  # said on the line under the destination, where the focus goes
            message.update(Text(problem, style="bold red"))
            dest.show_problem(problem)
            self.query_one("#dest-input").focus()
            return
        message.update("")
        if self._password_problem():  # explained beside the password fields
            self.query_one("#pw").focus()
            return
        nopw = self.query_one("#nopw", Checkbox).value
        strength = assess(self.query_one("#pw", PasswordInput).value)
        if not nopw and not strength.acceptable and not short_password_ok:
            self._ask_short_password(strength)
            return
        self.started = True
        ctx = self.app.ctx
        defaults = self.rules.default_selection(BackupKind.MANUAL)
        args = [
            "--dest",
            str(dest.path()),
            "--data-dir",
            str(ctx.paths.data_dir),
            "--account-key",
            str(ctx.paths.account_key),
        ]
        include, exclude = sorted(selection - defaults), sorted(defaults - selection)
        if include:
            args += ["--include", ",".join(include)]
        if exclude:
            args += ["--exclude", ",".join(exclude)]
        if self.query_one("#verify", Checkbox).value:
            args.append("--verify")
        password: str | None = self.query_one("#pw", PasswordInput).value
        if self.query_one("#nopw", Checkbox).value:
            args.append("--no-password")
            password = None
        try:
            job = ctx.runner.start(
                "backup",
                args,
                password=password,
                data_dir=ctx.paths.data_dir,
                title=_("Backup to {dest}").format(dest=ctx.display_path(dest.path())),
                target=str(dest.path()),
                env=ctx.job_env,
            )
        except OSError as e:
            self.started = False
            message.update(
                Text(
                    _("The job could not be started: {error}").format(error=e.strerror or e),
                    style="bold red",
                )
            )
            return
        for pid in ("#pw", "#pw2"):
            self.query_one(pid, PasswordInput).value = ""
        from therabak.app.screens.progress import ProgressScreen

        self.app.switch_screen(ProgressScreen(job))

    def _ask_short_password(self, strength) -> None:
        """A password below the minimum only after a second, explicit question."""

        def answer(use_it: bool | None) -> None:
            if use_it:
                self.action_start(short_password_ok=True)
            else:
                field = self.query_one("#pw", PasswordInput)
                field.value = ""
                self.query_one("#pw2", PasswordInput).value = ""
                field.focus()

        self.app.push_screen(
            ConfirmDialog(
                _("Use this weak password?"),
                strength.words()
                + "\n\n"
                + _(
                    "A short or simple password can be guessed by anyone who gets the "
                    "backup file, given time. Use it only if the file never leaves a "
                    "place you control."
                ),
                yes=_("Use it anyway"),
                no=_("Choose another"),
                danger=True,
            ),
            answer,
        )
