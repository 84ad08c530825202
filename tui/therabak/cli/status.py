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
from therabak.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "status",
        help="last backups, automatic-backup health and the reminder",
        description="Show the last manual, automatic and folder backup. Exit code 3 when a "
        "manual backup is due (none yet, or older than the reminder interval, default 14 "
        "days) or automatic backups are not running.",
    )
    add_practice_options(p)
    add_json_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: Output) -> int:
    from therabak import formatting
    from therabak.jobs.status import compute_status

    paths = practice_paths(args)
    settings = Settings.load()
    account = load_account(paths, out, required=False)
    report = compute_status(
        paths.data_dir, settings, account_key_id=account.id_hex if account else None
    )
    if out.json_mode:
        out.document(report.to_dict())
        return report.exit_code
    if report.reminder:
        out.text(f"REMINDER: {report.reminder}")
        out.text("")

    def line(label: str, b) -> None:
        if b is None:
            out.text(f"{label:<18} none yet")
            return
        verified = {True: "verified", False: "VERIFY FAILED", None: "not verified"}[b.verified]
        missing = "" if b.exists else "  (file no longer there)"
        out.text(
            f"{label:<18} {formatting.local_time(b.when)} ({formatting.ago(b.when)}), "
            f"{verified}{missing}"
        )
        out.text(f"{'':<18} {b.where}")

    out.text(f"Data folder:       {report.data_dir}")
    line("Manual backup:", report.manual)
    line("Automatic backup:", report.auto)
    line("Folder backup:", report.folder)
    state = {"ok": "running", "overdue": "OVERDUE", "never": "not set up"}[report.auto_state]
    due = (
        f", next due after {formatting.local_time(report.auto_next_due)}"
        if report.auto_next_due
        else ""
    )
    out.text(f"Automatic backups: {state}{due} ({report.auto_folder})")
    if report.last_restore is not None:
        r = report.last_restore
        out.text(f"Last restore:      {formatting.local_time(r.when)} from {r.where}")
    for p in report.before_restore:
        out.text(f'Undo possible:     therabak restore "{p.path}"')
    for w in report.warnings:
        out.text(f"warning: {w}")
    return report.exit_code
