"""Set up and remove automatic backups with the platform's own scheduler.

Which one: Windows Task Scheduler on Windows, launchd on macOS, elsewhere a systemd
user timer where the user manager is reachable and a crontab line where it is not
(``THERABAK_SCHEDULER`` forces one). There is only ever one entry: installing with one
backend removes an entry another backend of this platform holds (a crontab line from
before systemd ran, say), and remove removes from every backend that holds one.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field

from therabak.errors import SchedulerError, UsageError
from therabak.i18n import _
from therabak.schedule.backend import Backend, BackendKind, Change
from therabak.schedule.command import AutoCommand, auto_command
from therabak.schedule.cron import CronBackend
from therabak.schedule.host import BACKEND_ENV, Host, Platform
from therabak.schedule.launchd import LaunchdBackend
from therabak.schedule.systemd import SystemdBackend
from therabak.schedule.taskscheduler import TaskSchedulerBackend
from therabak.schedule.templates import WindowsLogon
from therabak.settings import PracticePaths, Settings

_BACKENDS = {
    BackendKind.SYSTEMD: SystemdBackend,
    BackendKind.CRON: CronBackend,
    BackendKind.LAUNCHD: LaunchdBackend,
    BackendKind.TASK_SCHEDULER: TaskSchedulerBackend,
}


def backends(host: Host) -> list[Backend]:
    """This platform's backends, the preferred one first."""
    if host.forced:
        try:
            kind = BackendKind(host.forced)
        except ValueError:
            raise UsageError(
                _("{name} must be one of: {choices}").format(
                    name=BACKEND_ENV, choices=", ".join(k.value for k in BackendKind)
                )
            ) from None
        return [_BACKENDS[kind](host)]
    if host.platform is Platform.WINDOWS:
        return [TaskSchedulerBackend(host)]
    if host.platform is Platform.MACOS:
        return [LaunchdBackend(host)]
    return [SystemdBackend(host), CronBackend(host)]


def preferred(host: Host) -> Backend:
    """The backend an install uses; SchedulerError when none can be used here."""
    reasons = []
    for backend in backends(host):
        reason = backend.unavailable()
        if reason is None:
            return backend
        reasons.append(reason)
    raise SchedulerError(
        _("Automatic backups cannot be set up here: {reasons}.").format(reasons="; ".join(reasons))
    )


@dataclass
class InstallResult:
    command: AutoCommand
    change: Change
    replaced: list[Change] = field(default_factory=list)  # entries of other backends removed

    @property
    def warnings(self) -> list[str]:
        return self.change.warnings

    def to_dict(self) -> dict:
        return {
            "backend": self.change.kind.value,
            "changed": self.change.changed,
            "location": self.change.location,
            "command": list(self.command.argv),
            "command_line": subprocess.list2cmdline(list(self.command.argv))
            if self.change.kind is BackendKind.TASK_SCHEDULER
            else None,
            "environment": dict(self.command.env),
            "every_minutes": self.command.every_minutes,
            "log": str(self.command.log),
            "replaced": [c.kind.value for c in self.replaced if c.changed],
            "notes": self.change.notes,
            "warnings": self.change.warnings,
        }


def install(
    host: Host,
    paths: PracticePaths,
    settings: Settings,
    *,
    logon: WindowsLogon = WindowsLogon.INTERACTIVE,
) -> InstallResult:
    """Set up the entry for the practice at *paths*: refused (nothing written) when its
    data folder or account key is missing, as every run would then fail."""
    from therabak.practice.account import AccountKey
    from therabak.practice.scan import require_data_dir

    require_data_dir(paths.data_dir)
    AccountKey.load(paths.account_key)
    backend = preferred(host)
    if logon is not WindowsLogon.INTERACTIVE and backend.kind is not BackendKind.TASK_SCHEDULER:
        raise UsageError(
            _(
                "--when-logged-off is for Windows; on Linux, 'loginctl enable-linger' lets "
                "the systemd timer run when nobody is logged in."
            )
        )
    if isinstance(backend, TaskSchedulerBackend):
        backend.logon = logon
    cmd = auto_command(host, paths, settings)
    change = backend.install(cmd)
    result = InstallResult(cmd, change)
    for other in backends(host):
        if other.kind is not backend.kind and other.unavailable() is None:
            removed = other.remove()
            result.replaced.append(removed)
            if removed.changed:
                change.notes.append(
                    _("Removed the entry that was set up before ({where}).").format(
                        where=", ".join(removed.location)
                    )
                )
    return result


def remove(host: Host) -> list[Change]:
    """Remove the entry from every backend that holds one (idempotent)."""
    changes = []
    for backend in backends(host):
        if backend.kind is BackendKind.CRON and backend.unavailable() is not None:
            continue
        changes.append(backend.remove())
    return changes
