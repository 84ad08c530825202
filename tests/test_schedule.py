"""Setting up automatic backups: the backends against recording stand-ins of the
scheduler's programs (``schedule_support.py``) driven through the real code path, real
files (unit files, the crontab file, the plist, the task XML), and the command an entry
holds run for real.

systemd and cron: the unit files land in a temporary ``XDG_CONFIG_HOME``; every
``systemctl``/``loginctl`` call goes through the one runner seam
(``THERABAK_SCHEDULER_TOOLS``) to a program that records it. No real ``crontab`` is
touched: it edits a machine-wide spool that other test runs share (the stand-in keeps
the table in a file, and the code path is the same: ``crontab -l``, ``crontab -``).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from conftest import IS_WINDOWS, Practice, run_cli
from schedule_support import fake_tools, make_host
from therabak.errors import AccountKeyError, DataFolderError, SchedulerError, UsageError
from therabak.jobs import auto_runs
from therabak.schedule import manage, templates
from therabak.schedule.backend import BackendKind
from therabak.schedule.status import ScheduleState, schedule_status
from therabak.settings import PracticePaths, Settings

pytestmark = pytest.mark.skipif(IS_WINDOWS, reason="the stand-in programs are POSIX scripts")

USER_CRONTAB = (
    "# m h  dom mon dow   command\n"
    "MAILTO=praxis@example.org\n"
    "0 3 * * 1  /usr/local/bin/update-tarife   --quiet\t# weekly\n"
    "\n"
    "*/5 * * * * echo '100%' > /dev/null  \n"
    "@reboot /home/praxis/start.sh\n"
)


def paths_of(p: Practice) -> PracticePaths:
    return PracticePaths(p.data_dir, p.key_path)


def removed(host) -> list[BackendKind]:
    """Remove, and say from which backends something was removed."""
    return [c.kind for c in manage.remove(host) if c.changed]


def units(host) -> Path:
    return host.config_home / "systemd" / "user"


# ---- systemd ------------------------------------------------------------------------------


def test_systemd_install_writes_the_units_and_enables_the_timer(tmp_path, practice) -> None:
    tools = fake_tools(tmp_path / "tools", programs=("systemctl", "loginctl"), linger="no")
    host = make_host(tmp_path, tools)
    result = manage.install(host, paths_of(practice), Settings())
    assert result.change.kind is BackendKind.SYSTEMD and result.warnings == []
    service = units(host) / "therabak-auto.service"
    timer = units(host) / "therabak-auto.timer"
    assert result.change.location == [str(timer), str(service)]
    exec_start = templates.unit_values(service.read_text("utf-8"))["Service"]["ExecStart"][0]
    argv = templates.systemd_split(exec_start)
    assert argv[:4] == [sys.executable, "-m", "therabak", "auto"]
    assert argv[argv.index("--data-dir") + 1] == str(practice.data_dir)
    assert argv[argv.index("--account-key") + 1] == str(practice.key_path)
    assert argv[argv.index("--log") + 1] == str(host.state_dir / "auto.log")
    systemctl = tools.calls("systemctl")
    assert ["--user", "--no-pager", "daemon-reload"] in systemctl
    assert systemctl[-1] == ["--user", "--no-pager", "enable", "--now", "therabak-auto.timer"]
    assert systemctl.index(["--user", "--no-pager", "daemon-reload"]) < len(systemctl) - 1

    status = schedule_status(host, paths_of(practice), Settings())
    assert status.state is ScheduleState.SET_UP and status.backend is BackendKind.SYSTEMD
    assert status.current is True and status.active is True and status.every_minutes == 60
    assert status.warnings == [] and status.exit_code == 0


def test_systemd_install_twice_replaces_and_remove_disables_and_deletes(tmp_path, practice):
    tools = fake_tools(tmp_path / "tools", programs=("systemctl", "loginctl"), linger="yes")
    host = make_host(tmp_path, tools)
    manage.install(host, paths_of(practice), Settings())
    settings = Settings()
    settings.auto.interval_hours = 0.25
    manage.install(host, paths_of(practice), settings)
    timer = (units(host) / "therabak-auto.timer").read_text("utf-8")
    assert "OnCalendar=*-*-* *:02/15:00" in timer
    (units(host) / "timers.target.wants").mkdir()
    (units(host) / "timers.target.wants" / "therabak-auto.timer").symlink_to(
        units(host) / "therabak-auto.timer"
    )
    (units(host) / "other.service").write_text("[Service]\nExecStart=/bin/true\n", "utf-8")
    tools.clear_calls()
    assert removed(host) == [BackendKind.SYSTEMD]
    assert sorted(p.name for p in units(host).rglob("*")) == [
        "other.service",
        "timers.target.wants",
    ]
    assert tools.calls("systemctl")[-2:] == [
        ["--user", "--no-pager", "disable", "--now", "therabak-auto.timer"],
        ["--user", "--no-pager", "daemon-reload"],
    ]
    assert not tools.state()["enabled"]
    assert removed(host) == []  # nothing left: nothing to do
    status = schedule_status(host, paths_of(practice), Settings())
    assert status.state is ScheduleState.NOT_SET_UP and status.exit_code == 3
    assert "not set up" in status.warnings[0]


def test_a_refused_enable_leaves_nothing_behind_and_says_why(tmp_path, practice) -> None:
    tools = fake_tools(
        tmp_path / "tools",
        programs=("systemctl",),
        fail={"systemctl enable": "Failed to enable unit: Access denied"},
    )
    host = make_host(tmp_path, tools)
    with pytest.raises(SchedulerError) as e:
        manage.install(host, paths_of(practice), Settings())
    assert "enable" in e.value.message and "Access denied" in e.value.message
    assert not (units(host) / "therabak-auto.service").exists()
    assert not (units(host) / "therabak-auto.timer").exists()
    assert tools.calls("systemctl")[-1] == ["--user", "--no-pager", "daemon-reload"]


@pytest.mark.parametrize(("linger", "advised"), [("no", True), ("yes", False), (None, True)])
def test_over_ssh_lingering_off_is_advised(tmp_path, practice, linger, advised) -> None:
    tools = fake_tools(tmp_path / "tools", programs=("systemctl", "loginctl"), linger=linger)
    host = make_host(tmp_path, tools, over_ssh=True, user="praxis")
    result = manage.install(host, paths_of(practice), Settings())
    advice = [w for w in result.warnings if "loginctl enable-linger praxis" in w]
    assert bool(advice) is advised
    assert tools.calls("loginctl") == [["show-user", "praxis", "--property=Linger", "--value"]]
    status = schedule_status(host, paths_of(practice), Settings())
    assert status.linger is (linger == "yes")
    assert any("enable-linger" in w for w in status.warnings) is advised
    # not over SSH: a desktop session keeps the user manager running; no advice
    quiet = manage.install(make_host(tmp_path, tools), paths_of(practice), Settings())
    assert quiet.warnings == []


def test_next_run_comes_from_systemd_when_it_tells(tmp_path, practice) -> None:
    when = datetime(2026, 3, 2, 11, 17).astimezone()
    tools = fake_tools(
        tmp_path / "tools", programs=("systemctl",), next_elapse=int(when.timestamp())
    )
    host = make_host(tmp_path, tools)
    manage.install(host, paths_of(practice), Settings())
    now = datetime(2026, 3, 2, 10, 30).astimezone()
    status = schedule_status(host, paths_of(practice), Settings(), now=now)
    assert status.next_run == when and status.next_run_from == "scheduler"
    # an older systemd without --timestamp=unix: computed from the timer instead
    tools.set(timestamp_unix=False)
    status = schedule_status(host, paths_of(practice), Settings(), now=now)
    assert status.active is True
    assert status.next_run == datetime(2026, 3, 2, 11, 17).astimezone()
    assert status.next_run_from == "computed"


# ---- cron ---------------------------------------------------------------------------------


def cron_host(tmp_path, **state):
    tools = fake_tools(tmp_path / "tools", programs=("crontab",), **state)
    return tools, make_host(tmp_path, tools)


def test_cron_install_twice_and_remove_keep_the_other_lines_byte_for_byte(tmp_path, practice):
    tools, host = cron_host(tmp_path)
    table = Path(tools.state()["crontab_file"])
    table.write_text(USER_CRONTAB, "utf-8")
    first = manage.install(host, paths_of(practice), Settings())
    assert first.change.kind is BackendKind.CRON and first.change.changed
    after_one = table.read_text("utf-8")
    assert after_one.startswith(USER_CRONTAB)
    ours = after_one[len(USER_CRONTAB) :].splitlines()
    assert len(ours) == 2 and ours[0] == templates.CRON_COMMENT
    entry = templates.parse_cron_line(ours[1])
    assert entry is not None and entry.minutes == [17] and entry.every_minutes == 60
    assert entry.argv[:4] == [sys.executable, "-m", "therabak", "auto"]
    writes = [c for c in tools.calls("crontab") if c == ["-"]]
    assert len(writes) == 1

    second = manage.install(host, paths_of(practice), Settings())
    assert second.change.changed is False
    assert table.read_text("utf-8") == after_one
    assert len([c for c in tools.calls("crontab") if c == ["-"]]) == 1  # not written again

    assert removed(host) == [BackendKind.CRON]
    assert table.read_bytes() == USER_CRONTAB.encode("utf-8")
    assert removed(host) == []
    assert table.read_bytes() == USER_CRONTAB.encode("utf-8")


def test_cron_entry_in_the_middle_is_replaced_without_touching_its_neighbours(tmp_path, practice):
    tools, host = cron_host(tmp_path)
    table = Path(tools.state()["crontab_file"])
    manage.install(host, paths_of(practice), Settings())
    ours = table.read_text("utf-8")
    table.write_text("# before\n" + ours + "30 2 * * * /bin/after\n", "utf-8")
    settings = Settings()
    settings.auto.interval_hours = 0.5
    manage.install(host, paths_of(practice), settings)
    lines = table.read_text("utf-8").splitlines()
    assert lines[:2] == ["# before", "30 2 * * * /bin/after"]
    assert templates.parse_cron_line(lines[3]).minutes == [17, 47]
    assert sum(templates.is_ours(line) for line in lines) == 2
    manage.remove(host)
    assert table.read_text("utf-8") == "# before\n30 2 * * * /bin/after\n"


def test_no_crontab_yet_and_a_crontab_that_cannot_be_read(tmp_path, practice) -> None:
    tools, host = cron_host(tmp_path)
    table = Path(tools.state()["crontab_file"])
    assert not table.exists()
    manage.install(host, paths_of(practice), Settings())
    assert len(table.read_text("utf-8").splitlines()) == 2
    manage.remove(host)
    assert table.read_text("utf-8") == ""
    tools.set(fail={"crontab -l": "crontab: your UID isn't in the passwd file."})
    with pytest.raises(SchedulerError) as e:
        manage.install(host, paths_of(practice), Settings())
    assert "crontab -l failed" in e.value.message and "passwd file" in e.value.message
    assert table.read_text("utf-8") == ""


def test_cron_is_used_where_systemd_is_not_reachable(tmp_path, practice) -> None:
    tools = fake_tools(tmp_path / "tools", programs=("systemctl", "crontab"), manager=False)
    host = make_host(tmp_path, tools)
    result = manage.install(host, paths_of(practice), Settings())
    assert result.change.kind is BackendKind.CRON
    assert not (units(host) / "therabak-auto.service").exists()
    status = schedule_status(host, paths_of(practice), Settings())
    assert status.backend is BackendKind.CRON and status.current is True
    assert status.location == ["the crontab of praxis"]
    # systemd comes back: installing again moves the entry to the timer, once
    tools.set(manager=True)
    again = manage.install(host, paths_of(practice), Settings())
    assert again.change.kind is BackendKind.SYSTEMD
    assert any("Removed the entry that was set up before" in n for n in again.change.notes)
    table = Path(tools.state()["crontab_file"]).read_text("utf-8")
    assert not any(templates.is_ours(line) for line in table.splitlines())


def test_no_scheduler_at_all_is_a_clear_error(tmp_path, practice) -> None:
    host = make_host(tmp_path, None)
    with pytest.raises(SchedulerError) as e:
        manage.install(host, paths_of(practice), Settings())
    assert "cannot be set up here" in e.value.message
    assert "systemd is not installed" in e.value.message and "cron is not installed" in (
        e.value.message
    )
    status = schedule_status(host, paths_of(practice), Settings())
    assert status.state is ScheduleState.UNAVAILABLE and status.exit_code == 3


def test_an_unknown_forced_backend_is_a_usage_error(tmp_path, practice) -> None:
    host = make_host(tmp_path, None, forced="anacron")
    with pytest.raises(UsageError):
        manage.install(host, paths_of(practice), Settings())


# ---- launchd and Task Scheduler (their programs stood in for) -------------------------------


def test_launchd_agent_is_written_bootstrapped_and_booted_out(tmp_path, practice) -> None:
    tools = fake_tools(tmp_path / "tools", programs=("launchctl",))
    host = make_host(tmp_path, tools, platform="macos")
    result = manage.install(host, paths_of(practice), Settings())
    plist = host.home / "Library" / "LaunchAgents" / "de.therabak.auto.plist"
    assert result.change.kind is BackendKind.LAUNCHD and result.change.location == [str(plist)]
    assert result.warnings == []
    assert tools.calls("launchctl")[-1] == ["bootstrap", "gui/1000", str(plist)]
    status = schedule_status(host, paths_of(practice), Settings())
    assert status.set_up and status.current and status.active is True
    assert status.next_run is None  # launchd keeps its phase to itself
    manage.remove(host)
    assert not plist.exists()
    assert tools.calls("launchctl")[-1] == ["bootout", "gui/1000/de.therabak.auto"]


def test_launchd_without_a_graphical_login_loads_at_the_next_one(tmp_path, practice) -> None:
    tools = fake_tools(tmp_path / "tools", programs=("launchctl",), gui=False)
    host = make_host(tmp_path, tools, platform="macos")
    result = manage.install(host, paths_of(practice), Settings())
    assert len(result.warnings) == 1 and "next login" in result.warnings[0]
    assert "Domain does not support" in result.warnings[0]


def test_the_windows_task_is_created_from_the_xml_and_deleted(tmp_path, practice) -> None:
    tools = fake_tools(tmp_path / "tools", programs=("schtasks",))
    host = make_host(tmp_path, tools, platform="windows", user="Müller Praxis")
    result = manage.install(host, paths_of(practice), Settings())
    name = "therabak-auto-M_ller_Praxis"
    assert result.change.location == [name]
    create = tools.calls("schtasks")[-1]
    assert create[:3] == ["/Create", "/TN", name] and create[-1] == "/F"
    installed = bytes.fromhex(tools.state()["tasks"][name])
    task = templates.parse_task_xml(installed)
    assert task is not None and task.every_minutes == 60 and task.logon == "InteractiveToken"
    assert task.command == sys.executable
    now = datetime.now().astimezone()
    status = schedule_status(host, paths_of(practice), Settings(), now=now)
    assert status.set_up and status.current is True
    assert status.next_run is not None and status.next_run.minute == 17
    assert timedelta(0) <= status.next_run - now <= timedelta(hours=1, minutes=1)
    manage.remove(host)
    assert tools.state()["tasks"] == {}
    assert not (host.state_dir / "therabak-auto-task.xml").exists()
    assert removed(host) == []


def test_when_logged_off_is_only_for_windows(tmp_path, practice) -> None:
    tools = fake_tools(tmp_path / "tools", programs=("schtasks", "crontab"))
    win = make_host(tmp_path, tools, platform="windows")
    manage.install(win, paths_of(practice), Settings(), logon=templates.WindowsLogon.S4U)
    task = templates.parse_task_xml(bytes.fromhex(tools.state()["tasks"]["therabak-auto-praxis"]))
    assert task.logon == "S4U"
    linux = make_host(tmp_path, tools)
    with pytest.raises(UsageError):
        manage.install(linux, paths_of(practice), Settings(), logon=templates.WindowsLogon.S4U)


# ---- the status: last run, next backup, what needs attention ------------------------------


def record_run(practice, started, outcome, code=0, message="m") -> None:
    auto_runs.record(auto_runs.make_run(started, code, outcome, message, practice.data_dir))


def test_status_reads_last_run_and_computes_the_next_backup(tmp_path, practice) -> None:
    tools = fake_tools(tmp_path / "tools", programs=("crontab",))
    host = make_host(tmp_path, tools)
    manage.install(host, paths_of(practice), Settings())
    now = datetime(2026, 3, 2, 10, 30).astimezone()
    folder = practice.root / "TheraPsy-Auto-Backups"
    folder.mkdir()
    (folder / "TheraPsy-Auto-2026-03-02_071700.therabak").write_bytes(b"x")
    record_run(practice, now - timedelta(minutes=13), auto_runs.AutoOutcome.NOT_DUE)
    status = schedule_status(host, paths_of(practice), Settings(), now=now)
    assert status.last_run.outcome == "not-due" and status.warnings == []
    assert status.last_backup == datetime(2026, 3, 2, 7, 17).astimezone()
    assert status.next_run == datetime(2026, 3, 2, 11, 17).astimezone()
    # due 24 h after the last one less the slack (10 min): the start at 07:17 next day
    assert status.next_backup == datetime(2026, 3, 3, 7, 17).astimezone()
    doc = status.to_dict()
    assert doc["state"] == "set-up" and doc["backend"] == "cron"
    assert doc["last_run"]["outcome"] == "not-due" and doc["exit_code"] == 0


def test_status_says_when_the_last_run_failed_or_runs_stopped(tmp_path, practice) -> None:
    tools = fake_tools(tmp_path / "tools", programs=("crontab",))
    host = make_host(tmp_path, tools)
    manage.install(host, paths_of(practice), Settings())
    now = datetime.now().astimezone()
    record_run(
        practice,
        now - timedelta(minutes=20),
        auto_runs.AutoOutcome.FAILED,
        1,
        "The account key is missing.",
    )
    status = schedule_status(host, paths_of(practice), Settings(), now=now)
    assert status.exit_code == 3 and status.last_run_failed
    assert any(
        "last automatic run failed" in w and "account key is missing" in w for w in status.warnings
    )
    stale = schedule_status(host, paths_of(practice), Settings(), now=now + timedelta(hours=5))
    assert any("has not run since" in w for w in stale.warnings)


def test_status_notices_an_entry_for_another_data_folder(tmp_path, practice) -> None:
    tools = fake_tools(tmp_path / "tools", programs=("crontab",))
    host = make_host(tmp_path, tools)
    shutil.copytree(practice.root, tmp_path / "elsewhere")
    other = PracticePaths(tmp_path / "elsewhere" / "Data", tmp_path / "elsewhere" / "account.key")
    manage.install(host, other, Settings())
    status = schedule_status(host, paths_of(practice), Settings())
    assert status.set_up and status.current is False
    assert any("another command" in w for w in status.warnings)


# ---- the command line, for real ----------------------------------------------------------


def test_the_command_in_the_unit_makes_a_backup_logs_and_is_recorded(
    tmp_path, practice, isolated_env
) -> None:
    """Run ExecStart exactly as the unit holds it, in an environment as bare as systemd's
    (the unit's own Environment= lines, no PATH to therabak, another working folder)."""
    tools = fake_tools(tmp_path / "tools", programs=("systemctl",))
    host = make_host(
        tmp_path,
        tools,
        environ=(
            ("THERABAK_CONFIG", os.environ["THERABAK_CONFIG"]),
            ("THERABAK_STATE_DIR", os.environ["THERABAK_STATE_DIR"]),
        ),
    )
    manage.install(host, paths_of(practice), Settings())
    unit = templates.unit_values((units(host) / "therabak-auto.service").read_text("utf-8"))
    argv = templates.systemd_split(unit["Service"]["ExecStart"][0])
    env = {"PATH": "/usr/bin:/bin", "HOME": str(host.home), "LANG": "C.UTF-8"}
    for line in unit["Service"]["Environment"]:
        name, value = templates.systemd_split(line)[0].split("=", 1)
        env[name] = value
    r = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and r.stderr == ""  # all of it went to the log
    log = (host.state_dir / "auto.log").read_text("utf-8")
    assert log.startswith("--- ") and "therabak auto (pid" in log
    assert "Automatic backup written:" in log and "verified" in log
    run = auto_runs.last_run(practice.data_dir)
    assert run is not None and run.outcome == "backup" and run.exit_code == 0
    assert (Path(run.archive) / "config").is_file()  # the automatic backups' store
    status = schedule_status(host, paths_of(practice), Settings())
    assert status.last_backup is not None and status.warnings == []


def test_the_cron_line_runs_through_sh_and_a_failure_is_recorded(tmp_path, practice) -> None:
    tools = fake_tools(tmp_path / "tools", programs=("crontab",))
    host = make_host(
        tmp_path, tools, environ=(("THERABAK_STATE_DIR", os.environ["THERABAK_STATE_DIR"]),)
    )
    manage.install(host, paths_of(practice), Settings())
    line = Path(tools.state()["crontab_file"]).read_text("utf-8").splitlines()[1]
    shell_command = line.split(None, 5)[5].replace("\\%", "%")
    practice.key_path.rename(practice.key_path.with_name("moved.key"))
    r = subprocess.run(
        ["/bin/sh", "-c", shell_command],
        env={"PATH": "/usr/bin:/bin", "HOME": str(host.home)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 1 and r.stderr == ""
    log = (host.state_dir / "auto.log").read_text("utf-8")
    assert "therabak: " in log and "account key" in log.lower()
    run = auto_runs.last_run(practice.data_dir)
    assert run.outcome == "failed" and run.exit_code == 1
    status = schedule_status(host, paths_of(practice), Settings())
    assert status.last_run_failed and status.exit_code == 3


# ---- the CLI ------------------------------------------------------------------------------


def test_cli_install_status_remove(tmp_path, practice, isolated_env) -> None:
    tools = fake_tools(tmp_path / "tools", programs=("systemctl", "loginctl"), linger="no")
    env = {"THERABAK_SCHEDULER_TOOLS": str(tools.folder)}
    args = ["--data-dir", practice.data_dir, "--account-key", practice.key_path]
    r = run_cli("schedule", "status", *args, "--json", env=env)
    assert r.returncode == 3, r.stderr
    assert json.loads(r.stdout)["state"] == "not-set-up"

    r = run_cli("schedule", "install", "--every", "12", *args, env=env)
    assert r.returncode == 0, r.stderr
    assert "systemd user timer" in r.stdout and "therabak-auto.timer" in r.stdout
    assert "tomllib" not in r.stdout
    assert Settings.load().auto.interval_hours == 12
    unit = isolated_env / "xdg" / "config" / "systemd" / "user" / "therabak-auto.service"
    assert unit.exists()
    exec_start = templates.unit_values(unit.read_text("utf-8"))["Service"]["ExecStart"][0]
    assert shlex.join(templates.systemd_split(exec_start)) in r.stdout

    r = run_cli(
        "schedule",
        "install",
        *args,
        "--json",
        env={**env, "SSH_CONNECTION": "10.0.0.2 5 10.0.0.1 22"},
    )
    assert r.returncode == 3, r.stderr
    doc = json.loads(r.stdout)
    assert doc["backend"] == "systemd" and doc["exit_code"] == 3
    assert "loginctl enable-linger" in doc["warnings"][0]
    assert doc["status"]["state"] == "set-up"

    r = run_cli("schedule", "status", *args, env=env)
    assert r.returncode == 0, r.stdout
    assert "set up (systemd user timer), starts 'therabak auto' every hour" in r.stdout
    assert "Next run:" in r.stdout

    r = run_cli("schedule", "remove", env=env)
    assert r.returncode == 0 and "Removed the systemd user timer" in r.stdout
    assert not unit.exists()
    r = run_cli("schedule", "remove", "--json", env=env)
    assert r.returncode == 0 and json.loads(r.stdout)["removed"] == []


def test_cli_usage_and_scheduler_errors_have_their_exit_codes(tmp_path, practice) -> None:
    args = ["--data-dir", practice.data_dir]
    r = run_cli("schedule", "install", "--every", "0", *args)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--every" in r.stderr
    r = run_cli(
        "schedule", "install", "--when-logged-off", *args, env={"THERABAK_SCHEDULER": "cron"}
    )
    assert r.returncode == 1 and "cron is not installed" in r.stderr  # no crontab here
    tools = fake_tools(tmp_path / "tools", programs=("crontab",))
    r = run_cli(
        "schedule",
        "install",
        "--when-logged-off",
        *args,
        env={"THERABAK_SCHEDULER_TOOLS": str(tools.folder)},
    )
    assert r.returncode == 2 and "Windows" in r.stderr
    r = run_cli("schedule", "install", *args)  # the empty tools folder: no scheduler
    assert r.returncode == 1 and "cannot be set up here" in r.stderr
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1
    r = run_cli("schedule", *args)
    assert r.returncode == 2


def test_therabak_status_tells_whether_automatic_backups_are_set_up(tmp_path, practice) -> None:
    args = ["--data-dir", practice.data_dir, "--account-key", practice.key_path]
    r = run_cli("status", *args, "--json")
    doc = json.loads(r.stdout)
    assert doc["schedule"]["state"] == "unavailable"
    assert any("not set up" in w for w in doc["warnings"])
    tools = fake_tools(tmp_path / "tools", programs=("crontab",))
    env = {"THERABAK_SCHEDULER_TOOLS": str(tools.folder)}
    assert run_cli("schedule", "install", *args, env=env).returncode == 0
    r = run_cli("status", *args, env=env)
    assert "none yet; set up (crontab line)" in r.stdout
    assert "not set up" not in r.stdout


def test_install_refuses_a_practice_it_could_not_back_up(tmp_path, practice) -> None:
    tools = fake_tools(tmp_path / "tools", programs=("crontab",))
    host = make_host(tmp_path, tools)
    missing = PracticePaths(tmp_path / "nowhere" / "Data", practice.key_path)
    with pytest.raises(DataFolderError):
        manage.install(host, missing, Settings())
    no_key = PracticePaths(practice.data_dir, tmp_path / "nowhere" / "account.key")
    with pytest.raises(AccountKeyError):
        manage.install(host, no_key, Settings())
    assert tools.calls("crontab") == []  # nothing was even looked at


def test_the_log_is_appended_and_moved_aside_when_large(tmp_path, practice) -> None:
    log = tmp_path / "logs" / "auto.log"
    log.parent.mkdir()
    log.write_bytes(b"old\n" * 300_000)  # 1.2 MB
    args = ["auto", "--data-dir", tmp_path / "missing", "--log", log]
    r = run_cli(*args)
    assert r.returncode == 1 and r.stdout == "" and r.stderr == ""
    assert (tmp_path / "logs" / "auto.log.1").stat().st_size == 1_200_000
    text = log.read_text("utf-8")
    assert text.startswith("--- ") and "Data folder not found" in text
    run_cli(*args)
    assert log.read_text("utf-8").count("--- ") == 2  # appended, not moved again
    run = auto_runs.last_run(tmp_path / "missing")
    assert run.outcome == "failed" and "Data folder not found" in run.message
