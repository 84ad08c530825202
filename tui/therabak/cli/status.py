"""``therabak status``: the last backups and the two-week reminder."""

from __future__ import annotations

import argparse

from therabak.cli.common import (
    Output,
    add_json_option,
    add_practice_options,
    load_account,
    practice_paths,
)
from therabak.i18n import _, pgettext
from therabak.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "status",
        help=_("last backups, automatic-backup health and the reminder"),
        description=_(
            "Show the last manual, automatic and folder backup. Exit code 3 when a "
            "manual backup is due (none yet, or older than the reminder interval, default 14 "
            "days) or automatic backups are not running."
        ),
    )
    add_practice_options(p)
    add_json_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: Output) -> int:
    from therabak import formatting
    from therabak.jobs.status import compute_status
    from therabak.schedule.backend import BACKEND_NAMES
    from therabak.schedule.host import Host
    from therabak.schedule.status import schedule_status

    paths = practice_paths(args)
    settings = Settings.load()
    account = load_account(paths, out, required=False)
    schedule = schedule_status(Host.current(), paths, settings)
    report = compute_status(
        paths.data_dir,
        settings,
        account_key_id=account.id_hex if account else None,
        schedule=schedule,
    )
    if out.json_mode:
        out.document(report.to_dict())
        return report.exit_code
    for reminder in report.reminders:
        out.text(_("REMINDER: {message}").format(message=reminder))
    if report.reminders:
        out.text("")
    labels = {
        "data": _("Data folder:"),
        "manual": _("Manual backup:"),
        "auto": _("Automatic backup:"),
        "folder": _("Folder backup:"),
        "autos": _("Automatic backups:"),
        "restore": _("Last restore:"),
        "undo": _("Undo possible:"),
    }
    width = max(18, *(len(label) + 1 for label in labels.values()))

    def line(label: str, b) -> None:
        if b is None:
            out.text(f"{label:<{width}}{_('none yet')}")
            return
        verified = {True: _("verified"), False: _("VERIFY FAILED"), None: _("not verified")}[
            b.verified
        ]
        missing = "  " + _("(file no longer there)") if not b.exists else ""
        out.text(
            f"{label:<{width}}{formatting.local_time(b.when)} ({formatting.ago(b.when)}), "
            f"{verified}{missing}"
        )
        out.text(f"{'':<{width}}{b.where}")

    out.text(f"{labels['data']:<{width}}{report.data_dir}")
    line(labels["manual"], report.manual)
    line(labels["auto"], report.auto)
    line(labels["folder"], report.folder)
    for d in report.destinations:
        kind = _("off-site") if d.destination.is_remote else _("local")
        out.text(_("Destination {name} ({kind}):").format(name=d.destination.label, kind=kind))
        if d.last is None:
            out.text(f"{'':<{width}}{_('no backup yet')}  ({d.destination.where})")
        else:
            line("", d.last)
    state = {
        "ok": pgettext("automatic backups are", "running"),
        "overdue": _("OVERDUE"),
        "never": _("none yet"),
    }[report.auto_state]
    if schedule.set_up and schedule.backend:
        state = _("{state}; set up ({backend})").format(
            state=state, backend=_(BACKEND_NAMES[schedule.backend])
        )
    elif report.auto_state == "never":
        state = _("{state}; not set up").format(state=state)
    else:
        state = _("{state} (not set up by therabak)").format(state=state)
    if report.auto_next_due:
        state = _("{state}, next due after {time}").format(
            state=state, time=formatting.local_time(report.auto_next_due)
        )
    out.text(f"{labels['autos']:<{width}}{state} ({report.auto_folder})")
    if report.last_restore is not None:
        r = report.last_restore
        out.text(
            f"{labels['restore']:<{width}}"
            + _("{time} from {place}").format(time=formatting.local_time(r.when), place=r.where)
        )
    for p in report.before_restore:
        out.text(f'{labels["undo"]:<{width}}therabak restore "{p.path}"')
    for w in report.warnings:
        out.text(_("warning: {message}").format(message=w))
    return report.exit_code
