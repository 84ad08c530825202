"""Backup status: the last manual, automatic and folder backup, and the reminder.

The reminder comes first: when the last manual backup is older than
``Settings.reminder_days`` (14) or there is none, the report says so and its exit code
is 3. Automatic backups that have never run or are overdue (older than twice the
interval) are a warning too (exit 3), and so is what the scheduler's entry needs (given
as *schedule*: ``schedule/status.py``; a failed last run, a stale entry, lingering off
over SSH).

Each destination the settings name (``[[destination]]``, :mod:`therabak.destinations`)
gets its own line: its last backup. The reminder considers the off-site copy too: the
manual-backup reminder is about the copies on local drives (a USB stick); every named
off-site destination whose last backup is older than the same interval, or that has
none, is a reminder of its own, naming it.

Sources: the history of this computer (``<state dir>/history.jsonl``), the headers of
the archives in the remembered destinations and the named local ones (so a lost
history or a backup made elsewhere still counts) and the automatic-backup folder. Reads
headers only; an off-site destination is known from this computer's history alone (no
network in ``status``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from therabak import formatting
from therabak.destinations import Destination
from therabak.destinations import destinations as named_destinations
from therabak.errors import ExitCode
from therabak.i18n import _
from therabak.jobkit import history
from therabak.jobs.auto import interval, last_auto_backup, next_due
from therabak.points.discovery import SearchPlace, find_before_restore, list_points
from therabak.points.point import Place, PointKind, RestorePoint
from therabak.settings import Settings
from therabak.storage.url import is_url


class ScheduleFacts(Protocol):
    """What the status needs of the scheduler's answer (``schedule.status.ScheduleStatus``,
    which builds on the jobs: the engine's jobs never import ``schedule``)."""

    warnings: list[str]

    @property
    def set_up(self) -> bool: ...

    def to_dict(self) -> dict[str, Any]: ...


@dataclass
class LastBackup:
    kind: str  # manual | auto | folder | restore
    when: datetime
    where: str
    verified: bool | None = None
    exists: bool = True

    def to_dict(self, now: datetime) -> dict[str, Any]:
        return {
            "when": self.when.isoformat(),
            "age": formatting.ago(self.when, now),
            "age_days": round((now - self.when).total_seconds() / 86400, 2),
            "where": self.where,
            "verified": self.verified,
            "exists": self.exists,
        }


@dataclass
class DestinationStatus:
    """A named destination and its last backup (from this computer's view)."""

    destination: Destination
    last: LastBackup | None
    overdue: bool

    def to_dict(self, now: datetime) -> dict[str, Any]:
        return {
            **self.destination.to_dict(),
            "last": self.last.to_dict(now) if self.last else None,
            "overdue": self.overdue,
        }


@dataclass
class StatusReport:
    data_dir: Path
    now: datetime
    manual: LastBackup | None
    auto: LastBackup | None
    folder: LastBackup | None
    last_restore: LastBackup | None
    auto_folder: Path
    auto_state: str  # ok | overdue | never
    auto_next_due: datetime | None
    reminder_days: int
    reminder: str = ""  # empty when no reminder is due (every reminder, one after the other)
    reminders: list[str] = field(default_factory=list)
    destinations: list[DestinationStatus] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    before_restore: list[RestorePoint] = field(default_factory=list)
    schedule: ScheduleFacts | None = None

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.WARNINGS if self.reminder or self.warnings else ExitCode.OK

    def to_dict(self) -> dict[str, Any]:
        def last(b: LastBackup | None):
            return b.to_dict(self.now) if b else None

        return {
            "data_dir": str(self.data_dir),
            "reminder": self.reminder or None,
            "reminders": self.reminders,
            "reminder_days": self.reminder_days,
            "destinations": [d.to_dict(self.now) for d in self.destinations],
            "manual": last(self.manual),
            "auto": last(self.auto),
            "folder": last(self.folder),
            "last_restore": last(self.last_restore),
            "auto_folder": str(self.auto_folder),
            "auto_state": self.auto_state,
            "auto_next_due": self.auto_next_due.isoformat() if self.auto_next_due else None,
            "warnings": self.warnings,
            "before_restore": [str(p.path) for p in self.before_restore],
            "schedule": self.schedule.to_dict() if self.schedule else None,
            "exit_code": self.exit_code,
        }


def _from_record(r: history.BackupRecord | None) -> LastBackup | None:
    if r is None:
        return None
    try:
        when = r.created_at.astimezone()
    except ValueError:
        return None
    exists = True if is_url(r.path) else Path(r.path).exists()
    return LastBackup(r.kind, when, r.path, r.verified, exists)


def in_destination(path: str, dest: Destination) -> bool:
    """Whether the backup at *path* (a file, a folder or a URL) lies in *dest*."""
    if dest.is_remote:
        where = dest.where.rstrip("/")
        return is_url(path) and (path == where or path.startswith(where + "/"))
    if is_url(path):
        return False
    try:
        Path(path).absolute().relative_to(Path(dest.location.path).absolute())
    except ValueError:
        return False
    return True


def compute_status(
    data_dir: Path,
    settings: Settings,
    *,
    account_key_id: str | None = None,
    now: datetime | None = None,
    schedule: ScheduleFacts | None = None,
) -> StatusReport:
    """The status of *data_dir*'s backups: the last of each kind, each named
    destination's, the reminders and the warnings (the module's docstring)."""
    now = now or datetime.now().astimezone()
    data_dir = Path(data_dir)
    records = history.read_all()

    def newest(kind: history.RecordKind) -> LastBackup | None:
        mine = [
            r
            for r in records
            if r.kind == kind and (not r.data_dir or Path(r.data_dir) == data_dir)
        ]
        return _from_record(max(mine, key=lambda r: r.created_at, default=None))

    named = named_destinations(settings)
    mine = [r for r in records if not r.data_dir or Path(r.data_dir) == data_dir]
    manual, found_points = _last_manual(mine, records, settings, named, account_key_id)
    dest_status = [
        _destination_status(d, mine, found_points, records, now, settings.reminder_days)
        for d in named
    ]

    folder = settings.auto_folder(data_dir)
    auto = _last_auto(folder, data_dir, records)

    report = StatusReport(
        data_dir=data_dir,
        now=now,
        manual=manual,
        auto=auto,
        folder=newest("folder"),
        last_restore=newest("restore"),
        auto_folder=folder,
        auto_state="never",
        auto_next_due=next_due(auto.when if auto else None, settings.auto),
        reminder_days=settings.reminder_days,
    )
    report.destinations = dest_status
    _remind(report, manual, settings)
    _warn_about_auto(report, auto, schedule, settings)
    report.schedule = schedule
    report.before_restore = find_before_restore(data_dir, account_key_id)
    return report


def _last_manual(
    mine: list[history.BackupRecord],
    records: list[history.BackupRecord],
    settings: Settings,
    named: list[Destination],
    account_key_id: str | None,
) -> tuple[LastBackup | None, list[RestorePoint]]:
    """The last manual backup on a local drive (from the history, or a newer archive
    found in the remembered and the named local destinations) and the points found there."""
    # the copies on local drives: every manual backup but those that went off-site
    manual = _from_record(
        max(
            (r for r in mine if r.kind == history.RecordKind.MANUAL and not is_url(r.path)),
            key=lambda r: r.created_at,
            default=None,
        )
    )
    # Archives in the remembered destinations (and the named local ones) count even
    # without a history record.
    folders = list(settings.remembered_destinations)
    folders += [d.location.path for d in named if not d.is_remote]
    places = [SearchPlace(Path(p), Place.REMEMBERED) for p in dict.fromkeys(folders)]
    found_points: list[RestorePoint] = []
    if places:
        found_points = list_points(
            data_dir=None, account_key_id=account_key_id, places=places
        ).points
        for p in found_points:
            if (
                p.kind == PointKind.MANUAL
                and p.created
                and (manual is None or p.created > manual.when)
            ):
                verified = next((r.verified for r in records if r.path == str(p.path)), None)
                manual = LastBackup("manual", p.created, str(p.path), verified, True)
    return manual, found_points


def _last_auto(
    folder: Path, data_dir: Path, records: list[history.BackupRecord]
) -> LastBackup | None:
    """The last automatic backup in *folder*, verified as its newest history record says."""
    last = last_auto_backup(folder, data_dir)
    auto = None
    if last is not None:
        verified = next((r.verified for r in reversed(records) if r.path == str(last[1])), None)
        auto = LastBackup("auto", last[0], str(last[1]), verified, last[1].exists())
    return auto


def _remind(report: StatusReport, manual: LastBackup | None, settings: Settings) -> None:
    """The reminders: no or too old a manual backup first, then every overdue off-site
    destination; ``report.reminder`` all of them in one line."""
    now = report.now
    if manual is None:
        report.reminder = _(
            "No manual backup has been made yet. Make one now on an external "
            "medium (a USB stick) and keep it away from this computer."
        )
    else:
        age = now - manual.when
        if age > timedelta(days=settings.reminder_days):
            report.reminder = _(
                "The last manual backup is {days} days old ({time}). "
                "Make one at least every {limit} days, on an external medium."
            ).format(
                days=age.days, time=formatting.local_time(manual.when), limit=settings.reminder_days
            )
    if report.reminder:
        report.reminders.append(report.reminder)
    for d in report.destinations:
        if d.destination.is_remote and d.overdue:
            report.reminders.append(offsite_reminder(d, now, settings.reminder_days))
    report.reminder = " ".join(report.reminders)


def _warn_about_auto(
    report: StatusReport,
    auto: LastBackup | None,
    schedule: ScheduleFacts | None,
    settings: Settings,
) -> None:
    """The automatic backups' state and warnings: none yet and not set up, overdue,
    and what the scheduler's entry needs."""
    now = report.now
    set_up = schedule is not None and schedule.set_up
    if auto is None:
        if not set_up:  # set up and none yet: the first one comes with the next run
            report.warnings.append(
                _(
                    "No automatic backup has been made yet, and automatic backups are not "
                    "set up: 'therabak schedule install' sets them up."
                )
            )
    elif now - auto.when > 2 * interval(settings.auto):
        report.auto_state = "overdue"
        report.warnings.append(
            _(
                "Automatic backups are overdue: the last one is from {time} ({age}); "
                "'therabak schedule status' shows why."
            ).format(time=formatting.local_time(auto.when), age=formatting.ago(auto.when, now))
        )
    else:
        report.auto_state = "ok"
    if set_up:
        assert schedule is not None
        report.warnings.extend(schedule.warnings)


def _destination_status(
    dest: Destination,
    mine: list[history.BackupRecord],
    found: list[RestorePoint],
    records: list[history.BackupRecord],
    now: datetime,
    reminder_days: int,
) -> DestinationStatus:
    """The last manual backup in *dest*: from the history, and for a local destination
    from the backups found in it."""
    last = _from_record(
        max(
            (
                r
                for r in mine
                if r.kind == history.RecordKind.MANUAL and in_destination(r.path, dest)
            ),
            key=lambda r: r.created_at,
            default=None,
        )
    )
    for p in found:
        if (
            p.kind == PointKind.MANUAL
            and p.created
            and in_destination(str(p.path), dest)
            and (last is None or p.created > last.when)
        ):
            verified = next((r.verified for r in records if r.path == str(p.path)), None)
            last = LastBackup("manual", p.created, str(p.path), verified, True)
    overdue = last is None or now - last.when > timedelta(days=reminder_days)
    return DestinationStatus(dest, last, overdue)


def destination_statuses(
    settings: Settings, data_dir: Path, now: datetime | None = None
) -> list[DestinationStatus]:
    """Each named destination and its last backup, from this computer's history alone
    (quick: no folder is searched, no server asked; the app's home screen)."""
    now = now or datetime.now().astimezone()
    records = history.read_all()
    mine = [r for r in records if not r.data_dir or Path(r.data_dir) == Path(data_dir)]
    return [
        _destination_status(d, mine, [], records, now, settings.reminder_days)
        for d in named_destinations(settings)
    ]


def offsite_reminder(d: DestinationStatus, now: datetime, reminder_days: int) -> str:
    """The reminder for an off-site destination whose copy is overdue."""
    if d.last is None:
        return _(
            "No backup has gone to the off-site destination {name} yet: a copy outside "
            "the practice protects against fire, water and burglary."
        ).format(name=d.destination.label)
    return _(
        "The off-site copy in {name} is {days} days old ({time}); make one at least every "
        "{limit} days."
    ).format(
        name=d.destination.label,
        days=(now - d.last.when).days,
        time=formatting.local_time(d.last.when),
        limit=reminder_days,
    )
