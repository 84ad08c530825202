"""What a backup would contain: the category tree with file counts, sizes and defaults.

Shared by ``therabak preview`` and the app; pure engine (no output, no UI). Kept
import-light: previewing never loads the crypto stack.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from therabak.fsrules import WINDOWS
from therabak.i18n import _, ngettext
from therabak.practice.categories import BackupKind, Rules
from therabak.practice.scan import FileEntry, LeaveOut, NameNote, Tally, scan


@dataclass(frozen=True)
class CategoryRow:
    """One node of the tree, in file order."""

    id: str
    label: str
    parent: str | None
    depth: int
    leaf: bool
    files: int
    bytes: int
    included: str  # "all" | "none" | "some" of the leaves below
    default: bool | None  # included by default (leaves only)
    reason: str  # why a leaf is excluded by default, "" otherwise

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "parent": self.parent,
            "depth": self.depth,
            "leaf": self.leaf,
            "files": self.files,
            "bytes": self.bytes,
            "included": self.included,
            "default": self.default,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Preview:
    data_dir: Path
    kind: BackupKind
    rows: list[CategoryRow]
    selection: frozenset[str]  # leaf ids
    selected: Tally
    total: Tally
    skipped: list[tuple[str, str]]  # (path relative to Data, why)
    # per leaf id: files whose path holds a name Windows cannot hold as it is (or takes
    # for another name of its folder); a restore onto Windows gives them escaped names
    windows_names: dict[str, NameNote] = field(default_factory=dict)
    left_out: list[FileEntry] = field(default_factory=list)  # see scan.LeaveOut

    def to_dict(self) -> dict[str, Any]:
        """The document of ``therabak preview --json``."""
        return {
            "data_dir": str(self.data_dir),
            "kind": self.kind.value,
            "categories": [row.to_dict() for row in self.rows],
            "selected": {
                "files": self.selected.files,
                "bytes": self.selected.bytes,
                "categories": sorted(self.selection),
            },
            "total": {"files": self.total.files, "bytes": self.total.bytes},
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "windows_names": [
                {
                    "category": leaf,
                    "files": note.files,
                    "examples": note.examples,
                    "included": leaf in self.selection,
                }
                for leaf, note in sorted(self.windows_names.items())
            ],
            "left_out": [{"path": f.path, "bytes": f.size} for f in self.left_out],
        }

    def name_lines(self, rules: Rules) -> list[str]:
        """A note per chosen category that holds names Windows cannot hold as they are:
        the count and the first few paths ('' lines when there are none)."""
        from therabak import formatting

        notes = [(leaf, n) for leaf, n in self.windows_names.items() if leaf in self.selection]
        if not notes:
            return []
        total = sum(n.files for _leaf, n in notes)
        lines = [
            ngettext(
                "Note: {n} file has a name Windows cannot hold as it is; restored on Windows "
                "it gets an escaped name (e.g. Termin 14%3A00.txt for Termin 14:00.txt):",
                "Note: {n} files have a name Windows cannot hold as it is; restored on "
                "Windows they get an escaped name (e.g. Termin 14%3A00.txt for Termin "
                "14:00.txt):",
                total,
            ).format(n=total)
        ]
        for leaf, note in sorted(notes, key=lambda x: rules.path_label(x[0])):
            lines.append(
                "  "
                + _("{category}: {files}, e.g. {examples}").format(
                    category=rules.path_label(leaf, translate=_) if leaf in rules.nodes else leaf,
                    files=formatting.files(note.files),
                    examples=", ".join(formatting.name(p) for p in note.examples[:3]),
                )
            )
        return lines

    def tree_lines(self, *, reasons: bool = True, deselected_note: str | None = None) -> list[str]:
        """The tree as text: a checkbox, label, files and size per node (69 columns);
        with *reasons*, the reason beside every leaf that is not included
        (*deselected_note* when the user removed a leaf included by default).
        Labels and reasons are shown in the current language (their msgids are the
        English texts of the rules file)."""
        from therabak import formatting  # Babel (German numbers): only when rendering text

        mark = {"all": "[x]", "none": "[ ]", "some": "[~]"}
        lines = []
        for row in self.rows:
            label = "    " * row.depth + f"{mark[row.included]} {_(row.label)}"
            line = f"{label:<44} {formatting.files(row.files):>13} {formatting.size(row.bytes):>10}"
            if reasons and row.leaf and row.id not in self.selection:
                if row.default:
                    why = deselected_note or _("excluded on the command line")
                else:
                    why = _(row.reason) if row.reason else _("excluded by default")
                line += "   " + _("not included: {reason}").format(reason=why)
            lines.append(line.rstrip())
        return lines

    def summary_line(self) -> str:
        from therabak import formatting

        if self.kind is BackupKind.MANUAL:
            text = _(
                "A manual backup would contain {files}, {size} "
                "(of {all_files}, {all_size} in Data)."
            )
        else:
            text = _(
                "An automatic backup would contain {files}, {size} "
                "(of {all_files}, {all_size} in Data)."
            )
        return text.format(
            files=formatting.files(self.selected.files),
            size=formatting.size(self.selected.bytes),
            all_files=formatting.files(self.total.files),
            all_size=formatting.size(self.total.bytes),
        )


def build_preview(
    data_dir: Path,
    rules: Rules,
    kind: BackupKind = BackupKind.MANUAL,
    include: Iterable[str] | str | None = None,
    exclude: Iterable[str] | str | None = None,
    leave_out: LeaveOut | None = None,
) -> Preview:
    """Scan *data_dir* and sum it per category for a *kind* backup (leaving out what
    *leave_out* matches, as the backup will: see datafolder/nesting.py).

    Unknown ids in *include*/*exclude* raise UsageError before anything is read.
    """
    selection = rules.selection(kind, include, exclude)
    result = scan(data_dir, rules, keep_files=False, names=WINDOWS, leave_out=leave_out)
    totals = result.node_totals(rules)

    def state(node_id: str) -> str:
        leaves = rules.leaves_under(node_id)
        n = sum(leaf in selection for leaf in leaves)
        return "all" if n == len(leaves) else "none" if n == 0 else "some"

    rows = []
    for depth, node in rules.walk():
        default = node.default_for(kind) if node.is_leaf else None
        rows.append(
            CategoryRow(
                id=node.id,
                label=node.label,
                parent=node.parent,
                depth=depth,
                leaf=node.is_leaf,
                files=totals[node.id].files,
                bytes=totals[node.id].bytes,
                included=state(node.id),
                default=default,
                reason=node.reason if default is False else "",
            )
        )
    return Preview(
        data_dir=Path(data_dir),
        kind=kind,
        rows=rows,
        selection=selection,
        selected=result.selected_total(selection),
        total=result.total,
        skipped=list(result.skipped),
        windows_names=result.name_notes,
        left_out=list(result.left_out),
    )
