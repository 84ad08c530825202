"""Progress of a job (backup, restore, folder backup, verify): bar, numbers, the current
file, the retry panel, cancel, and the summary at the end.

The job runs in its own process; this screen only reads its event stream, so leaving
the screen (or losing the terminal) does not stop it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Button, Footer, ProgressBar, Static

from therabak import formatting
from therabak.app.chain import BackupChain
from therabak.app.follow import FollowsJobs, JobEnded, JobEvents
from therabak.app.jobview import JobView
from therabak.app.phase_text import OPERATION_PHASES, PHASES, cancel_question
from therabak.app.runner import Job, JobState
from therabak.app.screens.dialogs import ConfirmDialog
from therabak.app.speed import SpeedGauge
from therabak.app.summaries import is_remote_backup, is_store_backup, job_title, summary_text
from therabak.app.translated import AppScreen
from therabak.app.widgets.header import AppHeader
from therabak.app.widgets.retry_panel import RetryPanel, reason_notes, tail
from therabak.errors import ExitCode
from therabak.events import Error, Event, Progress, Summary
from therabak.i18n import N_, _, ngettext
from therabak.jobs.backup import BackupResult
from therabak.jobs.store_backup import StoreBackupResult


@dataclass(frozen=True)
class UnverifiedBackup:
    """A backup whose check after writing was cancelled: the archive, or the point
    (*snapshot*) of the backup store *where*."""

    where: str
    snapshot: str = ""
    protected: bool = False  # the store opens only with its password (or recovery code)
    recovery_code: bool = False  # the store has a recovery code


def unverified_backup(final: Summary | Error | None, record) -> UnverifiedBackup | None:
    """What the user keeps or deletes after a backup whose check was cancelled."""
    if not (isinstance(final, Summary) and final.operation == "backup"):
        return None
    try:
        if final.extra.get("store"):
            stored = final.result(StoreBackupResult)
            if not stored.verify_cancelled:
                return None
            return UnverifiedBackup(
                str(stored.store),
                stored.snapshot,
                protected="--no-password" not in record.args,
                recovery_code=stored.recovery_code,
            )
        result = final.result(BackupResult)
    except ValueError:
        return None
    return UnverifiedBackup(str(result.archive)) if result.verify_cancelled else None


class ProgressScreen(FollowsJobs, AppScreen):
    BINDINGS = [
        Binding("c", "cancel", N_("Cancel job")),
        Binding("escape", "back", N_("Back")),
        Binding("enter", "close", N_("Done"), show=False),
        Binding("k", "keep", N_("Keep it")),
        Binding("d", "delete_backup", N_("Delete it")),
        Binding("a", "backup_alone", N_("Back up to it alone")),
    ]

    def __init__(self, job: Job, *, follow: bool = True, chain: BackupChain | None = None) -> None:
        super().__init__()
        self.job = job
        self.chain = chain  # backups one after the other: this one and the next ones
        self.chain_label = chain.current.label if chain and chain.current else ""
        self._chain_recorded = False
        self.view = JobView()
        self.gauge = SpeedGauge(upload=is_remote_backup(job.record))
        self._follow = follow
        self._stopping = False
        self.kept_or_deleted = ""  # a backup whose check was cancelled: "kept" | "deleted"

    def help_text(self) -> str:
        return _(
            "A job runs as a process of its own: leaving this screen, closing the window "
            "or losing the connection does not stop it; start therabak-tui again to see "
            "it. c cancels after asking (the question says what a cancel means at that "
            "moment). Files that needed retries are listed with what went wrong."
        )

    # ---- layout ---------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield AppHeader(job_title(self.job.record))
        yield Static("", id="chain")
        with Vertical(id="progress-box"):
            yield Static(_("Starting…"), id="phase")
            yield ProgressBar(total=None, show_eta=False, id="job-bar")
            yield Static("", id="numbers")
            yield Static("", id="speed")
            yield Static("", id="current")
        yield Static("", id="summary")
        yield Static("", id="retry-title")
        yield RetryPanel(id="retries")
        yield Static("", id="retry-notes")
        yield Button(
            "", id="alone", variant="primary", compact=True
        )  # after the retries: focus order kept
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._render_chain()
        self.query_one("#summary").display = False
        self.query_one("#alone").display = False
        self.query_one("#retries").display = False
        self.query_one("#retry-title").display = False
        self.query_one("#retry-notes").display = False
        self.set_interval(1.0, self._tick)
        if self._follow:
            self.follow_job(self.app.ctx.runner, self.job)

    def after_recompose(self) -> None:
        self.query_one("#summary").display = False
        self.query_one("#retries").display = False
        self.query_one("#retry-title").display = False
        self.query_one("#retry-notes").display = False
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
        now = time.monotonic()
        for event in events:
            if isinstance(event, Progress):
                self.gauge.add(event, now)
        self._render_progress()
        self._render_retries()
        if self.view.finished:
            self._show_summary()

    def _tick(self) -> None:
        if not self.view.finished:
            self._render_speed()
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
            self._render_speed()
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
        text = Text("  ·  ".join(parts))
        if p.files_reused:  # a store backup: both counts, what is read and what is not
            text.append(
                "\n"
                + _("+ {files} ({size}) unchanged, already in the backup store").format(
                    files=formatting.files(p.files_reused), size=formatting.size(p.bytes_reused)
                ),
                style="dim",
            )
        numbers.update(text)
        self._render_speed()
        current.update(
            Text.assemble((_("Now:") + " ", "dim"), tail(formatting.name(p.current), 70))
            if p.current
            else ""
        )

    def _render_speed(self) -> None:
        """Rate and time left, changed at most every few seconds (app/speed.py)."""
        progress = None if self.view.finished else self.view.progress
        line = self.gauge.line(progress, time.monotonic())
        self.query_one("#speed", Static).update(Text(line, style="bold") if line else "")

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
        notes = reason_notes(rows)
        box = self.query_one("#retry-notes", Static)
        box.update(Text("\n".join(notes), style="dim"))
        box.display = bool(notes)

    def _render_chain(self) -> None:
        """Backups one after the other: which one this is, and how the earlier ended (a
        failed one did not stop this one: said so)."""
        box = self.query_one("#chain", Static)
        chain = self.chain
        box.display = chain is not None
        if chain is None:
            return
        text = Text()
        for line in chain.lines():
            text.append(line + "\n", style="bold")
        if any(r.failed for r in chain.done):
            text.append(_("This backup runs anyway.") + "\n", style="bold")
        text.append(
            _("Backup {n} of {total}").format(n=len(chain.done) + 1, total=chain.total)
            + " · "
            + self.chain_label,
            style="dim",
        )
        box.update(text)

    def _next_in_chain(self) -> bool:
        """This backup of a chain ended: record it and follow the next one (True while
        it is awaited or once it runs: this screen gives way to its progress)."""
        chain = self.chain
        if chain is None or self._chain_recorded:
            return False
        self._chain_recorded = True
        final = self.view.final
        cancelled = self.job.state is JobState.CANCELLED or (
            isinstance(final, Error) and final.exit_code == ExitCode.INTERRUPTED
        )
        if not chain.finished(self.chain_label, final, cancelled=cancelled):
            return False
        return self._follow_next()

    def _follow_next(self) -> bool:
        """The next backup of the chain, started by the chain's own process: its progress
        once it runs (asked again shortly while it has not started)."""
        from therabak.app.chain import PENDING

        chain = self.chain
        assert chain is not None
        job = chain.next_job(self.app.ctx.runner)
        if job == PENDING:
            self.query_one("#phase", Static).update(_("The next backup is starting…"))
            self.set_timer(0.2, self._next_later)
            return True
        if job is None or isinstance(job, str):
            return False
        if self.is_current:
            self.app.ctx.runner.mark_seen(self.job)
        self.app.switch_screen(ProgressScreen(job, chain=chain))
        return True

    def _next_later(self) -> None:
        if not self._follow_next():
            self._show_summary()

    def _show_summary(self) -> None:
        if self._next_in_chain():
            return
        box = self.query_one("#summary", Static)
        final = self.view.final
        stderr = self.app.ctx.runner.stderr_text(self.job) if final is None else ""
        text = summary_text(self.job, self.view, self.app.ctx.display_path, stderr)
        if self.chain is not None:  # the last of a chain: every backup's line first
            lines = Text("\n".join(self.chain.lines()) + "\n\n", style="bold")
            text = lines + text
            self.query_one("#chain").display = False
            self._offer_alone(text)
        if self._unverified_archive() is not None:
            if self.kept_or_deleted == "kept":
                text.append("\n" + _("Kept (not verified)."), style="bold")
            elif self.kept_or_deleted == "deleted":
                text.append("\n" + _("Deleted: the backup is gone."), style="bold")
            else:
                text.append("\n" + _("k: keep it  ·  d: delete it"), style="bold")
        box.update(text)
        box.display = True
        box.set_class(final is None or final.exit_code != ExitCode.OK, "attention")
        if self.job.record.operation == "restore":
            self.app.request_scan(again=True)  # the data folder has changed
        self.query_one("#progress-box").display = False
        if self.is_current:
            self.app.ctx.runner.mark_seen(self.job)
        self.refresh_bindings()

    def _offer_alone(self, text: Text) -> None:
        """A destination of the chain refused the password (its store has another one):
        said by its name, and a button starts the backup to it alone."""
        refused = self.chain.refused() if self.chain is not None else []
        button = self.query_one("#alone", Button)
        button.display = bool(refused)
        if not refused:
            return
        for name in refused:
            text.append(
                "\n"
                + _(
                    "The backup store at {dest} did not open with this password: it has "
                    "another one."
                ).format(dest=name),
                style="bold",
            )
        button.label = _("Back up to {dest} alone…").format(dest=refused[0])

    def action_backup_alone(self) -> None:
        """The backup screen with the destination that refused the password picked."""
        refused = self.chain.refused() if self.chain is not None else []
        if not self.view.finished or not refused:
            return
        if self.is_current:
            self.app.ctx.runner.mark_seen(self.job)
        self.app.action_backup(refused[0])

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "alone":
            event.stop()
            self.action_backup_alone()

    # ---- actions --------------------------------------------------------------------

    def _unverified_archive(self) -> str | None:
        """The archive (or the backup store) of a backup whose check after writing was
        cancelled (the user chooses whether to keep it), else None."""
        found = unverified_backup(self.view.final, self.job.record)
        return found.where if found is not None else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        finished = self.view.finished or self.job.state is not JobState.RUNNING
        if action == "cancel":
            return not finished
        if action == "close":
            return finished
        if action in ("keep", "delete_backup"):
            return self._unverified_archive() is not None and not self.kept_or_deleted
        if action == "backup_alone":
            return finished and self.chain is not None and bool(self.chain.refused())
        return True

    def action_cancel(self) -> None:
        question = {
            "backup": _("Cancel the backup?"),
            "restore": _("Cancel the restore?"),
            "verify": _("Cancel the verification?"),
            "folder-backup": _("Cancel the folder backup?"),
        }.get(self.job.record.operation, _("Cancel this job?"))
        meaning = cancel_question(
            self.job.record.operation, self.view.phase, store=is_store_backup(self.job.record)
        )
        if meaning is None:
            self.notify(
                _(
                    "Too late to cancel: the restored data is being put in place (a "
                    "moment). To go back, restore the before-restore folder afterwards."
                ),
                severity="warning",
            )
            return

        def answer(stop: bool | None) -> None:
            if stop:
                self._stopping = self.app.ctx.runner.cancel(self.job)
                self._render_progress()

        self.app.push_screen(
            ConfirmDialog(question, meaning, yes=_("Stop it"), no=_("Keep going"), danger=True),
            answer,
        )

    def action_keep(self) -> None:
        if self._unverified_archive() is None or self.kept_or_deleted:
            return
        self.kept_or_deleted = "kept"
        self._show_summary()

    def action_delete_backup(self) -> None:
        found = unverified_backup(self.view.final, self.job.record)
        if found is None or self.kept_or_deleted:
            return

        def answer(delete: bool | None) -> None:
            if not delete:
                return
            if found.snapshot and found.protected:
                self._unlock_and_forget(found)
            else:
                self._delete_worker(found)

        if found.snapshot:
            body = _(
                "It is complete, but its check was cancelled. Deleting it removes this "
                "restore point from the backup store; the space only it used is freed by "
                "the next prune."
            )
        else:
            body = _(
                "It is complete, but its check was cancelled. Deleting it removes "
                "the file (every volume of it) for good."
            )
        self.app.push_screen(
            ConfirmDialog(
                _("Delete this backup?"),
                Text(self.app.ctx.display_path(found.where)) + Text("\n\n" + body),
                yes=_("Delete it"),
                no=_("Keep it"),
                danger=True,
            ),
            answer,
        )

    def _unlock_and_forget(self, found: UnverifiedBackup) -> None:
        """A point of a store with a password: the password opens the store (checked in
        the dialog's worker), and that same opening forgets the point."""
        from therabak.app.points import load_account
        from therabak.app.screens.unlock import UnlockDialog, Unlocked
        from therabak.jobs.removal import forget_store_point
        from therabak.store.keyfile import Unlock

        account = load_account(self.app.ctx)

        def forget(password, code) -> None:
            forget_store_point(
                found.where,
                found.snapshot,
                Unlock(password=password, recovery_code=code, account=account),
            )

        def done(result: Unlocked | None) -> None:
            if result is not None:
                self._deleted()

        self.app.push_screen(
            UnlockDialog(
                _("Delete this backup?"),
                forget,
                has_code=found.recovery_code,
                body=_("Type the backup store's password to delete this backup from it."),
            ),
            done,
        )

    @work(thread=True, exclusive=True, exit_on_error=False, group="delete")
    def _delete_worker(self, found: UnverifiedBackup) -> None:
        from pathlib import Path

        from therabak.app.points import load_account
        from therabak.errors import TherabakError
        from therabak.jobs.removal import delete_backup, forget_store_point
        from therabak.store.keyfile import Unlock

        try:
            if found.snapshot:  # a store without a password
                account = load_account(self.app.ctx)
                forget_store_point(found.where, found.snapshot, Unlock(account=account))
            else:
                delete_backup(Path(found.where))
        except (TherabakError, OSError) as e:
            message = getattr(e, "message", None) or getattr(e, "strerror", None) or str(e)
            self.app.call_from_thread(
                self.notify,
                _("The backup could not be deleted: {error}").format(error=message),
                severity="error",
            )
            return
        self.app.call_from_thread(self._deleted)

    def _deleted(self) -> None:
        self.kept_or_deleted = "deleted"
        self._show_summary()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_close(self) -> None:
        self.app.pop_screen()
