"""``therabak``: the engine for scripts, schedulers and SSH sessions.

Each command lives in its own module with a ``register(subparsers)`` function; this
module builds the parser, runs the command and maps every error to one line on
stderr and a documented exit code (see README, "Exit codes"). No traceback reaches
the user unless ``THERABAK_DEBUG=1``.
"""

from __future__ import annotations

import argparse
import os
import sys

from therabak import __version__
from therabak.cli import common
from therabak.errors import ExitCode, TherabakError
from therabak.i18n import LANGUAGE_CHOICES, N_, _

COMMAND_MODULES = [
    "therabak.cli.demo",
    "therabak.cli.preview",
    "therabak.cli.backup",
    "therabak.cli.inspect",
    "therabak.cli.passwd",
    "therabak.cli.restore",
    "therabak.cli.points",
    "therabak.cli.folder",
    "therabak.cli.auto",
    "therabak.cli.status",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, like every usage error
        self.exit(
            ExitCode.USAGE,
            "therabak: "
            + _("usage error: {message} (see therabak --help)").format(message=message)
            + "\n",
        )


#: argparse's own texts (Python 3.11-3.13), translated through the same catalog.
ARGPARSE_TEXTS = (
    N_("usage: "),
    N_("positional arguments"),
    N_("options"),
    N_("show this help message and exit"),
    N_("show program's version number and exit"),
    N_("the following arguments are required: %s"),
    N_("unrecognized arguments: %s"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("expected one argument"),
    N_("argument %(argument_name)s: %(message)s"),
    N_("not allowed with argument %s"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
    N_("invalid %(type)s value: %(value)r"),
    N_("one of the arguments %s is required"),
    N_("ignored explicit argument %r"),
)


def translate_argparse() -> None:
    """Let argparse's own texts (headings, "the following arguments are required", ...)
    speak the current language: argparse looks up ``_`` and ``ngettext`` in its module."""
    from therabak.i18n import translate, translate_plural

    argparse._ = translate  # type: ignore[attr-defined]
    argparse.ngettext = translate_plural  # type: ignore[attr-defined]


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


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = _Parser(
        prog="therabak",
        description=_("Back up and restore the TheraPsy practice data folder."),
        epilog=_(
            "Exit codes: 0 ok, 1 error, 2 usage, 3 done with warnings, 4 cannot unlock, "
            "5 damaged backup, 6 not enough space, 7 data folder in use, 130 interrupted."
        ),
    )
    parser.add_argument("--version", action="version", version=f"therabak {__version__}")
    add_language_option(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar=_("COMMAND"), parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
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


def option_value(argv: list[str], option: str) -> str | None:
    """The value of *option* in *argv* (``--lang de`` or ``--lang=de``; the last one
    wins), read before argparse runs so that its own messages are in that language."""
    value = None
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == option and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(option + "="):
            value = arg.split("=", 1)[1]
    return value


def choose_language(argv: list[str]) -> str:
    """The language of this run: English for --json (JSON output and its one-line error
    stay English and stable), else --lang, else the settings file, else the system."""
    from therabak.i18n import set_language

    if "--json" in argv:
        return set_language("en")
    lang = option_value(argv, "--lang")
    if lang not in LANGUAGE_CHOICES or lang == "auto":
        lang = None
    if lang is None:
        from therabak.errors import ConfigError
        from therabak.settings import Settings

        try:
            lang = Settings.load().language
        except ConfigError:
            lang = "auto"  # the command that needs the settings says what is wrong
    return set_language(lang)


def _tolerant_streams() -> None:
    """Never fail on a character the console cannot show (a file name that is not valid
    UTF-8, a Czech name on a cp1252 pipe): write it as a backslash escape instead.
    JSON output stays valid: see ``Output.ascii_json``."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError, OSError):
            pass


def main(argv: list[str] | None = None) -> int:
    _tolerant_streams()
    argv = list(sys.argv[1:] if argv is None else argv)
    choose_language(argv)
    translate_argparse()
    parser = build_parser()
    args = parser.parse_args(argv)
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
