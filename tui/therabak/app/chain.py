"""Two destinations, one routine: backups that run one after the other (a folder, then
an off-site destination), each its own job with its own result.

No Textual here. The app starts the first backup and hands the ones after it, with the
password, to a process of their own (:mod:`therabak.app.chain_process`): they start
when the one before them ended even when the app is gone (a dropped SSH connection, a
closed window). The app's chain then only follows: which job runs for which destination
and how each ended. A failed backup does not stop the next one (the off-site copy
matters most when the stick is the problem); a cancelled one does: the user asked to
stop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from therabak.errors import ExitCode
from therabak.events import Error, Summary
from therabak.i18n import _

if TYPE_CHECKING:
    from therabak.app.chain_process import ChainHandle
    from therabak.app.runner import Job, JobRequest, JobRunner
    from therabak.crypto.recovery import RecoveryCode

PENDING = "pending"  # next_job: the chain's process has not started it yet


@dataclass
class ChainStep:
    request: JobRequest
    title: str
    target: str
    label: str  # the destination's name, for the lines of the summary
    recovery_code: RecoveryCode | None = field(default=None, repr=False)  # a new store's


@dataclass
class ChainResult:
    label: str
    final: Summary | Error | None
    cancelled: bool = False
    not_started: str = ""  # why it did not start (it never ran)

    def line(self) -> str:
        """One line: how the backup to this destination ended."""
        final = self.final
        if self.not_started:
            return _("Backup to {dest}: did not start: {reason}").format(
                dest=self.label, reason=self.not_started
            )
        if self.cancelled:
            return _("Backup to {dest}: cancelled.").format(dest=self.label)
        if isinstance(final, Summary) and final.exit_code == ExitCode.OK:
            return _("Backup to {dest}: finished.").format(dest=self.label)
        if isinstance(final, Summary):
            return _("Backup to {dest}: finished, with warnings.").format(dest=self.label)
        if isinstance(final, Error):
            return _("Backup to {dest}: FAILED: {error}").format(
                dest=self.label, error=final.message
            )
        return _("Backup to {dest}: ended without a result.").format(dest=self.label)

    @property
    def failed(self) -> bool:
        return not isinstance(self.final, Summary)

    @property
    def refused(self) -> bool:
        """The destination's store did not open with the chain's password (it has
        another one): that backup can be started alone, with its own password."""
        final = self.final
        return (
            not self.cancelled
            and not self.not_started
            and isinstance(final, Error)
            and final.exit_code == ExitCode.CANNOT_UNLOCK
        )


@dataclass
class BackupChain:
    steps: list[ChainStep]  # still to start (or to follow), in order
    password: str | None = field(default=None, repr=False)
    env: dict[str, str | None] = field(default_factory=dict)
    done: list[ChainResult] = field(default_factory=list)
    total: int = 0  # how many backups the chain has in all
    current: ChainStep | None = None  # the one started last
    handle: ChainHandle | None = None  # the process that starts the ones after the first

    def __post_init__(self) -> None:
        self.total = self.total or len(self.steps)

    @property
    def position(self) -> int:
        """Which backup of the chain runs (1-based)."""
        return len(self.done) + 1

    def lines(self) -> list[str]:
        """What became of the backups that ended: "Backup 1 of 2 · Backup to Stick:
        finished."."""
        return [
            _("Backup {n} of {total}").format(n=i, total=self.total) + " · " + r.line()
            for i, r in enumerate(self.done, 1)
        ]

    def refused(self) -> list[str]:
        """The destinations whose store refused the password, in order."""
        return [r.label for r in self.done if r.refused]

    def start(self, runner: JobRunner) -> Job:
        """Start the first backup and hand the others, with the password, to a process
        of their own (the password is then dropped here). Raises OSError when the first
        cannot be started; when the others cannot be handed over they are recorded as
        not started, with the reason."""
        from therabak.app.chain_process import ChainStart, start_chain_process

        step = self.current = self.steps.pop(0)
        try:
            job = runner.start_request(
                step.request,
                password=self.password,
                recovery_code=step.recovery_code,
                title=step.title,
                target=step.target,
                env=self.env,
            )
            if self.steps:
                codes = [s.recovery_code for s in self.steps if s.recovery_code is not None]
                try:
                    self.handle = start_chain_process(
                        runner,
                        job,
                        [
                            ChainStart.of(
                                s.request,
                                s.title,
                                s.target,
                                recovery_code=s.recovery_code is not None,
                            )
                            for s in self.steps
                        ],
                        password=self.password,
                        recovery_code=codes[0] if codes else None,
                        env=self.env,
                    )
                except OSError as e:
                    self._not_started(str(e.strerror or e))
            return job
        finally:
            self.password = None

    def _not_started(self, reason: str) -> None:
        self.done.extend(ChainResult(s.label, None, not_started=reason) for s in self.steps)
        self.steps.clear()

    def next_job(self, runner: JobRunner) -> Job | str | None:
        """The job of the next backup once the chain's process has started it;
        :data:`PENDING` until then; None when none is to come (recorded as not started
        when the process gave up on it)."""
        if not self.steps:
            return None
        started = self.handle.started(self.position - 2) if self.handle is not None else False
        if started is None:
            return PENDING
        job = runner.get(started) if isinstance(started, str) else None
        if job is None:
            self._not_started(_("the process that starts it has ended"))
            return None
        self.current = self.steps.pop(0)
        return job

    def finished(self, label: str, final: Summary | Error | None, *, cancelled: bool) -> bool:
        """Record how a backup ended; whether a next one is to come (a cancel stops the
        chain: its process sees the cancelled job and starts no more)."""
        self.done.append(ChainResult(label, final, cancelled))
        if cancelled:
            self.stop()
        return bool(self.steps)

    def stop(self) -> None:
        """The backups still waiting do not start."""
        if self.handle is not None:
            self.handle.stop()
        self.steps.clear()
