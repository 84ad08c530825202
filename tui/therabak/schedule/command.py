"""What a scheduler entry runs, and how often.

The entry starts ``therabak auto`` (which makes a backup only when one is due, see
``jobs/auto.py``) with the absolute path of the Python that runs this therabak, the data
folder and account key of the practice it was set up for, and ``--log`` into therabak's
state folder. It starts it every hour, or more often when the interval of automatic
backups is shorter: a computer that was off at the time of a backup then makes it
within the hour after it is switched on. No secret is part of it: automatic backups
are locked with the account key, which ``therabak auto`` reads from its file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from therabak.errors import SchedulerError
from therabak.i18n import _, ngettext
from therabak.schedule.host import Host
from therabak.settings import PracticePaths, Settings

LOG_NAME = "auto.log"
#: Checks start at this minute past the hour (not on the hour, when everything starts).
MINUTE_OFFSET = 17
#: How often the scheduler may start ``therabak auto``: divisors of an hour, in minutes.
CHECK_STEPS = (5, 6, 10, 12, 15, 20, 30, 60)


def check_minutes(interval_hours: float) -> int:
    """How often the entry starts ``therabak auto``: hourly, or at the largest divisor of
    an hour that is not longer than the interval (at least every 5 minutes)."""
    minutes = interval_hours * 60
    return max((s for s in CHECK_STEPS if s <= minutes), default=CHECK_STEPS[0])


def every_text(minutes: int) -> str:
    """How often the entry starts the automatic backup, in words."""
    if minutes == 60:
        return _("every hour")
    return ngettext("every {n} minute", "every {n} minutes", minutes).format(n=minutes)


def minutes_past_the_hour(every: int) -> list[int]:
    """The minutes of each hour at which a clock-aligned entry (cron, systemd) starts."""
    first = MINUTE_OFFSET % every
    return list(range(first, 60, every))


@dataclass(frozen=True)
class Cadence:
    """When the scheduler starts the entry: *every* minutes, either at fixed minutes past
    the hour (cron, systemd; *anchor* None) or from *anchor* on (Task Scheduler's start
    boundary). *known* is False where the scheduler keeps the phase to itself (launchd
    counts from when it loaded the agent)."""

    every_minutes: int
    anchor: datetime | None = None
    known: bool = True

    def next_at_or_after(self, t: datetime) -> datetime | None:
        if not self.known:
            return None
        step = timedelta(minutes=self.every_minutes)
        if self.anchor is not None:
            if t <= self.anchor:
                return self.anchor
            return self.anchor + step * math.ceil((t - self.anchor) / step)
        start = t.replace(second=0, microsecond=0)
        if start < t:
            start += timedelta(minutes=1)
        wait = (MINUTE_OFFSET - start.minute) % self.every_minutes
        return start + timedelta(minutes=wait)


@dataclass(frozen=True)
class AutoCommand:
    argv: tuple[str, ...]  # argv[0]: the absolute path of the interpreter
    env: tuple[tuple[str, str], ...]  # THERABAK_* settings the run must see
    log: Path
    every_minutes: int
    data_dir: Path

    @property
    def program(self) -> str:
        return self.argv[0]

    @property
    def args(self) -> tuple[str, ...]:
        return self.argv[1:]


def auto_command(host: Host, paths: PracticePaths, settings: Settings) -> AutoCommand:
    log = host.state_dir / LOG_NAME
    argv = (
        str(host.python),
        "-m",
        "therabak",
        "auto",
        "--data-dir",
        str(paths.data_dir),
        "--account-key",
        str(paths.account_key),
        "--log",
        str(log),
    )
    for text in (*argv, *(v for _n, v in host.environ)):
        if any(c in text for c in "\r\n\0"):
            raise SchedulerError(
                _("A path holds a line break and cannot go into a scheduler entry: {path}").format(
                    path=repr(text)
                )
            )
    return AutoCommand(
        argv=argv,
        env=host.environ,
        log=log,
        every_minutes=check_minutes(settings.auto.interval_hours),
        data_dir=paths.data_dir,
    )
