"""``therabak backup --dest DEST`` (without ``--single-file``): a backup into the store;
DEST a folder, an off-site URL or a destination's name (``--limit-upload`` off-site).

The password is asked once per store: for a store that exists it opens the store's key
(asked once, no repeat; wrong: exit 4 before any work), for a new store it is asked
twice. A new store with a password gets a recovery code when asked (``--recovery-code``,
``--recovery-code-out``, or a code from ``--recovery-code-file/-env/-stdin``), and on a
terminal therabak asks once whether to make one (default yes). A made code is shown as
soon as the store that holds it exists (before the files are read), never printed where
it could end up in a log (cli/codes.py).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from therabak.cli.backup_practice import (
    check_recovery_options,
    new_recovery_code,
    no_password_warning,
    prepare,
    say_lines,
    say_outcomes,
)
from therabak.cli.codes import code_given, show_code
from therabak.cli.common import Output, read_password
from therabak.cli.render import ProgressRenderer
from therabak.errors import UsageError
from therabak.i18n import _

if TYPE_CHECKING:
    from therabak.cli.backup_practice import Practice
    from therabak.crypto.protection import Protection
    from therabak.jobs.store_request import StoreBackupRequest


def store_backup_request(
    args: argparse.Namespace, practice: Practice, protection: Protection
) -> StoreBackupRequest:
    """The store backup the arguments ask for (the inverse of ``to_argv``; a new store's
    ``on_created`` is the caller's)."""
    from therabak.cli.remote import parse_limit_upload
    from therabak.jobs.store_request import StoreBackupRequest

    return StoreBackupRequest(
        data_dir=practice.paths.data_dir,
        account=practice.account,
        dest=args.dest,
        rules=practice.rules,
        selection=practice.selection,
        protection=protection,
        verify=args.verify,
        reread=args.reread,
        retry=practice.policy,
        account_key_path=practice.paths.account_key,
        limit_upload=parse_limit_upload(getattr(args, "limit_upload", None)),
    )


def run_store_backup(args: argparse.Namespace, out: Output) -> int:
    from therabak.cli.remote import parse_limit_upload
    from therabak.cli.store import network_notice
    from therabak.crypto.protection import Protection
    from therabak.destinations import resolve
    from therabak.jobs.store_backup import run_store_backup
    from therabak.jobs.store_target import store_exists_at
    from therabak.presentation import store_backup_lines

    if args.volume_size:
        raise UsageError(
            _(
                "--volume-size is for single-file backups (--single-file); a backup store "
                "keeps its content in small files that any stick can hold."
            )
        )
    dest = args.dest
    # a wrong rate, or a rate for a folder: refused before anything is asked
    if parse_limit_upload(args.limit_upload) is not None and not resolve(dest).is_remote:
        raise UsageError(_("An upload limit is only for off-site destinations (URLs)."))
    exists = store_exists_at(dest, on_retry=network_notice(out))
    code_asked = code_given(args, "recovery_code") or args.recovery_code or args.recovery_code_out
    if exists and code_asked:
        raise UsageError(
            _(
                "The destination holds a backup store already: a recovery code is given to "
                'it with: therabak recovery create "{dest}"'
            ).format(dest=dest)
        )
    code_wanted = check_recovery_options(args, out)
    practice = prepare(args, out)
    if getattr(args, "no_password", False):
        protection = Protection(unprotected=True)
        if not exists:
            out.note(no_password_warning())
    else:
        # a store that exists: the password opens its key (asked once); a new one: twice
        protection = Protection(password=read_password(args, confirm=not exists))
    if not exists and not code_wanted and protection.password and _ask_for_code(out):
        code_wanted = True
    code_file, show_when_made = None, None
    if code_wanted:
        new = new_recovery_code(args, protection)
        code_file, show_when_made = new.file, new.to_show
    made: list[str] = []

    def on_created(folder: str) -> None:
        made.append(folder)
        if show_when_made is not None:  # the store holds the code from now on
            sys.stdout.write(_("New backup store: {place}").format(place=folder) + "\n\n")
            show_code(show_when_made)
            sys.stdout.write("\n")

    renderer = ProgressRenderer(enabled=not out.json_mode)
    emit = out.event if out.json_mode else renderer
    try:
        req = store_backup_request(args, practice, protection)
        req.on_created = on_created
        req.on_retry = network_notice(out)
        req.break_lock = args.break_lock
        result = run_store_backup(req, emit=emit)
    except BaseException:
        if code_file is not None and not made:  # no store: the code opens nothing
            code_file.unlink(missing_ok=True)
        raise
    finally:
        renderer.close()
    if out.json_mode:
        return result.exit_code
    out.text(
        _("Backup written into the backup store {place} (snapshot {id})").format(
            place=result.store, id=result.snapshot[:8]
        )
    )
    say_lines(out, store_backup_lines(result))
    for p, r in result.damaged:
        out.text("  " + _("damaged: {path}: {reason}").format(path=p, reason=r))
    say_outcomes(out, result)
    if code_file is not None and made:
        out.text(
            "  "
            + _(
                "The recovery code is in {file} (readable only by you): print it or write it "
                "down, keep it apart from the backup, then delete the file."
            ).format(file=code_file)
        )
    return result.exit_code


def _ask_for_code(out: Output) -> bool:
    """Honest default: a new store with a password, on a terminal, asks once whether to
    make a recovery code (default yes). Without a terminal (or with --json) the caller
    decides by option: nothing is asked and no code is made."""
    if out.json_mode or not (_isatty(sys.stdin) and _isatty(sys.stdout)):
        return False
    sys.stderr.write(
        _(
            "Make a recovery code for this new backup store? It opens the backups when the "
            "password is forgotten; keep it on paper, apart from the stick. [Y/n] "
        )
    )
    sys.stderr.flush()
    try:
        answer = sys.stdin.readline()
    except (OSError, KeyboardInterrupt):
        raise
    if not answer:  # end of input: the default
        return True
    return answer.strip().lower() not in {"n", "no", "nein", _("n"), _("no")}


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
