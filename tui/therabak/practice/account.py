"""The account's default key (Standardschlüssel), kept outside ``Data``.

File format (UTF-8 text, see FORMAT.md)::

    # TheraPsy account key. Keep this file private ...
    therapsy-account-key-v1:<43 characters: base64url of the 32 key bytes, no padding>
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from pathlib import Path

from therabak.crypto.stream import KEY_SIZE, derive_key
from therabak.errors import AccountKeyError
from therabak.fsutil import is_private, write_private
from therabak.i18n import _

KEY_PREFIX = "therapsy-account-key-v1:"
KEY_ID_SIZE = 8
_KEY_ID_INFO = b"therapsy account key id v1"
_HEADER_COMMENT = (
    "# TheraPsy account key (Standardschluessel). Keep this file private:\n"
    "# without it the Data folder cannot be read, with it anyone can.\n"
)


def key_id_of(key: bytes) -> bytes:
    return derive_key(key, salt=b"", info=_KEY_ID_INFO, length=KEY_ID_SIZE)


@dataclass(frozen=True)
class AccountKey:
    """The 32-byte account key and its public 8-byte id. ``repr`` never shows the key."""

    key: bytes = field(repr=False)
    key_id: bytes = field(init=False)

    def __post_init__(self) -> None:
        if len(self.key) != KEY_SIZE:
            raise AccountKeyError(_("An account key must be 32 bytes."))
        object.__setattr__(self, "key_id", key_id_of(self.key))

    @property
    def id_hex(self) -> str:
        return self.key_id.hex()

    @classmethod
    def generate(cls) -> AccountKey:
        return cls(os.urandom(KEY_SIZE))

    def to_text(self) -> str:
        encoded = base64.urlsafe_b64encode(self.key).rstrip(b"=").decode("ascii")
        return f"{_HEADER_COMMENT}{KEY_PREFIX}{encoded}\n"

    def save(self, path: Path) -> None:
        """Write the key to a new file with mode 0600; never overwrites an existing key."""
        path = Path(path)
        if path.exists():
            raise AccountKeyError(
                _("Refusing to overwrite the existing account key {path}.").format(path=path)
            )
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private(path, self.to_text().encode("utf-8"))

    @classmethod
    def parse(cls, text: str, *, source: str = "account key") -> AccountKey:
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if not line.startswith(KEY_PREFIX):
                break
            encoded = line[len(KEY_PREFIX) :]
            try:
                raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            except (ValueError, TypeError):
                break
            if len(raw) != KEY_SIZE:
                break
            return cls(raw)
        raise AccountKeyError(
            _("{source} is not a TheraPsy account key file.").format(source=source)
        )

    @classmethod
    def load(cls, path: Path) -> AccountKey:
        path = Path(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise AccountKeyError(
                _("Account key not found: {path}").format(path=path),
                hint=_("Give its location with --account-key or THERABAK_ACCOUNT_KEY."),
            ) from None
        except IsADirectoryError:
            raise AccountKeyError(
                _("Account key path is a folder, not a file: {path}").format(path=path)
            ) from None
        except OSError as e:
            raise AccountKeyError(
                _("Account key cannot be read: {path} ({error})").format(
                    path=path, error=e.strerror or e
                )
            ) from None
        if len(data) > 4096:
            raise AccountKeyError(_("{path} is not a TheraPsy account key file.").format(path=path))
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise AccountKeyError(
                _("{path} is not a TheraPsy account key file.").format(path=path)
            ) from None
        return cls.parse(text, source=str(path))


def key_file_warnings(path: Path) -> list[str]:
    """Warnings about how the key file is stored (readable by others, ...)."""
    try:
        if not is_private(Path(path)):
            return [
                _(
                    "The account key {path} can be read by other users of this computer; "
                    "restrict it to your user (chmod 600)."
                ).format(path=path)
            ]
    except OSError:
        pass
    return []
