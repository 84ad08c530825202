"""The state of one job as the progress screen shows it, built from its events.

No Textual here: the screen feeds events in (live, or replayed from the job's log after
a re-attach) and renders what this model holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from therabak.events import (
    Damaged,
    Error,
    Event,
    FileOutcome,
    Phase,
    Progress,
    Retry,
    Summary,
    Warning,
)


@dataclass
class RetryRow:
    """One file that needed retries."""

    path: str
    attempt: int  # the attempt that failed last
    max: int
    error: str
    next_at: float | None = None  # clock time (seconds) of the next attempt
    outcome: str = ""  # recovered | raw | skipped | failed ("" while retrying)
    code: str = ""  # what kind of failure (the Retry event's code: decrypt, changed, ...)

    def seconds_left(self, now: float) -> float | None:
        if self.outcome or self.next_at is None:
            return None
        return max(0.0, self.next_at - now)


@dataclass
class JobView:
    phase: str = ""
    phase_detail: str = ""
    progress: Progress | None = None
    retries: dict[str, RetryRow] = field(default_factory=dict)
    warnings: list[Warning] = field(default_factory=list)
    damaged: list[Damaged] = field(default_factory=list)
    final: Summary | Error | None = None
    events_seen: int = 0

    @property
    def finished(self) -> bool:
        return self.final is not None

    @property
    def fraction(self) -> float | None:
        p = self.progress
        if p is None or p.bytes_total <= 0:
            return None
        return min(1.0, p.bytes_done / p.bytes_total)

    def apply(self, events: Iterable[Event], now: float) -> None:
        """Take in *events* received at clock time *now* (seconds)."""
        for event in events:
            self.events_seen += 1
            if isinstance(event, Progress):
                self.progress = event
            elif isinstance(event, Phase):
                self.phase, self.phase_detail = event.name, event.detail
                if self.progress is not None and self.progress.phase != event.name:
                    self.progress = None
            elif isinstance(event, Retry):
                row = self.retries.get(event.path)
                if row is None:
                    row = self.retries[event.path] = RetryRow(event.path, 0, event.max, "")
                row.attempt, row.max, row.error = event.attempt, event.max, event.error
                row.code = event.code
                row.next_at = now + event.delay_s
                row.outcome = ""
            elif isinstance(event, FileOutcome):
                row = self.retries.get(event.path)
                if row is None:
                    row = self.retries[event.path] = RetryRow(
                        event.path, event.attempts, event.attempts, event.error
                    )
                row.outcome = event.outcome
                row.attempt = event.attempts
                row.next_at = None
                if event.error:
                    row.error = event.error
            elif isinstance(event, Warning):
                self.warnings.append(event)
            elif isinstance(event, Damaged):
                self.damaged.append(event)
            elif isinstance(event, Summary | Error):
                self.final = event


def coalesce(events: list[Event]) -> list[Event]:
    """Keep every event but the progress ones that a later progress event supersedes."""
    last = max((i for i, e in enumerate(events) if isinstance(e, Progress)), default=-1)
    return [e for i, e in enumerate(events) if not isinstance(e, Progress) or i == last]
