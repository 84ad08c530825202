"""The JSON forms that many job results share, written and read back the same way.

A job's result is a dataclass with ``to_json()`` (the object its ``--json`` summary
holds) and ``from_json()`` (the dataclass again: the app reads a job's result with it,
never the dict). These helpers are the two directions of the shapes they share: paths
and times (``null`` for none), lists of ``{"path", "reason"}`` (what was damaged,
skipped, could not be restored; a damaged part that is not a file says which under
``"part"``), the warnings a job printed, and the files written under another name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from therabak.events import DamagedPart, Warning, warning_list
from therabak.namemap import NameProblem, Renamed

__all__ = [
    "damage_from",
    "damage_json",
    "path_from",
    "path_json",
    "renamed_from",
    "renamed_json",
    "time_from",
    "time_json",
    "warning_list",
    "warnings_from",
]


def path_json(path: Path | None) -> str | None:
    return str(path) if path is not None else None


def path_from(value: Any) -> Path | None:
    return Path(value) if value else None


def time_json(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


def time_from(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def damage_json(items: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    """``[{"path", "reason"}]``; a damaged part (``DamagedPart``) keeps its words in
    ``path`` ("(index)") and says which part it is in ``part`` ("index")."""
    out = []
    for path, reason in items:
        item = {"path": str(path), "reason": reason}
        if isinstance(path, DamagedPart):
            item["part"] = path.name.lower()
        out.append(item)
    return out


def damage_from(items: Iterable[Mapping[str, Any]] | None) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for item in items or ():
        part = item.get("part")
        path = DamagedPart[part.upper()] if part else item["path"]
        out.append((path, item["reason"]))
    return out


def warnings_from(items: Iterable[Mapping[str, Any]] | None) -> list[Warning]:
    return [
        Warning(message=w["message"], path=w.get("path", ""), code=w.get("code", ""))
        for w in items or ()
    ]


def renamed_json(items: Iterable[Renamed]) -> list[dict[str, Any]]:
    return [r.to_json() for r in items]


def renamed_from(items: Iterable[Mapping[str, Any]] | None) -> list[Renamed]:
    return [
        Renamed(
            path=r["path"],
            target=r["restored_as"],
            reasons=tuple(NameProblem(x) for x in r.get("reasons", ())),
        )
        for r in items or ()
    ]
