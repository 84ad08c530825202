"""The scheduler entries as text: a systemd user service and timer, a crontab line, a
launchd agent's property list and a Task Scheduler task (XML), each rendered from a
template with every value quoted the way its reader unquotes it, and read back (what
``schedule status`` compares with what ``install`` would write now).

The bytes are described in ``FORMAT.md`` beside this module.
"""

from __future__ import annotations

import plistlib
import re
import shlex
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from xml.sax.saxutils import escape

from therabak.schedule.command import AutoCommand, minutes_past_the_hour

MARKER = "Written by 'therabak schedule install'; 'therabak schedule remove' removes it."

# ---- systemd ------------------------------------------------------------------------------

UNIT_NAME = "therabak-auto"

SERVICE_TEMPLATE = """\
# {marker}
[Unit]
Description=therabak automatic backup of the TheraPsy data (when one is due)

[Service]
Type=oneshot
{environment}ExecStart={exec_start}
Nice=10
IOSchedulingClass=idle
"""

TIMER_TEMPLATE = """\
# {marker}
[Unit]
Description=Start the therabak automatic backup {every}

[Timer]
OnCalendar={calendar}
Persistent=true

[Install]
WantedBy=timers.target
"""


def systemd_quote(word: str, *, dollar: bool = True) -> str:
    """*word* as one double-quoted systemd word: C escapes for ``\\`` and ``"``, ``%%``
    for a literal ``%`` (specifiers), ``$$`` for a literal ``$`` (ExecStart only)."""
    text = word.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    if dollar:
        text = text.replace("$", "$$")
    return f'"{text}"'


def systemd_calendar(every: int) -> str:
    minutes = minutes_past_the_hour(every)
    if len(minutes) == 1:
        return f"*-*-* *:{minutes[0]:02d}:00"
    return f"*-*-* *:{minutes[0]:02d}/{every}:00"


def systemd_service(cmd: AutoCommand) -> str:
    environment = "".join(
        f"Environment={systemd_quote(f'{name}={value}', dollar=False)}\n" for name, value in cmd.env
    )
    return SERVICE_TEMPLATE.format(
        marker=MARKER,
        environment=environment,
        exec_start=" ".join(systemd_quote(a) for a in cmd.argv),
    )


def systemd_timer(cmd: AutoCommand) -> str:
    every = "every hour" if cmd.every_minutes == 60 else f"every {cmd.every_minutes} minutes"
    return TIMER_TEMPLATE.format(
        marker=MARKER, every=every, calendar=systemd_calendar(cmd.every_minutes)
    )


def unit_values(text: str) -> dict[str, dict[str, list[str]]]:
    """A unit file as ``{section: {key: [values...]}}`` (keys may repeat, as in systemd)."""
    out: dict[str, dict[str, list[str]]] = {}
    section: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = out.setdefault(line[1:-1], {})
        elif "=" in line and section is not None:
            key, value = line.split("=", 1)
            section.setdefault(key.strip(), []).append(value.strip())
    return out


def systemd_split(line: str) -> list[str]:
    """The words of an ``ExecStart=`` or ``Environment=`` value (the reverse of
    :func:`systemd_quote`; unquoted words are taken as they are)."""
    words: list[str] = []
    i, n = 0, len(line)
    while i < n:
        if line[i].isspace():
            i += 1
            continue
        word = []
        if line[i] == '"':
            i += 1
            while i < n and line[i] != '"':
                if line[i] == "\\" and i + 1 < n:
                    i += 1
                word.append(line[i])
                i += 1
            i += 1
        else:
            while i < n and not line[i].isspace():
                word.append(line[i])
                i += 1
        words.append("".join(word).replace("%%", "%").replace("$$", "$"))
    return words


def every_of_calendar(calendar: str) -> int | None:
    """The minutes between starts of an ``OnCalendar=`` value this module wrote."""
    m = re.fullmatch(r"\*-\*-\* \*:(\d{2})(?:/(\d+))?:00", calendar.strip())
    if m is None:
        return 60 if calendar.strip() == "hourly" else None
    return int(m.group(2)) if m.group(2) else 60


# ---- cron ---------------------------------------------------------------------------------

CRON_COMMENT = "# therabak: automatic backups. " + MARKER
CRON_TAG = "# therabak-auto"


def cron_quote(word: str) -> str:
    """A shell word for a crontab line: shell-quoted, ``%`` escaped (cron turns a bare
    ``%`` into a line break)."""
    return shlex.quote(word).replace("%", "\\%")


def cron_lines(cmd: AutoCommand) -> list[str]:
    """Our two lines (a comment, then the entry, tagged at its end), without newlines."""
    minutes = ",".join(str(m) for m in minutes_past_the_hour(cmd.every_minutes))
    env = "".join(f"{name}={cron_quote(value)} " for name, value in cmd.env)
    command = " ".join(cron_quote(a) for a in cmd.argv)
    return [CRON_COMMENT, f"{minutes} * * * * {env}{command} {CRON_TAG}"]


def is_ours(line: str) -> bool:
    """A line of the crontab that therabak wrote (and may replace or remove)."""
    text = line.rstrip("\r\n")
    return text == CRON_COMMENT or text.rstrip().endswith(CRON_TAG)


@dataclass(frozen=True)
class CronEntry:
    minutes: list[int]
    hour: str
    day: str
    month: str
    weekday: str
    env: dict[str, str]
    argv: list[str]

    @property
    def every_minutes(self) -> int | None:
        if (self.hour, self.day, self.month, self.weekday) != ("*",) * 4 or not self.minutes:
            return None
        nexts = self.minutes[1:] + [self.minutes[0] + 60]
        gaps = {(b - a) for a, b in zip(self.minutes, nexts, strict=True)}
        return gaps.pop() if len(gaps) == 1 else None


def parse_cron_line(line: str) -> CronEntry | None:
    """Our tagged crontab line, read back; None for any other line."""
    text = line.rstrip("\r\n").rstrip()
    if not text.endswith(CRON_TAG):
        return None
    text = text[: -len(CRON_TAG)].rstrip()
    fields = text.split(None, 5)
    if len(fields) < 6:
        return None
    minute, hour, day, month, weekday, command = fields
    try:
        minutes = sorted(int(m) for m in minute.split(","))
        words = shlex.split(command.replace("\\%", "%"))
    except ValueError:
        return None
    env = {}
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0], re.DOTALL):
        name, value = words.pop(0).split("=", 1)
        env[name] = value
    return CronEntry(minutes, hour, day, month, weekday, env, words)


# ---- launchd ------------------------------------------------------------------------------

LAUNCHD_LABEL = "de.therabak.auto"


def launchd_plist(cmd: AutoCommand) -> bytes:
    agent: dict = {
        "Label": LAUNCHD_LABEL,
        "ProgramArguments": list(cmd.argv),
        "StartInterval": cmd.every_minutes * 60,
        "RunAtLoad": True,
        "ProcessType": "Background",
        "LowPriorityIO": True,
        "Nice": 10,
        "StandardOutPath": str(cmd.log),
        "StandardErrorPath": str(cmd.log),
    }
    if cmd.env:
        agent["EnvironmentVariables"] = dict(cmd.env)
    return plistlib.dumps(agent, fmt=plistlib.FMT_XML, sort_keys=False)


# ---- Windows Task Scheduler ---------------------------------------------------------------

TASK_NAMESPACE = "http://schemas.microsoft.com/windows/2004/02/mit/task"


class WindowsLogon(StrEnum):
    """When the task may run: only while the user is logged on (the default; nothing is
    stored), or also when nobody is (S4U: Windows keeps no password either, the task
    reaches only this computer's files)."""

    INTERACTIVE = "InteractiveToken"
    S4U = "S4U"


TASK_TEMPLATE = """\
<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="{namespace}">
  <RegistrationInfo>
    <Author>{author}</Author>
    <Description>{description}</Description>
  </RegistrationInfo>
  <Triggers>
    <TimeTrigger>
      <Repetition>
        <Interval>{interval}</Interval>
        <StopAtDurationEnd>false</StopAtDurationEnd>
      </Repetition>
      <StartBoundary>{start}</StartBoundary>
      <Enabled>true</Enabled>
    </TimeTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
      <UserId>{user}</UserId>
      <LogonType>{logon}</LogonType>
      <RunLevel>LeastPrivilege</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <AllowHardTerminate>true</AllowHardTerminate>
    <StartWhenAvailable>true</StartWhenAvailable>
    <RunOnlyIfNetworkAvailable>false</RunOnlyIfNetworkAvailable>
    <AllowStartOnDemand>true</AllowStartOnDemand>
    <Enabled>true</Enabled>
    <Hidden>false</Hidden>
    <RunOnlyIfIdle>false</RunOnlyIfIdle>
    <WakeToRun>false</WakeToRun>
    <ExecutionTimeLimit>PT12H</ExecutionTimeLimit>
    <Priority>7</Priority>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>{command}</Command>
      <Arguments>{arguments}</Arguments>
    </Exec>
  </Actions>
</Task>
"""


def task_interval(minutes: int) -> str:
    return "PT1H" if minutes == 60 else f"PT{minutes}M"


def task_xml(
    cmd: AutoCommand,
    *,
    start: datetime,
    user: str,
    logon: WindowsLogon = WindowsLogon.INTERACTIVE,
) -> str:
    """The task (as text; :func:`task_xml_bytes` gives what ``schtasks /XML`` reads).
    *start*: the first start, local time (Task Scheduler's StartBoundary)."""
    return TASK_TEMPLATE.format(
        namespace=TASK_NAMESPACE,
        author=escape(user),
        description=escape(
            "therabak automatic backup of the TheraPsy data (when one is due). " + MARKER
        ),
        interval=task_interval(cmd.every_minutes),
        start=start.replace(tzinfo=None, microsecond=0).isoformat(),
        user=escape(user),
        logon=logon.value,
        command=escape(cmd.program),
        arguments=escape(subprocess.list2cmdline(list(cmd.args))),
    )


def task_xml_bytes(text: str) -> bytes:
    """UTF-16 with a byte-order mark, as the declaration says (``schtasks /Create /XML``
    refuses UTF-8 files that declare UTF-16 and vice versa)."""
    return text.encode("utf-16")


@dataclass(frozen=True)
class TaskEntry:
    command: str
    arguments: str
    every_minutes: int | None
    start: datetime | None
    logon: str
    enabled: bool


def parse_interval(text: str) -> int | None:
    m = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?", text.strip())
    if m is None or not (m.group(1) or m.group(2)):
        return None
    return int(m.group(1) or 0) * 60 + int(m.group(2) or 0)


def parse_task_xml(data: bytes | str) -> TaskEntry | None:
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return None
    ns = {"t": TASK_NAMESPACE}

    def text(path: str) -> str:
        node = root.find(path, ns)
        return (node.text or "").strip() if node is not None else ""

    command = text("t:Actions/t:Exec/t:Command")
    if not command:
        return None
    start = None
    try:
        start = datetime.fromisoformat(text("t:Triggers/t:TimeTrigger/t:StartBoundary"))
    except ValueError:
        pass
    return TaskEntry(
        command=command,
        arguments=text("t:Actions/t:Exec/t:Arguments"),
        every_minutes=parse_interval(text("t:Triggers/t:TimeTrigger/t:Repetition/t:Interval")),
        start=start,
        logon=text("t:Principals/t:Principal/t:LogonType"),
        enabled=text("t:Settings/t:Enabled") != "false",
    )
