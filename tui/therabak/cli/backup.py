"""``therabak backup``: a manual backup into one encrypted archive."""

from __future__ import annotations

import argparse
from pathlib import Path

from therabak.cli.common import (
    Output,
    add_json_option,
    add_practice_options,
    add_selection_options,
    add_unlock_options,
    load_account,
    load_rules,
    practice_paths,
    read_password,
)
from therabak.cli.render import ProgressRenderer
from therabak.settings import RETRY_POLICIES, Settings

NO_PASSWORD_WARNING = (
    "WARNING: this backup has NO password. Anyone who gets the file can read every "
    "session note, recording and invoice in it, and any TheraPsy user can import it."
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "backup",
        help="make a manual backup (one encrypted archive file)",
        description="Make a manual backup of the data folder into DEST as "
        "TheraPsy-Backup-<time>.therabak. Defaults follow the documented rules: "
        "everything except session/export templates, autocomplete data, "
        "background images and the ICD-10 catalog.",
    )
    p.add_argument(
        "--dest",
        required=True,
        metavar="DIR",
        help="destination folder (ideally a USB stick or other external medium)",
    )
    add_selection_options(p)
    add_unlock_options(p, allow_none=True)
    p.add_argument(
        "--verify",
        action="store_true",
        help="read the archive back from the device and check every file",
    )
    p.add_argument(
        "--retries",
        type=int,
        metavar="N",
        help="attempts per file when decryption fails (default 5)",
    )
    p.add_argument(
        "--on-decrypt-failure",
        choices=RETRY_POLICIES,
        help="after the last attempt: raw (default: store still sealed with the "
        "account key), skip, or abort",
    )
    add_practice_options(p)
    add_json_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: Output) -> int:
    from therabak import formatting
    from therabak.archive.writer import Protection
    from therabak.errors import UsageError
    from therabak.jobs.backup import BackupRequest, run_backup
    from therabak.jobs.retry import RetryPolicy
    from therabak.practice.categories import BackupKind

    rules = load_rules()
    selection = rules.selection(BackupKind.MANUAL, args.include, args.exclude)
    if not selection:
        raise UsageError("Nothing to back up: every category is excluded.")
    paths = practice_paths(args)
    from therabak.practice.scan import require_data_dir

    require_data_dir(paths.data_dir)
    account = load_account(paths, out)
    settings = Settings.load()
    policy = RetryPolicy.from_settings(settings.retry)
    if args.retries is not None:
        if args.retries < 1:
            raise UsageError("--retries must be at least 1.")
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
    if getattr(args, "no_password", False):
        protection = Protection(unprotected=True)
        out.note(NO_PASSWORD_WARNING)
    else:
        protection = Protection(password=read_password(args, confirm=True))
    renderer = ProgressRenderer(enabled=not out.json_mode)
    emit = out.event if out.json_mode else renderer
    try:
        result = run_backup(
            BackupRequest(
                data_dir=paths.data_dir,
                account=account,
                dest_dir=Path(args.dest),
                rules=rules,
                selection=selection,
                protection=protection,
                verify=args.verify,
                retry=policy,
            ),
            emit=emit,
        )
    finally:
        renderer.close()
    if not out.json_mode:
        out.text(f"Backup written: {result.archive}")
        out.text(
            f"  {formatting.files(result.files)}, {formatting.size(result.bytes_in)} of "
            f"data, {formatting.size(result.bytes_stored)} on disk, "
            f"{formatting.duration(result.duration_s)}"
        )
        if result.verified is not None:
            out.text(
                "  Verified: every file read back and checked."
                if result.verified
                else "  VERIFICATION FAILED: the archive on the destination is damaged."
            )
        for p, r in result.damaged:
            out.text(f"  damaged: {p}: {r}")
        recovered = [o for o in result.retried if o.outcome == "recovered"]
        if recovered:
            out.text(f"  {formatting.files(len(recovered))} needed retries and were recovered.")
        if result.raw:
            out.text(
                f"  {formatting.files(len(result.raw))} could not be decrypted and were "
                "stored raw (restorable on this account only):"
            )
            for p in result.raw:
                out.text(f"    {p}")
        if result.skipped:
            out.text(f"  {formatting.files(len(result.skipped))} are NOT in the backup:")
            for p, why in result.skipped:
                out.text(f"    {p} ({why})")
    return result.exit_code
