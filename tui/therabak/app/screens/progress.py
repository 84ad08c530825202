"""Progress of a job (backup, restore, folder backup, verify): bar, numbers, the current
file, the retry panel, cancel, and the summary at the end.

The job runs in its own process; this screen only reads its event stream, so leaving
the screen (or losing the terminal) does not stop it.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Footer, ProgressBar, Static

from therabak import formatting
from therabak.app.follow import FollowsJobs, JobEnded, JobEvents
from therabak.app.jobview import JobView
from therabak.app.screens.dialogs import ConfirmDialog
from therabak.app.summaries import job_title, summary_text
from therabak.app.translated import AppScreen
from therabak.app.widgets.header import AppHeader
from therabak.app.widgets.retry_panel import RetryPanel, tail
from therabak.events import Event
from therabak.i18n import N_, _, ngettext
from therabak.jobs.runner import Job, JobState

PHASES = {
    "scanning": N_("Looking at the data folder…"),
    "writing": N_("Writing the backup…"),
    "syncing": N_("Making sure everything is on the disk…"),
    "verifying": N_("Reading the backup back and checking every file…"),
    "comparing": N_("Comparing…"),
    "staging": N_("Restoring into a staging folder…"),
    "swapping": N_("Putting the restored data in place…"),
    "copying": N_("Copying the data folder…"),
    "checking": N_("Checking the backup and the data folder…"),
    "carrying-over": N_("Keeping what the backup does not hold…"),
    "salvaging": N_("Reading what is intact in a damaged backup…"),
}
OPERATION_PHASES = {
    ("restore", "verifying"): N_("Checking every restored file…"),
    ("folder-backup", "verifying"): N_("Reading the copy back and checking every file…"),
    ("verify", "verifying"): N_("Reading every file of the backup and checking it…"),
}


class ProgressScreen(FollowsJobs, AppScreen):
    BINDINGS = [
        Binding("c", "cancel", N_("Cancel job")),
        Binding("escape", "back", N_("Back")),
        Binding("enter", "close", N_("Done"), show=False),
    ]

    def __init__(self, job: Job, *, follow: bool = True) -> None:
        super().__init__()
        self.job = job
        self.view = JobView()
        self._follow = follow
        self._stopping = False

    # ---- layout ---------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield AppHeader(job_title(self.job.record))
        with Vertical(id="progress-box"):
            yield Static(_("Starting…"), id="phase")
            yield ProgressBar(total=None, show_eta=False, id="job-bar")
            yield Static("", id="numbers")
            yield Static("", id="current")
        yield Static("", id="summary")
        yield Static("", id="retry-title")
        yield RetryPanel(id="retries")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#summary").display = False
        self.query_one("#retries").display = False
        self.query_one("#retry-title").display = False
        self.set_interval(1.0, self._tick)
        if self._follow:
            self.follow_job(self.app.ctx.runner, self.job)

    def after_recompose(self) -> None:
        self.query_one("#summary").display = False
        self.query_one("#retries").display = False
        self.query_one("#retry-title").display = False
        self._render_progress()
        self._render_retries()
        if self.view.finished or self.job.state is not JobState.RUNNING:
            self._show_summary()

    def on_unmount(self) -> None:
        self.stop_following()

    # ---- events ---------------------------------------------------------------------

    def _now(self) -> float:
        return self.app.ctx.now().timestamp()

    def on_job_events(self, message: JobEvents) -> None:
        if message.job_id == self.job.id:
            self.apply(message.events)

    def on_job_ended(self, message: JobEnded) -> None:
        if message.job_id != self.job.id:
            return
        fresh = self.app.ctx.runner.get(self.job.id)
        if fresh is not None:
            self.job = fresh
        if not self.view.finished:
            self._show_summary()

    def apply(self, events: list[Event]) -> None:
        """Take in events (live or replayed) and redraw."""
        self.view.apply(events, self._now())
        self._render_progress()
        self._render_retries()
        if self.view.finished:
            self._show_summary()

    def _tick(self) -> None:
        if self.view.retries:
            self.query_one(RetryPanel).tick(list(self.view.retries.values()), self._now())

    # ---- rendering ------------------------------------------------------------------

    def _render_progress(self) -> None:
        v, p = self.view, self.view.progress
        special = OPERATION_PHASES.get((self.job.record.operation, v.phase))
        if special:
            phase = _(special)
        elif v.phase in PHASES:
            phase = _(PHASES[v.phase])
        else:
            phase = v.phase.capitalize() or _("Starting…")
        if self._stopping and not v.finished:
            phase = _("Stopping…")
        self.query_one("#phase", Static).update(Text(phase, style="bold"))
        bar = self.query_one("#job-bar", ProgressBar)
        numbers = self.query_one("#numbers", Static)
        current = self.query_one("#current", Static)
        if p is None:
            bar.update(total=None)
            numbers.update("")
            current.update("")
            return
        bar.update(total=max(p.bytes_total, 1), progress=min(p.bytes_done, p.bytes_total))
        parts = [
            _("{done} of {total}").format(
                done=formatting.size(p.bytes_done), total=formatting.size(p.bytes_total)
            ),
            _("{done} of {total} files").format(
                done=formatting.count(p.files_done), total=formatting.count(p.files_total)
            ),
        ]
        if p.rate:
            parts.append(formatting.rate(p.rate))
        if p.eta_s is not None and p.bytes_done < p.bytes_total:
            parts.append(_("{time} left").format(time=formatting.duration(p.eta_s)))
        numbers.update(Text("  ·  ".join(parts)))
        current.update(
            Text.assemble((_("Now:") + " ", "dim"), tail(formatting.name(p.current), 70))
            if p.current
            else ""
        )

    def _render_retries(self) -> None:
        rows = list(self.view.retries.values())
        if not rows:
            return
        title = self.query_one("#retry-title", Static)
        title.display = True
        open_rows = sum(1 for r in rows if not r.outcome)
        text = ngettext("{n} file needed retries", "{n} files needed retries", len(rows)).format(
            n=len(rows)
        )
        if open_rows:
            text += "  " + _("({n} still retrying)").format(n=open_rows)
        title.update(Text(text, style="bold"))
        panel = self.query_one(RetryPanel)
        panel.display = True
        panel.show(rows, self._now())

    def _show_summary(self) -> None:
        box = self.query_one("#summary", Static)
        final = self.view.final
        stderr = self.app.ctx.runner.stderr_text(self.job) if final is None else ""
        box.update(summary_text(self.job, self.view, self.app.ctx.display_path, stderr))
        box.display = True
        box.set_class(final is None or final.exit_code != 0, "attention")
        if self.job.record.operation == "restore":
            self.app.request_scan(again=True)  # the data folder has changed
        self.query_one("#progress-box").display = False
        if self.is_current:
            self.app.ctx.runner.mark_seen(self.job)
        self.refresh_bindings()

    # ---- actions --------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        finished = self.view.finished or self.job.state is not JobState.RUNNING
        if action == "cancel":
            return not finished
        if action == "close":
            return finished
        return True

    def action_cancel(self) -> None:
        question = {
            "backup": _("Cancel the backup?"),
            "restore": _("Cancel the restore?"),
            "verify": _("Cancel the verification?"),
            "folder-backup": _("Cancel the folder backup?"),
        }.get(self.job.record.operation, _("Cancel this job?"))

        def answer(stop: bool | None) -> None:
            if stop:
                self._stopping = self.app.ctx.runner.cancel(self.job)
                self._render_progress()

        self.app.push_screen(
            ConfirmDialog(
                question,
                _(
                    "The job stops within a second. Nothing that is already there is changed, "
                    "and the unfinished file is removed."
                ),
                yes=_("Stop it"),
                no=_("Keep going"),
                danger=True,
            ),
            answer,
        )

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_close(self) -> None:
        self.app.pop_screen()
