"""What every scheduler backend offers, and what it reports.

A backend installs, reads and removes the one entry that starts ``therabak auto``:
:mod:`.systemd` (a user timer), :mod:`.cron` (a crontab line), :mod:`.launchd` (an
agent) and :mod:`.taskscheduler` (a Windows task).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from therabak.i18n import N_
from therabak.schedule.command import AutoCommand, Cadence


class BackendKind(StrEnum):
    SYSTEMD = "systemd"
    CRON = "cron"
    LAUNCHD = "launchd"
    TASK_SCHEDULER = "taskscheduler"


#: How each backend is called where a user reads it (translated where shown).
BACKEND_NAMES = {
    BackendKind.SYSTEMD: N_("systemd user timer"),
    BackendKind.CRON: N_("crontab line"),
    BackendKind.LAUNCHD: N_("launchd agent"),
    BackendKind.TASK_SCHEDULER: N_("Windows Task Scheduler task"),
}


@dataclass
class Entry:
    """The entry as the scheduler holds it now."""

    kind: BackendKind
    location: list[str]  # files, or the crontab / task it lives in
    argv: list[str] | None  # the command it runs, read back (None: not readable)
    env: dict[str, str] = field(default_factory=dict)
    cadence: Cadence | None = None
    active: bool | None = None  # enabled and loaded, where the scheduler can tell
    next_start: datetime | None = None  # the scheduler's own next start, where it tells


@dataclass
class Change:
    """What install or remove did."""

    kind: BackendKind
    changed: bool
    location: list[str]
    notes: list[str] = field(default_factory=list)  # said to the user
    warnings: list[str] = field(default_factory=list)  # advice; makes the exit code 3


class Backend(Protocol):
    kind: BackendKind

    def unavailable(self) -> str | None:
        """Why this scheduler cannot be used here, or None when it can."""

    def read(self) -> Entry | None:
        """The entry, or None when there is none."""

    def install(self, cmd: AutoCommand) -> Change:
        """Write the entry (replacing ours, never anything else) and activate it."""

    def remove(self) -> Change:
        """Deactivate and delete the entry (changed=False: there was none)."""
