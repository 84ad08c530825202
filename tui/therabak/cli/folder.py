"""``therabak folder-backup``: copy the data folder as it is (still encrypted)."""

from __future__ import annotations

import argparse
from pathlib import Path

from therabak.cli.common import (
    Output,
    add_json_option,
    add_practice_options,
    load_account,
    load_rules,
    practice_paths,
)
from therabak.cli.render import ProgressRenderer


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "folder-backup",
        help="copy the data folder as it is (fast; this account only)",
        description="Copy the whole data folder, still encrypted with the account key, to "
        "DEST/TheraPsy-Data-<time> with a manifest of every file's hash, then read the copy "
        "back and check it. Fast and immune to decryption failures, but only this account "
        "(its account key) can use it.",
    )
    p.add_argument("--dest", required=True, metavar="DIR", help="destination folder")
    p.add_argument("--no-verify", action="store_true", help="do not read the copy back to check it")
    add_practice_options(p)
    add_json_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: Output) -> int:
    from therabak import formatting
    from therabak.jobs.folder import FolderBackupRequest, run_folder_backup
    from therabak.practice.scan import require_data_dir

    paths = practice_paths(args)
    require_data_dir(paths.data_dir)
    account = load_account(paths, out)
    renderer = ProgressRenderer(enabled=not out.json_mode)
    try:
        result = run_folder_backup(
            FolderBackupRequest(
                data_dir=paths.data_dir,
                dest_dir=Path(args.dest),
                account_key_id=account.id_hex,
                rules=load_rules(),
                verify=not args.no_verify,
            ),
            emit=out.event if out.json_mode else renderer,
        )
    finally:
        renderer.close()
    out.text(f"Folder backup written: {result.folder}")
    out.text(
        f"  {formatting.files(result.files)}, {formatting.size(result.bytes)}, "
        f"{formatting.duration(result.duration_s)}" + ("; verified" if result.verified else "")
    )
    out.text(
        "  It is still encrypted with this computer's account key: only this account "
        "can restore it."
    )
    if result.recopied:
        out.text(
            f"  {formatting.files(len(result.recopied))} changed during the copy and were "
            "copied again."
        )
    for p in result.unstable:
        out.text(f"  kept changing, copy may be inconsistent: {p}")
    for p, why in result.skipped:
        out.text(f"  NOT copied: {p} ({why})")
    return result.exit_code
