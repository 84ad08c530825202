"""``therabak recovery create|remove ARCHIVE|STORE``: a backup's (or a backup store's)
recovery code: its key slot only."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from therabak.cli.codes import (
    add_code_out_option,
    add_code_source_options,
    check_new_code_can_reach_user,
    code_given,
    read_code,
    read_new_code_to_set,
    show_code,
    write_code_file,
)
from therabak.cli.common import Output, add_json_option, add_unlock_options, read_password
from therabak.errors import ExitCode, TherabakError
from therabak.events import Summary
from therabak.i18n import _


def register(sub: argparse._SubParsersAction) -> None:
    from therabak.cli import add_language_option

    p = sub.add_parser(
        "recovery",
        help=_("add, replace or remove the recovery code of a backup"),
        description=_(
            "A recovery code opens a backup when its password is forgotten: a second key, "
            "32 characters in 8 groups, to keep on paper apart from the backup. Only the "
            "backup's header is rewritten (crash-safely); the data stays as it is."
        ),
    )
    commands = p.add_subparsers(dest="recovery_command", metavar=_("COMMAND"))
    commands.required = True

    c = commands.add_parser(
        "create",
        help=_("give a backup a new recovery code (replaces an earlier one)"),
        description=_(
            "Give ARCHIVE a new recovery code; an earlier code of it stops working. Opens "
            "with the password or with the current recovery code. therabak makes the code "
            "and shows it once on the terminal (or writes it to --recovery-code-out FILE), "
            "before the backup is changed; or it takes the code from "
            "--new-recovery-code-file/-env/-stdin (made by the caller, e.g. the app). Copies "
            "of the backup made before keep their old slots."
        ),
    )
    c.add_argument(
        "archive",
        metavar="ARCHIVE",
        help=_("a backup file, or a backup store (its folder, or the folder that holds it)"),
    )
    add_unlock_options(c)
    g = c.add_argument_group(_("the new recovery code (never on the command line)"))
    m = g.add_mutually_exclusive_group()
    add_code_source_options(m, new=True)
    add_code_out_option(c)
    add_json_option(c)
    c.set_defaults(func=run_create)

    r = commands.add_parser(
        "remove",
        help=_("remove the recovery code of a backup"),
        description=_(
            "Remove the recovery code of ARCHIVE: it then opens with its password only "
            "(the code is refused, exit 4). Needs the password. Copies of the backup made "
            "before keep their code."
        ),
    )
    r.add_argument(
        "archive",
        metavar="ARCHIVE",
        help=_("a backup file, or a backup store (its folder, or the folder that holds it)"),
    )
    add_unlock_options(r, recovery=False)
    add_json_option(r)
    r.set_defaults(func=run_remove)
    for parser in (c, r):
        add_language_option(parser)


def run_create(args: argparse.Namespace, out: Output) -> int:
    from therabak.crypto.recovery import RecoveryCode
    from therabak.points.stores import named_text

    start = time.monotonic()
    from_caller = code_given(args, "new_recovery_code")
    if from_caller and args.recovery_code_out:
        from therabak.errors import UsageError

        raise UsageError(
            _("Give a new recovery code or let therabak make one (--recovery-code-out), not both.")
        )
    if not from_caller:
        check_new_code_can_reach_user(args, json_mode=out.json_mode)
    # secrets on stdin, in order: the one that opens, then the new code
    current = read_code(args)
    password = None if current is not None else read_password(args, confirm=False, what="backup")
    new, made_here = read_new_code_to_set(args, "new_recovery_code")
    if new is None:
        new = RecoveryCode.generate()
    change = _prepare(named_text(args.archive), new, password=password, recovery_code=current)
    # the new code reaches the person before the backup depends on it
    if made_here and args.recovery_code_out:
        write_code_file(Path(args.recovery_code_out), new)
    elif made_here:
        show_code(new)
    try:
        result = change.commit()
    except (TherabakError, OSError):
        if made_here and args.recovery_code_out:
            Path(args.recovery_code_out).unlink(missing_ok=True)
        elif made_here:
            sys.stderr.write(
                _("The recovery code shown above was NOT saved; the backup opens as before.") + "\n"
            )
        raise
    if out.json_mode:  # one summary event: the app runs this as a job
        out.event(
            Summary(
                operation="recovery-create",
                exit_code=ExitCode.OK,
                duration_s=time.monotonic() - start,
                message=str(result.archive),
                extra={
                    **result.to_json(),
                    "recovery_code": True,
                    "code_file": str(args.recovery_code_out) if args.recovery_code_out else None,
                },
            )
        )
        return ExitCode.OK
    out.text(_("Recovery code saved in the backup: {path}").format(path=result.archive))
    if result.replaced and isinstance(change, _StoreChange):
        out.text(
            "  "
            + _(
                "The earlier recovery code no longer opens this backup store (nor any backup "
                "in it)."
            )
        )
    elif result.replaced:
        out.text(
            "  "
            + _(
                "The earlier recovery code no longer opens this file (copies of it made "
                "before still open with it)."
            )
        )
    if args.recovery_code_out:
        out.text(
            "  "
            + _(
                "The code is in {file} (readable only by you): print it or write it down, "
                "keep it apart from the backup, then delete the file."
            ).format(file=args.recovery_code_out)
        )
    return ExitCode.OK


class _StoreChange:
    """A store's new recovery code, ready: the store is open (the secret proven);
    :meth:`commit` writes the new key file (jobs/store_keys.py)."""

    def __init__(self, store, code) -> None:
        self.store, self.code = store, code

    def commit(self):
        from therabak.jobs.recovery import RecoveryResult
        from therabak.jobs.store_keys import set_code

        done = set_code(self.store, self.code)
        return RecoveryResult(archive=done.store, slots=done.slots, replaced=done.replaced)


def _prepare(path: Path | str, code, *, password, recovery_code):
    """A backup file's or a store's slot change, checked and ready to commit."""
    from therabak.jobs.recovery import prepare_recovery_code
    from therabak.jobs.store_keys import is_store, open_for_change

    if is_store(path):
        store = open_for_change(path, password=password, recovery_code=recovery_code)
        return _StoreChange(store, code)
    return prepare_recovery_code(path, code, password=password, recovery_code=recovery_code)


def run_remove(args: argparse.Namespace, out: Output) -> int:
    from therabak.jobs.recovery import RecoveryResult, remove_recovery_code
    from therabak.jobs.store_keys import is_store, open_for_change, remove_code
    from therabak.points.stores import named_text

    start = time.monotonic()
    password = read_password(args, confirm=False, what="backup")
    where = named_text(args.archive)  # an off-site store or a destination's name: text
    if is_store(where):
        done = remove_code(open_for_change(where, password=password))
        result = RecoveryResult(archive=done.store, slots=done.slots, replaced=done.replaced)
    else:
        result = remove_recovery_code(Path(args.archive), password=password)
    if out.json_mode:
        out.event(
            Summary(
                operation="recovery-remove",
                exit_code=ExitCode.OK,
                duration_s=time.monotonic() - start,
                message=str(result.archive),
                extra={
                    "archive": str(result.archive),
                    "removed": result.replaced,
                    "slots": result.slots,
                },
            )
        )
        return ExitCode.OK
    if result.replaced:
        out.text(_("Recovery code removed: {path}").format(path=result.archive))
        out.text(
            "  "
            + _(
                "The backup now opens with its password only. Copies of it made before "
                "still open with the old code."
            )
        )
    else:
        out.text(
            _("This backup has no recovery code; nothing was changed: {path}").format(
                path=result.archive
            )
        )
    return ExitCode.OK
