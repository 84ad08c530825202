"""What a restore did: :class:`RestoreResult` (its ``--json`` summary)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from therabak.errors import ExitCode
from therabak.events import Warning
from therabak.jsonform import (
    damage_from,
    damage_json,
    path_from,
    path_json,
    renamed_from,
    renamed_json,
    warning_list,
    warnings_from,
)
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
    def exit_code(self) -> ExitCode:
        if self.damaged or self.warnings or self.renamed:
            return ExitCode.WARNINGS
        return ExitCode.OK

    def to_json(self) -> dict[str, Any]:
        return {
            "point": str(self.point),
            "target": str(self.target),
            "before_restore": path_json(self.before_restore),
            "before_restore_planned": path_json(self.before_restore_planned),
            "files": self.files_restored,  # the same two under the names other jobs use
            "bytes": self.bytes_restored,
            "files_restored": self.files_restored,
            "bytes_restored": self.bytes_restored,
            "files_carried": self.files_carried,
            "bytes_carried": self.bytes_carried,
            "damaged": damage_json(self.damaged),
            "warnings": warning_list(self.warnings),
            "new_account_key": path_json(self.new_account_key),
            "renamed": renamed_json(self.renamed),
            "renamed_list": path_json(self.renamed_list),
            "file_system": self.file_system,
            "duration_s": self.duration_s,  # as the summary says it
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RestoreResult:
        return cls(
            point=Path(data["point"]),
            target=Path(data["target"]),
            before_restore=path_from(data.get("before_restore")),
            before_restore_planned=path_from(data.get("before_restore_planned")),
            # (a summary may name them only as other jobs do: files, bytes)
            files_restored=int(data.get("files_restored", data.get("files", 0))),
            bytes_restored=int(data.get("bytes_restored", data.get("bytes", 0))),
            files_carried=int(data.get("files_carried", 0)),
            bytes_carried=int(data.get("bytes_carried", 0)),
            damaged=damage_from(data.get("damaged")),
            warnings=warnings_from(data.get("warnings")),
            new_account_key=path_from(data.get("new_account_key")),
            duration_s=float(data.get("duration_s", 0.0)),
            renamed=renamed_from(data.get("renamed")),
            renamed_list=path_from(data.get("renamed_list")),
            file_system=str(data.get("file_system", "")),
        )
