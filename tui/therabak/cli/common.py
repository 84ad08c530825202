"""Options and output shared by the commands."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from typing import TYPE_CHECKING, Any, TextIO

from therabak.errors import ExitCode, TherabakError, UsageError
from therabak.i18n import _, english_tree
from therabak.practice.categories import Rules
from therabak.settings import PracticePaths, user_rules_file

if TYPE_CHECKING:
    from therabak.events import Event


def add_practice_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(_("practice"))
    g.add_argument(
        "--data-dir",
        metavar="DIR",
        help=_(
            "the practice's Data folder (default: THERABAK_DATA_DIR or the "
            "TheraPsy folder of this user)"
        ),
    )
    g.add_argument(
        "--account-key",
        metavar="FILE",
        help=_("the account key file (default: THERABAK_ACCOUNT_KEY or account.key beside Data)"),
    )


def add_json_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--json",
        action="store_true",
        help=_("machine-readable output (JSON; JSON Lines events for jobs), always English"),
    )


def add_selection_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--include",
        metavar="IDS",
        action="append",
        help=_("category ids to add to the defaults (comma-separated)"),
    )
    p.add_argument(
        "--exclude",
        metavar="IDS",
        action="append",
        help=_("category ids to leave out (comma-separated)"),
    )


def add_unlock_options(
    p: argparse.ArgumentParser, *, allow_none: bool = False, recovery: bool = True
) -> None:
    """The password options; with *recovery*, the recovery code options as the other way
    to open a backup (one or the other)."""
    g = p.add_argument_group(
        _("password or recovery code (never on the command line)")
        if recovery
        else _("password (never on the command line)")
    )
    m = g.add_mutually_exclusive_group()
    m.add_argument(
        "--password-file",
        metavar="F",
        help=_("read the password from the first line of file F"),
    )
    m.add_argument(
        "--password-env",
        metavar="VAR",
        help=_("read the password from environment variable VAR"),
    )
    m.add_argument(
        "--password-stdin",
        action="store_true",
        help=_("read the password from the first line of standard input"),
    )
    if allow_none:
        m.add_argument(
            "--no-password",
            action="store_true",
            help=_("no password: ANYONE who has the backup file can read it"),
        )
    if recovery:
        from therabak.cli.codes import add_code_source_options

        add_code_source_options(m)


def practice_paths(args: argparse.Namespace) -> PracticePaths:
    return PracticePaths.resolve(
        getattr(args, "data_dir", None), getattr(args, "account_key", None)
    )


def load_rules() -> Rules:
    return Rules.load(user_rules_file())


def _strip_line(data: str) -> str:
    line = data.split("\n", 1)[0]
    return line[:-1] if line.endswith("\r") else line


PROMPTS = {
    "backup": (_("Backup password: "), _("Repeat the backup password: ")),
    "current": (_("Current backup password: "), _("Repeat the current backup password: ")),
    "new": (_("New backup password: "), _("Repeat the new backup password: ")),
}


def read_password(
    args: argparse.Namespace, *, confirm: bool, what: str = "backup", required: bool = True
) -> str | None:
    """The password from the chosen source, or a hidden prompt on a terminal (*what*:
    "backup", "current" or "new" says which password the prompt asks for).

    Returns None only when no source was given and *required* is False.
    """
    if getattr(args, "password_file", None):
        try:
            with open(args.password_file, encoding="utf-8") as f:
                pw = _strip_line(f.read(65536))
        except OSError as e:
            raise UsageError(
                _("Password file cannot be read: {path} ({error})").format(
                    path=args.password_file, error=e.strerror or e
                )
            ) from None
        except UnicodeDecodeError:
            raise UsageError(
                _("Password file is not UTF-8 text: {path}").format(path=args.password_file)
            ) from None
    elif getattr(args, "password_env", None):
        pw = os.environ.get(args.password_env)
        if pw is None:
            raise UsageError(
                _("Environment variable {name} is not set.").format(name=args.password_env)
            )
    elif getattr(args, "password_stdin", False):
        pw = _strip_line(sys.stdin.readline())
    else:
        if not required:
            return None
        if not (sys.stdin.isatty() and sys.stderr.isatty()):
            raise UsageError(
                _(
                    "No password given and no terminal to ask on: use --password-file, "
                    "--password-env, --password-stdin or --no-password."
                )
                if confirm and getattr(args, "no_password", None) is not None
                else _(
                    "No password given and no terminal to ask on: use --password-file, "
                    "--password-env or --password-stdin."
                )
            )
        prompt, repeat = PROMPTS.get(what, PROMPTS["backup"])
        try:
            pw = getpass.getpass(prompt)
            if confirm:
                again = getpass.getpass(repeat)
                if again != pw:
                    raise UsageError(_("The two passwords differ; nothing was done."))
        except EOFError:
            raise UsageError(_("No password entered.")) from None
    if not pw:
        raise UsageError(_("The password is empty."))
    return pw


class Output:
    """Human text on a terminal, or JSON on stdout; errors as one line on stderr."""

    def __init__(self, json_mode: bool = False, stream: TextIO | None = None) -> None:
        self.json_mode = json_mode
        self.stream = stream or sys.stdout
        # JSON stays valid on any console: \uXXXX escapes unless the stream is UTF-8
        # (where only a lone surrogate of an undecodable file name needs the
        # backslashreplace of cli.main, which then writes a valid \udcXX escape).
        encoding = (getattr(self.stream, "encoding", None) or "").lower().replace("-", "")
        self.ascii_json = encoding not in ("utf8", "utf8sig")

    def event(self, event: Event) -> None:
        if self.json_mode:
            self.stream.write(event.to_line(ascii_only=self.ascii_json) + "\n")
            self.stream.flush()

    def document(self, data: Any) -> None:
        text = json.dumps(english_tree(data), ensure_ascii=self.ascii_json, indent=2, default=str)
        self.stream.write(text + "\n")

    def text(self, line: str = "") -> None:
        if not self.json_mode:
            self.stream.write(line + "\n")

    def note(self, line: str) -> None:
        """A human message on stderr (keeps stdout clean for data)."""
        sys.stderr.write(line + "\n")

    def error(self, error: TherabakError, code: ExitCode | None = None) -> None:
        exit_code = int(code if code is not None else error.exit_code)
        if self.json_mode:
            from therabak.events import Error

            self.event(
                Error(
                    exit_code=exit_code,
                    message=error.message,
                    hint=error.hint or "",
                    remedy=error.remedy or "",
                )
            )
        line = f"therabak: {error}"
        if error.hint:
            line += f" ({error.hint})"
        # always exactly one line, whatever a message quotes (file names, parser errors)
        sys.stderr.write(line.replace("\r", " ").replace("\n", " ") + "\n")


#: A log past this size is moved to ``<name>.1`` (one old log is kept) before a run appends.
LOG_ROTATE_BYTES = 1024 * 1024


def redirect_to_log(path: str | os.PathLike, command: str) -> None:
    """Send everything this process prints (stdout and stderr, text and errors) to the
    end of the log file *path*, under a line that says when and which process: for runs
    a scheduler starts, whose output nobody sees (``therabak auto --log``)."""
    from datetime import datetime
    from pathlib import Path

    from therabak.fsutil import make_private_dir

    log = Path(path)
    try:
        make_private_dir(log.parent)
        if log.stat().st_size > LOG_ROTATE_BYTES:
            os.replace(log, log.with_name(log.name + ".1"))
    except OSError:
        pass  # no log folder (reported below) or a log another run holds open (Windows)
    try:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        stream = open(fd, "a", encoding="utf-8", errors="backslashreplace", buffering=1)  # noqa: SIM115 - the process's output until it ends
    except OSError as e:
        if sys.stderr is not None:
            sys.stderr.write(f"therabak: {log}: {e.strerror or e}\n")
        return
    when = datetime.now().astimezone().isoformat(timespec="seconds")
    header = f"--- {when} therabak {command} (pid {os.getpid()})\n"  # no words: not translated
    stream.write(header)
    sys.stdout = sys.stderr = stream


def load_account(paths: PracticePaths, out: Output, *, required: bool = True):
    """The account key (warnings about its file go to stderr), or None if absent and optional."""
    from therabak.errors import AccountKeyError
    from therabak.practice.account import AccountKey, key_file_warnings

    try:
        key = AccountKey.load(paths.account_key)
    except AccountKeyError:
        if required or paths.account_key.exists():
            raise
        return None
    for w in key_file_warnings(paths.account_key):
        out.note("therabak: " + _("warning: {message}").format(message=w))
    return key


def open_archive(args: argparse.Namespace, path, account, secrets: SecretCache | None = None):
    """Open and unlock an archive: the account key silently, else the recovery code
    options, else the password options/prompt (*secrets*: read once, for two backups)."""
    from therabak.archive.reader import ArchiveReader, PasswordNeeded

    secrets = secrets or SecretCache()
    code = secrets.code(args)  # checked first: a typo stops here, before any work
    reader = ArchiveReader.open(path)
    try:
        if code is not None:
            reader.unlock(account=account, recovery_code=code)
            return reader
        try:
            reader.unlock(account=account)
        except PasswordNeeded:
            reader.unlock(password=secrets.get(args), account=account)
    except BaseException:
        reader.close()
        raise
    return reader


def store_point(text: str, account):
    """The restore point *text* names when it is a store reference (``STORE@ID``), else
    None. A store named without a snapshot, an unknown id: UsageError (exit 2); a store
    or snapshot header that cannot be read: DamagedArchiveError (exit 5)."""
    from therabak.errors import DamagedArchiveError
    from therabak.points.store_points import identify_store
    from therabak.points.stores import parse_ref

    ref = parse_ref(text)
    if ref is None:
        return None
    point = identify_store(ref, account.id_hex if account is not None else None)
    if not point.readable:
        raise DamagedArchiveError(
            _("Cannot read {point}: {error}").format(point=point.short_ref, error=point.error)
        )
    return point


class SecretCache:
    """The password or recovery code, read once: a command that opens two backups
    (``diff --against``) opens the second with the same secret."""

    def __init__(self) -> None:
        self.password: str | None = None
        self._code_read = False
        self._code = None

    def get(self, args: argparse.Namespace) -> str:
        if self.password is None:
            self.password = read_password(args, confirm=False, what="backup")
        return self.password

    def code(self, args: argparse.Namespace):
        """The recovery code of the options (checked), or None."""
        if not self._code_read:
            from therabak.cli.codes import read_code

            self._code = read_code(args)
            self._code_read = True
        return self._code


def open_store_point(args: argparse.Namespace, point, account, secrets: SecretCache | None = None):
    """(store, snapshot) of a store point, unlocked as :func:`open_archive` unlocks an
    archive: the account key silently, else the recovery code options, else the password
    options/prompt."""
    from therabak.points.stores import load_snapshot, open_store
    from therabak.store.errors import PasswordNeeded
    from therabak.store.keyfile import Unlock

    secrets = secrets or SecretCache()
    code = secrets.code(args)  # checked first: a typo stops here, before any work
    folder = point.path
    if code is not None:
        store = open_store(folder, Unlock(account=account, recovery_code=code))
    elif secrets.password is not None:
        store = open_store(folder, Unlock(account=account, password=secrets.password))
    else:
        try:
            store = open_store(folder, Unlock(account=account))
        except PasswordNeeded:
            store = open_store(folder, Unlock(account=account, password=secrets.get(args)))
    return store, load_snapshot(store, point.snapshot_id)


#: Commands that only look: an unclear interrupted restore is a warning there, not an error.
_LOOKING_COMMANDS = frozenset({"list", "status", "show", "preview"})


def recover_interrupted_restore(args: argparse.Namespace, out: Output) -> None:
    """Before any command that touches a data folder: finish or undo a restore that a
    crash interrupted (datafolder/swap.py), and say what was done."""
    if not hasattr(args, "data_dir"):
        return
    from therabak.datafolder.swap import SwapRecoveryError, recover

    try:
        done = recover(practice_paths(args).data_dir)
    except SwapRecoveryError as e:
        if getattr(args, "command", "") in _LOOKING_COMMANDS:
            out.note("therabak: " + _("warning: {message}").format(message=e.message))
            return
        raise
    if done is not None:
        out.note(f"therabak: {done.message}")
