"""The scheduler entries as written: each template rendered with awkward paths and read
back by the reader that matters (INI and ``systemd-analyze verify`` for systemd, a real
``sh`` for the crontab line, plistlib for launchd, xml.etree for Task Scheduler).

The paths hold a space, an umlaut, ``%`` (a systemd specifier and a cron line break),
``$`` (systemd's and the shell's variables), quotes and a backslash: every one of them
breaks an entry that is not quoted for its reader.
"""

from __future__ import annotations

import configparser
import json
import os
import plistlib
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import IS_WINDOWS
from therabak.schedule import templates
from therabak.schedule.command import (
    AutoCommand,
    Cadence,
    check_minutes,
    minutes_past_the_hour,
)

AWKWARD = 'Praxis Müller 100% $HOME "quoted" it\'s \\back'
NS = {"t": templates.TASK_NAMESPACE}


def command(tmp_path: Path, every: int = 60, program: str | None = None, env=True) -> AutoCommand:
    folder = tmp_path / AWKWARD
    argv = (
        program or sys.executable,
        "-m",
        "therabak",
        "auto",
        "--data-dir",
        str(folder / "Data"),
        "--account-key",
        str(folder / "account.key"),
        "--log",
        str(tmp_path / "state $x" / "auto.log"),
    )
    environ = (("THERABAK_CONFIG", str(folder / "settings.toml")),) if env else ()
    return AutoCommand(argv, environ, tmp_path / "auto.log", every, folder / "Data")


# ---- how often ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hours", "minutes"),
    [(24, 60), (1, 60), (168, 60), (0.5, 30), (0.25, 15), (0.2, 12), (0.1, 6), (0.05, 5)],
)
def test_the_entry_starts_hourly_or_as_often_as_the_interval_needs(hours, minutes) -> None:
    assert check_minutes(hours) == minutes
    assert 60 % minutes == 0


def test_starts_fall_on_fixed_minutes_past_the_hour() -> None:
    assert minutes_past_the_hour(60) == [17]
    assert minutes_past_the_hour(15) == [2, 17, 32, 47]
    tz = timezone(timedelta(hours=1))
    hourly = Cadence(60)
    assert hourly.next_at_or_after(datetime(2026, 3, 2, 10, 30, tzinfo=tz)) == datetime(
        2026, 3, 2, 11, 17, tzinfo=tz
    )
    assert hourly.next_at_or_after(datetime(2026, 3, 2, 10, 17, tzinfo=tz)) == datetime(
        2026, 3, 2, 10, 17, tzinfo=tz
    )
    assert hourly.next_at_or_after(datetime(2026, 3, 2, 10, 17, 1, tzinfo=tz)) == datetime(
        2026, 3, 2, 11, 17, tzinfo=tz
    )
    assert Cadence(15).next_at_or_after(datetime(2026, 3, 2, 10, 33, tzinfo=tz)) == datetime(
        2026, 3, 2, 10, 47, tzinfo=tz
    )
    anchored = Cadence(60, anchor=datetime(2026, 3, 1, 9, 5, tzinfo=tz))
    assert anchored.next_at_or_after(datetime(2026, 3, 2, 10, 30, tzinfo=tz)) == datetime(
        2026, 3, 2, 11, 5, tzinfo=tz
    )
    assert Cadence(60, known=False).next_at_or_after(datetime.now(tz)) is None


# ---- systemd ------------------------------------------------------------------------------


def test_systemd_units_parse_as_ini_and_run_the_command(tmp_path: Path) -> None:
    cmd = command(tmp_path, every=15)
    service_text = templates.systemd_service(cmd)
    timer_text = templates.systemd_timer(cmd)
    ini = configparser.ConfigParser(strict=False, interpolation=None)
    ini.optionxform = str  # systemd keys are case-sensitive
    ini.read_string(service_text)
    assert ini["Service"]["Type"] == "oneshot"
    assert templates.systemd_split(ini["Service"]["ExecStart"]) == list(cmd.argv)
    assert templates.systemd_split(ini["Service"]["Environment"]) == [
        f"THERABAK_CONFIG={cmd.env[0][1]}"
    ]
    assert "%%" in ini["Service"]["ExecStart"] and "$$" in ini["Service"]["ExecStart"]
    timer = configparser.ConfigParser(strict=False, interpolation=None)
    timer.optionxform = str
    timer.read_string(timer_text)
    assert timer["Timer"]["OnCalendar"] == "*-*-* *:02/15:00"
    assert timer["Timer"]["Persistent"] == "true"
    assert timer["Install"]["WantedBy"] == "timers.target"
    assert templates.every_of_calendar(timer["Timer"]["OnCalendar"]) == 15
    hourly = templates.systemd_timer(command(tmp_path, every=60))
    assert "OnCalendar=*-*-* *:17:00\n" in hourly
    assert templates.every_of_calendar("*-*-* *:17:00") == 60


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not here")
def test_systemd_analyze_verifies_the_units_and_agrees_on_the_times(tmp_path: Path) -> None:
    folder = tmp_path / "units"
    folder.mkdir()
    cmd = command(tmp_path, every=15)
    (folder / "therabak-auto.service").write_text(templates.systemd_service(cmd), "utf-8")
    (folder / "therabak-auto.timer").write_text(templates.systemd_timer(cmd), "utf-8")
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime), SYSTEMD_LOG_LEVEL="notice")
    r = subprocess.run(
        ["systemd-analyze", "--user", "verify", "therabak-auto.service", "therabak-auto.timer"],
        cwd=folder,
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == "", r.stderr  # no "ignoring" line about a bad setting
    # a unit that is wrong is refused (the check above can fail)
    (folder / "therabak-auto.timer").write_text(
        templates.systemd_timer(cmd).replace("*:02/15:00", "*:02/bogus"), "utf-8"
    )
    bad = subprocess.run(
        ["systemd-analyze", "--user", "verify", "therabak-auto.timer"],
        cwd=folder,
        capture_output=True,
        text=True,
        env=env,
    )
    assert bad.returncode != 0
    # systemd's own reading of the calendar gives the minutes the Cadence computes
    cal = subprocess.run(
        ["systemd-analyze", "calendar", "--iterations=5", templates.systemd_calendar(15)],
        capture_output=True,
        text=True,
        env=dict(env, TZ="UTC"),
    )
    assert cal.returncode == 0, cal.stderr
    times = [
        datetime.strptime(line.split(": ", 1)[1].strip(), "%a %Y-%m-%d %H:%M:%S UTC").replace(
            tzinfo=UTC
        )
        for line in cal.stdout.splitlines()
        if line.strip().startswith(("Next elapse:", "Iter. #"))
    ]
    assert len(times) == 5
    assert {t.minute for t in times} == set(minutes_past_the_hour(15))
    cadence = Cadence(15)
    for earlier, later in zip(times, times[1:], strict=False):
        assert cadence.next_at_or_after(earlier + timedelta(seconds=1)) == later


# ---- cron ---------------------------------------------------------------------------------


ARGV_DUMP = """\
import json, os, sys
with open(os.environ["DUMP_TO"], "w", encoding="utf-8") as f:
    json.dump({"argv": sys.argv[1:], "config": os.environ.get("THERABAK_CONFIG")}, f)
"""


@pytest.mark.skipif(IS_WINDOWS, reason="cron runs its lines with /bin/sh")
def test_the_crontab_line_runs_exactly_the_command_through_sh(tmp_path: Path) -> None:
    dump = tmp_path / "dump me.py"
    dump.write_text(f"#!{sys.executable}\n" + ARGV_DUMP, "utf-8")
    dump.chmod(0o755)
    cmd = command(tmp_path, every=20, program=str(dump))
    comment, line = templates.cron_lines(cmd)
    assert comment.startswith("# ") and templates.is_ours(comment) and templates.is_ours(line)
    fields = line.split(None, 5)
    assert fields[:5] == ["17,37,57", "*", "*", "*", "*"]
    assert line.endswith(" " + templates.CRON_TAG)
    # cron itself: a bare % ends the command, so every % must be escaped
    assert "%" not in line.replace("\\%", "")
    parsed = templates.parse_cron_line(line)
    assert parsed is not None and parsed.every_minutes == 20
    assert parsed.argv == list(cmd.argv) and parsed.env == dict(cmd.env)
    # what cron hands to sh: the sixth field with \% turned back into %
    shell_command = fields[5].replace("\\%", "%")
    out = tmp_path / "out.json"
    r = subprocess.run(
        ["/bin/sh", "-c", shell_command],
        env={"PATH": "/usr/bin:/bin", "DUMP_TO": str(out)},
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    got = json.loads(out.read_text("utf-8"))
    assert got["argv"] == list(cmd.argv[1:])
    assert got["config"] == cmd.env[0][1]


def test_other_crontab_lines_are_not_ours() -> None:
    for line in (
        "17 * * * * $HOME/.local/bin/therabak auto >> $HOME/auto.log 2>&1",
        "# therabak-auto is mentioned here",
        "MAILTO=praxis@example.org",
        "",
    ):
        assert not templates.is_ours(line)
        assert templates.parse_cron_line(line) is None


# ---- launchd ------------------------------------------------------------------------------


def test_the_launchd_agent_is_a_valid_plist(tmp_path: Path) -> None:
    cmd = command(tmp_path, every=60)
    data = templates.launchd_plist(cmd)
    assert data.startswith(b"<?xml") and b"<!DOCTYPE plist" in data
    agent = plistlib.loads(data)
    assert agent["Label"] == "de.therabak.auto"
    assert agent["ProgramArguments"] == list(cmd.argv)
    assert agent["StartInterval"] == 3600 and agent["RunAtLoad"] is True
    assert agent["EnvironmentVariables"] == dict(cmd.env)
    assert agent["StandardErrorPath"] == str(cmd.log)
    assert (
        plistlib.loads(templates.launchd_plist(command(tmp_path, every=10)))["StartInterval"] == 600
    )
    assert "EnvironmentVariables" not in plistlib.loads(
        templates.launchd_plist(command(tmp_path, env=False))
    )


# ---- Task Scheduler -----------------------------------------------------------------------


def windows_argv(line: str) -> list[str]:
    """Split an argument string as Windows programs do (CommandLineToArgvW's rules)."""
    args, word, quoted, i, have = [], [], False, 0, False
    while i < len(line):
        c = line[i]
        if c == "\\":
            n = 0
            while i < len(line) and line[i] == "\\":
                n += 1
                i += 1
            if i < len(line) and line[i] == '"':
                word.append("\\" * (n // 2))
                if n % 2:
                    word.append('"')
                    i += 1
            else:
                word.append("\\" * n)
            have = True
            continue
        if c == '"':
            quoted = not quoted
            have = True
        elif c in " \t" and not quoted:
            if have:
                args.append("".join(word))
            word, have = [], False
        else:
            word.append(c)
            have = True
        i += 1
    if have:
        args.append("".join(word))
    return args


def test_the_task_xml_has_what_the_schema_requires(tmp_path: Path) -> None:
    cmd = command(tmp_path, every=60)
    start = datetime(2026, 3, 2, 11, 17)
    text = templates.task_xml(cmd, start=start, user="PRAXIS\\Müller")
    data = templates.task_xml_bytes(text)
    assert data[:2] == b"\xff\xfe"  # UTF-16 LE with its byte-order mark, as declared
    root = ET.fromstring(data)
    assert root.tag == f"{{{templates.TASK_NAMESPACE}}}Task"
    assert root.get("version") == "1.2"
    # required by the schema: Actions with an Exec that has a Command; a time trigger
    # needs its StartBoundary, a repetition its Interval; a principal a user
    execs = root.findall("t:Actions/t:Exec", NS)
    assert len(execs) == 1
    assert execs[0].findtext("t:Command", namespaces=NS) == cmd.program
    arguments = execs[0].findtext("t:Arguments", namespaces=NS)
    assert windows_argv(arguments) == list(cmd.args)
    trigger = root.find("t:Triggers/t:TimeTrigger", NS)
    assert trigger is not None
    assert trigger.findtext("t:StartBoundary", namespaces=NS) == "2026-03-02T11:17:00"
    assert trigger.findtext("t:Repetition/t:Interval", namespaces=NS) == "PT1H"
    assert trigger.find("t:Repetition/t:Duration", NS) is None  # repeats indefinitely
    principal = root.find("t:Principals/t:Principal", NS)
    assert principal.findtext("t:UserId", namespaces=NS) == "PRAXIS\\Müller"
    assert principal.findtext("t:LogonType", namespaces=NS) == "InteractiveToken"
    assert principal.findtext("t:RunLevel", namespaces=NS) == "LeastPrivilege"
    settings = root.find("t:Settings", NS)
    assert settings.findtext("t:StartWhenAvailable", namespaces=NS) == "true"
    assert settings.findtext("t:MultipleInstancesPolicy", namespaces=NS) == "IgnoreNew"
    # no password anywhere, and no logon type that would need one
    assert "Password" not in text
    # read back as status reads it
    entry = templates.parse_task_xml(data)
    assert entry is not None and entry.every_minutes == 60 and entry.start == start
    assert entry.command == cmd.program and entry.arguments == arguments


def test_the_task_runs_when_logged_off_only_when_asked(tmp_path: Path) -> None:
    cmd = command(tmp_path, every=15)
    text = templates.task_xml(
        cmd, start=datetime(2026, 3, 2, 10, 32), user="praxis", logon=templates.WindowsLogon.S4U
    )
    root = ET.fromstring(templates.task_xml_bytes(text))
    assert root.findtext("t:Principals/t:Principal/t:LogonType", namespaces=NS) == "S4U"
    assert root.findtext("t:Triggers/t:TimeTrigger/t:Repetition/t:Interval", namespaces=NS) == (
        "PT15M"
    )
    assert templates.parse_interval("PT1H30M") == 90 and templates.parse_interval("P1D") is None
