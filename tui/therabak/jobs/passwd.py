"""Change the password of a backup: a new key slot, the same data (DESIGN.md section 4).

An archive: only the header region is rewritten (crash-safely, see archive/rekey.py);
no byte of the entries or the index changes. Copies of the archive made before keep the
old password. A backup store: one small key file is replaced (``Store.change_password``:
the new key file is put first, then the old one deleted), so every snapshot of the store
changes password together.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from therabak.archive.header import replace_slots
from therabak.archive.reader import ArchiveReader
from therabak.archive.rekey import rewrite_header
from therabak.archive.volumes import first_volume
from therabak.crypto.kdf import Argon2Params
from therabak.crypto.recovery import RecoveryCode
from therabak.crypto.slots import Slot, SlotType
from therabak.errors import UsageError
from therabak.i18n import _


@dataclass
class PasswdResult:
    archive: Path | str  # the archive, or the store's folder (off-site: its URL)
    slots: list[str]  # the slot kinds the archive has now, e.g. ["password", "account"]
    snapshots: int | None = None  # a store: how many backups changed password together

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"archive": str(self.archive), "changed": True, "slots": self.slots}
        if self.snapshots is not None:  # a store
            d |= {"store": str(self.archive), "snapshots": self.snapshots}
        return d

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PasswdResult:
        snapshots = data.get("snapshots")
        return cls(
            archive=Path(data["archive"]),
            slots=list(data["slots"]),
            snapshots=int(snapshots) if snapshots is not None else None,
        )


def change_password(
    path: Path,
    old_password: str | None,
    new_password: str,
    *,
    params: Argon2Params | None = None,
    recovery_code: RecoveryCode | None = None,
) -> PasswdResult:
    """Replace the password slot(s) of *path* by one for *new_password*; every other slot
    (account, recovery code) is kept.

    Opens with *old_password*, or with *recovery_code* instead (a forgotten password:
    the code opens the backup and sets a new one). Raises WrongPasswordError (exit 4) for
    a wrong *old_password*, NoRecoveryCodeError / WrongRecoveryCodeError (exit 4) for a
    code that does not open it, DamagedArchiveError (exit 5) for a damaged header,
    UsageError when the archive has no password.
    """
    if not new_password:
        raise UsageError(_("The new password is empty."))
    path = first_volume(Path(path))  # a split backup's header is in its first volume
    with ArchiveReader.open(path) as reader:
        header = reader.header
        if not any(s.type is SlotType.PASSWORD for s in header.slots):
            raise UsageError(
                _("This backup has no password to change ({protection} protection): {path}").format(
                    protection=header.protection, path=path
                )
            )
        if any(s.type is SlotType.NONE for s in header.slots):
            raise UsageError(
                _("This backup is unprotected; a password would not help: {path}").format(path=path)
            )
        # without an account key, unlock() can only use the slot of the secret given (and
        # checks the header MAC): the old password or the recovery code is proven, whatever
        # other slots there are
        if recovery_code is not None:
            reader.unlock(recovery_code=recovery_code)
        else:
            reader.unlock(password=old_password)
        key = reader.archive_key
        assert key is not None and reader.unlocked_with in ("password", "recovery")
    slots = [Slot.password(key, new_password, params)]
    slots += [s for s in header.slots if s.type is not SlotType.PASSWORD]
    region, new_header = replace_slots(header, key, slots)
    rewrite_header(path, header, region, new_header)
    return PasswdResult(archive=path, slots=[s.type.label for s in slots])


def change_store_password(
    folder: Path | str,
    old_password: str | None,
    new_password: str,
    *,
    params: Argon2Params | None = None,
    recovery_code: RecoveryCode | None = None,
) -> PasswdResult:
    """Give the store in *folder* a new password: the key file that *old_password* (or
    *recovery_code*, for a forgotten password) opens is replaced by one with a new
    password slot and its other slots (account key, recovery code) kept. Every snapshot
    of the store opens with the new password from then on. Raises as
    :func:`change_password`; StoreLockedError (exit 7) while another job uses the store."""
    from therabak.points.stores import place_storage
    from therabak.store.core import Store
    from therabak.store.keyfile import Unlock
    from therabak.store.public import peek

    if not new_password:
        raise UsageError(_("The new password is empty."))
    storage = place_storage(folder)  # off-site: through the destination's storage
    facts = peek(storage)
    if "none" in facts.protection:
        raise UsageError(
            _("This backup store is unprotected; a password would not help: {path}").format(
                path=folder
            )
        )
    if "password" not in facts.protection:
        raise UsageError(
            _(
                "This backup store has no password to change ({protection} protection): {path}"
            ).format(protection=", ".join(facts.protection), path=folder)
        )
    # without an account key only the slot of the secret given can open it: the old
    # password or the recovery code is proven, whatever other slots there are
    if recovery_code is not None:
        store = Store.open(storage, Unlock(recovery_code=recovery_code))
    else:
        store = Store.open(storage, Unlock(password=old_password))
    new = store.change_password(new_password, params=params)
    return PasswdResult(
        archive=Path(folder) if isinstance(folder, Path) else storage.location,
        slots=[s.type.label for s in new.slots],
        snapshots=len(facts.snapshots),
    )
