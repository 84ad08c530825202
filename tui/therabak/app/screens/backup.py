"""Manual backup in two steps: what (the category tree) and where/how (destination,
password, verify). Starting runs ``therabak backup`` as a job and shows its progress.

The backup goes into the destination's backup store (made by the first backup there).
A destination that holds a store asks for its password once (it opens the store), and
says, before starting, how much the backup writes ("120 MB of 2.0 GB; the rest is
already in the backup store"). The first backup into a new store with a password asks
whether to make a recovery code (yes is the default), shows it once, and hands it to the
job on its standard input like the password."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Checkbox, ContentSwitcher, Footer, Label, Static, Tree

from therabak import formatting
from therabak.app.points import load_account
from therabak.app.screens.backup_password import PasswordQuestions
from therabak.app.screens.backup_store import StoreQuestions
from therabak.app.screens.dialogs import ConfirmDialog, RecoveryCodeDialog
from therabak.app.translated import AppScreen
from therabak.app.widgets.category_tree import CategoryTree
from therabak.app.widgets.destination import DestinationPicker
from therabak.app.widgets.header import AppHeader
from therabak.app.widgets.inputs import TickBox
from therabak.app.widgets.password_input import PasswordInput
from therabak.archive.writer import Protection
from therabak.i18n import N_, _, ngettext
from therabak.jobs.store_request import StoreBackupRequest
from therabak.passwords import MIN_LENGTH, assess


class BackupScreen(PasswordQuestions, StoreQuestions, AppScreen):
    BINDINGS = [
        Binding("escape", "back", N_("Back")),
        Binding("n", "next", N_("Next")),
        Binding("d", "defaults", N_("Defaults")),
        Binding("ctrl+o", "browse", N_("Browse")),
        Binding("ctrl+s", "start", N_("Start backup")),
    ]

    def __init__(self, destination: str = "") -> None:
        super().__init__()
        self.picked = destination  # a destination picked already (a name the settings know)
        self.step = "what"
        self.rules = None
        self.rules_error = ""
        self.started = False  # a job was started: a second ctrl+s must not start another
        self.store_exists = False  # the destination holds a backup store
        self.estimate = None  # jobs.store_estimate.Estimate for (destination, password)
        self.estimate_for: tuple | None = None  # what the estimate (or its refusal) is for
        self.estimate_error = ""  # why the store does not open (a wrong password, ...)
        self._estimate_timer = None
        self._start_when_estimated = False
        self._start_when_answered = False  # a start waits for the server's answer

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
                yield DestinationPicker(id="dest", splits=False, named=True)
                yield Static("", id="store-note", classes="form-note")
                with Horizontal(classes="form-row"):
                    yield Label(_("Password"), classes="form-label")
                    yield PasswordInput(id="pw")
                with Horizontal(classes="form-row", id="pw2-row"):
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
                yield Static("", id="estimate", classes="form-note")
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
        if self.picked:
            self.query_one(DestinationPicker).value = self.picked

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
        self._update_needed()
        self._schedule_estimate()  # other categories: another estimate (when it can open)

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
        elif pw2 != pw and not self.store_exists:
            self.query_one("#pw2").focus()
        else:
            self.query_one("#start").focus()

    def on_input_submitted(self, event) -> None:
        """Enter moves through the form: destination, password, repeat, start."""
        event.stop()
        following = {"dest-input": "#pw", "pw": "#pw2"}.get(event.input.id or "")
        if event.input.id == "dest-input" and self.query_one("#nopw", Checkbox).value:
            following = "#start"
        if event.input.id == "pw" and self.store_exists:  # typed once: on to start
            following = None
        if following:
            self.query_one(following).focus()
        elif event.input.id in ("pw2", "pw"):
            self.action_start()

    def on_input_changed(self, event) -> None:
        if event.input.id in ("pw", "pw2"):
            self._password_problem(live=True)
            if event.input.id == "pw":
                self._schedule_estimate()
        elif event.input.id == "dest-input":
            # the line under the field says what is wrong with the new folder, live:
            # a refusal of the previous one must not stay
            self.query_one("#start-msg", Static).update("")
            self._destination_changed()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            self.action_start()

    def action_start(self, short_password_ok: bool = False, code_asked: bool = False) -> None:
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
        if dest.remote() is not None and self.remote_error:  # the server did not answer
            message.update(Text(self.remote_error, style="bold red"))
            self.query_one("#dest-input").focus()
            return
        if self.remote_pending():  # starts when the server has answered
            message.update(Text(_("Still asking the server…"), style="dim"))
            self._start_when_answered = True
            return
        message.update("")
        if self._password_problem():  # explained beside the password fields
            self.query_one("#pw").focus()
            return
        nopw = self.query_one("#nopw", Checkbox).value
        self._refresh_store_exists()  # a store made meanwhile (another window) counts
        if self.store_exists and dest.both() is not None:
            self._start_job(None)  # each job opens its store (a wrong password: its result)
            return
        if self.store_exists:
            # the store's password (or its absence) is checked, and what is new said,
            # before anything starts
            if self.estimate_for != self._estimate_key():
                if self._estimate_timer is not None:
                    self._estimate_timer.stop()
                    self._estimate_timer = None
                self._start_when_estimated = True
                self._run_estimate()
                return
            if self.estimate_error:
                message.update(Text(self.estimate_error, style="bold red"))
                self.query_one("#pw").focus()
                return
            self._start_job(None)
            return
        strength = assess(self.query_one("#pw", PasswordInput).value)
        if not nopw and not strength.acceptable and not short_password_ok:
            self._ask_short_password(strength)
            return
        if not nopw and not code_asked:
            self._ask_for_recovery_code()
            return
        self._start_job(None)

    def _remote_answered(self) -> None:
        if self._start_when_answered:
            self._start_when_answered = False
            self.query_one("#start-msg", Static).update("")
            self.action_start()

    def _ask_for_recovery_code(self) -> None:
        """A new store with a password: make a recovery code? (yes is the default)."""
        from therabak.crypto.recovery import RecoveryCode

        def shown(written: bool | None) -> None:
            if written:
                self._start_job(code)
            else:
                self.query_one("#start").focus()  # back to the form; that code is gone

        def answer(make: bool | None) -> None:
            nonlocal code
            if make:
                code = RecoveryCode.generate()
                self.app.push_screen(RecoveryCodeDialog(code), shown)
            elif make is False:
                self._start_job(None)

        code = None
        self.app.push_screen(
            ConfirmDialog(
                _("Make a recovery code?"),
                _(
                    "This is the first backup into a new backup store. A recovery code "
                    "opens its backups when the password is forgotten: you write it down "
                    "once and keep it with the practice papers."
                ),
                yes=_("Make one (recommended)"),
                no=_("No code"),
                yes_first=True,
            ),
            answer,
        )

    def _start_job(self, code) -> None:
        if self.started:
            return
        message = self.query_one("#start-msg", Static)
        selection = self.query_one(CategoryTree).selection
        dest = self.query_one(DestinationPicker)
        ctx = self.app.ctx
        account = load_account(ctx)
        if account is None:
            message.update(
                Text(
                    _("Account key not found: {key_path}").format(key_path=ctx.paths.account_key),
                    style="bold red",
                )
            )
            return
        self.started = True
        password: str | None = self.query_one("#pw", PasswordInput).value
        if self.query_one("#nopw", Checkbox).value:
            password = None

        def request(where: str) -> StoreBackupRequest:
            return StoreBackupRequest(
                data_dir=ctx.paths.data_dir,
                account=account,
                dest=where,  # a folder, or a destination's name or URL
                rules=self.rules,
                selection=frozenset(selection),
                protection=Protection(unprotected=password is None),  # the password: stdin
                verify=self.query_one("#verify", Checkbox).value,
                account_key_path=ctx.paths.account_key,
            )

        pair = dest.both()
        if pair is not None:
            self._start_chain(pair, request, password, code)
            return
        try:
            job = ctx.runner.start_request(
                request(self.dest_argument()),
                password=password,
                recovery_code=code,  # a new store's code, made and shown here
                title=_("Backup to {dest}").format(dest=dest.label()),
                target=dest.remote().where if dest.remote() else str(dest.path()),
                env=ctx.job_env,
            )
        except OSError as e:
            self._not_started(e)
            return
        self._forget_passwords()
        from therabak.app.screens.progress import ProgressScreen

        self.app.switch_screen(ProgressScreen(job))

    def _not_started(self, error: OSError) -> None:
        """A job that could not be started: said under the form, which stays filled."""
        self.started = False
        self.query_one("#start-msg", Static).update(
            Text(
                _("The job could not be started: {error}").format(error=error.strerror or error),
                style="bold red",
            )
        )

    def _forget_passwords(self) -> None:
        """The password fields emptied once a job has them (it got them on its stdin)."""
        for pid in ("#pw", "#pw2"):
            self.query_one(pid, PasswordInput).value = ""

    def _start_chain(self, pair, request, password: str | None, code) -> None:
        """Both: the folder's backup, then the off-site one, each its own job (the next
        starts when the previous ended; a new store gets the recovery code made here)."""
        from therabak.app.chain import BackupChain, ChainStep
        from therabak.app.screens.progress import ProgressScreen

        ctx = self.app.ctx
        new = (not self.local_store, not self.remote_store)
        chain = BackupChain(
            [
                ChainStep(
                    request(d.name),
                    _("Backup to {dest}").format(dest=d.name),
                    d.where,
                    d.name,
                    recovery_code=code if is_new else None,
                )
                for d, is_new in zip(pair, new, strict=True)
            ],
            password=password,
            env=dict(ctx.job_env),
        )
        try:
            job = chain.start(ctx.runner)
        except OSError as e:
            self._not_started(e)
            return
        self._forget_passwords()
        self.app.switch_screen(ProgressScreen(job, chain=chain))
