"""``therabak emergency-sheet``: the one-page PDF that says where the backups are and how
to restore them on a new computer; with the recovery code only when asked."""

from __future__ import annotations

import argparse
from pathlib import Path

from therabak.cli.codes import add_code_source_options, code_given
from therabak.cli.common import Output, add_json_option, add_practice_options, practice_paths
from therabak.i18n import _


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "emergency-sheet",
        help=_("write the emergency sheet: a one-page PDF to print and keep"),
        description=_(
            "Write the emergency sheet (A4 PDF, in the language of --lang): what the "
            "backups are, where they are (the remembered destinations and the backups found "
            "there), and how to restore them on a new computer. With --include-code it also "
            "holds the recovery code and a QR code of it (whoever holds such a sheet can "
            "read the backups). The file is readable only by you."
        ),
    )
    p.add_argument(
        "--out",
        required=True,
        metavar="DIR|FILE",
        help=_("a folder (the sheet gets a name with the date) or the PDF file to write"),
    )
    p.add_argument(
        "--include-code",
        action="store_true",
        help=_(
            "print the recovery code (given with --recovery-code-file/-env/-stdin) and a QR "
            "code of it on the sheet"
        ),
    )
    g = p.add_argument_group(_("recovery code (never on the command line)"))
    m = g.add_mutually_exclusive_group()
    add_code_source_options(m, sets=True)
    p.add_argument(
        "--in",
        dest="folders",
        action="append",
        default=[],
        metavar="DIR",
        help=_("also look for backups in this folder (repeatable)"),
    )
    p.add_argument(
        "--no-media", action="store_true", help=_("do not look on mounted removable media")
    )
    add_practice_options(p)
    add_json_option(p)
    p.set_defaults(func=run)


def sheet_language(args: argparse.Namespace) -> str:
    """--lang when given, else the settings file's language, else the system's (also with
    --json, whose own output is always English)."""
    from therabak.errors import ConfigError
    from therabak.i18n import detect_language
    from therabak.settings import Settings

    lang = getattr(args, "lang", None)
    if lang in ("de", "en"):
        return lang
    try:
        lang = Settings.load().language
    except ConfigError:
        lang = "auto"
    return lang if lang in ("de", "en") else detect_language()


def run(args: argparse.Namespace, out: Output) -> int:
    from therabak.cli.codes import read_new_code_to_set
    from therabak.errors import AccountKeyError, UsageError
    from therabak.events import ignore
    from therabak.jobs.emergency import SheetRequest, write_sheet
    from therabak.practice.account import AccountKey
    from therabak.settings import Settings

    given = code_given(args, "recovery_code")
    if args.include_code and not given:
        raise UsageError(
            _(
                "--include-code needs the recovery code: give it with --recovery-code-file, "
                "--recovery-code-env or --recovery-code-stdin (never on the command line)."
            )
        )
    if given and not args.include_code:
        raise UsageError(
            _("A recovery code was given but --include-code was not: it would not be printed.")
        )
    code, _made = read_new_code_to_set(args, "recovery_code") if given else (None, False)
    paths = practice_paths(args)
    settings = Settings.load()
    account_id = None
    if paths.account_key.exists():
        try:
            account_id = AccountKey.load(paths.account_key).id_hex
        except AccountKeyError:  # an unreadable key only costs the "this account" marks
            account_id = None
    for f in args.folders:
        if not Path(f).is_dir():
            out.note("therabak: " + _("warning: not a folder: {path}").format(path=f))
    result = write_sheet(
        SheetRequest(
            out=Path(args.out),
            lang=sheet_language(args),
            remembered=list(settings.remembered_destinations),
            auto_folder=settings.auto_folder(paths.data_dir),
            account_key_id=account_id,
            given=[Path(f) for f in args.folders],
            media=not args.no_media,
            code=code,
        ),
        out.event if out.json_mode else ignore,
    )
    if out.json_mode:
        return result.exit_code
    out.text(_("Emergency sheet written: {path}").format(path=result.path))
    if result.includes_code:
        out.text(
            "  "
            + _(
                "It holds the recovery code: whoever has the sheet can read the backups. "
                "Print it, keep it locked away, and delete the file."
            )
        )
        if not result.facts.code_opens:
            out.text(
                "  "
                + _(
                    "warning: this recovery code opens none of the backups found now; check "
                    "that it is the right one."
                )
            )
    places = len(result.facts.places)
    out.text("  " + _("Places listed: {n}").format(n=places))
    return result.exit_code
