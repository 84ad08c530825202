"""A systemd user timer: ``<XDG_CONFIG_HOME>/systemd/user/therabak-auto.{service,timer}``.

Installed with ``systemctl --user daemon-reload`` and ``enable --now therabak-auto.timer``.
The user manager runs while the user is logged in; for it to run when nobody is (a PC
looked after over SSH), lingering must be on (``loginctl enable-linger``), which
:meth:`SystemdBackend.linger` reports.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from pathlib import Path

from therabak.errors import SchedulerError
from therabak.fsutil import make_private_dirs, write_private
from therabak.i18n import _
from therabak.schedule import templates
from therabak.schedule.backend import BackendKind, Change, Entry
from therabak.schedule.command import AutoCommand, Cadence
from therabak.schedule.host import Host

SERVICE = templates.UNIT_NAME + ".service"
TIMER = templates.UNIT_NAME + ".timer"


class SystemdBackend:
    kind = BackendKind.SYSTEMD

    def __init__(self, host: Host) -> None:
        self.host = host
        self.folder = host.config_home / "systemd" / "user"
        self.service = self.folder / SERVICE
        self.timer = self.folder / TIMER

    # ---- the user manager ----------------------------------------------------------------

    def _systemctl(self, *args: str):
        return self.host.tools.run("systemctl", ["--user", "--no-pager", *args])

    def unavailable(self) -> str | None:
        if self.host.tools.find("systemctl") is None:
            return _("systemd is not installed")
        try:
            r = self._systemctl("show", "--property=Version")
        except SchedulerError as e:
            return e.message
        if not r.ok or "Version=" not in r.stdout:
            return _("the systemd user manager is not reachable ({detail})").format(
                detail=r.detail()
            )
        return None

    def linger(self) -> bool | None:
        """Whether the user manager runs when the user is not logged in (None: unknown)."""
        try:
            r = self.host.tools.run(
                "loginctl", ["show-user", self.host.user, "--property=Linger", "--value"]
            )
        except SchedulerError:
            r = None
        if r is not None and r.ok and r.stdout.strip() in ("yes", "no"):
            return r.stdout.strip() == "yes"
        # loginctl knows no user who is neither logged in nor lingering
        flag = Path("/var/lib/systemd/linger") / self.host.user
        return flag.exists() if r is not None else None

    # ---- the entry --------------------------------------------------------------------------

    def read(self) -> Entry | None:
        if not (self.service.exists() or self.timer.exists()):
            return None
        argv, env, cadence = None, {}, None
        with contextlib.suppress(OSError, UnicodeDecodeError):
            service = templates.unit_values(self.service.read_text("utf-8")).get("Service", {})
            if service.get("ExecStart"):
                argv = templates.systemd_split(service["ExecStart"][-1])
            for value in service.get("Environment", []):
                for word in templates.systemd_split(value):
                    name, _sep, val = word.partition("=")
                    env[name] = val
        with contextlib.suppress(OSError, UnicodeDecodeError):
            timer = templates.unit_values(self.timer.read_text("utf-8")).get("Timer", {})
            every = templates.every_of_calendar((timer.get("OnCalendar") or [""])[-1])
            if every:
                cadence = Cadence(every)
        entry = Entry(
            self.kind,
            [str(self.timer), str(self.service)],
            argv if argv else None,
            env,
            cadence,
        )
        if not (self.service.exists() and self.timer.exists()):
            entry.active = False
            return entry
        with contextlib.suppress(SchedulerError):
            query = ("show", TIMER, "--property=UnitFileState,ActiveState,NextElapseUSecRealtime")
            r = self._systemctl(*query, "--timestamp=unix")
            if not r.ok:  # systemd before 247 has no --timestamp: no next start, then
                r = self._systemctl(*query)
            if r.ok:
                values = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
                entry.active = (
                    values.get("UnitFileState") == "enabled"
                    and values.get("ActiveState") == "active"
                )
                entry.next_start = _unix_time(values.get("NextElapseUSecRealtime", ""))
        return entry

    def install(self, cmd: AutoCommand) -> Change:
        fresh = not (self.service.exists() or self.timer.exists())
        make_private_dirs(self.folder)
        write_private(self.service, templates.systemd_service(cmd).encode("utf-8"))
        write_private(self.timer, templates.systemd_timer(cmd).encode("utf-8"))
        try:
            self._check(self._systemctl("daemon-reload"))
            self._check(self._systemctl("enable", "--now", TIMER))
        except SchedulerError:
            if fresh:  # leave nothing half set up behind
                for path in (self.service, self.timer):
                    with contextlib.suppress(OSError):
                        path.unlink()
                with contextlib.suppress(SchedulerError):
                    self._systemctl("daemon-reload")
            raise
        change = Change(self.kind, True, [str(self.timer), str(self.service)])
        if self.host.over_ssh and self.linger() is False:
            change.warnings.append(linger_advice(self.host.user))
        return change

    def remove(self) -> Change:
        existed = self.service.exists() or self.timer.exists()
        wants = self.folder / "timers.target.wants" / TIMER
        change = Change(
            self.kind, existed or wants.is_symlink(), [str(self.timer), str(self.service)]
        )
        if not change.changed:
            return change
        reachable = self.unavailable() is None
        if reachable:
            r = self._systemctl("disable", "--now", TIMER)
            if not r.ok and self.timer.exists():
                raise SchedulerError(
                    _("systemctl --user disable {unit} failed: {detail}").format(
                        unit=TIMER, detail=r.detail()
                    )
                )
        for path in (wants, self.timer, self.service):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        if reachable:
            self._check(self._systemctl("daemon-reload"))
        else:
            change.notes.append(
                _(
                    "The systemd user manager was not reachable; the timer is removed from "
                    "disk and stops at the next login at the latest."
                )
            )
        return change

    def _check(self, r) -> None:
        if not r.ok:
            raise SchedulerError(
                _("systemctl --user {action} failed: {detail}").format(
                    action=" ".join(a for a in r.args if not a.startswith("--")),
                    detail=r.detail(),
                )
            )


def linger_advice(user: str) -> str:
    return _(
        "You are connected over SSH and lingering is off for {user}: the timer runs only "
        "while {user} is logged in. So that it also runs when nobody is: "
        "loginctl enable-linger {user}"
    ).format(user=user)


def _unix_time(value: str) -> datetime | None:
    value = value.strip()
    if not value.startswith("@"):
        return None
    try:
        return datetime.fromtimestamp(int(value[1:])).astimezone()
    except (ValueError, OverflowError, OSError):
        return None
