"""What a backup did with the files it read, as both kinds of backup report it (the
single-file :class:`~therabak.jobs.backup.BackupResult` and the store's
``StoreBackupResult``): the retried, raw and skipped files, the check after writing, the
recovery slot, the backups inside Data left out, the warnings and the time; their JSON
fields and the exit code they make."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from therabak.errors import ExitCode
from therabak.events import FileOutcome, Warning, warning_list
from therabak.jsonform import damage_from, damage_json, warnings_from


def outcome_from(data: Mapping[str, Any]) -> FileOutcome:
    """A retried file of a result's JSON: the event as ``to_json`` writes it, or only
    its path and outcome (as an older job's summary, and a shorter one, list it)."""
    if "event" in data:
        return FileOutcome.from_json(data)
    return FileOutcome(
        str(data["path"]),
        str(data["outcome"]),
        int(data.get("attempts", 0)),
        str(data.get("error", "")),
    )


class FilesOutcome(Protocol):
    """What a backup did with the files it read: the fields both results share
    (``BackupResult`` in jobs/backup.py, ``StoreBackupResult`` in jobs/store_backup.py)."""

    retried: list[FileOutcome]
    skipped: list[tuple[str, str]]
    verified: bool | None
    verify_cancelled: bool
    damaged: list[tuple[str, str]]
    recovery_code: bool
    left_out: list[LeftOut]
    warnings: list[Warning]
    duration_s: float

    @property
    def raw(self) -> list[str]: ...


def outcome_json(result: FilesOutcome) -> dict[str, Any]:
    """What a backup did with the files it read, as both kinds of backup report it: the
    retried, raw and skipped files, the check after writing, the recovery slot, the
    backups inside Data left out, the warnings and the time."""
    return {
        "retried": [o.to_json() for o in result.retried],
        "raw": result.raw,
        "skipped": damage_json(result.skipped),
        "verified": result.verified,
        "verify_cancelled": result.verify_cancelled,
        "damaged": damage_json(result.damaged),
        "recovery_code": result.recovery_code,
        "left_out": [{"path": f.path, "bytes": f.size} for f in result.left_out],
        "warnings": warning_list(result.warnings),
        "duration_s": result.duration_s,  # as the summary says it
    }


def outcome_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """The fields :func:`outcome_json` wrote, as keyword arguments of either result."""
    return {
        "duration_s": float(data.get("duration_s", 0.0)),
        "retried": [outcome_from(o) for o in data.get("retried") or ()],
        "skipped": damage_from(data.get("skipped")),
        "verified": data.get("verified"),
        "verify_cancelled": bool(data.get("verify_cancelled", False)),
        "damaged": damage_from(data.get("damaged")),
        "recovery_code": bool(data.get("recovery_code", False)),
        "warnings": warnings_from(data.get("warnings")),
        "left_out": [LeftOut(f["path"], int(f["bytes"])) for f in data.get("left_out") or ()],
    }


def outcome_exit_code(result: FilesOutcome) -> ExitCode:
    """Damaged: 5; a file kept raw or skipped, a check cancelled, any warning: 3."""
    if result.damaged:
        return ExitCode.DAMAGED
    if result.raw or result.skipped or result.verify_cancelled or result.warnings:
        return ExitCode.WARNINGS
    return ExitCode.OK


@dataclass(frozen=True)
class LeftOut:
    """A file of a backup kept inside Data, which this backup left out."""

    path: str
    size: int
