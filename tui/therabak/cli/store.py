"""``therabak check`` / ``forget`` / ``prune``: look after a backup store."""

from __future__ import annotations

import argparse
from pathlib import Path

from therabak.cli.common import (
    Output,
    add_json_option,
    add_practice_options,
    add_unlock_options,
    load_account,
    practice_paths,
    read_password,
)
from therabak.cli.render import ProgressRenderer
from therabak.errors import ExitCode, UsageError
from therabak.i18n import _, ngettext

STORE_HELP = _(
    "the backup store: its folder or URL, the destination (folder, URL or name) that holds "
    "TheraPsy-Backups"
)


def _common(p: argparse.ArgumentParser) -> None:
    """The options every store command takes (STORE itself is added first, by the caller)."""
    add_unlock_options(p)
    add_practice_options(p)
    p.add_argument(
        "--break-lock",
        action="store_true",
        help=_(
            "first remove the locks other jobs left on the store (only when no other "
            "therabak job uses it)"
        ),
    )
    add_json_option(p)


def _percent(text: str) -> float:
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(_("not a number: {text}").format(text=text)) from None
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError(_("give a percentage above 0 and at most 100"))
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(_("not a number: {text}").format(text=text)) from None
    if value < 0:
        raise argparse.ArgumentTypeError(_("give a number of at least 0"))
    return value


def register(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser(
        "check",
        help=_("check a backup store: its structure, and on request its content"),
        description=_(
            "Check that every snapshot of a backup store can be restored: the key files, "
            "the index against the packs, and that every piece of content a snapshot needs "
            "is there. --read-data also reads and decrypts all content (or a random share "
            "of it with --read-data-subset, a spot check of a large store). A damaged "
            "piece of content is named with the files and snapshots it affects."
        ),
    )
    c.add_argument("store", metavar="STORE", help=STORE_HELP)
    m = c.add_mutually_exclusive_group()
    m.add_argument("--read-data", action="store_true", help=_("read and check all content"))
    m.add_argument(
        "--read-data-subset",
        metavar="PERCENT",
        type=_percent,
        help=_("read and check a random PERCENT of the packs"),
    )
    _common(c)
    c.set_defaults(func=run_check)

    f = sub.add_parser(
        "forget",
        help=_("remove snapshots from a backup store (prune frees their space)"),
        description=_(
            "Remove snapshots from a backup store: the ones named (an id, or its first 8 "
            "or more hex digits), or those a retention policy does not keep (the newest "
            "backup of each practice and kind is always kept). Their content stays until "
            "'therabak prune' reclaims what no snapshot needs."
        ),
    )
    f.add_argument("store", metavar="STORE", help=STORE_HELP)
    f.add_argument("snapshots", metavar="SNAPSHOT", nargs="*", help=_("snapshot ids"))
    for name, what in (
        ("last", _("keep the N newest snapshots")),
        ("daily", _("keep the newest snapshot of each of the last N days")),
        ("weekly", _("keep the newest snapshot of each of the last N weeks")),
        ("monthly", _("keep the newest snapshot of each of the last N months")),
    ):
        f.add_argument(f"--keep-{name}", metavar="N", type=_count, default=0, help=what)
    f.add_argument(
        "--dry-run",
        action="store_true",
        help=_("only show what would be forgotten, and what a prune would then free"),
    )
    _common(f)
    f.set_defaults(func=run_forget)

    p = sub.add_parser(
        "prune",
        help=_("reclaim the space of content no snapshot needs"),
        description=_(
            "Delete the packs no snapshot needs and repack those that are mostly unused. "
            "Crash-safe: new packs and the new index are written before anything is "
            "deleted. Refused while a snapshot cannot be read or content is missing "
            "(see 'therabak check'). With a retention policy (--keep-...), first forget "
            "the snapshots it does not keep, as 'therabak forget' does."
        ),
    )
    p.add_argument("store", metavar="STORE", help=STORE_HELP)
    for name, what in (
        ("last", _("first forget all but the N newest snapshots")),
        ("daily", _("keep the newest snapshot of each of the last N days")),
        ("weekly", _("keep the newest snapshot of each of the last N weeks")),
        ("monthly", _("keep the newest snapshot of each of the last N months")),
    ):
        p.add_argument(f"--keep-{name}", metavar="N", type=_count, default=0, help=what)
    p.add_argument("--dry-run", action="store_true", help=_("only show what would be freed"))
    _common(p)
    p.set_defaults(func=run_prune)


def network_notice(out: Output):
    """What the CLI does when a remote request is retried: a line on stderr (text mode;
    the JSON stream stays as it is)."""
    from therabak import formatting

    def notice(n) -> None:
        out.note(
            "therabak: "
            + _("{place}: {reason}; try {attempt} of {tries} in {wait}").format(
                place=n.location,
                reason=_(n.reason),
                attempt=n.attempt + 1,
                tries=n.tries,
                wait=formatting.seconds(n.delay_s),
            )
        )

    return notice


def store_folder(path: str) -> Path:
    """The store's folder: *path* itself when it holds a ``config``, else
    ``path/TheraPsy-Backups`` when that does (a destination folder was given)."""
    from therabak.store.place import STORE_FOLDER

    folder = Path(path).expanduser()
    if not (folder / "config").is_file() and (folder / STORE_FOLDER / "config").is_file():
        return folder / STORE_FOLDER
    return folder


def open_store(args: argparse.Namespace, out: Output):
    """Open and unlock a store: the account key silently, else the password."""
    from therabak.destinations import resolve, store_storage
    from therabak.store.core import Store
    from therabak.store.errors import PasswordNeeded
    from therabak.store.keyfile import Unlock
    from therabak.store.locks import break_locks

    account = load_account(practice_paths(args), out, required=False)
    storage = store_storage(resolve(args.store), on_retry=network_notice(out))
    given = args.password_file or args.password_env or args.password_stdin
    password = read_password(args, confirm=False, what="backup") if given else None
    try:
        store = Store.open(storage, Unlock(password=password, account=account))
    except PasswordNeeded:
        password = read_password(args, confirm=False, what="backup")
        store = Store.open(storage, Unlock(password=password, account=account))
    if args.break_lock:
        gone = break_locks(store.storage, store.keys)
        out.note(
            "therabak: "
            + ngettext("removed {n} lock", "removed {n} locks", len(gone)).format(n=len(gone))
        )
    return store


def _when(info) -> str:
    from therabak import formatting

    return formatting.local_time(info.created)


def run_check(args: argparse.Namespace, out: Output) -> int:
    from therabak import formatting
    from therabak.events import Summary
    from therabak.store.check import check

    share = 1.0 if args.read_data else (args.read_data_subset or 0) / 100
    store = open_store(args, out)
    renderer = ProgressRenderer(enabled=not out.json_mode)
    try:
        result = check(store, read_data=share, emit=out.event if out.json_mode else renderer)
    finally:
        renderer.close()
    out.event(
        Summary(
            operation="check",
            exit_code=result.exit_code,
            duration_s=result.duration_s,
            message=store.location,
            extra={"store": store.location, **result.to_dict()},
        )
    )
    labels = {"error": _("DAMAGED"), "warning": _("warning"), "note": _("note")}
    for p in result.problems:
        out.text(f"{labels[str(p.severity)]}: {p.name}: {p.message}")
    affected = result.affected
    if affected:
        out.text(
            ngettext(
                "{n} file cannot be restored from this store:",
                "{n} files cannot be restored from this store:",
                len(affected),
            ).format(n=len(affected))
        )
        for a in affected:
            out.text(f"  {a.snapshot_id[:8]}  {a.path}")
    facts = _("{snapshots} snapshots, {files} checked").format(
        snapshots=result.snapshots, files=formatting.files(result.files)
    )
    if result.packs_read:
        facts += "; " + _("{packs} of {total} packs read ({size})").format(
            packs=result.packs_read, total=result.packs, size=formatting.size(result.bytes_read)
        )
    if result.exit_code == ExitCode.DAMAGED:
        out.text(_("DAMAGED: {facts}.").format(facts=facts))
    elif result.exit_code == ExitCode.WARNINGS:
        out.text(_("Usable, with warnings: {facts}.").format(facts=facts))
    else:
        out.text(_("OK: {facts}; the store is intact.").format(facts=facts))
    return result.exit_code


def _policy(args: argparse.Namespace):
    from therabak.retention import RetentionPolicy

    policy = RetentionPolicy(
        last=args.keep_last,
        daily=args.keep_daily,
        weekly=args.keep_weekly,
        monthly=args.keep_monthly,
    )
    if not hasattr(args, "snapshots"):  # prune: a policy or none
        return None if policy.empty else policy
    if policy.empty and not args.snapshots:
        raise UsageError(
            _("Name the snapshots to forget, or a policy (--keep-last, --keep-daily, ...).")
        )
    if not policy.empty and args.snapshots:
        raise UsageError(_("Give snapshot ids or a policy, not both."))
    return None if policy.empty else policy


def run_forget(args: argparse.Namespace, out: Output) -> int:
    from therabak import formatting
    from therabak.events import Summary
    from therabak.retention import REASONS
    from therabak.store.prune import forget, plan_forget, plan_prune

    policy = _policy(args)
    store = open_store(args, out)
    with store.lock(exclusive=False, what=_("forget")):
        plan = plan_forget(store, ids=args.snapshots, policy=policy)
        freed = None
        if args.dry_run:
            freed = plan_prune(store, forget=[i.snapshot_id for i in plan.forget]).bytes_freed
    done = [] if args.dry_run else forget(store, plan)

    def row(info) -> dict:
        return {
            "id": info.snapshot_id,
            "created": info.created.isoformat(),
            "kind": str(info.header.kind),
            "size": info.header.size,
        }

    out.event(
        Summary(
            operation="forget",
            exit_code=ExitCode.OK,
            duration_s=0.0,
            message=store.location,
            extra={
                "store": store.location,
                "dry_run": args.dry_run,
                "forget": [row(i) for i in plan.forget],
                "keep": [
                    {**row(i), "reasons": plan.reasons.get(i.snapshot_id, [])} for i in plan.keep
                ],
                "forgotten": done,
                "prune_would_free": freed,
            },
        )
    )
    for info in plan.keep:
        why = ", ".join(
            _(REASONS[r]).format(n=args.keep_last) if r in REASONS else r
            for r in plan.reasons.get(info.snapshot_id, [])
        )
        out.text(
            _("keep    {id}  {time}  {size}").format(
                id=info.short_id, time=_when(info), size=formatting.size(info.header.size)
            )
            + (f"  ({why})" if why else "")
        )
    for info in plan.forget:
        out.text(
            _("forget  {id}  {time}  {size}").format(
                id=info.short_id, time=_when(info), size=formatting.size(info.header.size)
            )
        )
    n = len(plan.forget)
    if args.dry_run:
        out.text(
            ngettext(
                "Dry run: {n} snapshot would be forgotten; a prune would then free about {size}.",
                "Dry run: {n} snapshots would be forgotten; a prune would then free about {size}.",
                n,
            ).format(n=n, size=formatting.size(freed or 0))
        )
    else:
        out.text(
            ngettext(
                "{n} snapshot forgotten; 'therabak prune' frees its space.",
                "{n} snapshots forgotten; 'therabak prune' frees their space.",
                n,
            ).format(n=n)
        )
    return ExitCode.OK


def run_prune(args: argparse.Namespace, out: Output) -> int:
    import time

    from therabak import formatting
    from therabak.events import Summary
    from therabak.store.prune import PruneReport, prune

    start = time.monotonic()
    policy = _policy(args)
    store = open_store(args, out)
    renderer = ProgressRenderer(enabled=not out.json_mode)
    emit = out.event if out.json_mode else renderer
    forgotten: list[str] = []
    try:
        if policy is not None:
            from therabak.store.prune import forget, plan_forget

            with store.lock(exclusive=False, what=_("forget")):
                plan_f = plan_forget(store, policy=policy)
            if args.dry_run:
                forgotten = [i.snapshot_id for i in plan_f.forget]
            else:
                forgotten = forget(store, plan_f, emit)
        if args.dry_run and forgotten:
            from therabak.store.prune import PruneResult, plan_prune

            with store.lock(exclusive=False, what=_("prune")):
                result = PruneResult(plan_prune(store, forget=forgotten), dry_run=True)
        else:
            result = prune(store, dry_run=args.dry_run, emit=emit)
    finally:
        renderer.close()
    plan = result.plan
    report = PruneReport.of(store.location, forgotten, result, round(time.monotonic() - start, 3))
    out.event(Summary.of("prune", report, store.location))
    if forgotten:
        out.text(
            ngettext(
                "{n} snapshot not kept by the policy: forgotten.",
                "{n} snapshots not kept by the policy: forgotten.",
                len(forgotten),
            ).format(n=len(forgotten))
            if not args.dry_run
            else ngettext(
                "Dry run: {n} snapshot would be forgotten.",
                "Dry run: {n} snapshots would be forgotten.",
                len(forgotten),
            ).format(n=len(forgotten))
        )
    facts = _(
        "{delete} packs with nothing needed, {repack} mostly unused packs to repack, "
        "{keep} packs kept"
    ).format(delete=len(plan.delete), repack=len(plan.repack), keep=len(plan.keep))
    if args.dry_run:
        out.text(
            _("Dry run: prune would free about {size} of {total} ({facts}).").format(
                size=formatting.size(plan.bytes_freed),
                total=formatting.size(plan.bytes_total),
                facts=facts,
            )
        )
    else:
        out.text(
            _("Freed about {size} of {total} ({facts}).").format(
                size=formatting.size(plan.bytes_freed),
                total=formatting.size(plan.bytes_total),
                facts=facts,
            )
        )
    return ExitCode.OK
