"""``therabak``: the engine for scripts, schedulers and SSH sessions.

Each command lives in its own module with a ``register(subparsers)`` function; this
module builds the parser, runs the command and maps every error to one line on
stderr and a documented exit code (see README, "Exit codes"). No traceback reaches
the user unless ``THERABAK_DEBUG=1``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys

from therabak import __version__
from therabak.cli import common
from therabak.errors import ExitCode, TherabakError
from therabak.i18n import LANGUAGE_CHOICES, _, translate_argparse
from therabak.settings import choose_language

COMMAND_MODULES = [
    "therabak.cli.demo",
    "therabak.cli.preview",
    "therabak.cli.backup",
    "therabak.cli.inspect",
    "therabak.cli.passwd",
    "therabak.cli.recovery",
    "therabak.cli.restore",
    "therabak.cli.points",
    "therabak.cli.folder",
    "therabak.cli.auto",
    "therabak.cli.status",
    "therabak.cli.emergency",
    "therabak.cli.schedule",
    "therabak.cli.remote",
    "therabak.cli.destination",
    "therabak.cli.store",
]
#: Which module registers each command: a command line that names one builds only that
#: command's parser (a backup does not import the other commands' modules); anything else
#: (--help, a typo, no command) builds them all. tests/test_backup_imports.py checks it.
COMMAND_MODULE: dict[str, str] = {
    "demo": "therabak.cli.demo",
    "preview": "therabak.cli.preview",
    "backup": "therabak.cli.backup",
    "verify": "therabak.cli.inspect",
    "show": "therabak.cli.inspect",
    "diff": "therabak.cli.inspect",
    "passwd": "therabak.cli.passwd",
    "recovery": "therabak.cli.recovery",
    "restore": "therabak.cli.restore",
    "list": "therabak.cli.points",
    "folder-backup": "therabak.cli.folder",
    "auto": "therabak.cli.auto",
    "status": "therabak.cli.status",
    "emergency-sheet": "therabak.cli.emergency",
    "schedule": "therabak.cli.schedule",
    "remote": "therabak.cli.remote",
    "destination": "therabak.cli.destination",
    "check": "therabak.cli.store",
    "forget": "therabak.cli.store",
    "prune": "therabak.cli.store",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, like every usage error
        self.exit(
            ExitCode.USAGE,
            "therabak: "
            + _("usage error: {message} (see therabak --help)").format(message=message)
            + "\n",
        )


def add_language_option(p: argparse.ArgumentParser, *, top: bool = False) -> None:
    p.add_argument(
        "--lang",
        choices=LANGUAGE_CHOICES,
        default="auto" if top else argparse.SUPPRESS,
        help=_(
            "language of the text output: de, en or auto (default: the settings file's "
            "[ui] language, else LC_ALL/LC_MESSAGES/LANG); --json output is always English"
        ),
    )


def command_named(argv: list[str]) -> str | None:
    """The command *argv* names, or None: also when anything but ``--lang`` comes first
    (``--help``, ``--version``: those show every command)."""
    i = 0
    while i < len(argv) and argv[i].startswith("--lang"):
        i += 2 if argv[i] == "--lang" else 1
    if i >= len(argv) or argv[i].startswith("-"):
        return None
    return argv[i]


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of *command* alone when it is a known one."""
    import importlib

    parser = _Parser(
        prog="therabak",
        description=_("Back up and restore the TheraPsy practice data folder."),
        epilog=_(
            "Exit codes: 0 ok, 1 error, 2 usage, 3 done with warnings, 4 cannot unlock, "
            "5 damaged backup, 6 not enough space, 7 data folder in use, 8 remote login "
            "refused, 9 remote bucket or folder missing, 10 remote unreachable, 11 SSH host "
            "key unknown or changed, 130 interrupted."
        ),
    )
    parser.add_argument("--version", action="version", version=f"therabak {__version__}")
    add_language_option(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar=_("COMMAND"), parser_class=_Parser)
    sub.required = True
    only = COMMAND_MODULE.get(command or "")
    for name in COMMAND_MODULES if only is None else [only]:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:  # a command not built yet
                continue
            raise
        module.register(sub)
    for command in sub.choices.values():
        add_language_option(command)
    return parser


def _tolerant_streams() -> None:
    """Never fail on a character the console cannot show (a file name that is not valid
    UTF-8, a Czech name on a cp1252 pipe): write it as a backslash escape instead.
    JSON output stays valid: see ``Output.ascii_json``."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError, OSError):
            pass


def _interruptible() -> None:
    """SIGINT (Ctrl-C, and how the app cancels a job) always stops therabak cleanly
    (exit 130), also when it was started with SIGINT ignored: a shell without job
    control starts background commands that way, and so would every job they start."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        with contextlib.suppress(ValueError):  # not the main thread (called in-process)
            signal.signal(signal.SIGINT, signal.default_int_handler)


def main(argv: list[str] | None = None) -> int:
    """The program (*argv* None: ``sys.argv``), or a command run in-process (*argv*)."""
    code = _main(argv)
    if argv is None:
        _leave_heap_to_exit()
    return code


def _leave_heap_to_exit() -> None:
    """The program is about to exit (its work done, its files closed, its output
    flushed): the objects alive now (the modules, their functions and classes, ~25,000)
    are taken out of the collector's reach, so that the interpreter's exit does not
    collect and free them one by one (a store backup with nothing to do: ~20 ms of its
    end). Exit itself is the interpreter's as always (threads joined, atexit handlers
    and the finalizers of everything freed as usual run); an object kept alive only by
    a reference cycle is left to the system like the rest of the process's memory."""
    import gc

    gc.freeze()


def _main(argv: list[str] | None) -> int:
    _tolerant_streams()
    _interruptible()
    argv = list(sys.argv[1:] if argv is None else argv)
    choose_language(argv)
    translate_argparse()
    parser = build_parser(command_named(argv))
    args = parser.parse_args(argv)
    if getattr(args, "log", None):
        common.redirect_to_log(args.log, args.command)
    out = common.Output(json_mode=getattr(args, "json", False))
    try:
        common.recover_interrupted_restore(args, out)
        code = args.func(args, out)
        return int(code or 0)
    except TherabakError as e:
        out.error(e)
        return int(e.exit_code)
    except KeyboardInterrupt:
        out.error(TherabakError(_("Interrupted.")), code=ExitCode.INTERRUPTED)
        return int(ExitCode.INTERRUPTED)
    except OSError as e:
        where = f": {e.filename}" if e.filename else ""
        out.error(TherabakError(f"{e.strerror or e}{where}"))  # the system's words
        return int(ExitCode.ERROR)
    except Exception as e:  # a bug: still no traceback for the user
        if os.environ.get("THERABAK_DEBUG"):
            import traceback

            traceback.print_exc()
        out.error(
            TherabakError(
                _("Internal error ({name}); run with THERABAK_DEBUG=1 for details.").format(
                    name=type(e).__name__
                )
            )
        )
        return int(ExitCode.ERROR)
    finally:
        try:
            sys.stdout.flush()
        except (OSError, ValueError):
            pass
