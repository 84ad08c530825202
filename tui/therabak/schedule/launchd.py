"""A launchd agent on macOS: ``~/Library/LaunchAgents/de.therabak.auto.plist``.

Loaded with ``launchctl bootstrap gui/<uid> <plist>`` (after ``bootout`` of an older
one). Without a graphical login (a Mac reached over SSH) the ``gui`` domain does not
exist: the agent is then written and loads at the user's next login, which install
says as a warning.
"""

from __future__ import annotations

import contextlib
import plistlib

from therabak.errors import SchedulerError
from therabak.fsutil import make_private_dirs, write_private
from therabak.i18n import _
from therabak.schedule import templates
from therabak.schedule.backend import BackendKind, Change, Entry
from therabak.schedule.command import AutoCommand, Cadence
from therabak.schedule.host import Host


class LaunchdBackend:
    kind = BackendKind.LAUNCHD

    def __init__(self, host: Host) -> None:
        self.host = host
        self.plist = host.home / "Library" / "LaunchAgents" / (templates.LAUNCHD_LABEL + ".plist")
        self.domain = f"gui/{host.uid if host.uid is not None else 0}"
        self.service = f"{self.domain}/{templates.LAUNCHD_LABEL}"

    def unavailable(self) -> str | None:
        if self.host.tools.find("launchctl") is None:
            return _("launchctl is not installed")
        return None

    def read(self) -> Entry | None:
        if not self.plist.exists():
            return None
        argv, env, cadence = None, {}, None
        with contextlib.suppress(OSError, plistlib.InvalidFileException, ValueError):
            agent = plistlib.loads(self.plist.read_bytes())
            args = agent.get("ProgramArguments")
            if isinstance(args, list) and all(isinstance(a, str) for a in args):
                argv = args
            env = {str(k): str(v) for k, v in (agent.get("EnvironmentVariables") or {}).items()}
            interval = agent.get("StartInterval")
            if isinstance(interval, int) and interval >= 60:
                cadence = Cadence(interval // 60, known=False)
        entry = Entry(self.kind, [str(self.plist)], argv, env, cadence)
        with contextlib.suppress(SchedulerError):
            entry.active = self.host.tools.run("launchctl", ["print", self.service]).ok
        return entry

    def install(self, cmd: AutoCommand) -> Change:
        if self.unavailable() is not None:
            raise SchedulerError(self.unavailable() or "")
        make_private_dirs(self.plist.parent)
        write_private(self.plist, templates.launchd_plist(cmd))
        self.host.tools.run("launchctl", ["bootout", self.service])  # an older one; may be none
        change = Change(self.kind, True, [str(self.plist)])
        r = self.host.tools.run("launchctl", ["bootstrap", self.domain, str(self.plist)])
        if not r.ok:
            change.warnings.append(
                _(
                    "launchd did not load the agent now ({detail}); it loads at the next "
                    "login of {user}."
                ).format(detail=r.detail(), user=self.host.user)
            )
        return change

    def remove(self) -> Change:
        change = Change(self.kind, self.plist.exists(), [str(self.plist)])
        if not change.changed:
            return change
        with contextlib.suppress(SchedulerError):
            self.host.tools.run("launchctl", ["bootout", self.service])
        self.plist.unlink(missing_ok=True)
        return change
