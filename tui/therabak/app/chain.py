"""Two destinations, one routine: backups that run one after the other (a folder, then
an off-site destination), each its own job with its own result.

No Textual here. The chain holds what is still to start and the password the jobs get
on their standard input (in memory only, as long as a job of the chain is still to
start; ``repr`` never shows it). A failed backup does not stop the next one (the off-site
copy matters most when the stick is the problem); a cancelled one does: the user asked
to stop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from therabak.errors import ExitCode
from therabak.events import Error, Summary
from therabak.i18n import _

if TYPE_CHECKING:
    from therabak.app.runner import Job, JobRequest, JobRunner
    from therabak.crypto.recovery import RecoveryCode


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

    def line(self) -> str:
        """One line: how the backup to this destination ended."""
        final = self.final
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
            and isinstance(final, Error)
            and final.exit_code == ExitCode.CANNOT_UNLOCK
        )


@dataclass
class BackupChain:
    steps: list[ChainStep]  # still to start, in order
    password: str | None = field(default=None, repr=False)
    env: dict[str, str | None] = field(default_factory=dict)
    done: list[ChainResult] = field(default_factory=list)
    total: int = 0  # how many backups the chain has in all
    current: ChainStep | None = None  # the one started last

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

    def start_next(self, runner: JobRunner) -> Job | None:
        """Start the next backup (None when none is left: the password is then dropped).
        Raises OSError when the job cannot be started."""
        if not self.steps:
            self.password = None
            return None
        step = self.current = self.steps.pop(0)
        try:
            return runner.start_request(
                step.request,
                password=self.password,
                recovery_code=step.recovery_code,
                title=step.title,
                target=step.target,
                env=self.env,
            )
        finally:
            if not self.steps:
                self.password = None

    def finished(self, label: str, final: Summary | Error | None, *, cancelled: bool) -> bool:
        """Record how a backup ended; whether the next one is to start (a cancel stops
        the chain and drops the password)."""
        self.done.append(ChainResult(label, final, cancelled))
        if cancelled:
            self.steps.clear()
            self.password = None
        return bool(self.steps)
