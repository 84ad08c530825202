"""``therabak backup``: a manual backup, into the destination's backup store (only what is
new is written: cli/store_backup.py) or, with ``--single-file``, into one archive."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from therabak.cli.backup_practice import (
    check_recovery_options,
    new_recovery_code,
    no_password_warning,
    prepare,
    say_lines,
    say_outcomes,
)
from therabak.cli.codes import (
    add_code_out_option,
    add_code_source_options,
)
from therabak.cli.common import (
    Output,
    add_json_option,
    add_practice_options,
    add_selection_options,
    add_unlock_options,
    read_password,
)
from therabak.cli.render import ProgressRenderer
from therabak.i18n import _
from therabak.settings import RETRY_POLICIES

if TYPE_CHECKING:
    from therabak.crypto.protection import Protection
    from therabak.jobs.backup import BackupRequest
    from therabak.practice.account import AccountKey
    from therabak.practice.categories import Rules
    from therabak.settings import PracticePaths


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "backup",
        help=_("make a manual backup (into the destination's backup store)"),
        description=_(
            "Make a manual backup of the data folder into the backup store DEST/"
            "TheraPsy-Backups (made by the first backup there; DEST is a folder, an "
            "off-site URL such as s3://BUCKET/PATH, sftp://USER@HOST/PATH or "
            "webdavs://HOST/PATH, or the name of a destination): each backup writes only "
            "what the store does not hold yet, and files unchanged since the last backup "
            "are not read again; still, every backup is a complete restore point. "
            "--single-file makes one archive TheraPsy-Backup-<time>.therabak instead (to "
            "hand over as one file); one larger than the destination's file system can "
            "hold (FAT32: 4 GiB) is split into volumes <name>.therabak, "
            "<name>.therabak.002, ...; keep them together. Defaults follow the documented "
            "rules: everything except session/export templates, autocomplete data, "
            "background images and the ICD-10 catalog."
        ),
    )
    p.add_argument(
        "--dest",
        required=True,
        metavar="DEST",
        help=_(
            "destination: a folder (ideally a USB stick or other external medium), an "
            "off-site URL, or a destination's name"
        ),
    )
    p.add_argument(
        "--break-lock",
        action="store_true",
        help=_(
            "off-site: first remove the lock another computer left while making the backup "
            "store there (only when it no longer does)"
        ),
    )
    p.add_argument(
        "--limit-upload",
        metavar="RATE",
        help=_(
            "off-site: at most RATE bytes per second when uploading (e.g. 2M, 500k; "
            "default: the destination's own limit)"
        ),
    )
    add_selection_options(p)
    add_unlock_options(p, allow_none=True, recovery=False)
    g = p.add_argument_group(_("recovery code (a second key beside the password)"))
    g.add_argument(
        "--recovery-code",
        action="store_true",
        help=_(
            "give the backup a recovery code, which opens it when the password is "
            "forgotten: therabak makes it and shows it once on the terminal (or writes it "
            "to --recovery-code-out FILE)"
        ),
    )
    add_code_out_option(g)
    m = g.add_mutually_exclusive_group()
    add_code_source_options(m, sets=True)
    p.add_argument(
        "--verify",
        action="store_true",
        help=_(
            "read back from the device what the backup wrote and check every file (an "
            "archive: all of it; a store: its new content, and every file's references)"
        ),
    )
    p.add_argument(
        "--single-file",
        action="store_true",
        help=_(
            "make one archive file TheraPsy-Backup-<time>.therabak (everything, to hand "
            "over as one file) instead of a backup into the store"
        ),
    )
    p.add_argument(
        "--reread",
        action="store_true",
        help=_(
            "read every file, also those unchanged since the store's last backup (what is "
            "already in the store is still not written again)"
        ),
    )
    p.add_argument(
        "--volume-size",
        metavar="SIZE",
        help=_(
            "with --single-file: split the archive into volume files of at most SIZE (e.g. "
            "4G, 700M, 5MB; K/M/G are 1024-based, KB/MB/GB 1000-based; at least 1M). "
            "Without it, an archive is split only where the destination needs it (FAT32: "
            "below 4 GiB)"
        ),
    )
    p.add_argument(
        "--retries",
        type=int,
        metavar="N",
        help=_("attempts per file when decryption fails (default 5)"),
    )
    p.add_argument(
        "--on-decrypt-failure",
        choices=RETRY_POLICIES,
        help=_(
            "after the last attempt: raw (default: store still sealed with the "
            "account key), skip, or abort"
        ),
    )
    add_practice_options(p)
    add_json_option(p)
    p.set_defaults(func=run)


def parse_volume_size(text: str | None) -> int | None:
    from therabak import formatting
    from therabak.archive.volumes import MIN_VOLUME_SIZE
    from therabak.errors import UsageError

    if text is None:
        return None
    try:
        size = formatting.parse_size(text)
    except ValueError as e:
        raise UsageError(_("--volume-size: {problem}").format(problem=e.args[0])) from None
    if size < MIN_VOLUME_SIZE:
        raise UsageError(
            _("--volume-size must be at least 1M ({bytes} bytes).").format(bytes=MIN_VOLUME_SIZE)
        )
    return size


def backup_request(
    args: argparse.Namespace,
    paths: PracticePaths,
    account: AccountKey,
    rules: Rules,
    protection: Protection,
) -> BackupRequest:
    """The manual backup the arguments ask for (the inverse of ``to_argv``; the retry
    policy and the volume size are the caller's)."""
    from therabak.jobs.backup import BackupRequest
    from therabak.practice.categories import BackupKind

    return BackupRequest(
        data_dir=paths.data_dir,
        account=account,
        dest_dir=Path(args.dest),
        rules=rules,
        selection=rules.selection(BackupKind.MANUAL, args.include, args.exclude),
        protection=protection,
        verify=args.verify,
        volume_size=parse_volume_size(args.volume_size),
        account_key_path=paths.account_key,
    )


def run(args: argparse.Namespace, out: Output) -> int:
    from therabak.cli.codes import (
        show_code,
    )
    from therabak.crypto.protection import Protection
    from therabak.errors import UsageError

    if not args.single_file:  # loads neither the archive writer nor the single-file job
        from therabak.cli.store_backup import run_store_backup

        return run_store_backup(args, out)
    from therabak.jobs.backup import run_backup
    from therabak.presentation import single_file_backup_lines

    if args.reread:
        raise UsageError(_("--reread is for backups into the store; leave out --single-file."))
    _refuse_single_file_off_site(args.dest)
    volume_size = parse_volume_size(args.volume_size)
    code_wanted = check_recovery_options(args, out)
    practice = prepare(args, out)
    rules, paths, account, policy = (
        practice.rules,
        practice.paths,
        practice.account,
        practice.policy,
    )
    if getattr(args, "no_password", False):
        protection = Protection(unprotected=True)
        out.note(no_password_warning())
    else:
        protection = Protection(password=read_password(args, confirm=True))
    code, code_file, show_at_end = None, None, None
    if code_wanted:
        new = new_recovery_code(args, protection)
        code, code_file, show_at_end = new.code, new.file, new.to_show
    renderer = ProgressRenderer(enabled=not out.json_mode)
    emit = out.event if out.json_mode else renderer
    try:
        req = backup_request(args, paths, account, rules, protection)
        req.retry, req.volume_size = policy, volume_size
        result = run_backup(req, emit=emit)
    except BaseException:
        if code_file is not None:  # no backup: the code opens nothing
            code_file.unlink(missing_ok=True)
        raise
    finally:
        renderer.close()
    if not out.json_mode:
        out.text(_("Backup written: {path}").format(path=result.archive))
        say_lines(out, single_file_backup_lines(result))
        if result.verify_cancelled:
            out.text(
                "  "
                + _(
                    "NOT verified: the check was cancelled, the backup itself is complete. "
                    'Check it later with: therabak verify "{path}" (or delete it).'
                ).format(path=result.archive)
            )
        for p, r in result.damaged:
            out.text("  " + _("damaged: {path}: {reason}").format(path=p, reason=r))
        say_outcomes(out, result)
        if code is not None:
            if code_file is not None:
                out.text(
                    "  "
                    + _(
                        "The recovery code is in {file} (readable only by you): print it or "
                        "write it down, keep it apart from the backup, then delete the file."
                    ).format(file=code_file)
                )
            elif show_at_end is not None:
                out.text()
                show_code(show_at_end)
    return result.exit_code


def _refuse_single_file_off_site(dest: str) -> None:
    """A single-file archive is written to a folder only (its volumes are not uploaded):
    refused for an off-site destination, before anything is asked or read."""
    from therabak.destinations import resolve
    from therabak.errors import UsageError

    if resolve(dest).is_remote:
        raise UsageError(
            _(
                "--single-file writes to a folder only; an off-site destination takes backups "
                "into its store: leave out --single-file."
            )
        )
