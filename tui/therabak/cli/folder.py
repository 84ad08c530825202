"""``therabak folder-backup``: copy the data folder as it is (still encrypted)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from therabak.cli.common import (
    Output,
    add_json_option,
    add_practice_options,
    load_account,
    load_rules,
    practice_paths,
)
from therabak.cli.render import ProgressRenderer, renamed_lines
from therabak.i18n import _, ngettext

if TYPE_CHECKING:
    from therabak.jobs.folder import FolderBackupRequest
    from therabak.practice.categories import Rules
    from therabak.settings import PracticePaths


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "folder-backup",
        help=_("copy the data folder as it is (fast; this account only)"),
        description=_(
            "Copy the whole data folder, still encrypted with the account key, to "
            "DEST/TheraPsy-Data-<time> with a manifest of every file's hash, then read the "
            "copy back and check it. Fast and immune to decryption failures, but only this "
            "account (its account key) can use it."
        ),
    )
    p.add_argument("--dest", required=True, metavar="DIR", help=_("destination folder"))
    p.add_argument(
        "--no-verify", action="store_true", help=_("do not read the copy back to check it")
    )
    add_practice_options(p)
    add_json_option(p)
    p.set_defaults(func=run)


def folder_request(
    args: argparse.Namespace, paths: PracticePaths, account_key_id: str, rules: Rules
) -> FolderBackupRequest:
    """The folder backup the arguments ask for (the inverse of ``to_argv``)."""
    from therabak.jobs.folder import FolderBackupRequest

    return FolderBackupRequest(
        data_dir=paths.data_dir,
        dest_dir=Path(args.dest),
        account_key_id=account_key_id,
        rules=rules,
        verify=not args.no_verify,
        account_key_path=paths.account_key,
    )


def run(args: argparse.Namespace, out: Output) -> int:
    from therabak import formatting
    from therabak.jobs.folder import run_folder_backup
    from therabak.practice.scan import require_data_dir

    paths = practice_paths(args)
    require_data_dir(paths.data_dir)
    account = load_account(paths, out)
    renderer = ProgressRenderer(enabled=not out.json_mode)
    try:
        result = run_folder_backup(
            folder_request(args, paths, account.id_hex, load_rules()),
            emit=out.event if out.json_mode else renderer,
        )
    finally:
        renderer.close()
    out.text(_("Folder backup written: {path}").format(path=result.folder))
    facts = dict(
        files=formatting.files(result.files),
        size=formatting.size(result.bytes),
        time=formatting.duration(result.duration_s),
    )
    out.text(
        "  "
        + (
            _("{files}, {size}, {time}; verified").format(**facts)
            if result.verified
            else _("{files}, {size}, {time}").format(**facts)
        )
    )
    out.text(
        "  "
        + _(
            "It is still encrypted with this computer's account key: only this account "
            "can restore it."
        )
    )
    if result.recopied:
        n = len(result.recopied)
        out.text(
            "  "
            + ngettext(
                "{n} file changed during the copy and was copied again.",
                "{n} files changed during the copy and were copied again.",
                n,
            ).format(n=n)
        )
    for p in result.unstable:
        out.text("  " + _("kept changing, copy may be inconsistent: {path}").format(path=p))
    for p, why in result.skipped:
        out.text("  " + _("NOT copied: {path} ({reason})").format(path=p, reason=why))
    if result.renamed:
        out.text(
            "  "
            + ngettext(
                "{n} name is stored escaped ({system} cannot hold it as it is); a restore "
                "gives it back as it was:",
                "{n} names are stored escaped ({system} cannot hold them as they are); a "
                "restore gives them back as they were:",
                len(result.renamed),
            ).format(n=len(result.renamed), system=result.file_system)
        )
        for line in renamed_lines(result.renamed, result.file_system, limit=20):
            out.text("  " + line)
    return result.exit_code
