"""What every manual backup (into a store or one archive) reads from its options before
any secret: the practice (rules, selection, data folder, account key, retry policy), the
recovery-code options; and the lines that say how its files went (text output)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING

from therabak.cli.codes import check_new_code_can_reach_user, code_given
from therabak.cli.common import Output, load_account, load_rules, practice_paths
from therabak.i18n import _
from therabak.settings import Settings

if TYPE_CHECKING:
    from pathlib import Path

    from therabak.crypto.recovery import RecoveryCode
    from therabak.jobkit.retry import RetryPolicy
    from therabak.practice.account import AccountKey
    from therabak.practice.categories import Rules
    from therabak.settings import PracticePaths


def no_password_warning() -> str:
    """The one wording (presentation.py) as a warning line on the terminal."""
    from therabak.presentation import no_password_warning as wording  # heavy: on use only

    return _("WARNING: {warning}").format(warning=wording())


@dataclass
class Practice:
    """What every backup needs, read from the options before any secret."""

    rules: Rules
    selection: frozenset[str]
    paths: PracticePaths
    account: AccountKey
    policy: RetryPolicy


def prepare(args: argparse.Namespace, out: Output) -> Practice:
    """The rules and selection, the data folder and account key, the retry policy."""
    from therabak.errors import UsageError
    from therabak.jobkit.retry import RetryPolicy
    from therabak.practice.categories import BackupKind
    from therabak.practice.scan import require_data_dir

    rules = load_rules()
    selection = rules.selection(BackupKind.MANUAL, args.include, args.exclude)
    if not selection:
        raise UsageError(_("Nothing to back up: every category is excluded."))
    paths = practice_paths(args)
    require_data_dir(paths.data_dir)
    account = load_account(paths, out)
    settings = Settings.load()
    policy = RetryPolicy.from_settings(settings.retry)
    if args.retries is not None:
        if args.retries < 1:
            raise UsageError(_("--retries must be at least 1."))
        policy = RetryPolicy(
            attempts=args.retries,
            initial_delay_s=policy.initial_delay_s,
            max_delay_s=policy.max_delay_s,
            on_failure=policy.on_failure,
        )
    if args.on_decrypt_failure:
        policy = RetryPolicy(
            attempts=policy.attempts,
            initial_delay_s=policy.initial_delay_s,
            max_delay_s=policy.max_delay_s,
            on_failure=args.on_decrypt_failure,
        )
    return Practice(rules, frozenset(selection), paths, account, policy)


def say_outcomes(out: Output, result) -> None:
    """The files that needed retries, were stored raw or left out (text output)."""
    from therabak.presentation import outcome_lines

    say_lines(out, outcome_lines(result))


def say_lines(out: Output, lines) -> None:
    """Summary lines (``presentation.Line``) as text: indented, their items below."""
    for line in lines:
        out.text("  " + line.text)
        for item in line.items:
            out.text(f"    {item}")


def check_recovery_options(args: argparse.Namespace, out: Output) -> bool:
    """Whether the backup gets a recovery code; refuses (exit 2) before any work what
    cannot be: a code without a password, a made code that nobody would see."""
    from therabak.errors import UsageError

    given = code_given(args, "recovery_code")
    make = bool(args.recovery_code or args.recovery_code_out)
    if not (given or make):
        return False
    if getattr(args, "no_password", False):
        raise UsageError(
            _(
                "A backup without a password cannot have a recovery code (anyone can read it "
                "anyway); leave out --no-password."
            )
        )
    if given and args.recovery_code_out:
        raise UsageError(
            _("Give a new recovery code or let therabak make one (--recovery-code-out), not both.")
        )
    if not given:
        check_new_code_can_reach_user(args, json_mode=out.json_mode)
    return True


@dataclass
class NewCode:
    """The recovery code a new backup gets: where it went (a file written before the backup,
    so that it is never lost) or that it is still to be shown on the terminal."""

    code: RecoveryCode
    file: Path | None = None  # --recovery-code-out: written already
    to_show: RecoveryCode | None = None  # made here, no file: show it once


def new_recovery_code(args: argparse.Namespace, protection) -> NewCode:
    """Read (or make) the new backup's recovery code, after the password (secrets on stdin
    come in that order), put it into *protection* and, with --recovery-code-out, write it."""
    from pathlib import Path

    from therabak.cli.codes import read_new_code_to_set, write_code_file
    from therabak.crypto.recovery import RecoveryCode

    code, made_here = read_new_code_to_set(args, "recovery_code")
    if code is None:
        code = RecoveryCode.generate()
    protection.recovery_code = code
    if made_here and args.recovery_code_out:
        file = Path(args.recovery_code_out)
        write_code_file(file, code)  # before the backup: it must never be lost
        return NewCode(code, file=file)
    return NewCode(code, to_show=code if made_here else None)
