"""What a restore did: :class:`RestoreResult` (its ``--json`` summary)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from therabak.events import Warning, warning_list
from therabak.namemap import Renamed


@dataclass
class RestoreResult:
    point: Path
    target: Path
    before_restore: Path | None
    before_restore_planned: Path | None = None  # the plan's name, when it was taken meanwhile
    files_restored: int = 0
    bytes_restored: int = 0
    files_carried: int = 0
    bytes_carried: int = 0
    damaged: list[tuple[str, str]] = field(default_factory=list)  # skipped with --salvage
    warnings: list[Warning] = field(default_factory=list)  # every warning the job printed
    new_account_key: Path | None = None
    duration_s: float = 0.0
    renamed: list[Renamed] = field(default_factory=list)  # written under another name
    renamed_list: Path | None = None  # the file in the restored data that lists them
    file_system: str = ""

    @property
    def exit_code(self) -> int:
        return 3 if self.damaged or self.warnings or self.renamed else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "point": str(self.point),
            "target": str(self.target),
            "before_restore": str(self.before_restore) if self.before_restore else None,
            "before_restore_planned": str(self.before_restore_planned)
            if self.before_restore_planned
            else None,
            "files": self.files_restored,  # the same two under the names other jobs use
            "bytes": self.bytes_restored,
            "files_restored": self.files_restored,
            "bytes_restored": self.bytes_restored,
            "files_carried": self.files_carried,
            "bytes_carried": self.bytes_carried,
            "damaged": [{"path": p, "reason": r} for p, r in self.damaged],
            "warnings": warning_list(self.warnings),
            "new_account_key": str(self.new_account_key) if self.new_account_key else None,
            "renamed": [r.to_dict() for r in self.renamed],
            "renamed_list": str(self.renamed_list) if self.renamed_list else None,
            "file_system": self.file_system,
        }
