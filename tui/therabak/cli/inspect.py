"""``therabak verify`` / ``show`` / ``diff``: look at a backup without restoring it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from therabak.cli.common import (
    Output,
    add_json_option,
    add_practice_options,
    add_unlock_options,
    load_account,
    load_rules,
    open_archive,
    practice_paths,
)
from therabak.cli.render import ProgressRenderer
from therabak.errors import ExitCode
from therabak.i18n import _, ngettext

if TYPE_CHECKING:
    from therabak.jobs.verify import VerifyRequest


def register(sub: argparse._SubParsersAction) -> None:
    v = sub.add_parser("verify", help=_("read a backup completely and check every file"))
    v.add_argument("archive", metavar="ARCHIVE")
    add_unlock_options(v)
    add_practice_options(v)
    add_json_option(v)
    v.set_defaults(func=run_verify)

    s = sub.add_parser(
        "show",
        help=_("what a backup is and holds (header without a password; contents with it)"),
    )
    s.add_argument("archive", metavar="ARCHIVE")
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

    d = sub.add_parser("diff", help=_("compare a backup with the current data folder"))
    d.add_argument("archive", metavar="ARCHIVE")
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

    paths = practice_paths(args)
    return VerifyRequest(Path(args.archive), paths.data_dir, paths.account_key)


def run_verify(args: argparse.Namespace, out: Output) -> int:
    from therabak import formatting
    from therabak.events import Summary
    from therabak.jobs.verify import verify_archive

    req = verify_request(args)
    reader = open_archive(args, req.archive, _account(args, out))
    renderer = ProgressRenderer(enabled=not out.json_mode)
    try:
        result = verify_archive(reader, out.event if out.json_mode else renderer)
        result.archive = args.archive
    finally:
        renderer.close()
        reader.close()
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


def run_show(args: argparse.Namespace, out: Output) -> int:
    from therabak import formatting
    from therabak.archive.reader import ArchiveReader

    path = Path(args.archive)
    if args.header_only:
        with ArchiveReader.open(path) as reader:
            facts = header_facts(path, reader)
        if out.json_mode:
            out.document({"header": facts})
        else:
            _print_header(out, facts)
        return ExitCode.OK
    account = _account(args, out)
    with ArchiveReader.open(path) as reader:
        header_only = reader.needs_password and not _can_get_password(args)
        if header_only:
            facts = header_facts(path, reader)
    if header_only:  # without a password: the public facts, and how to see the rest
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
    reader = open_archive(args, path, account)
    try:
        facts = header_facts(path, reader)
        index = reader.read_index()
    finally:
        reader.close()
    rules = load_rules()
    by_cat = index.by_category()
    if out.json_mode:
        doc = {
            "header": facts,
            "account_key_id": index.account_key_id,
            "categories": {
                c: {"files": len(es), "bytes": sum(e.size for e in es)}
                for c, es in sorted(by_cat.items())
            },
            "files": len(index.entries),
            "bytes": sum(e.size for e in index.entries),
            "raw": [e.path for e in index.entries if e.raw],
            "skipped": index.skipped,
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
                for e in index.entries
            ]
        out.document(doc)
        return ExitCode.OK
    _print_header(out, facts)
    out.text()
    for depth, node in rules.walk():
        leaves = rules.leaves_under(node.id)
        entries = [e for leaf in leaves for e in by_cat.get(leaf, [])]
        if not any(leaf in facts["categories"] for leaf in leaves):
            continue
        size = sum(e.size for e in entries)
        label = "    " * depth + _(node.label)
        out.text(f"{label:<44} {formatting.files(len(entries)):>13} {formatting.size(size):>10}")
    unknown = sorted(set(by_cat) - set(rules.nodes))
    for cat in unknown:
        es = by_cat[cat]
        out.text(
            f"{cat:<44} {formatting.files(len(es)):>13} "
            f"{formatting.size(sum(e.size for e in es)):>10}"
        )
    total = sum(e.size for e in index.entries)
    out.text(
        "\n"
        + _("Total: {files}, {size}").format(
            files=formatting.files(len(index.entries)), size=formatting.size(total)
        )
    )
    raw = [e.path for e in index.entries if e.raw]
    if raw:
        out.text(
            ngettext(
                "{n} file stored raw (restorable on the same account only).",
                "{n} files stored raw (restorable on the same account only).",
                len(raw),
            ).format(n=len(raw))
        )
    if args.files:
        for e in index.entries:
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
    kinds = {"manual": _("manual"), "automatic": _("automatic")}
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
    width = max(len(label) for label, _value in rows) + 2
    for label, value in rows:
        out.text(f"{label:<{width}}{value}")


def _size_text(facts: dict) -> str:
    from therabak import formatting

    size = formatting.size(facts["size"])
    if facts.get("volumes", 1) > 1:
        return _("{size} in {n} volumes").format(size=size, n=facts["volumes"])
    return size


def run_diff(args: argparse.Namespace, out: Output) -> int:
    from therabak import formatting
    from therabak.jobs.diff import diff_against_data
    from therabak.practice.scan import require_data_dir

    paths = practice_paths(args)
    require_data_dir(paths.data_dir)
    account = load_account(paths, out)
    reader = open_archive(args, Path(args.archive), account)
    try:
        index = reader.read_index()
        categories = reader.header.categories
    finally:
        reader.close()
    result = diff_against_data(index, categories, paths.data_dir, load_rules(), account)
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
