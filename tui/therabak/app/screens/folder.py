"""Folder backup: copy the Data folder as it is (still encrypted with the account key).

Asks only for a destination (with the same checks as a manual backup) and says plainly
that such a copy works for this account only. Runs ``therabak folder-backup`` as a job.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Button, Footer, Static

from therabak import formatting
from therabak.app.points import load_account
from therabak.app.translated import AppScreen
from therabak.app.widgets.destination import DestinationPicker
from therabak.app.widgets.header import AppHeader
from therabak.i18n import N_, _
from therabak.jobs.folder import FolderBackupRequest
from therabak.practice.categories import Rules

# Room for the manifest and file-system overhead on top of the copied bytes.
FOLDER_MARGIN = 1 << 20
PER_FILE_OVERHEAD = 4096


def folder_explanation() -> str:
    return _(
        "A folder backup copies the whole Data folder as it is: much faster than a "
        "manual backup and immune to decryption failures. But the files stay "
        "encrypted with this account's key, so the copy works FOR THIS ACCOUNT ONLY: "
        "without the account key (account.key) it cannot be read. Keep a manual backup "
        "with a password as well."
    )


class FolderBackupScreen(AppScreen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", N_("Back")),
        Binding("ctrl+o", "browse", N_("Browse")),
        Binding("ctrl+s", "start", N_("Start folder backup")),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.started = False  # a job was started: a second ctrl+s must not start another

    def compose(self) -> ComposeResult:
        yield AppHeader(_("Folder backup"))
        with VerticalScroll(id="folder"):
            yield Static(Text(folder_explanation()), classes="explain")
            yield DestinationPicker(id="dest")
            yield Static("", id="folder-size", classes="form-note")
            yield Static("", id="start-msg", classes="form-error")
            yield Button(_("Start folder backup"), id="start", variant="primary", compact=True)
        yield Footer(compact=True)

    def help_text(self) -> str:
        return _(
            "A folder backup copies the Data folder as it is, still encrypted with this "
            "account's key: fast, and immune to decryption failures, but usable only with "
            "this account's key (account.key). Type the destination (Tab moves on, ctrl+o "
            "opens the folder picker) and start it with ctrl+s."
        )

    def on_destination_picker_picked(self, event: DestinationPicker.Picked) -> None:
        self.query_one("#start").focus()

    def on_input_changed(self, event) -> None:
        if event.input.id == "dest-input":
            self.query_one("#start-msg", Static).update("")

    def on_mount(self) -> None:
        self.watch(self.app, "scan", self._scan_changed, init=True)
        self.app.request_scan()
        self.query_one("#dest-input").focus()

    def _scan_changed(self, scan) -> None:
        dest = self.query_one(DestinationPicker)
        size = self.query_one("#folder-size", Static)
        if scan is None:
            dest.needed = None
            size.update(Text(_("Counting files…"), style="dim"))
            return
        total = scan.total
        dest.needed = total.bytes + FOLDER_MARGIN + PER_FILE_OVERHEAD * total.files
        size.update(
            _("The Data folder holds {files}, {size}.").format(
                files=formatting.files(total.files), size=formatting.size(total.bytes)
            )
        )

    def action_browse(self) -> None:
        self.query_one(DestinationPicker).browse()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            self.action_start()

    def action_start(self) -> None:
        if self.started:
            return
        message = self.query_one("#start-msg", Static)
        dest = self.query_one(DestinationPicker)
        problem = dest.problem()
        if problem:
            message.update(Text(problem, style="bold red"))
            dest.show_problem(problem)
            self.query_one("#dest-input").focus()
            return
        self.started = True
        ctx = self.app.ctx
        account = load_account(ctx)
        request = FolderBackupRequest(
            data_dir=ctx.paths.data_dir,
            dest_dir=dest.path(),
            account_key_id=account.id_hex if account else "",
            rules=self.app.rules or Rules.load(),  # (the job reads the user's rules itself)
            account_key_path=ctx.paths.account_key,
        )
        try:
            job = ctx.runner.start_request(
                request,
                title=_("Folder backup to {dest}").format(dest=ctx.display_path(dest.path())),
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
        from therabak.app.screens.progress import ProgressScreen

        self.app.switch_screen(ProgressScreen(job))
