"""``therabak auto``: the automatic backup, for a scheduler to run every hour.

Every run, however it ends, is recorded (``jobs/auto_runs.py``) for ``schedule status``
and the app; ``--log FILE`` sends what it prints to the end of FILE (a scheduler's
runs have nobody watching).
"""

from __future__ import annotations

import argparse
from datetime import datetime

from therabak.cli.common import (
    Output,
    add_json_option,
    add_practice_options,
    load_account,
    load_rules,
    practice_paths,
)
from therabak.cli.render import ProgressRenderer
from therabak.errors import Cancelled, ExitCode, TherabakError
from therabak.i18n import _, ngettext
from therabak.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "auto",
        help=_("make an automatic backup when one is due (run it every hour)"),
        description=_(
            "Make an automatic backup (profiles, sessions, therapists, finances; "
            "locked with the account key) into the automatic-backup folder when the last one "
            "is older than the interval (default 24 h), then delete old ones by the retention "
            "policy (default: keep 7 daily, 4 weekly, 6 monthly; never the newest). Safe to "
            "run often; a second run while one is active exits at once with code 0."
        ),
    )
    p.add_argument("--force", action="store_true", help=_("make one now even if not due"))
    p.add_argument(
        "--log",
        metavar="FILE",
        help=_(
            "append what this run prints (and any error) to FILE instead of the terminal "
            "(for schedulers; 'therabak schedule install' sets it)"
        ),
    )
    add_practice_options(p)
    add_json_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: Output) -> int:
    """The run, recorded however it ends."""
    from therabak.jobs import auto_runs
    from therabak.jobs.auto_runs import AutoOutcome

    started = datetime.now().astimezone()
    data_dir = practice_paths(args).data_dir

    def record(code: int, outcome: AutoOutcome, message: str, archive=None) -> None:
        try:
            auto_runs.record(auto_runs.make_run(started, code, outcome, message, data_dir, archive))
        except OSError:
            pass  # no state folder: the run itself still counts

    try:
        result = _run(args, out)
    except Cancelled as e:
        record(e.exit_code, AutoOutcome.INTERRUPTED, e.message)
        raise
    except TherabakError as e:
        record(e.exit_code, AutoOutcome.FAILED, e.message)
        raise
    except KeyboardInterrupt:
        record(ExitCode.INTERRUPTED, AutoOutcome.INTERRUPTED, _("Interrupted."))
        raise
    except OSError as e:
        where = f": {e.filename}" if e.filename else ""
        record(ExitCode.ERROR, AutoOutcome.FAILED, f"{e.strerror or e}{where}")
        raise
    except Exception as e:
        record(
            ExitCode.ERROR,
            AutoOutcome.FAILED,
            _("Internal error ({name}); run with THERABAK_DEBUG=1 for details.").format(
                name=type(e).__name__
            ),
        )
        raise
    if result.ran:
        record(result.exit_code, AutoOutcome.BACKUP, result.message, result.archive)
    else:
        outcome = AutoOutcome.BUSY if result.reason == "busy" else AutoOutcome.NOT_DUE
        record(result.exit_code, outcome, result.message)
    return result.exit_code


def _run(args: argparse.Namespace, out: Output):
    from therabak import formatting
    from therabak.jobkit.retry import RetryPolicy
    from therabak.jobs.auto import AutoRequest, run_auto
    from therabak.practice.scan import require_data_dir

    paths = practice_paths(args)
    require_data_dir(paths.data_dir)
    account = load_account(paths, out)
    settings = Settings.load()
    renderer = ProgressRenderer(enabled=not out.json_mode)
    try:
        result = run_auto(
            AutoRequest(
                data_dir=paths.data_dir,
                account=account,
                rules=load_rules(),
                settings=settings,
                force=args.force,
                retry=RetryPolicy.from_settings(settings.retry),
            ),
            emit=out.event if out.json_mode else renderer,
        )
    finally:
        renderer.close()
    out.text(result.message)
    if not result.ran:
        return result
    b = result.backup
    assert b is not None
    facts = dict(
        files=formatting.files(b.files),
        size=formatting.size(b.bytes_total),
        new=formatting.size(b.bytes_new),
    )
    out.text(
        "  "
        + (
            _("{files}, {size} ({new} new); verified").format(**facts)
            if b.verified
            else _("{files}, {size} ({new} new); NOT verified").format(**facts)
        )
    )
    if b.raw:
        out.text(
            "  "
            + ngettext(
                "{n} file stored raw (restorable on this account only)",
                "{n} files stored raw (restorable on this account only)",
                len(b.raw),
            ).format(n=len(b.raw))
        )
    for p in result.deleted:
        out.text("  " + _("deleted by the retention policy: {name}").format(name=p.name))
    if result.forgotten:
        out.text(
            "  "
            + ngettext(
                "{n} older automatic backup removed by the retention policy",
                "{n} older automatic backups removed by the retention policy",
                len(result.forgotten),
            ).format(n=len(result.forgotten))
        )
    if result.next_due:
        out.text(
            "  "
            + _("next automatic backup due after {time}").format(
                time=formatting.local_time(result.next_due)
            )
        )
    return result
