"""How the app says whether automatic backups are set up and how they ran: the words
the home screen and the settings share, from the engine's
:class:`~therabak.schedule.status.ScheduleStatus`."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text

from therabak import formatting
from therabak.i18n import _
from therabak.schedule.status import ScheduleState, ScheduleStatus


def state_text(status: ScheduleStatus) -> Text:
    """One line: set up (and when the next backup comes), or why not."""
    if status.state is ScheduleState.UNAVAILABLE:
        return Text(
            _("cannot be set up here: {reason}").format(reason=status.unavailable), "bold red"
        )
    if status.state is ScheduleState.NOT_SET_UP:
        return Text(_("not set up: nothing makes automatic backups"), "bold yellow")
    if status.next_backup is not None:
        return Text(
            _("set up; next backup after {time}").format(
                time=formatting.local_time(status.next_backup)
            )
        )
    return Text(_("set up"))


def last_run_text(status: ScheduleStatus, now: datetime) -> Text | None:
    run = status.last_run
    if run is None:
        return None
    return Text(
        _("{time} ({age}): {result}").format(
            time=formatting.local_time(run.started_at),
            age=formatting.ago(run.started_at, now),
            result=run.result_text(),
        ),
        "bold red" if not run.ok else "",
    )


def advice(status: ScheduleStatus) -> list[str]:
    """What a set-up entry needs, beyond a failed last run (which :func:`last_run_text`
    shows)."""
    if not status.set_up:
        return []
    failed = _("The last automatic run failed ({time}): {message}").msgid
    return [w for w in status.warnings if getattr(w, "msgid", None) != failed]


def installed_text(result) -> str:
    from therabak.schedule.command import every_text

    return _("Set up: this computer's scheduler now starts the automatic backup {every}.").format(
        every=every_text(result.command.every_minutes)
    )
