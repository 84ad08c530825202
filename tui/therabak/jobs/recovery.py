"""A backup's recovery code: add (or replace) and remove its key slot (DESIGN.md section 12).

Like a password change, only the header region is rewritten, crash-safely through the
journal of archive/rekey.py (crash points ``recovery.journal`` and ``recovery.write``);
the data stays as it is. The caller makes the code (``RecoveryCode.generate()``) and
gets it to the person *before* calling :func:`add_recovery_code`: a crash during the
rewrite leaves the old slots or the new ones, never neither, so whoever holds both the
old code and the new one can always open the backup. The password slot is never touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from therabak import faults
from therabak.archive.header import ArchiveHeader, replace_slots
from therabak.archive.reader import ArchiveReader
from therabak.archive.rekey import rewrite_header
from therabak.archive.volumes import first_volume
from therabak.crypto.recovery import RecoveryCode
from therabak.crypto.slots import SlotType, with_recovery, without_recovery
from therabak.errors import DamagedArchiveError, UsageError
from therabak.i18n import _


@dataclass
class RecoveryResult:
    archive: Path | str  # the archive, or the store (off-site: its URL)
    slots: list[str]  # the slot kinds the archive has now, e.g. ["password", "recovery"]
    replaced: bool  # add: an earlier code was replaced; remove: a code was removed

    def to_json(self) -> dict[str, Any]:
        return {"archive": str(self.archive), "replaced": self.replaced, "slots": self.slots}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RecoveryResult:
        return cls(
            archive=Path(data["archive"]), slots=list(data["slots"]), replaced=data["replaced"]
        )


def unlock_for_change(
    path: Path, *, password: str | None = None, recovery_code: RecoveryCode | None = None
) -> tuple[Path, ArchiveHeader, bytes]:
    """Open *path* (any volume) with its password or recovery code for a change of its
    key slots: (first volume, header, archive key). Only password-protected backups
    qualify (raises UsageError otherwise); a wrong secret raises the reader's error
    (exit 4) and a damaged header DamagedArchiveError (exit 5)."""
    path = first_volume(Path(path))
    with ArchiveReader.open(path) as reader:
        header = reader.header
        if any(s.type is SlotType.NONE for s in header.slots):
            raise UsageError(
                _("This backup is unprotected; a recovery code would not help: {path}").format(
                    path=path
                )
            )
        if not any(s.type is SlotType.PASSWORD for s in header.slots):
            raise UsageError(
                _(
                    "Only a backup with a password can have a recovery code; this one is "
                    "locked with an account key: {path}"
                ).format(path=path)
            )
        # without an account key, unlock() opens only the slot of the secret given
        # (and checks the header MAC): the password or the code is proven
        reader.unlock(password=password, recovery_code=recovery_code)
        key = reader.archive_key
        assert key is not None and reader.unlocked_with in ("password", "recovery")
    return path, header, key


@dataclass
class SlotChange:
    """A change of a backup's key slots, checked and ready: the secret was proven and the
    new header region is made; :meth:`commit` writes it. In between, the caller gets a
    new code to the person (shows it, writes it to a file, ...), so the code is known
    before the backup depends on it."""

    archive: Path
    old: ArchiveHeader = field(repr=False)
    region: bytes = field(repr=False)
    new: ArchiveHeader = field(repr=False)

    @property
    def slots(self) -> list[str]:
        return [s.type.label for s in self.new.slots]

    @property
    def had_code(self) -> bool:
        return self.old.has_recovery_code

    def commit(self) -> RecoveryResult:
        """Write the new slots (crash-safely). Refuses, changing nothing, when the
        backup's header changed since the check (e.g. a password change meanwhile)."""
        faults.point("recovery.prepared")  # the new code is out, nothing is written
        try:
            with ArchiveReader.open(self.archive) as reader:
                current = reader.header
        except DamagedArchiveError:
            current = None
        if current is None or current.mac != self.old.mac:
            raise UsageError(
                _(
                    "The backup's key slots changed while this was prepared (another "
                    "change at the same time?); nothing was done: {path}"
                ).format(path=self.archive)
            )
        rewrite_header(self.archive, self.old, self.region, self.new, step="recovery")
        return RecoveryResult(archive=self.archive, slots=self.slots, replaced=self.had_code)


def prepare_recovery_code(
    path: Path,
    code: RecoveryCode,
    *,
    password: str | None = None,
    recovery_code: RecoveryCode | None = None,
) -> SlotChange:
    """Check that *password* (or the current *recovery_code*) opens the backup at *path*
    and make the header that gives it a recovery slot for *code*, replacing any
    earlier one. Nothing is written yet (see :meth:`SlotChange.commit`)."""
    path, header, key = unlock_for_change(path, password=password, recovery_code=recovery_code)
    slots = with_recovery(list(header.slots), key, code)
    region, new_header = replace_slots(header, key, slots)
    return SlotChange(path, header, region, new_header)


def add_recovery_code(
    path: Path,
    code: RecoveryCode,
    *,
    password: str | None = None,
    recovery_code: RecoveryCode | None = None,
) -> RecoveryResult:
    """Give the backup at *path* a recovery slot for *code*, replacing any earlier one
    (:func:`prepare_recovery_code`, then commit). Opens with *password* or with the
    current *recovery_code* (exit 4 when it does not fit). Copies of the backup made
    before keep their old slots."""
    return prepare_recovery_code(
        path, code, password=password, recovery_code=recovery_code
    ).commit()


def remove_recovery_code(path: Path, *, password: str) -> RecoveryResult:
    """Remove the recovery slot of *path*; it then opens with its password only.

    Needs the password (not the code): removing the code with the code alone could leave
    a backup whose password nobody knows. Nothing is written when there is no code."""
    path, header, key = unlock_for_change(path, password=password)
    if not header.has_recovery_code:
        return RecoveryResult(
            archive=path, slots=[s.type.label for s in header.slots], replaced=False
        )
    slots = without_recovery(list(header.slots))
    region, new_header = replace_slots(header, key, slots)
    return SlotChange(path, header, region, new_header).commit()
