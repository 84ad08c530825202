"""Verify an archive: read every byte, check every tag, size and plaintext hash.

Damaged files are named; when the index itself is damaged, the body is scanned so
the report still says which files are intact and which are not.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from therabak import faults
from therabak.archive.reader import ArchiveReader, EntryDamaged
from therabak.errors import DamagedArchiveError, ExitCode
from therabak.events import Damaged, DamagedPart, Emit, Phase, ignore
from therabak.i18n import _
from therabak.jobkit.cancel import NEVER, CancelToken
from therabak.jobkit.progress import ProgressTracker
from therabak.jsonform import damage_from, damage_json

INDEX = DamagedPart.INDEX
REGION = DamagedPart.STRUCTURE


@dataclass
class VerifyRequest:
    """A verification as ``therabak verify`` is asked for it (:meth:`to_argv`; the
    password goes to a job's standard input)."""

    operation: ClassVar[str] = "verify"

    archive: Path
    data_dir: Path
    account_key_path: Path
    password: str | None = field(default=None, repr=False)

    def to_argv(self) -> list[str]:
        return [
            str(self.archive),
            "--data-dir",
            str(self.data_dir),
            "--account-key",
            str(self.account_key_path),
        ]


@dataclass
class VerifyResult:
    files_ok: int = 0
    bytes_checked: int = 0
    damaged: list[tuple[str, str]] = field(default_factory=list)
    index_ok: bool = True
    duration_s: float = 0.0
    archive: str = ""  # the backup as the caller named it (its summary says it)

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.DAMAGED if self.damaged else ExitCode.OK

    def to_json(self) -> dict[str, Any]:
        return {
            "archive": self.archive,
            "files_ok": self.files_ok,
            "bytes_checked": self.bytes_checked,
            "index_ok": self.index_ok,
            "damaged": damage_json(self.damaged),
            "duration_s": self.duration_s,  # as the summary says it
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> VerifyResult:
        return cls(
            files_ok=int(data["files_ok"]),
            bytes_checked=int(data["bytes_checked"]),
            damaged=damage_from(data.get("damaged")),
            index_ok=bool(data.get("index_ok", True)),
            duration_s=float(data.get("duration_s", 0.0)),
            archive=str(data.get("archive", "")),
        )


def verify_archive(
    reader: ArchiveReader, emit: Emit = ignore, cancel: CancelToken = NEVER
) -> VerifyResult:
    """*reader* must be unlocked."""
    start = time.monotonic()
    result = VerifyResult()

    def damaged(path: str, reason: str) -> None:
        result.damaged.append((path, reason))
        emit(Damaged(path=path, reason=reason))

    emit(Phase("verifying", reader.name))
    try:
        index = reader.read_index()
        index_offset, _length = reader.index_location()
    except DamagedArchiveError as e:
        result.index_ok = False
        damaged(INDEX, str(e))
        _verify_by_scan(reader, result, damaged, emit, cancel)
        result.duration_s = round(time.monotonic() - start, 3)
        return result
    expected = reader.header.header_size
    for e in index.entries:
        if e.offset != expected:
            damaged(REGION, _("unexplained bytes before {path}").format(path=e.path))
        expected = e.offset + e.length
    if expected != index_offset:
        damaged(REGION, _("unexplained bytes before the index"))
    progress = ProgressTracker(
        emit,
        "verifying",
        bytes_total=sum(e.size for e in index.entries),
        files_total=len(index.entries),
    )
    for e in index.entries:
        cancel.check()
        faults.verify_delay()
        progress.start_file(e.path)
        try:
            for chunk in reader.iter_entry(e):
                progress.add_bytes(len(chunk))
                cancel.check()
            result.files_ok += 1
            result.bytes_checked += e.size
        except EntryDamaged as err:
            damaged(e.path, err.reason)
        progress.file_done()
    progress.finish()
    result.duration_s = round(time.monotonic() - start, 3)
    return result


def _verify_by_scan(
    reader: ArchiveReader, result: VerifyResult, damaged, emit: Emit, cancel: CancelToken
) -> None:
    progress = ProgressTracker(emit, "verifying", bytes_total=reader.size, files_total=0)
    for found in reader.scan_entries():
        cancel.check()
        progress.start_file(found.path)
        if found.ok:
            result.files_ok += 1
            result.bytes_checked += found.size
        else:
            damaged(found.path, found.error)
        progress.file_done()
    progress.finish()
