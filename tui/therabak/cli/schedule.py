"""``therabak schedule install|remove|status``: automatic backups through the platform's
own scheduler (``therabak/schedule/``)."""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys

from therabak.cli.common import Output, add_json_option, add_practice_options, practice_paths
from therabak.errors import ExitCode, UsageError
from therabak.i18n import _
from therabak.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    from therabak.cli import add_language_option

    p = sub.add_parser(
        "schedule",
        help=_("set up, remove or check automatic backups (the system's scheduler)"),
        description=_(
            "Set up automatic backups with this computer's own scheduler: a systemd user "
            "timer where systemd runs, else a crontab line; a launchd agent on macOS; a "
            "Task Scheduler task on Windows. The entry starts 'therabak auto' every hour "
            "(more often when the interval is shorter), which makes a backup when one is "
            "due. No password is stored anywhere: automatic backups use the account key."
        ),
    )
    actions = p.add_subparsers(dest="action", metavar=_("ACTION"))
    actions.required = True

    install = actions.add_parser(
        "install",
        help=_("set up automatic backups (again: replaces the entry)"),
        description=_(
            "Write the scheduler entry that starts 'therabak auto' for this data folder "
            "and account key, and activate it. Exit code 3: set up, with advice to follow."
        ),
    )
    install.add_argument(
        "--every",
        metavar="HOURS",
        type=float,
        help=_(
            "make an automatic backup every HOURS hours (saved in the settings file; "
            "default: its [auto] interval_hours, 24)"
        ),
    )
    install.add_argument(
        "--when-logged-off",
        action="store_true",
        help=_(
            "Windows: run the task also when nobody is logged on (no password is stored; "
            "the task then reaches only this computer's files)"
        ),
    )
    add_practice_options(install)
    add_json_option(install)
    install.set_defaults(func=run_install)

    remove = actions.add_parser(
        "remove",
        help=_("remove the scheduler entry (backups made stay)"),
        description=_(
            "Deactivate and delete therabak's scheduler entry; nothing else is touched "
            "and the automatic backups made so far stay. Exit code 0 also when none was "
            "set up."
        ),
    )
    add_json_option(remove)
    remove.set_defaults(func=run_remove)

    status = actions.add_parser(
        "status",
        help=_("whether automatic backups are set up, and how they ran"),
        description=_(
            "Show whether automatic backups are set up (which scheduler, where), the last "
            "run and its result, the next run and the next backup. Exit code 3 when they "
            "are not set up or need attention."
        ),
    )
    add_practice_options(status)
    add_json_option(status)
    status.set_defaults(func=run_status)
    for parser in (install, remove, status):
        add_language_option(parser)


def command_line(argv: list[str] | tuple[str, ...]) -> str:
    """A command as the user would type it in their shell."""
    if sys.platform == "win32":
        return subprocess.list2cmdline(list(argv))
    return shlex.join(argv)


def run_install(args: argparse.Namespace, out: Output) -> int:
    from therabak.errors import ConfigError
    from therabak.schedule.command import every_text
    from therabak.schedule.host import Host
    from therabak.schedule.manage import install
    from therabak.schedule.status import schedule_status
    from therabak.schedule.templates import WindowsLogon

    settings = Settings.load()
    if args.every is not None:
        settings.auto.interval_hours = args.every
        try:
            settings.validate()
        except ConfigError:
            raise UsageError(
                _("--every must be a number of hours above 0 and at most 2160.")
            ) from None
        settings.save()
    host = Host.current()
    paths = practice_paths(args)
    logon = WindowsLogon.S4U if args.when_logged_off else WindowsLogon.INTERACTIVE
    result = install(host, paths, settings, logon=logon)
    status = schedule_status(host, paths, settings)
    code = ExitCode.WARNINGS if result.warnings else ExitCode.OK
    if out.json_mode:
        out.document(
            {
                "action": "install",
                **result.to_dict(),
                "status": status.to_dict(),
                "exit_code": int(code),
            }
        )
        return code
    out.text(
        _("Automatic backups are set up: {backend}, starting 'therabak auto' {every}.").format(
            backend=_backend_name(result.change.kind),
            every=every_text(result.command.every_minutes),
        )
    )
    for where in result.change.location:
        out.text(f"  {where}")
    out.text("  " + _("runs: {command}").format(command=command_line(result.command.argv)))
    out.text("  " + _("log: {path}").format(path=result.command.log))
    if status.next_run:
        out.text("  " + _("next run: {time}").format(time=_time(status.next_run)))
    for note in result.change.notes:
        out.text(note)
    for warning in result.warnings:
        out.text(_("warning: {message}").format(message=warning))
    return code


def run_remove(args: argparse.Namespace, out: Output) -> int:
    from therabak.schedule.host import Host
    from therabak.schedule.manage import remove

    changes = remove(Host.current())
    removed = [c for c in changes if c.changed]
    if out.json_mode:
        out.document(
            {
                "action": "remove",
                "removed": [
                    {"backend": c.kind.value, "location": c.location, "notes": c.notes}
                    for c in removed
                ],
                "exit_code": int(ExitCode.OK),
            }
        )
        return ExitCode.OK
    if not removed:
        out.text(_("Automatic backups were not set up; nothing to remove."))
    for change in removed:
        out.text(
            _("Removed the {backend}: {where}").format(
                backend=_backend_name(change.kind), where=", ".join(change.location)
            )
        )
        for note in change.notes:
            out.text("  " + note)
    if removed:
        out.text(_("The automatic backups made so far stay where they are."))
    return ExitCode.OK


def run_status(args: argparse.Namespace, out: Output) -> int:
    from therabak.schedule.command import every_text
    from therabak.schedule.host import Host
    from therabak.schedule.status import ScheduleState, schedule_status

    status = schedule_status(Host.current(), practice_paths(args), Settings.load())
    if out.json_mode:
        out.document(status.to_dict())
        return status.exit_code
    labels = {
        "state": _("Automatic backups:"),
        "where": _("Where:"),
        "runs": _("Runs:"),
        "last_run": _("Last run:"),
        "last_backup": _("Last backup:"),
        "next_run": _("Next run:"),
        "next_backup": _("Next backup:"),
    }
    width = max(14, *(len(label) + 1 for label in labels.values()))

    def line(key: str, text: str) -> None:
        out.text(f"{labels[key]:<{width}}{text}")

    if status.state is ScheduleState.SET_UP:
        assert status.backend is not None
        state = _("set up ({backend})").format(backend=_backend_name(status.backend))
        if status.every_minutes:
            state = _("{state}, starts 'therabak auto' {every}").format(
                state=state, every=every_text(status.every_minutes)
            )
        line("state", state)
        for i, where in enumerate(status.location):
            out.text(f"{labels['where'] if i == 0 else '':<{width}}{where}")
        if status.command:
            line("runs", command_line(status.command))
    elif status.state is ScheduleState.NOT_SET_UP:
        line("state", _("not set up"))
    else:
        line("state", _("cannot be set up here"))
    run = status.last_run
    line(
        "last_run",
        _("{time}: {result}").format(time=_time(run.started_at), result=run.result_text())
        if run
        else _("none yet"),
    )
    line("last_backup", _time(status.last_backup) if status.last_backup else _("none yet"))
    if status.next_run:
        source = (
            _("from the scheduler")
            if status.next_run_from == "scheduler"
            else _("computed from the entry")
        )
        line("next_run", f"{_time(status.next_run)} ({source})")
    if status.next_backup:
        line("next_backup", _("after {time}").format(time=_time(status.next_backup)))
    for warning in status.warnings:
        out.text(_("warning: {message}").format(message=warning))
    return status.exit_code


def _backend_name(kind) -> str:
    from therabak.schedule.backend import BACKEND_NAMES

    return _(BACKEND_NAMES[kind])


def _time(t) -> str:
    from therabak import formatting

    return f"{formatting.local_time(t)} ({formatting.ago(t)})"
