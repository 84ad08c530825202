"""A Windows Task Scheduler task, ``therabak-auto-<user>``, made with
``schtasks /Create /XML <file> /TN <name> /F``.

The XML (``templates.task_xml``) is written into therabak's state folder and kept
there as the record of what was installed (``schedule status`` reads the command from
it; ``schtasks /Query`` says whether the task still exists). No password is given or
stored: the task runs as the user who set it up, while they are logged on (or, with
``--when-logged-off``, also when nobody is: S4U, local files only).
"""

from __future__ import annotations

import contextlib
import re
from datetime import datetime, timedelta

from therabak.errors import SchedulerError
from therabak.fsutil import make_private_dirs, write_private
from therabak.i18n import _
from therabak.schedule import templates
from therabak.schedule.backend import BackendKind, Change, Entry
from therabak.schedule.command import AutoCommand, Cadence
from therabak.schedule.host import Host

XML_NAME = "therabak-auto-task.xml"


def task_name(user: str) -> str:
    """Task names are machine-wide: one task per user."""
    return "therabak-auto-" + re.sub(r"[^A-Za-z0-9._-]", "_", user)


class TaskSchedulerBackend:
    kind = BackendKind.TASK_SCHEDULER

    def __init__(self, host: Host, *, logon=templates.WindowsLogon.INTERACTIVE) -> None:
        self.host = host
        self.name = task_name(host.user)
        self.xml = host.state_dir / XML_NAME
        self.logon = logon
        self.user = f"{host.domain}\\{host.user}" if host.domain else host.user

    def unavailable(self) -> str | None:
        if self.host.tools.find("schtasks") is None:
            return _("schtasks is not installed")
        return None

    def _exists(self) -> bool:
        return self.host.tools.run("schtasks", ["/Query", "/TN", self.name]).ok

    def read(self) -> Entry | None:
        if self.unavailable() is not None or not self._exists():
            return None
        entry = Entry(self.kind, [self.name], None)
        with contextlib.suppress(OSError):
            task = templates.parse_task_xml(self.xml.read_bytes())
            if task is not None:
                # the record of what was installed: the command as Task Scheduler holds it
                entry.argv = [task.command, task.arguments]
                if task.every_minutes:
                    entry.cadence = Cadence(task.every_minutes, anchor=_local(task.start))
        return entry

    def install(self, cmd: AutoCommand, *, now: datetime | None = None) -> Change:
        if self.unavailable() is not None:
            raise SchedulerError(self.unavailable() or "")
        now = now or datetime.now().astimezone()
        start = Cadence(cmd.every_minutes).next_at_or_after(now + timedelta(minutes=1))
        assert start is not None
        text = templates.task_xml(cmd, start=start, user=self.user, logon=self.logon)
        make_private_dirs(self.xml.parent)
        write_private(self.xml, templates.task_xml_bytes(text))
        r = self.host.tools.run(
            "schtasks", ["/Create", "/TN", self.name, "/XML", str(self.xml), "/F"]
        )
        if not r.ok:
            with contextlib.suppress(OSError):
                self.xml.unlink()
            raise SchedulerError(
                _("schtasks could not create the task: {detail}").format(detail=r.detail())
            )
        change = Change(self.kind, True, [self.name])
        passed = [name for name, _value in cmd.env]
        if passed:
            change.warnings.append(
                _(
                    "The task does not see {names} of this session; set them as user "
                    "environment variables if the automatic backups need them."
                ).format(names=", ".join(passed))
            )
        return change

    def remove(self) -> Change:
        change = Change(self.kind, False, [self.name])
        if self.unavailable() is None and self._exists():
            r = self.host.tools.run("schtasks", ["/Delete", "/TN", self.name, "/F"])
            if not r.ok:
                raise SchedulerError(
                    _("schtasks could not delete the task: {detail}").format(detail=r.detail())
                )
            change.changed = True
        with contextlib.suppress(FileNotFoundError):
            self.xml.unlink()
        return change


def _local(naive: datetime | None) -> datetime | None:
    return naive.astimezone() if naive is not None and naive.tzinfo is None else naive
