"""Exception types that carry their exit code.

Every error a user can meet is one of these; the CLI prints ``str(error)`` as a
single line and exits with ``error.exit_code``. Messages never contain secrets. They are
made where raised with ``_("... {name} ...").format(name=...)``: a translated
:class:`therabak.i18n.Message` that JSON output writes in English.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

from therabak.i18n import _


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    WARNINGS = 3
    CANNOT_UNLOCK = 4
    DAMAGED = 5
    NO_SPACE = 6
    IN_USE = 7
    REMOTE_LOGIN = 8  # the remote destination refused the credentials (or none were found)
    REMOTE_MISSING = 9  # the bucket or folder of a remote destination does not exist
    REMOTE_UNREACHABLE = 10  # no answer from the remote destination, after every retry
    HOST_KEY = 11  # an SSH server's host key is unknown (not yet trusted) or has changed
    INTERRUPTED = 130


class Remedy(StrEnum):
    """What can be done about an error, as a value a caller tests (the error's hint says
    it in words, for the CLI; the app offers its own way to do it)."""

    SALVAGE = "salvage"  # restore again with --salvage: every intact file comes back


class TherabakError(Exception):
    """Base class: a clear one-line message and an exit code; a hint (words) and a
    remedy (a value) where something can be done about it."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(
        self, message: str, *, hint: str | None = None, remedy: Remedy | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.remedy = remedy

    def __str__(self) -> str:
        return self.message


class UsageError(TherabakError):
    exit_code = ExitCode.USAGE


class NotARegularFileError(UsageError):
    """A path given as a backup file is a FIFO, a device or a socket: refused before
    anything is read from it (a read could wait, or go on, forever)."""


class ConfigError(TherabakError):
    """A settings or rules file that cannot be used."""


class DataFolderError(TherabakError):
    """The practice data folder is missing or unusable."""


class AccountKeyError(TherabakError):
    """The account key file is missing, unreadable or malformed."""


class CannotUnlockError(TherabakError):
    """Wrong password, or the backup belongs to another account."""

    exit_code = ExitCode.CANNOT_UNLOCK


class WrongPasswordError(CannotUnlockError):
    pass


class OtherAccountError(CannotUnlockError):
    pass


class AccountKeyNeededError(CannotUnlockError):
    """The backup opens only with an account key, and none is available here."""


class NoRecoveryCodeError(CannotUnlockError):
    """A recovery code was given, but the backup has none (any more)."""


class WrongRecoveryCodeError(CannotUnlockError):
    """A well-formed recovery code that is not this backup's."""


class DecryptionError(TherabakError):
    """A sealed stream failed to authenticate (tampered, truncated, wrong key)."""

    exit_code = ExitCode.DAMAGED


class ForeignKeyError(DecryptionError):
    """An envelope file was sealed with another account's key.

    Still a DecryptionError (the file cannot be read), but not damage: it exits
    with "cannot unlock" (4, other account), never with "damaged" (5).
    """

    exit_code = ExitCode.CANNOT_UNLOCK

    def __init__(self, message: str, *, key_id: str, expected: str) -> None:
        super().__init__(message)
        self.key_id = key_id
        self.expected = expected


class DamagedArchiveError(TherabakError):
    exit_code = ExitCode.DAMAGED


class NotEnoughSpaceError(TherabakError):
    exit_code = ExitCode.NO_SPACE


class DestinationError(TherabakError):
    """Writing to the backup destination failed (I/O error, medium removed, ...).

    Not an OSError on purpose: a failed *write* must never pass for a failed *read* of a
    source file (which is retried and may end raw or skipped)."""


class SchedulerError(TherabakError):
    """The platform's scheduler (systemd, cron, launchd, Task Scheduler) is missing or
    refused to set up, change or remove therabak's entry."""


class DataInUseError(TherabakError):
    exit_code = ExitCode.IN_USE


class Cancelled(TherabakError):
    exit_code = ExitCode.INTERRUPTED

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or _("Cancelled; nothing was changed."))


def message_of(error: BaseException) -> str:
    """What *error* says, keeping a translated message as such (so JSON output can write
    it in English and the app can show it again in another language)."""
    if isinstance(error, TherabakError):
        return error.message
    if isinstance(error, OSError):
        return error.strerror or str(error)  # the system's words
    if error.args and isinstance(error.args[0], str):
        return error.args[0]
    return str(error)
