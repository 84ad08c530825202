"""Home: the practice, the last backups, the two-week reminder, whether automatic
backups are set up (and how they ran), and the jobs."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Static

from therabak import formatting
from therabak.app.chain_process import prune_chains
from therabak.app.follow import FollowsJobs, JobEnded, JobEvents
from therabak.app.jobview import JobView
from therabak.app.runner import Job, JobState
from therabak.app.summaries import job_title
from therabak.app.translated import AppScreen
from therabak.app.widgets.header import AppHeader
from therabak.app.widgets.retry_panel import head, tail
from therabak.errors import ExitCode
from therabak.i18n import N_, _, ngettext

JOB_STATES = {
    JobState.DONE: N_("done"),
    JobState.FAILED: N_("failed"),
    JobState.CANCELLED: N_("cancelled"),
    JobState.DIED: N_("ended, no result"),
}


class JobsTable(DataTable):
    # Not in the footer (German words would push Help out of 80 columns): the line
    # under the table names these keys.
    BINDINGS = [Binding("enter", "select_cursor", N_("Open"), show=False)]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "select_cursor":
            return self.row_count > 0
        return True


class HomeScreen(FollowsJobs, AppScreen):
    BINDINGS = [
        Binding("b", "app.backup", N_("Backup")),
        Binding("r", "app.restore", N_("Restore")),
        Binding("f", "app.folder_backup", N_("Folder"), tooltip=N_("Folder backup")),
        Binding("v", "app.verify", N_("Verify")),
        Binding("s", "app.settings", N_("Settings")),
        Binding("x", "dismiss_job", N_("Dismiss"), show=False),
        Binding("c", "clean_up", N_("Remove old before-restore folders"), show=False),
        Binding("q", "app.quit", N_("Quit")),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.jobs: dict[str, Job] = {}
        self.views: dict[str, JobView] = {}
        self._followed: set[str] = set()
        self.kept_folders: list = []  # before-restore folders beside Data (KeptFolder)
        self.schedule_status = None  # ScheduleStatus once the scheduler answered
        self.schedule_checked = False  # the last question to the scheduler has its answer

    def compose(self) -> ComposeResult:
        yield AppHeader(_("Backup and restore for TheraPsy"))
        yield Static("", id="reminder", classes="banner")
        yield Static("", id="practice")
        yield Static("", id="last-backups")
        yield Static("", id="auto-schedule")
        yield Static("", id="kept-folders")
        yield Static(Text(_("Jobs"), style="bold"), id="jobs-title")
        yield JobsTable(id="jobs", cursor_type="row")
        yield Static(
            Text(_("Enter: open the highlighted job  ·  x: dismiss it once it has ended"), "dim"),
            id="jobs-keys",
        )
        yield Static(_("No jobs are running."), id="no-jobs", classes="hint")
        # The main actions fill the footer; ctrl+p (the command palette) is in the help.
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#kept-folders").display = False
        self._add_columns()
        self.watch(self.app, "scan", self._render_practice, init=False)
        self.watch(self.app, "scan_error", self._render_practice, init=False)
        self.watch(self.app, "key_error", self._render_practice, init=False)
        self.app.ctx.runner.prune()
        prune_chains(self.app.ctx.runner.root)
        self.refresh_all()
        self.call_after_refresh(self.app.request_scan)
        self.set_interval(5.0, self.refresh_jobs)

    def _add_columns(self) -> None:
        table = self.query_one("#jobs", DataTable)
        table.add_column(_("Started"), width=15, key="started")
        table.add_column(_("Job"), width=38, key="title")
        table.add_column(_("State"), width=17, key="state")

    def after_recompose(self) -> None:
        self._add_columns()
        self.refresh_all()

    def on_screen_resume(self) -> None:
        self.refresh_all()

    def on_unmount(self) -> None:
        self.stop_following()

    # ---- content ----------------------------------------------------------------------

    def refresh_all(self) -> None:
        self._render_practice()
        self._render_backups()
        self.refresh_schedule()
        self.refresh_jobs()
        self._kept_worker()

    # ---- before-restore folders ----------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="kept")
    def _kept_worker(self) -> None:
        from therabak.jobs.removal import before_restore_folders

        try:
            found = before_restore_folders(self.app.ctx.paths.data_dir, None)
        except OSError:
            found = []
        self.app.call_from_thread(self._show_kept, found)

    def _show_kept(self, folders: list) -> None:
        self.kept_folders = folders
        line = self.query_one("#kept-folders", Static)
        line.display = bool(folders)
        if not folders:
            return
        total = sum(f.size for f in folders)
        text = Text(_("Kept from before restores") + "  ", style="bold")
        text.append(
            ngettext(
                "{n} folder beside Data, {size}",
                "{n} folders beside Data, {size}",
                len(folders),
            ).format(n=len(folders), size=formatting.size(total))
        )
        text.append("  " + _("c: remove old ones"), style="dim")
        line.update(text)

    def action_clean_up(self) -> None:
        if not self.kept_folders:
            return
        from therabak.app.screens.cleanup import KeptFoldersDialog

        def done(removed: bool | None) -> None:
            if removed:
                self._kept_worker()

        self.app.push_screen(KeptFoldersDialog(list(self.kept_folders)), done)

    def _render_practice(self, *_args: object) -> None:
        ctx, app = self.app.ctx, self.app
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", min_width=14)
        grid.add_column()
        grid.add_row(_("Data folder"), Text(ctx.display_path(ctx.paths.data_dir)))
        if app.scan_error:
            size = Text(app.scan_error, style="bold red")
        elif app.scan is None:
            size = Text(_("counting…"), style="dim")
        else:
            total = app.scan.total
            size = Text(f"{formatting.files(total.files)}, {formatting.size(total.bytes)}")
        grid.add_row(_("Size"), size)
        if app.key_error:
            grid.add_row(_("Account key"), Text(app.key_error, style="bold red"))
        self.query_one("#practice", Static).update(grid)

    def _render_backups(self) -> None:
        from therabak.jobkit import history

        ctx = self.app.ctx
        now = ctx.now()
        settings, settings_error = self.app.load_settings()
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", min_width=14)
        grid.add_column(min_width=16, no_wrap=True)
        grid.add_column(min_width=14, no_wrap=True)
        grid.add_column(no_wrap=True, overflow="ellipsis")
        last_manual = None
        for kind, label in (
            (history.RecordKind.MANUAL, _("Manual")),
            (history.RecordKind.AUTOMATIC, _("Automatic")),
            (history.RecordKind.FOLDER, _("Folder")),
        ):
            # the copies on local drives (off-site ones: below)
            if kind == history.RecordKind.MANUAL:
                record = last_manual = last_local_manual(ctx.paths.data_dir)
            else:
                record = history.last_of(kind, ctx.paths.data_dir)
            if record is None:
                grid.add_row(label, Text(_("never"), style="dim"), "", "")
                continue
            when = record.created_at
            where = Text(
                _("in {folder}").format(folder=tail(ctx.display_path(Path(record.path).parent), 22))
            )
            if record.verified is False:
                where.append("  " + _("NOT verified"), style="bold red")
            grid.add_row(label, formatting.local_time(when), formatting.ago(when, now), where)
        offsite = self._destination_rows(grid, settings, now)
        title = Text(_("Last backups"), style="bold underline")
        self.query_one("#last-backups", Static).update(_stack(title, grid))
        banner = self.query_one("#reminder", Static)
        message = reminder_text(
            last_manual.created_at if last_manual else None, now, settings.reminder_days
        )
        if offsite:
            message = (message + "\n" if message else "") + "\n".join(offsite)
        if settings_error:
            message = (message + "\n" if message else "") + settings_error
        banner.update(Text(message))
        banner.display = bool(message)

    def _destination_rows(self, grid: Table, settings, now: datetime) -> list[str]:
        """A row per named destination (its last backup); the reminders of the off-site
        copies that are overdue."""
        from therabak.errors import ConfigError
        from therabak.jobs.status import destination_statuses, offsite_reminder

        try:
            statuses = destination_statuses(settings, self.app.ctx.paths.data_dir, now)
        except ConfigError:
            return []  # said with the settings' error
        reminders = []
        for d in statuses:
            label = Text(head(d.destination.name, 14), overflow="ellipsis")
            if d.destination.is_remote:
                kind = _("off-site")
            else:
                kind = _("in {folder}").format(
                    folder=tail(self.app.ctx.display_path(d.destination.where), 22)
                )
            if d.last is None:
                where = Text(kind)
                cells = [Text(_("never"), style="dim"), Text("")]
            else:
                where = Text(kind)
                if d.last.verified is False:
                    where.append("  " + _("NOT verified"), style="bold red")
                cells = [
                    Text(formatting.local_time(d.last.when)),
                    Text(formatting.ago(d.last.when, now)),
                ]
            if d.destination.is_remote and d.overdue:
                where.append("  " + _("due"), style="bold yellow")
                reminders.append(offsite_reminder(d, now, settings.reminder_days))
            grid.add_row(label, *cells, where)
        return reminders

    # ---- automatic backups: the scheduler's entry -------------------------------------

    def refresh_schedule(self) -> None:
        """Ask the scheduler in the background (it may take a moment: schtasks, systemctl)."""
        if self.schedule_status is None:
            self._render_schedule(None, "")
        self.schedule_checked = False
        self._schedule_worker()

    @work(thread=True, exclusive=True, exit_on_error=False, group="schedule")
    def _schedule_worker(self) -> None:
        from therabak.errors import TherabakError
        from therabak.schedule.status import schedule_status

        ctx = self.app.ctx
        try:
            settings, _error = self.app.load_settings()
            status = schedule_status(ctx.schedule_host(), ctx.paths, settings, now=ctx.now())
        except (TherabakError, OSError) as e:
            self.app.call_from_thread(self._render_schedule, None, str(e))
            return
        self.app.call_from_thread(self._render_schedule, status, "")

    def _render_schedule(self, status, error: str) -> None:
        from therabak.app.schedule_text import advice, last_run_text, state_text

        self.schedule_status = status
        self.schedule_checked = status is not None or bool(error)
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", min_width=14)
        grid.add_column()
        label = _("Scheduled")
        if error:
            grid.add_row(label, Text(error, "bold red"))
        elif status is None:
            grid.add_row(label, Text(_("checking…"), "dim"))
        else:
            state = state_text(status)
            if not status.set_up:
                state.append(" " + _("(s: Settings)"), "bold yellow")
            grid.add_row(label, state)
            last = last_run_text(status, self.app.ctx.now())
            if last is not None:
                grid.add_row(_("Last run"), last)
            for line in advice(status)[:2]:
                grid.add_row("", Text(line, "yellow"))
        self.query_one("#auto-schedule", Static).update(grid)

    # ---- jobs ---------------------------------------------------------------------------

    def refresh_jobs(self) -> None:
        runner = self.app.ctx.runner
        shown = [j for j in runner.list_jobs() if j.running or not j.record.seen]
        self.jobs = {j.id: j for j in shown}
        table = self.query_one("#jobs", DataTable)
        keep_cursor = table.cursor_row
        table.clear()
        for job in shown:
            table.add_row(*self._job_cells(job), key=job.id)
            if job.running and job.id not in self._followed:
                self._followed.add(job.id)
                self.views[job.id] = JobView()
                self.follow_job(runner, job)
        if shown:
            table.move_cursor(row=min(keep_cursor, len(shown) - 1))
        table.display = bool(shown)
        if not shown and table.has_focus:
            self.set_focus(None)
        elif shown and self.focused is None:
            table.focus()
        self.query_one("#no-jobs").display = not shown
        self.query_one("#jobs-keys").display = bool(shown)
        self.refresh_bindings()

    def _job_cells(self, job: Job) -> tuple[Text, Text, Text]:
        started = formatting.ago(job.record.started_at, self.app.ctx.now())
        title = Text(head(job_title(job.record), 38))
        return Text(started), title, self._state_text(job)

    def _state_text(self, job: Job) -> Text:
        if job.running:
            # the phase and its own percentage, as the progress screen shows them
            # (a backup's check after writing starts again at 0 %)
            from therabak.app.phase_text import phase_word

            view = self.views.get(job.id)
            fraction = view.fraction if view else None
            word = phase_word(view.phase) if view and view.phase else _("running")
            if fraction is None:
                return Text(word, style="bold")
            return Text(
                _("{phase} {pct}%").format(phase=word, pct=int(fraction * 100)), style="bold"
            )
        label = _(JOB_STATES.get(job.state, job.state.value))
        if job.state is JobState.DONE and job.exit_code == ExitCode.WARNINGS:
            label = _("done, see notes")
        done_well = job.state is JobState.DONE and job.exit_code == ExitCode.OK
        style = "green" if done_well else "bold red"
        if job.state is JobState.CANCELLED:
            style = "yellow"
        return Text(label, style=style)

    def on_job_events(self, message: JobEvents) -> None:
        view = self.views.get(message.job_id)
        job = self.jobs.get(message.job_id)
        if view is None or job is None:
            return
        view.apply(message.events, self.app.ctx.now().timestamp())
        table = self.query_one("#jobs", DataTable)
        if message.job_id in table.rows:
            table.update_cell(message.job_id, "state", self._state_text(job))

    def on_job_ended(self, message: JobEnded) -> None:
        self._followed.discard(message.job_id)
        self.refresh_jobs()
        self._render_backups()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        job = self.jobs.get(str(event.row_key.value))
        if job is not None:
            from therabak.app.screens.progress import ProgressScreen

            self.app.push_screen(ProgressScreen(job))

    def _highlighted_job(self) -> Job | None:
        table = self.query_one("#jobs", DataTable)
        if not self.jobs or not table.display:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:  # noqa: BLE001 - no rows
            return None
        return self.jobs.get(str(key.value))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "clean_up":
            return bool(self.kept_folders)
        if action == "dismiss_job":
            job = self._highlighted_job()
            return job is not None and not job.running
        return True

    def action_dismiss_job(self) -> None:
        job = self._highlighted_job()
        if job is not None and not job.running:
            self.app.ctx.runner.mark_seen(job)
            self.refresh_jobs()


def _stack(*renderables):
    grid = Table.grid()
    for r in renderables:
        grid.add_row(r)
    return grid


def last_local_manual(data_dir: Path):
    """The history's last manual backup onto a local drive (not one off-site)."""
    from therabak.jobkit import history
    from therabak.storage.url import is_url

    records = [
        r
        for r in history.read_all()
        if r.kind == history.RecordKind.MANUAL
        and not is_url(r.path)
        and (not r.data_dir or Path(r.data_dir) == Path(data_dir))
    ]
    return max(records, key=lambda r: r.created_at, default=None)


def reminder_text(last_manual: datetime | None, now: datetime, days: int) -> str:
    """The two-week reminder ('' when the last manual backup is recent enough)."""
    if last_manual is None:
        return _(
            "No manual backup yet. Make one now (press b) and keep it on a USB stick "
            "or another external drive."
        )
    age = now - last_manual
    if age <= timedelta(days=days):
        return ""
    return _(
        "The last manual backup is {days} days old; one every {limit} days is "
        "recommended. Make one now (press b) and keep it on an external drive."
    ).format(days=age.days, limit=days)
