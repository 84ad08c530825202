"""``therabak restore``: restore a backup, safely (staged, verified, swapped, undoable)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from therabak.cli.common import (
    Output,
    add_json_option,
    add_practice_options,
    add_unlock_options,
    load_rules,
    practice_paths,
    read_password,
)
from therabak.cli.render import ProgressRenderer, renamed_lines
from therabak.errors import ExitCode, UsageError
from therabak.events import DamagedPart
from therabak.i18n import _, ngettext

if TYPE_CHECKING:  # the engine is imported when a command runs: the CLI starts fast
    from therabak.jobs.restore import RestorePlan, RestoreRequest
    from therabak.practice.categories import Rules
    from therabak.settings import PracticePaths


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "restore",
        help=_("restore a backup, a folder backup or a before-restore folder"),
        description=_(
            "Restore POINT (a backup in a store, STORE@ID, a .therabak archive, a "
            "TheraPsy-Data-* folder backup or a Data.before-restore-* folder). The new data "
            "is built beside the data folder, re-encrypted with this computer's account key "
            "and checked; only then is the current data folder renamed to "
            "Data.before-restore-<time> (restore that to undo) and the new one put in place. "
            "Categories the backup does not hold are kept from the current data."
        ),
    )
    p.add_argument("point", metavar="POINT", help=_("the backup to restore (see therabak list)"))
    p.add_argument(
        "--to",
        metavar="DIR",
        help=_("restore into DIR (empty or new) instead; the data folder stays as it is"),
    )
    p.add_argument(
        "--include",
        metavar="IDS",
        action="append",
        help=_(
            "restore only these categories (ids, comma-separated); every other "
            "category of the current data stays as it is"
        ),
    )
    add_unlock_options(p)
    p.add_argument("--yes", action="store_true", help=_("do not ask for confirmation"))
    p.add_argument(
        "--force",
        action="store_true",
        help=_(
            "restore even though the practice app "
            "seems to be running (Data/.lock holds a live process id)"
        ),
    )
    p.add_argument(
        "--salvage",
        action="store_true",
        help=_(
            "restore every intact file of a damaged backup, skip and list the rest (exit code 3)"
        ),
    )
    p.add_argument(
        "--before-restore-name",
        metavar="NAME",
        help=_(
            "keep the current data folder as NAME beside it (it must start with "
            "Data.before-restore-); default: Data.before-restore-<time of the restore>. "
            "The app passes the name its plan showed; if NAME is taken by then, a new "
            "name is used and said"
        ),
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help=_("run every check and show what would be replaced; change nothing"),
    )
    add_practice_options(p)
    add_json_option(p)
    p.set_defaults(func=run)


def _interactive() -> bool:
    try:
        return sys.stdin.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _password(args: argparse.Namespace, paths) -> str | None:
    """Ask for the password only when the archive needs one (its account slot is not ours)."""
    from therabak.points.discovery import identify
    from therabak.points.stores import named_text
    from therabak.practice.account import AccountKey

    point_path = named_text(args.point)
    if isinstance(point_path, Path) and point_path.is_dir():
        return None
    account_id = None
    if paths.account_key.exists():
        account_id = AccountKey.load(paths.account_key).id_hex
    point = identify(point_path, account_id, salvage=args.salvage)
    if point.readable and point.protection == "password":
        if point.account_match != "yes":
            return read_password(args, confirm=False, what="backup")
        if args.salvage:  # the account slot may be the damaged part: take a password given
            return read_password(args, confirm=False, required=False)
    return None


def _category_table(plan: RestorePlan, rules: Rules) -> list[str]:
    """Per category (as a tree): files and size in the backup and now; the columns are as
    wide as their longest text (German labels and sizes are longer than English ones)."""
    from therabak.jobs.restore import RestoreMode
    from therabak.presentation import amount, plan_rows

    verb = _("REPLACED") if plan.mode == RestoreMode.REPLACE else _("restored")
    rows: list[tuple[str, str, str, str] | str] = []
    for row in plan_rows(plan, rules):
        label = "  " * row.depth + row.label
        c = row.change
        if c is None:
            rows.append(label)
            continue
        if c.id not in rules.nodes:  # a category the current rules do not know
            rows.append((c.id, amount(c.backup_files, c.backup_bytes), "", ""))
            continue
        backup = amount(c.backup_files, c.backup_bytes) if row.restored else "-"
        action = verb if row.restored else _("kept")
        rows.append((label, backup, amount(c.current_files, c.current_bytes), action))
    cells = [r for r in rows if isinstance(r, tuple)]
    head_backup, head_now = _("in the backup"), _("now")
    w0 = max([len(r[0]) for r in cells] + [len(r) for r in rows if isinstance(r, str)] + [8])
    w1 = max([len(r[1]) for r in cells] + [len(head_backup)])
    w2 = max([len(r[2]) for r in cells] + [len(head_now)])
    lines = [f"  {'':<{w0}}  {head_backup:>{w1}}  {head_now:>{w2}}"]
    for r in rows:
        if isinstance(r, str):
            lines.append(f"  {r}")
        else:
            lines.append(f"  {r[0]:<{w0}}  {r[1]:>{w1}}  {r[2]:>{w2}}  {r[3]}".rstrip())
    lines.append("  " + _("('-' in the backup: not in this backup, the current files are kept)"))
    return lines


def describe_plan(plan: RestorePlan, rules: Rules) -> list[str]:
    """The confirmation text: what is replaced, what is kept, where the current data goes."""
    from therabak import formatting
    from therabak.presentation import (
        from_backup_line,
        kind_description,
        renamed_line,
    )

    p = plan.point
    when = (
        f"{formatting.local_time(p.created)}, {formatting.ago(p.created)}"
        if p.created
        else _("time unknown")
    )
    source, into = _("Restore from:"), _("Into:")
    width = max(len(source), len(into)) + 1
    lines = [
        f"{source:<{width}}{p.short_ref}",
        " " * width + _("({kind}, made {when})").format(kind=kind_description(p.kind), when=when),
        f"{into:<{width}}{plan.target}",
    ]
    if plan.new_account_key:
        lines.append(
            _(
                "A NEW account key will be created at {path}; keep a copy of it safe "
                "(without it the data cannot be read)."
            ).format(path=plan.new_account_key)
        )
    lines.append("")
    lines.extend(_category_table(plan, rules))
    lines.append("")
    lines.append(from_backup_line(plan))
    if plan.carry_files:
        lines.append(
            _("Kept from the current data: {files}, {size}.").format(
                files=formatting.files(plan.carry_files), size=formatting.size(plan.carry_bytes)
            )
        )
    for path, why in plan.unrestorable:
        lines.append(
            "  " + _("cannot be restored: {path} ({reason})").format(path=path, reason=why)
        )
    renamed = renamed_line(plan)
    if renamed:
        lines.append(renamed)
        lines.extend(renamed_lines(plan.renamed, plan.file_system, limit=20))
    if plan.keep_old_at:
        lines.append(_("The current data folder will be kept as"))
        lines.append(f"  {plan.keep_old_at}")
        lines.append(_('To undo: therabak restore "{path}"').format(path=plan.keep_old_at))
    return lines


def restore_request(args: argparse.Namespace, paths: PracticePaths, rules: Rules) -> RestoreRequest:
    """The restore the arguments ask for (the inverse of ``RestoreRequest.to_argv``),
    without its secret."""
    from therabak.jobs.restore import RestoreRequest
    from therabak.points.stores import named_text

    return RestoreRequest(
        point=named_text(args.point),
        data_dir=paths.data_dir,
        account_key_path=paths.account_key,
        rules=rules,
        include=args.include,
        target=Path(args.to) if args.to else None,
        force=args.force,
        salvage=args.salvage,
        before_restore_name=args.before_restore_name,
    )


def run(args: argparse.Namespace, out: Output) -> int:
    from therabak.jobs.restore import run_restore

    if not (args.yes or args.dry_run) and not _interactive():
        raise UsageError(
            _(
                "Restoring replaces data: confirm with --yes (no terminal to ask on), "
                "or look first with --dry-run."
            )
        )
    from therabak.cli.codes import read_code

    code = read_code(args)  # checked first: a typo stops here, before any work
    paths = practice_paths(args)
    rules = load_rules()
    req = restore_request(args, paths, rules)
    req.password = None if code is not None else _password(args, paths)
    req.recovery_code = code
    renderer = ProgressRenderer(enabled=not out.json_mode)
    emit = out.event if out.json_mode else renderer
    if args.dry_run:
        return _dry_run(req, emit, rules, out)

    def confirm(plan) -> bool:
        return _confirm_on_terminal(describe_plan(plan, rules))

    try:
        result = run_restore(req, emit, confirm=None if args.yes else confirm)
    finally:
        renderer.close()
    if not out.json_mode:
        _say_result(result, out)
    return result.exit_code


def _dry_run(req, emit, rules, out: Output) -> int:
    """The plan, and nothing changed: as text, or (JSON) as the event stream's summary."""
    from therabak.jobs.restore import plan_restore

    plan = plan_restore(req, emit)
    if out.json_mode:  # the event stream ends with the plan, as a summary
        from therabak.events import Summary

        out.event(
            Summary(
                operation="restore-plan",
                exit_code=ExitCode.OK,
                duration_s=0.0,
                message="dry run: nothing was changed",
                extra={"plan": plan.to_json()},
            )
        )
    else:
        for line in describe_plan(plan, rules):
            out.text(line)
        out.text("\n" + _("Dry run: nothing was changed."))
    return ExitCode.OK


def _confirm_on_terminal(plan_lines) -> bool:
    """The plan on standard error, then the question; yes only for y/yes/j/ja."""
    for line in plan_lines:
        sys.stderr.write(line + "\n")
    sys.stderr.write("\n" + _("Restore now? [y/N] "))
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().casefold()
    return answer in ("y", "yes", "j", "ja")  # answers in both languages


def _say_result(result, out: Output) -> None:
    """What a finished restore did, as text: the amounts, a new account key, what was
    damaged or renamed, the warnings, and where the previous data is kept."""
    from therabak import formatting

    restored = dict(
        path=result.target,
        files=formatting.files(result.files_restored),
        size=formatting.size(result.bytes_restored),
    )
    if result.files_carried:
        out.text(
            _(
                "Restored into {path}: {files} ({size}) from the backup, "
                "{kept} kept from the current data."
            ).format(kept=formatting.files(result.files_carried), **restored)
        )
    else:
        out.text(_("Restored into {path}: {files} ({size}) from the backup.").format(**restored))
    if result.new_account_key:
        out.text(
            _("A new account key was created: {path} (keep a copy of it in a safe place).").format(
                path=result.new_account_key
            )
        )
    for p, why in result.damaged:
        if isinstance(p, DamagedPart):  # the header, the index: not a file
            out.text("  " + _("damaged: {path}: {reason}").format(path=p[1:-1], reason=why))
        else:
            out.text("  " + _("NOT restored: {path} ({reason})").format(path=p, reason=why))
    for w in result.warnings:
        out.text("  " + _("warning: {message}").format(message=w.message))
    if result.renamed:
        _say_renamed(result, out)
    if result.before_restore:
        _say_before_restore(result, out)


def _say_renamed(result, out: Output) -> None:
    out.text(
        ngettext(
            "{n} file was restored under another name: {system} cannot hold its name "
            "as it is. Nothing is lost; the list is also in {path}",
            "{n} files were restored under another name: {system} cannot hold their "
            "names as they are. Nothing is lost; the list is also in {path}",
            len(result.renamed),
        ).format(n=len(result.renamed), system=result.file_system, path=result.renamed_list)
    )
    for line in renamed_lines(result.renamed, result.file_system):
        out.text(line)


def _say_before_restore(result, out: Output) -> None:
    out.text(_("The previous data is kept in {path}").format(path=result.before_restore))
    if result.before_restore_planned:
        out.text(
            "  "
            + _("(not {planned} as planned: that name was taken meanwhile)").format(
                planned=result.before_restore_planned.name
            )
        )
    out.text(_('To undo: therabak restore "{path}"').format(path=result.before_restore))
