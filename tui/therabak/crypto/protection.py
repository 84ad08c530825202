"""How a new backup's key is wrapped (its key slots): a password, the account key, or
explicitly nothing; and a recovery code beside a password. Used by the single-file
archive (``archive/writer.py``) and the backup store (a new store's key file) alike, so
a store backup need not load the archive writer for it."""

from __future__ import annotations

from dataclasses import dataclass

from therabak.crypto.recovery import RecoveryCode
from therabak.crypto.slots import Slot


@dataclass
class Protection:
    """How the archive key is wrapped: password, account key, or explicitly nothing; and
    a recovery code beside a password."""

    password: str | None = None
    account_key: bytes | None = None
    account_key_id: bytes | None = None
    unprotected: bool = False
    recovery_code: RecoveryCode | None = None

    def __repr__(self) -> str:  # never show secrets
        kinds = [
            k
            for k, v in (
                ("password", self.password),
                ("account", self.account_key),
                ("recovery", self.recovery_code),
            )
            if v
        ] + (["none"] if self.unprotected else [])
        return f"Protection({', '.join(kinds)})"

    def slots(self, archive_key: bytes) -> list[Slot]:
        slots = []
        if self.password:
            slots.append(Slot.password(archive_key, self.password))
        if self.account_key is not None and self.account_key_id is not None:
            slots.append(Slot.account(archive_key, self.account_key, self.account_key_id))
        if self.unprotected:
            if slots or self.recovery_code is not None:
                raise ValueError("an unprotected archive cannot also have other slots")
            slots.append(Slot.none(archive_key))
        if not slots:
            raise ValueError("no key slot: give a password, an account key or unprotected")
        if self.recovery_code is not None:
            if not self.password:
                raise ValueError("a recovery code goes beside a password")
            slots.append(Slot.recovery(archive_key, self.recovery_code))
        return slots


__all__ = ["Protection"]
