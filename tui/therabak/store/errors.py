"""What can go wrong with a backup store, each with its exit code (``errors.ExitCode``).

Every message is one line, names the object (``packs/3f/3f…``, ``snapshots/…``) or the
file of the practice it concerns, and never holds a secret.
"""

from __future__ import annotations

from therabak.errors import (
    DamagedArchiveError,
    DataInUseError,
    ExitCode,
    NotEnoughSpaceError,
    TherabakError,
    WrongPasswordError,
)


class StoreError(TherabakError):
    """A backup store cannot be used (exit 1 unless a subclass says otherwise)."""


class NotAStoreError(StoreError):
    """There is no backup store at the place given (no ``config``)."""


class DamagedStoreError(DamagedArchiveError):
    """An object of the store failed its checks (exit 5)."""

    def __init__(self, message: str, *, name: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.name = name  # the object, when one is to blame


class DamagedFileError(DamagedStoreError):
    """A file of a snapshot cannot be read back intact (exit 5)."""

    def __init__(self, message: str, *, path: str, name: str = "", reason: str = "") -> None:
        super().__init__(message, name=name)
        self.path = path
        self.reason = reason or message  # why, without the path (which pack, what failed)


class StoreLockedError(DataInUseError):
    """Another job holds a lock that conflicts with this one (exit 7)."""


class PasswordNeeded(WrongPasswordError):
    """The store opens only with a password, and none was given (exit 4)."""


class StoreFullError(NotEnoughSpaceError):
    """The storage has no room for what must be written (exit 6)."""


__all__ = [
    "DamagedFileError",
    "DamagedStoreError",
    "ExitCode",
    "NotAStoreError",
    "PasswordNeeded",
    "StoreError",
    "StoreFullError",
    "StoreLockedError",
]
