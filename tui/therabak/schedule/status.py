"""Are automatic backups set up, and are they running? The truth for ``schedule status``,
``therabak status`` and the app's home screen.

* **Set up**: which scheduler holds an entry, where, and whether it runs what
  ``schedule install`` would write now (this therabak, this data folder).
* **Last run, last result**: from the record of ``therabak auto`` runs
  (``jobs/auto_runs.py``); the last backup from the automatic-backup folder.
* **Next run**: the scheduler's own next start where it tells (systemd), else computed
  from the entry (cron, Task Scheduler; launchd keeps it to itself). **Next backup**: the
  first start at or after the next backup is due (``jobs/auto.py``).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from therabak import formatting
from therabak.errors import ExitCode, SchedulerError, TherabakError
from therabak.i18n import _
from therabak.jobs import auto_runs
from therabak.jobs.auto import last_auto_backup, next_due
from therabak.schedule.backend import BackendKind, Entry
from therabak.schedule.command import AutoCommand, auto_command
from therabak.schedule.host import Host
from therabak.schedule.manage import backends
from therabak.schedule.systemd import SystemdBackend, linger_advice
from therabak.settings import PracticePaths, Settings

#: A set-up entry whose last run is older than this many starts (plus a little) is stale.
STALE_STARTS = 3


class ScheduleState(StrEnum):
    SET_UP = "set-up"
    NOT_SET_UP = "not-set-up"
    UNAVAILABLE = "unavailable"  # no scheduler this therabak can use here


@dataclass
class ScheduleStatus:
    state: ScheduleState
    now: datetime
    backend: BackendKind | None = None
    location: list[str] = field(default_factory=list)
    command: list[str] | None = None  # what the entry runs, as read back
    current: bool | None = None  # the entry runs what install would write now
    active: bool | None = None
    every_minutes: int | None = None
    next_run: datetime | None = None
    next_run_from: str | None = None  # scheduler | computed
    next_backup: datetime | None = None
    last_run: auto_runs.AutoRun | None = None
    last_backup: datetime | None = None
    linger: bool | None = None  # systemd only
    over_ssh: bool = False
    unavailable: str = ""  # why no scheduler can be used
    warnings: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)  # one per warning: what it is about

    def warn(self, code: str, message: str) -> None:
        """Add a warning; *code*: not-set-up, unavailable, hand-made, scheduler, other-command,
        inactive, last-run-failed, stale or linger."""
        self.warnings.append(message)
        self.codes.append(code)

    @property
    def set_up(self) -> bool:
        return self.state is ScheduleState.SET_UP

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.OK if self.set_up and not self.warnings else ExitCode.WARNINGS

    @property
    def last_run_failed(self) -> bool:
        return self.last_run is not None and not self.last_run.ok

    def to_dict(self) -> dict[str, Any]:
        def when(t: datetime | None) -> str | None:
            return t.isoformat() if t else None

        return {
            "state": self.state.value,
            "backend": self.backend.value if self.backend else None,
            "location": self.location,
            "command": self.command,
            "current": self.current,
            "active": self.active,
            "every_minutes": self.every_minutes,
            "next_run": when(self.next_run),
            "next_run_from": self.next_run_from,
            "next_backup": when(self.next_backup),
            "last_run": self.last_run.to_dict() if self.last_run else None,
            "last_backup": when(self.last_backup),
            "linger": self.linger,
            "over_ssh": self.over_ssh,
            "unavailable": self.unavailable or None,
            "warnings": self.warnings,
            "warning_codes": self.codes,
            "exit_code": int(self.exit_code),
        }


def matches(entry: Entry, cmd: AutoCommand) -> bool:
    """Whether *entry* runs *cmd* (the same program, arguments and settings)."""
    if entry.argv is None:
        return False
    if entry.kind is BackendKind.TASK_SCHEDULER:  # command and one argument string
        expected = [cmd.program, subprocess.list2cmdline(list(cmd.args))]
        return [a.casefold() for a in entry.argv] == [a.casefold() for a in expected]
    return entry.argv == list(cmd.argv) and entry.env == dict(cmd.env)


def schedule_status(
    host: Host,
    paths: PracticePaths,
    settings: Settings,
    *,
    now: datetime | None = None,
) -> ScheduleStatus:
    now = now or datetime.now().astimezone()
    status = ScheduleStatus(ScheduleState.NOT_SET_UP, now, over_ssh=host.over_ssh)
    status.last_run = auto_runs.last_run(paths.data_dir)
    last = last_auto_backup(settings.auto_folder(paths.data_dir), paths.data_dir)
    status.last_backup = last[0] if last else None

    entry, reasons = None, []
    try:
        candidates = backends(host)
    except TherabakError as e:
        candidates, reasons = [], [e.message]
    for backend in candidates:
        try:
            entry = backend.read()
        except SchedulerError as e:
            status.warn("scheduler", e.message)
            continue
        if entry is not None:
            if isinstance(backend, SystemdBackend) and backend.unavailable() is None:
                status.linger = backend.linger()
            break
        reason = backend.unavailable()
        if reason:
            reasons.append(reason)
    if entry is None:
        if candidates and len(reasons) == len(candidates) or not candidates:
            status.state = ScheduleState.UNAVAILABLE
            status.unavailable = "; ".join(reasons)
        _not_set_up_warning(status, settings)
        return status

    status.state = ScheduleState.SET_UP
    status.backend = entry.kind
    status.location = entry.location
    status.command = entry.argv
    status.active = entry.active
    try:
        status.current = matches(entry, auto_command(host, paths, settings))
    except SchedulerError:
        status.current = False
    cadence = entry.cadence
    status.every_minutes = cadence.every_minutes if cadence else None
    if entry.next_start is not None:
        status.next_run, status.next_run_from = entry.next_start, "scheduler"
    elif cadence is not None and cadence.known:
        status.next_run, status.next_run_from = cadence.next_at_or_after(now), "computed"
    due = next_due(status.last_backup, settings.auto)
    if due is None or due <= (status.next_run or now):
        status.next_backup = status.next_run
    elif cadence is not None:
        status.next_backup = cadence.next_at_or_after(due)
    _set_up_warnings(status, host)
    return status


def _not_set_up_warning(status: ScheduleStatus, settings: Settings) -> None:
    if status.state is ScheduleState.UNAVAILABLE:
        status.warn(
            "unavailable",
            _("Automatic backups cannot be set up here: {reasons}.").format(
                reasons=status.unavailable
            ),
        )
        return
    run = status.last_run
    if run is not None and status.now - run.started_at < 2 * timedelta(
        hours=settings.auto.interval_hours
    ):
        status.warn(
            "hand-made",
            _(
                "therabak has not set up automatic backups, but something started "
                "'therabak auto' at {time}: a scheduler entry made by hand? "
                "'therabak schedule install' sets up one that therabak knows."
            ).format(time=formatting.local_time(run.started_at)),
        )
        return
    status.warn(
        "not-set-up",
        _(
            "Automatic backups are not set up: nothing starts them. Set them up with "
            "'therabak schedule install' or in the app's settings."
        ),
    )


def _set_up_warnings(status: ScheduleStatus, host: Host) -> None:
    again = _("run 'therabak schedule install' again")
    if status.current is False:
        status.warn(
            "other-command",
            _(
                "The scheduler entry runs another command than this therabak would set up "
                "(another data folder, account key or Python): {fix}."
            ).format(fix=again),
        )
    if status.active is False:
        status.warn(
            "inactive", _("The scheduler entry exists but is not active: {fix}.").format(fix=again)
        )
    run = status.last_run
    if run is not None and not run.ok:
        status.warn(
            "last-run-failed",
            _("The last automatic run failed ({time}): {message}").format(
                time=formatting.local_time(run.started_at), message=run.shown_message
            ),
        )
    if run is not None and status.every_minutes:
        late = timedelta(minutes=status.every_minutes * STALE_STARTS + 10)
        if status.now - run.started_at > late:
            status.warn(
                "stale",
                _(
                    "'therabak auto' has not run since {time} ({age}): the computer was off, "
                    "or the scheduler does not start it."
                ).format(
                    time=formatting.local_time(run.started_at),
                    age=formatting.ago(run.started_at, status.now),
                ),
            )
    if status.backend is BackendKind.SYSTEMD and status.over_ssh and status.linger is False:
        status.warn("linger", linger_advice(host.user))
