"""What a check (or opening a store) found: problems, each with how bad it is and which
files of which snapshots it affects."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"  # content is lost or cannot be trusted: exit 5
    WARNING = "warning"  # something is wrong, nothing is lost: exit 3
    NOTE = "note"  # leftovers that the next backup or prune takes care of: exit 0


@dataclass(frozen=True)
class Affected:
    """A file of a snapshot that a problem makes unrestorable."""

    snapshot_id: str
    path: str


@dataclass
class Problem:
    severity: Severity
    name: str  # the object concerned ("packs/ab/ab…", "snapshots/…", "config", ...)
    message: str  # one line, no secret
    affected: list[Affected] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "severity": str(self.severity),
            "object": self.name,
            "message": self.message,
            "affected": [{"snapshot": a.snapshot_id, "path": a.path} for a in self.affected],
        }


def worst(problems: list[Problem]) -> Severity | None:
    for severity in (Severity.ERROR, Severity.WARNING, Severity.NOTE):
        if any(p.severity is severity for p in problems):
            return severity
    return None
