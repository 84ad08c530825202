"""Recovery codes on the command line: the options that read one, and showing a new one.

A code is a secret like the password: it is never an argument. It comes from a file,
an environment variable or standard input (secrets on standard input come one per
line, in this order: the password or code that opens, the new password, the new
recovery code), and it is checked (checksum) as soon as it is read, before any backup
is opened. A newly made code is shown once, on the terminal, or written to a private
file the user names (``--recovery-code-out``); never into JSON, logs or messages.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from therabak.errors import UsageError
from therabak.i18n import _

if TYPE_CHECKING:
    from therabak.crypto.recovery import RecoveryCode

#: the three ways a code is given, per option prefix ("recovery_code", "new_recovery_code")
SOURCES = ("file", "env", "stdin")


def add_code_source_options(
    group: argparse._ActionsContainer, *, new: bool = False, sets: bool = False
) -> None:
    """``--[new-]recovery-code-file F``, ``-env VAR``, ``-stdin`` into *group* (a mutually
    exclusive group, shared with the password options where either opens a backup).
    *sets*: the code is one to give the backup (backup), not one that opens it."""
    flag = "--new-recovery-code" if new else "--recovery-code"
    if new or sets:
        helps = (
            _("read the new recovery code from the first line of file F"),
            _("read the new recovery code from environment variable VAR"),
            _("read the new recovery code from standard input"),
        )
    else:
        helps = (
            _("open with the recovery code (instead of the password) from the first line of F"),
            _("open with the recovery code (instead of the password) from variable VAR"),
            _("open with the recovery code (instead of the password) from standard input"),
        )
    group.add_argument(f"{flag}-file", metavar="F", help=helps[0])
    group.add_argument(f"{flag}-env", metavar="VAR", help=helps[1])
    group.add_argument(f"{flag}-stdin", action="store_true", help=helps[2])


def add_code_out_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--recovery-code-out",
        metavar="FILE",
        help=_(
            "write the new recovery code to FILE (a new file, readable only by you) instead "
            "of showing it on the terminal; needed with --json"
        ),
    )


def code_given(args: argparse.Namespace, prefix: str = "recovery_code") -> bool:
    return any(getattr(args, f"{prefix}_{s}", None) for s in SOURCES)


def _first_line(data: str) -> str:
    line = data.split("\n", 1)[0]
    return line[:-1] if line.endswith("\r") else line


def read_code(args: argparse.Namespace, prefix: str = "recovery_code") -> RecoveryCode | None:
    """The code from ``--<prefix>-file/-env/-stdin``, checked; None when none was given.

    A code with a typo raises RecoveryCodeTypoError (exit 4) here, before any backup is
    opened or any key derived. On a terminal, ``-stdin`` asks with hidden input."""
    from therabak.crypto.recovery import MAX_INPUT, RecoveryCode

    file = getattr(args, f"{prefix}_file", None)
    env = getattr(args, f"{prefix}_env", None)
    if file:
        try:
            with open(file, encoding="utf-8") as f:
                text = _first_line(f.read(MAX_INPUT + 2))
        except OSError as e:
            raise UsageError(
                _("Recovery code file cannot be read: {path} ({error})").format(
                    path=file, error=e.strerror or e
                )
            ) from None
        except UnicodeDecodeError:
            raise UsageError(
                _("Recovery code file is not UTF-8 text: {path}").format(path=file)
            ) from None
    elif env:
        value = os.environ.get(env)
        if value is None:
            raise UsageError(_("Environment variable {name} is not set.").format(name=env))
        text = value
    elif getattr(args, f"{prefix}_stdin", False):
        if sys.stdin.isatty() and sys.stderr.isatty():
            try:
                text = getpass.getpass(
                    _("New recovery code: ") if prefix.startswith("new") else _("Recovery code: ")
                )
            except EOFError:
                raise UsageError(_("No recovery code entered.")) from None
        else:
            text = _first_line(sys.stdin.readline(MAX_INPUT + 2))
    else:
        return None
    return RecoveryCode.parse(text)


def read_new_code_to_set(args: argparse.Namespace, prefix: str) -> tuple[RecoveryCode | None, bool]:
    """(the code the caller gave, False), or (None, True) when none was given: therabak
    then makes one. A given code with a typo is a usage error here (exit 2): it was meant
    to be set, not to open anything."""
    from therabak.crypto.recovery import RecoveryCodeTypoError

    try:
        code = read_code(args, prefix)
    except RecoveryCodeTypoError as e:
        raise UsageError(e.message) from None
    return code, code is None


def check_new_code_can_reach_user(args: argparse.Namespace, *, json_mode: bool) -> None:
    """Refuse (exit 2), before anything is done, to make a code nobody would see: with
    --json or without a terminal, a new code must go to --recovery-code-out."""
    if getattr(args, "recovery_code_out", None):
        out = Path(args.recovery_code_out)
        if out.exists():
            raise UsageError(
                _(
                    "--recovery-code-out: {path} exists already; name a new file "
                    "(an existing one is never overwritten)."
                ).format(path=out)
            )
        if not out.parent.is_dir():
            raise UsageError(
                _("--recovery-code-out: no such folder: {path}").format(path=out.parent)
            )
        return
    if json_mode:
        raise UsageError(
            _(
                "With --json a new recovery code is never printed: name a file for it with "
                "--recovery-code-out FILE, or give the code with --new-recovery-code-stdin "
                "(backup: --recovery-code-stdin)."
            )
        )
    if not _stdout_is_terminal():
        raise UsageError(
            _(
                "A new recovery code is shown only on a terminal (output is redirected here, "
                "where it could end up in a log): name a file for it with "
                "--recovery-code-out FILE."
            )
        )


def _stdout_is_terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def write_code_file(path: Path, code: RecoveryCode) -> None:
    """*code* into the new file *path* (0600; never overwrites), fsynced."""
    from therabak.fsutil import create_private, fsync_dir

    try:
        fd = create_private(Path(path))
    except FileExistsError:
        raise UsageError(
            _(
                "--recovery-code-out: {path} exists already; name a new file "
                "(an existing one is never overwritten)."
            ).format(path=path)
        ) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(code.display() + "\n")
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        Path(path).unlink(missing_ok=True)
        raise
    fsync_dir(Path(path).parent)


def show_code(code: RecoveryCode) -> None:
    """The new code on the terminal (stdout), in two lines of four groups."""
    groups = code.groups()
    half = len(groups) // 2
    lines = [
        _("Recovery code (write it down or print it now; it is shown only this once):"),
        "",
        "    " + "-".join(groups[:half]),
        "    " + "-".join(groups[half:]),
        "",
        _(
            "Whoever has this code can read the backup, as with the password. Keep it "
            "apart from the backup, with the practice papers (therabak emergency-sheet "
            "--include-code prints it on a sheet)."
        ),
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
