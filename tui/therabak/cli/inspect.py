"""``therabak verify`` / ``show`` / ``diff``: look at a backup without restoring it.

Each takes an archive (any volume of a split one) or a backup in a store (``STORE@ID``,
see ``points/stores.py``), with the same options, output and exit codes."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from therabak.cli.common import (
    Output,
    SecretCache,
    add_json_option,
    add_practice_options,
    add_unlock_options,
    load_account,
    load_rules,
    open_archive,
    open_store_point,
    practice_paths,
    store_point,
)
from therabak.cli.render import ProgressRenderer
from therabak.errors import ExitCode
from therabak.i18n import _, ngettext

BACKUP_HELP = _(
    "a backup file (any volume of a split one), or a backup in a store: STORE@ID (see "
    "therabak list)"
)

if TYPE_CHECKING:
    from therabak.jobs.verify import VerifyRequest


def register(sub: argparse._SubParsersAction) -> None:
    v = sub.add_parser("verify", help=_("read a backup completely and check every file"))
    v.add_argument("archive", metavar="ARCHIVE", help=BACKUP_HELP)
    add_unlock_options(v)
    add_practice_options(v)
    add_json_option(v)
    v.set_defaults(func=run_verify)

    s = sub.add_parser(
        "show",
        help=_("what a backup is and holds (header without a password; contents with it)"),
    )
    s.add_argument("archive", metavar="ARCHIVE", help=BACKUP_HELP)
    s.add_argument(
        "--header-only",
        action="store_true",
        help=_("only the public header; never asks for a password"),
    )
    s.add_argument("--files", action="store_true", help=_("list every file"))
    add_unlock_options(s)
    add_practice_options(s)
    add_json_option(s)
    s.set_defaults(func=run_show)

    d = sub.add_parser(
        "diff",
        help=_("compare a backup with the current data folder, or with another backup"),
        description=_(
            "Compare a backup with the current data folder by the content of each file "
            "(exit 0 when identical, 3 when not). With --against, compare two backups "
            "instead: what was added, removed and changed from the backup given with "
            "--against to ARCHIVE, with sizes; one password or recovery code opens both."
        ),
    )
    d.add_argument("archive", metavar="ARCHIVE", help=BACKUP_HELP)
    d.add_argument(
        "--against",
        metavar="BACKUP",
        help=_("compare with this (older) backup instead of the current data"),
    )
    add_unlock_options(d)
    add_practice_options(d)
    add_json_option(d)
    d.set_defaults(func=run_diff)


def _account(args, out):
    return load_account(practice_paths(args), out, required=False)


def verify_request(args: argparse.Namespace) -> VerifyRequest:
    """The verification the arguments ask for (the inverse of ``to_argv``), without its
    password."""
    from therabak.jobs.verify import VerifyRequest
    from therabak.points.stores import parse_ref

    paths = practice_paths(args)
    archive = args.archive if parse_ref(args.archive) is not None else Path(args.archive)
    return VerifyRequest(archive, paths.data_dir, paths.account_key)


def run_verify(args: argparse.Namespace, out: Output) -> int:
    from therabak import formatting
    from therabak.events import Summary
    from therabak.jobs.verify import verify_archive, verify_snapshot

    req = verify_request(args)
    account = _account(args, out)
    point = store_point(str(req.archive), account)
    renderer = ProgressRenderer(enabled=not out.json_mode)
    emit = out.event if out.json_mode else renderer
    if point is not None:
        store, snapshot = open_store_point(args, point, account)
        try:
            result = verify_snapshot(store, snapshot, emit)
        finally:
            renderer.close()
        result.ref = point.ref
        result.store = str(point.path)
        result.snapshot_id = point.snapshot_id
    else:
        reader = open_archive(args, Path(req.archive), account)
        try:
            result = verify_archive(reader, emit)
        finally:
            renderer.close()
            reader.close()
    result.archive = args.archive
    out.event(Summary.of("verify", result, args.archive))
    if result.damaged:
        n = len(result.damaged)
        out.text(
            ngettext(
                "DAMAGED: {n} problem in {path}:", "DAMAGED: {n} problems in {path}:", n
            ).format(n=n, path=args.archive)
        )
        for p, r in result.damaged:
            out.text(f"  {p}: {r}")
        out.text(_("{files} intact.").format(files=formatting.files(result.files_ok)))
    else:
        out.text(
            _("OK: {files}, {size} checked; the backup is intact.").format(
                files=formatting.files(result.files_ok),
                size=formatting.size(result.bytes_checked),
            )
        )
    return result.exit_code


def header_facts(path: Path, reader) -> dict:
    h = reader.header
    source = reader.source
    return {
        "path": str(path),
        "created": h.created.isoformat(),
        "kind": h.kind,
        "protection": h.protection,
        "recovery_code": h.has_recovery_code,
        "account_key_ids": [k.hex() for k in h.account_key_ids],
        "categories": list(h.categories),
        "size": getattr(source, "disk_size", reader.size),  # a split backup: every volume
        "volumes": getattr(source, "volumes", 1),
        "format_version": 1,
    }


def store_facts(point) -> dict:
    """The public facts of a store snapshot, shaped as :func:`header_facts`."""
    return {
        "path": point.ref,
        "store": str(point.path),
        "snapshot_id": point.snapshot_id,
        "created": point.created.isoformat(),
        "kind": "auto" if point.kind == "automatic" else point.kind,
        "protection": point.protection,
        "recovery_code": point.recovery_code,
        "account_key_ids": list(point.account_key_ids),
        "categories": list(point.categories),
        "size": point.size,
        "added": point.added,
        "volumes": 1,
        "format": "store",
        "format_version": 1,
    }


def _header_only(args: argparse.Namespace, out: Output, facts: dict, note: bool) -> int:
    if note:  # without a password: the public facts, and how to see the rest
        out.note(
            "therabak: "
            + _(
                "the contents of this backup are protected by a password; give it "
                "with --password-file, --password-env or --password-stdin to list them."
            )
        )
    if out.json_mode:
        out.document({"header": facts})
    else:
        _print_header(out, facts)
    return ExitCode.OK


def run_show(args: argparse.Namespace, out: Output) -> int:
    from therabak.archive.reader import ArchiveReader

    path = Path(args.archive)
    account = None if args.header_only else _account(args, out)
    point = store_point(args.archive, account)
    if point is not None:
        facts = store_facts(point)
        if args.header_only:
            return _header_only(args, out, facts, note=False)
        locked = point.protection == "password" and point.account_match != "yes"
        if locked and not _can_get_password(args):
            return _header_only(args, out, facts, note=True)
        _store, snapshot = open_store_point(args, point, account)
        return _show_contents(
            args, out, facts, snapshot.entries, snapshot.account_key_id, snapshot.skipped
        )
    if args.header_only:
        with ArchiveReader.open(path) as reader:
            facts = header_facts(path, reader)
        return _header_only(args, out, facts, note=False)
    with ArchiveReader.open(path) as reader:
        header_only = reader.needs_password and not _can_get_password(args)
        if header_only:
            facts = header_facts(path, reader)
    if header_only:
        return _header_only(args, out, facts, note=True)
    reader = open_archive(args, path, account)
    try:
        facts = header_facts(path, reader)
        index = reader.read_index()
    finally:
        reader.close()
    return _show_contents(args, out, facts, index.entries, index.account_key_id, index.skipped)


def _show_contents(
    args: argparse.Namespace, out: Output, facts: dict, entries, account_key_id: str, skipped
) -> int:
    """The category tree (and with --files every file) of a backup's index."""
    from therabak import formatting

    rules = load_rules()
    by_cat: dict[str, list] = {}
    for e in entries:
        by_cat.setdefault(e.category, []).append(e)
    if out.json_mode:
        doc = {
            "header": facts,
            "account_key_id": account_key_id,
            "categories": {
                c: {"files": len(es), "bytes": sum(e.size for e in es)}
                for c, es in sorted(by_cat.items())
            },
            "files": len(entries),
            "bytes": sum(e.size for e in entries),
            "raw": [e.path for e in entries if e.raw],
            "skipped": skipped,
        }
        if args.files:
            doc["entries"] = [
                {
                    "path": e.path,
                    "category": e.category,
                    "size": e.size,
                    "mtime_ns": e.mtime_ns,
                    "sha256": e.sha256,
                    "raw": e.raw,
                }
                for e in entries
            ]
        out.document(doc)
        return ExitCode.OK
    _print_header(out, facts)
    out.text()
    for depth, node in rules.walk():
        leaves = rules.leaves_under(node.id)
        node_entries = [e for leaf in leaves for e in by_cat.get(leaf, [])]
        if not any(leaf in facts["categories"] for leaf in leaves):
            continue
        size = sum(e.size for e in node_entries)
        label = "    " * depth + _(node.label)
        out.text(
            f"{label:<44} {formatting.files(len(node_entries)):>13} {formatting.size(size):>10}"
        )
    unknown = sorted(set(by_cat) - set(rules.nodes))
    for cat in unknown:
        es = by_cat[cat]
        out.text(
            f"{cat:<44} {formatting.files(len(es)):>13} "
            f"{formatting.size(sum(e.size for e in es)):>10}"
        )
    total = sum(e.size for e in entries)
    out.text(
        "\n"
        + _("Total: {files}, {size}").format(
            files=formatting.files(len(entries)), size=formatting.size(total)
        )
    )
    raw = [e.path for e in entries if e.raw]
    if raw:
        out.text(
            ngettext(
                "{n} file stored raw (restorable on the same account only).",
                "{n} files stored raw (restorable on the same account only).",
                len(raw),
            ).format(n=len(raw))
        )
    if args.files:
        for e in entries:
            out.text(
                f"  {formatting.name(e.path)}  {formatting.size(e.size)}"
                + ("  " + _("[raw]") if e.raw else "")
            )
    return ExitCode.OK


def _can_get_password(args: argparse.Namespace) -> bool:
    """A password option was given, or there is a terminal to ask on."""
    import sys

    from therabak.cli.codes import code_given

    given = args.password_file or args.password_env or args.password_stdin or code_given(args)
    return bool(given) or (sys.stdin.isatty() and sys.stderr.isatty())


def _print_header(out: Output, facts: dict) -> None:
    from datetime import datetime

    from therabak import formatting

    prot = {
        "password": _("password"),
        "account": _("account key {ids}").format(ids=", ".join(facts["account_key_ids"])),
        "none": _("NONE (anyone can read it)"),
        "recovery": _("recovery code"),
    }
    kinds = {"manual": _("manual"), "automatic": _("automatic"), "auto": _("automatic")}
    rows = [
        (_("Backup:"), facts["path"]),
        (_("Created:"), formatting.local_time(datetime.fromisoformat(facts["created"]))),
        (_("Kind:"), kinds.get(facts["kind"], facts["kind"])),
        (
            _("Protection:"),
            _("{protection} + recovery code").format(protection=prot[facts["protection"]])
            if facts.get("recovery_code")
            else prot[facts["protection"]],
        ),
        (_("Size:"), _size_text(facts)),
        (_("Categories:"), ", ".join(facts["categories"])),
    ]
    if facts.get("format") == "store":
        rows.insert(1, (_("Store:"), facts["store"]))
        rows.insert(-1, (_("New in it:"), formatting.size(facts["added"] or 0)))
    width = max(len(label) for label, _value in rows) + 2
    for label, value in rows:
        out.text(f"{label:<{width}}{value}")


def _size_text(facts: dict) -> str:
    from therabak import formatting

    size = formatting.size(facts["size"])
    if facts.get("volumes", 1) > 1:
        return _("{size} in {n} volumes").format(size=size, n=facts["volumes"])
    return size


def _backup_index(args: argparse.Namespace, text: str, account, secrets: SecretCache):
    """(entries, categories) of the backup *text* names, unlocked with *secrets*."""
    point = store_point(text, account)
    if point is not None:
        _store, snapshot = open_store_point(args, point, account, secrets)
        return snapshot.entries, snapshot.header.categories
    reader = open_archive(args, Path(text), account, secrets)
    try:
        return reader.read_index().entries, reader.header.categories
    finally:
        reader.close()


def run_diff(args: argparse.Namespace, out: Output) -> int:
    from therabak import formatting
    from therabak.jobs.diff import diff_against_data
    from therabak.practice.scan import require_data_dir

    if args.against:
        return _diff_points(args, out)
    paths = practice_paths(args)
    require_data_dir(paths.data_dir)
    account = load_account(paths, out)
    entries, categories = _backup_index(args, args.archive, account, SecretCache())
    result = diff_against_data(entries, categories, paths.data_dir, load_rules(), account)
    code = ExitCode.OK if result.identical else ExitCode.WARNINGS
    if out.json_mode:
        out.document(result.to_json())
        return code
    if result.identical:
        out.text(
            _("Identical: {files} match the current data.").format(
                files=formatting.files(result.same)
            )
        )
        return ExitCode.OK
    for what, items in (
        (_("added since the backup"), result.added),
        (_("missing from the data"), result.removed),
        (_("changed"), result.changed),
    ):
        for cat, p in items:
            out.text(f"{what:>24}: [{cat}] {p}")
    for p, r in result.unreadable:
        out.text(f"{_('unreadable now'):>24}: {p} ({r})")
    out.text(
        "\n"
        + _("{same} same, {added} added, {missing} missing, {changed} changed.").format(
            same=result.same,
            added=len(result.added),
            missing=len(result.removed),
            changed=len(result.changed),
        )
    )
    return code


def _diff_points(args: argparse.Namespace, out: Output) -> int:
    """``diff NEWER --against OLDER``: what changed between two backups (by hash)."""
    from therabak import formatting
    from therabak.jobs.diff import diff_points

    account = load_account(practice_paths(args), out, required=False)
    secrets = SecretCache()
    newer, _cats = _backup_index(args, args.archive, account, secrets)
    older, _cats = _backup_index(args, args.against, account, secrets)
    result = diff_points(newer, older)
    code = ExitCode.OK if result.identical else ExitCode.WARNINGS
    if out.json_mode:
        out.document({"point": args.archive, "against": args.against, **result.to_dict()})
        return code
    if result.identical:
        out.text(
            _("Identical: the {files} of both backups are the same.").format(
                files=formatting.files(result.same)
            )
        )
        return ExitCode.OK
    for what, items in (
        (_("added"), result.added),
        (_("removed"), result.removed),
        (_("changed"), result.changed),
    ):
        for c in items:
            size = formatting.size(c.size)
            if c.old_size is not None:
                size = _("{old} -> {new}").format(old=formatting.size(c.old_size), new=size)
            out.text(f"{what:>10}: [{c.category}] {c.path}  ({size})")
    out.text(
        "\n"
        + _(
            "{same} same, {added} added ({added_size}), {removed} removed ({removed_size}), "
            "{changed} changed ({changed_size})."
        ).format(
            same=result.same,
            added=len(result.added),
            added_size=formatting.size(result.bytes_added),
            removed=len(result.removed),
            removed_size=formatting.size(result.bytes_removed),
            changed=len(result.changed),
            changed_size=formatting.size(result.bytes_changed),
        )
    )
    return code
