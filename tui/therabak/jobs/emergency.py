"""Write the emergency sheet (DESIGN.md section 12) to a folder or file the user chose.

The PDF is written as ``<name>.partial`` (0600: it may hold the recovery code, and it
lists where the backups are), fsynced and renamed, so a crash never leaves half a sheet
under the final name. Into a folder it goes as ``Notfallblatt-<time>.pdf`` (German) or
``Emergency-sheet-<time>.pdf`` (English), never over an earlier one.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from therabak.emergency.facts import SheetFacts, gather_facts
from therabak.errors import DestinationError, ExitCode, UsageError
from therabak.events import Emit, Phase, Summary, ignore
from therabak.fsutil import create_private, fsync_dir
from therabak.i18n import _

if TYPE_CHECKING:
    from therabak.crypto.recovery import RecoveryCode

FILE_PREFIX = {"de": "Notfallblatt", "en": "Emergency-sheet"}


@dataclass
class SheetRequest:
    out: Path  # a folder (the sheet gets a name) or a file
    lang: str  # de | en
    remembered: list[str] = field(default_factory=list)  # from the settings
    auto_folder: Path | None = None
    account_key_id: str | None = None
    given: list[Path] = field(default_factory=list)  # more folders to look in
    media: bool = True
    code: RecoveryCode | None = field(default=None, repr=False)  # printed only when given


@dataclass
class SheetResult:
    path: Path
    lang: str
    includes_code: bool
    facts: SheetFacts
    duration_s: float

    @property
    def exit_code(self) -> ExitCode:
        """3 (a warning) when the code printed opens none of the backups found."""
        return (
            ExitCode.WARNINGS if self.includes_code and not self.facts.code_opens else ExitCode.OK
        )


def sheet_path(out: Path, lang: str, made: datetime) -> Path:
    """Where the sheet goes: into *out* when it is a folder, else *out* itself."""
    out = Path(out)
    if out.is_dir():
        stamp = made.strftime("%Y-%m-%d_%H%M%S")
        return out / f"{FILE_PREFIX.get(lang, FILE_PREFIX['en'])}-{stamp}.pdf"
    if not out.parent.is_dir():
        raise UsageError(_("No such folder: {path}").format(path=out.parent))
    return out


def write_sheet(req: SheetRequest, emit: Emit = ignore) -> SheetResult:
    from therabak.emergency.sheet import render_sheet

    start = time.monotonic()
    emit(Phase("scanning", "restore points"))
    facts = gather_facts(
        remembered=req.remembered,
        auto_folder=req.auto_folder,
        account_key_id=req.account_key_id,
        given=req.given,
        media=req.media,
        code=req.code,
    )
    path = sheet_path(req.out, req.lang, facts.made)
    emit(Phase("writing", str(path)))
    data = render_sheet(facts, lang=req.lang, code=req.code)
    _write_new(path, data)
    result = SheetResult(
        path=path,
        lang=req.lang,
        includes_code=req.code is not None,
        facts=facts,
        duration_s=time.monotonic() - start,
    )
    emit(
        Summary(
            operation="emergency-sheet",
            exit_code=result.exit_code,
            duration_s=result.duration_s,
            message=str(path),
            extra={
                "sheet": str(path),
                "language": req.lang,
                "includes_code": result.includes_code,
                **facts.to_dict(),
            },
        )
    )
    return result


def _write_new(path: Path, data: bytes) -> None:
    """*data* to *path* via ``<path>.partial`` (0600), fsynced, renamed."""
    tmp = path.with_name(path.name + ".partial")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        fd = create_private(tmp)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
    except OSError as e:
        raise DestinationError(
            _("The emergency sheet cannot be written: {path} ({error})").format(
                path=path, error=e.strerror or e
            )
        ) from None
    fsync_dir(path.parent)
