"""A crontab line, where no systemd user manager runs.

The user's crontab is read with ``crontab -l`` and written back whole with
``crontab -`` only when our lines change. Ours are a comment line and the entry, which
ends with the tag ``# therabak-auto`` (a shell comment, so cron runs the line as it
is); install replaces them, remove deletes them, and every other line stays
byte-for-byte as it was.
"""

from __future__ import annotations

from therabak.errors import SchedulerError
from therabak.i18n import _
from therabak.schedule import templates
from therabak.schedule.backend import BackendKind, Change, Entry
from therabak.schedule.command import AutoCommand, Cadence
from therabak.schedule.host import Host


class CronBackend:
    kind = BackendKind.CRON

    def __init__(self, host: Host) -> None:
        self.host = host
        self.where = _("the crontab of {user}").format(user=host.user)

    def unavailable(self) -> str | None:
        if self.host.tools.find("crontab") is None:
            return _("cron is not installed (no crontab program)")
        return None

    def table(self) -> str:
        """The user's crontab as it is ('' when there is none)."""
        r = self.host.tools.run("crontab", ["-l"])
        if r.ok:
            return r.stdout
        if "no crontab" in (r.stderr + r.stdout).lower():
            return ""
        raise SchedulerError(
            _("crontab -l failed: {detail}").format(detail=r.detail()),
        )

    def _write(self, text: str) -> None:
        r = self.host.tools.run("crontab", ["-"], input=text)
        if not r.ok:
            raise SchedulerError(
                _("crontab could not be written: {detail}").format(detail=r.detail())
            )

    def read(self) -> Entry | None:
        if self.unavailable() is not None:
            return None
        for line in self.table().splitlines():
            entry = templates.parse_cron_line(line)
            if entry is not None:
                every = entry.every_minutes
                return Entry(
                    self.kind,
                    [self.where],
                    entry.argv or None,
                    entry.env,
                    Cadence(every) if every else None,
                    active=True,
                )
        return None

    def install(self, cmd: AutoCommand) -> Change:
        before = self.table()
        after = with_entry(before, templates.cron_lines(cmd))
        if after != before:
            self._write(after)
        return Change(self.kind, after != before, [self.where])

    def remove(self) -> Change:
        if self.unavailable() is not None:
            return Change(self.kind, False, [self.where])
        before = self.table()
        after = without_entry(before)
        if after != before:
            self._write(after)
        return Change(self.kind, after != before, [self.where])


def without_entry(table: str) -> str:
    """*table* without our lines; every other line exactly as it was."""
    return "".join(line for line in table.splitlines(keepends=True) if not templates.is_ours(line))


def with_entry(table: str, lines: list[str]) -> str:
    """*table* with our *lines* at its end (in place of any we wrote before)."""
    rest = without_entry(table)
    if rest and not rest.endswith("\n"):
        rest += "\n"  # crontab needs every line ended; ours follows
    return rest + "".join(line + "\n" for line in lines)
