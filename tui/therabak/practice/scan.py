"""Walk the data folder once: every file with its leaf category, size and mtime.

The walk is iterative ``os.scandir`` (the stat data comes with the directory listing
on Windows), classifies once per folder where a whole subtree belongs to one
category, never follows symbolic links and reports what it skipped.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from therabak.errors import DataFolderError
from therabak.practice.categories import Rules


@dataclass(slots=True)
class FileEntry:
    path: str  # relative to Data, "/"-separated
    category: str
    size: int
    mtime_ns: int


@dataclass(slots=True)
class Tally:
    files: int = 0
    bytes: int = 0

    def add(self, other: Tally) -> None:
        self.files += other.files
        self.bytes += other.bytes


@dataclass
class ScanResult:
    root: Path
    files: list[FileEntry]
    totals: dict[str, Tally]  # per leaf id
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)

    def node_totals(self, rules: Rules) -> dict[str, Tally]:
        """Totals for every node; a parent sums its children."""
        out: dict[str, Tally] = {}

        def total(node_id: str) -> Tally:
            node = rules.nodes[node_id]
            if node.is_leaf:
                t = Tally()
                t.add(self.totals.get(node_id, Tally()))
            else:
                t = Tally()
                for child in node.children:
                    t.add(total(child))
            out[node_id] = t
            return t

        for root in rules.roots():
            total(root.id)
        return out

    def selected_total(self, selection: Iterable[str]) -> Tally:
        t = Tally()
        for leaf in selection:
            t.add(self.totals.get(leaf, Tally()))
        return t

    @property
    def total(self) -> Tally:
        t = Tally()
        for v in self.totals.values():
            t.add(v)
        return t

    def selected_files(self, selection: Iterable[str]) -> list[FileEntry]:
        chosen = frozenset(selection)
        return sorted((f for f in self.files if f.category in chosen), key=lambda f: f.path)


def require_data_dir(root: Path) -> Path:
    root = Path(root)
    if not root.exists():
        raise DataFolderError(
            f"Data folder not found: {root}",
            hint="Give its location with --data-dir or THERABAK_DATA_DIR.",
        )
    if not root.is_dir():
        raise DataFolderError(f"Not a folder: {root}")
    return root


def scan(
    root: Path,
    rules: Rules,
    *,
    keep_files: bool = True,
    on_folder: Callable[[int, int], None] | None = None,
) -> ScanResult:
    """Scan *root* (the Data folder). ``on_folder(files, bytes)`` is called after each folder."""
    root = require_data_dir(root)
    files: list[FileEntry] = []
    totals: dict[str, Tally] = {leaf.id: Tally() for leaf in rules.leaves()}
    skipped: list[tuple[str, str]] = []
    n_files = n_bytes = 0
    # (absolute folder, relative prefix "a/b/", parts, fixed category or None)
    stack: list[tuple[str, str, tuple[str, ...], str | None]] = [
        (os.fspath(root), "", (), rules.subtree_category(()))
    ]
    category_of = rules.category_of
    is_ignored = rules.is_ignored
    subtree_category = rules.subtree_category
    append = files.append
    while stack:
        folder, prefix, parts, fixed = stack.pop()
        try:
            it = os.scandir(folder)
        except OSError as e:
            skipped.append((prefix.rstrip("/") or ".", f"folder cannot be read ({e.strerror})"))
            continue
        with it:
            for entry in it:
                name = entry.name
                try:
                    if entry.is_dir(follow_symlinks=False):
                        sub = (*parts, name)
                        cat = fixed if fixed is not None else subtree_category(sub)
                        stack.append((entry.path, prefix + name + "/", sub, cat))
                        continue
                    if not entry.is_file(follow_symlinks=False):
                        why = "symbolic link, not followed" if entry.is_symlink() else "not a file"
                        skipped.append((prefix + name, why))
                        continue
                    st = entry.stat(follow_symlinks=False)
                except OSError as e:
                    skipped.append((prefix + name, f"cannot be read ({e.strerror})"))
                    continue
                rel = prefix + name
                if fixed is not None:
                    cat = fixed
                else:
                    if is_ignored((*parts, name)):
                        continue
                    cat = category_of(rel)
                t = totals[cat]
                t.files += 1
                t.bytes += st.st_size
                n_files += 1
                n_bytes += st.st_size
                if keep_files:
                    append(FileEntry(rel, cat, st.st_size, st.st_mtime_ns))
        if on_folder is not None:
            on_folder(n_files, n_bytes)
    return ScanResult(root, files, totals, skipped)
