"""``therabak preview``: what a backup would contain, per category.

Import-light on purpose (the scan must feel instant): nothing here loads the
crypto stack, and Babel only for text output in a language other than English.
"""

from __future__ import annotations

import argparse

from therabak.cli.common import (
    Output,
    add_json_option,
    add_practice_options,
    add_selection_options,
    load_rules,
    practice_paths,
)
from therabak.errors import ExitCode
from therabak.i18n import _
from therabak.practice.categories import BackupKind
from therabak.practice.preview import build_preview


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "preview", help=_("show the category tree with sizes and what a backup would contain")
    )
    p.add_argument(
        "--kind",
        choices=[k.value for k in BackupKind],
        default="manual",
        help=_("which backup's default rules to apply (default: manual)"),
    )
    p.add_argument(
        "--dest",
        metavar="DIR",
        help=_(
            "the destination the backup would go to: when it lies inside the data folder, "
            "the backups in it are left out (as those of remembered destinations are)"
        ),
    )
    add_selection_options(p)
    add_practice_options(p)
    add_json_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: Output) -> int:
    from pathlib import Path

    from therabak.datafolder.nesting import backups_inside

    rules = load_rules()
    kind = BackupKind(args.kind)
    paths = practice_paths(args)
    dests = [Path(args.dest).expanduser().absolute()] if args.dest else []
    preview = build_preview(
        paths.data_dir,
        rules,
        kind,
        args.include,
        args.exclude,
        leave_out=backups_inside(paths.data_dir, *dests),
    )
    if out.json_mode:
        out.document(preview.to_dict())
        return ExitCode.OK
    out.text(
        (
            _("Data folder: {path}   (manual backup)")
            if kind is BackupKind.MANUAL
            else _("Data folder: {path}   (automatic backup)")
        ).format(path=paths.data_dir)
    )
    out.text()
    for line in preview.tree_lines():
        out.text(line)
    out.text()
    out.text(preview.summary_line())
    for path, why in preview.skipped:
        out.text(_("Skipped: {path} ({reason})").format(path=path, reason=why))
    if preview.left_out:
        from therabak.datafolder.nesting import left_out_message

        out.text(left_out_message(preview.left_out))
    for line in preview.name_lines(rules):
        out.text(line)
    return ExitCode.OK
