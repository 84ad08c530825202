"""``therabak preview``: what a backup would contain, per category."""

from __future__ import annotations

import argparse

from therabak import formatting
from therabak.cli.common import (
    Output,
    add_json_option,
    add_practice_options,
    add_selection_options,
    load_rules,
    practice_paths,
)
from therabak.practice.categories import BackupKind
from therabak.practice.scan import scan


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "preview", help="show the category tree with sizes and what a backup would contain"
    )
    p.add_argument(
        "--kind",
        choices=[k.value for k in BackupKind],
        default="manual",
        help="which backup's default rules to apply (default: manual)",
    )
    add_selection_options(p)
    add_practice_options(p)
    add_json_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: Output) -> int:
    rules = load_rules()
    kind = BackupKind(args.kind)
    selection = rules.selection(kind, args.include, args.exclude)
    paths = practice_paths(args)
    result = scan(paths.data_dir, rules, keep_files=False)
    totals = result.node_totals(rules)
    chosen = result.selected_total(selection)
    everything = result.total

    def state(node_id: str) -> str:
        leaves = rules.leaves_under(node_id)
        n = sum(leaf in selection for leaf in leaves)
        return "all" if n == len(leaves) else "none" if n == 0 else "some"

    if out.json_mode:
        out.document(
            {
                "data_dir": str(paths.data_dir),
                "kind": kind.value,
                "categories": [
                    {
                        "id": node.id,
                        "label": node.label,
                        "parent": node.parent,
                        "depth": depth,
                        "leaf": node.is_leaf,
                        "files": totals[node.id].files,
                        "bytes": totals[node.id].bytes,
                        "included": state(node.id),
                        "default": node.default_for(kind) if node.is_leaf else None,
                        "reason": node.reason
                        if node.is_leaf and not node.default_for(kind)
                        else "",
                    }
                    for depth, node in rules.walk()
                ],
                "selected": {
                    "files": chosen.files,
                    "bytes": chosen.bytes,
                    "categories": sorted(selection),
                },
                "total": {"files": everything.files, "bytes": everything.bytes},
                "skipped": [{"path": p, "reason": r} for p, r in result.skipped],
            }
        )
        return 0
    mark = {"all": "[x]", "none": "[ ]", "some": "[~]"}
    out.text(f"Data folder: {paths.data_dir}   ({kind.value} backup)")
    out.text()
    for depth, node in rules.walk():
        t = totals[node.id]
        label = "    " * depth + f"{mark[state(node.id)]} {node.label}"
        line = f"{label:<44} {formatting.files(t.files):>13} {formatting.size(t.bytes):>10}"
        if node.is_leaf and node.id not in selection:
            why = node.reason if not node.default_for(kind) else "excluded on the command line"
            line += f"   not included: {why}"
        out.text(line.rstrip())
    out.text()
    out.text(
        f"A {kind.value} backup would contain {formatting.files(chosen.files)}, "
        f"{formatting.size(chosen.bytes)} (of {formatting.files(everything.files)}, "
        f"{formatting.size(everything.bytes)} in Data)."
    )
    for path, why in result.skipped:
        out.text(f"Skipped: {path} ({why})")
    return 0
