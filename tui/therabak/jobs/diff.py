"""Compare a backup with the current data folder by plaintext hash."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from therabak.archive.index import ArchiveIndex
from therabak.errors import DecryptionError, ExitCode
from therabak.events import Emit, ignore
from therabak.jobkit.cancel import NEVER, CancelToken
from therabak.jobkit.progress import ProgressTracker
from therabak.practice.account import AccountKey
from therabak.practice.categories import Rules
from therabak.practice.scan import scan
from therabak.practice.source import SourceChanged, read_plaintext, read_raw


@dataclass
class DiffResult:
    added: list[tuple[str, str]] = field(default_factory=list)  # (category, path): only in Data
    removed: list[tuple[str, str]] = field(default_factory=list)  # only in the backup
    changed: list[tuple[str, str]] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    same: int = 0

    @property
    def identical(self) -> bool:
        return not (self.added or self.removed or self.changed or self.unreadable)

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.OK if self.identical else ExitCode.WARNINGS

    def to_json(self) -> dict[str, Any]:
        return {
            "identical": self.identical,
            "same": self.same,
            "added": [{"category": c, "path": p} for c, p in self.added],
            "removed": [{"category": c, "path": p} for c, p in self.removed],
            "changed": [{"category": c, "path": p} for c, p in self.changed],
            "unreadable": [{"path": p, "reason": r} for p, r in self.unreadable],
            "per_category": self.per_category(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DiffResult:
        def pairs(key: str) -> list[tuple[str, str]]:
            return [(d["category"], d["path"]) for d in data.get(key) or ()]

        return cls(
            added=pairs("added"),
            removed=pairs("removed"),
            changed=pairs("changed"),
            unreadable=[(d["path"], d["reason"]) for d in data.get("unreadable") or ()],
            same=int(data.get("same", 0)),
        )

    def per_category(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for what in ("added", "removed", "changed"):
            for cat, _path in getattr(self, what):
                out.setdefault(cat, {"added": 0, "removed": 0, "changed": 0})[what] += 1
        return out


def plaintext_sha256(path: Path, rel: str, key: AccountKey, *, raw: bool = False) -> str:
    digest = hashlib.sha256()
    if raw:
        read_raw(path, digest.update)
    else:
        read_plaintext(path, rel, key, digest.update)
    return digest.hexdigest()


def diff_against_data(
    index: ArchiveIndex,
    categories: tuple[str, ...],
    data_dir: Path,
    rules: Rules,
    key: AccountKey,
    emit: Emit = ignore,
    cancel: CancelToken = NEVER,
) -> DiffResult:
    """Files of the backup's *categories* that differ between the backup and *data_dir*."""
    chosen = frozenset(categories) or frozenset(e.category for e in index.entries)
    current = {f.path: f for f in scan(data_dir, rules).files if f.category in chosen}
    stored = {e.path: e for e in index.entries}
    result = DiffResult()
    for path, e in stored.items():
        if path not in current:
            result.removed.append((e.category, path))
    common = [p for p in current if p in stored]
    for path, f in current.items():
        if path not in stored:
            result.added.append((f.category, path))
    progress = ProgressTracker(
        emit, "comparing", bytes_total=sum(current[p].size for p in common), files_total=len(common)
    )
    for path in sorted(common):
        cancel.check()
        e = stored[path]
        progress.start_file(path)
        try:
            digest = plaintext_sha256(data_dir / path, path, key, raw=e.raw)
        except (DecryptionError, SourceChanged, OSError) as err:
            result.unreadable.append((path, str(err)))
            continue
        if digest == e.sha256 and current[path].category == e.category:
            result.same += 1
        else:
            result.changed.append((e.category, path))
        progress.add_bytes(current[path].size)
        progress.file_done()
    progress.finish()
    for lst in (result.added, result.removed, result.changed):
        lst.sort()
    return result
