"""``therabak passwd ARCHIVE``: change the password of a backup without rewriting its data."""

from __future__ import annotations

import argparse
from pathlib import Path

from therabak.cli.common import Output, add_json_option, add_unlock_options, read_password
from therabak.errors import ExitCode
from therabak.i18n import _


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "passwd",
        help=_("change the password of a backup (rewrites its header only)"),
        description=_(
            "Change the password of a password-protected backup. Only the header is "
            "rewritten (crash-safely); the data stays as it is. Copies of the backup made "
            "before keep the old password. With --password-stdin and --new-password-stdin "
            "together, the first line of standard input is the current password, the second "
            "the new one. A forgotten password: open the backup with its recovery code "
            "(--recovery-code-file/-env/-stdin) instead; the recovery code stays valid."
        ),
    )
    p.add_argument("archive", metavar="ARCHIVE")
    add_unlock_options(p)
    g = p.add_argument_group(_("new password (never on the command line)"))
    m = g.add_mutually_exclusive_group()
    m.add_argument(
        "--new-password-file",
        metavar="F",
        help=_("read the new password from the first line of file F"),
    )
    m.add_argument(
        "--new-password-env",
        metavar="VAR",
        help=_("read the new password from environment variable VAR"),
    )
    m.add_argument(
        "--new-password-stdin",
        action="store_true",
        help=_("read the new password from standard input"),
    )
    add_json_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: Output) -> int:
    from therabak.cli.codes import read_code
    from therabak.jobs.passwd import change_password

    # secrets on stdin, in order: the current password or the recovery code, the new one
    code = read_code(args)  # a forgotten password: the code opens, a new password is set
    old = None if code is not None else read_password(args, confirm=False, what="current")
    new = read_password(
        argparse.Namespace(
            password_file=args.new_password_file,
            password_env=args.new_password_env,
            password_stdin=args.new_password_stdin,
        ),
        confirm=True,
        what="new",
    )
    result = change_password(Path(args.archive), old, new, recovery_code=code)
    if out.json_mode:
        out.document(result.to_json())
    else:
        out.text(_("Password changed: {path}").format(path=result.archive))
        out.text(
            "  "
            + _(
                "The old password no longer opens this file. Copies of it made before "
                "(on other drives) still open with the old password."
            )
        )
    return ExitCode.OK
