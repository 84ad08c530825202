"""Credentials of remote destinations: never in argv, the settings file, logs or JSON.

Where therabak looks, first one wins:

1. **For this run only**, environment variables: ``AWS_ACCESS_KEY_ID`` and
   ``AWS_SECRET_ACCESS_KEY`` (both) for S3; ``THERABAK_REMOTE_PASSWORD`` for SFTP and
   WebDAV. Meant for a scheduler or an SSH session that brings its own secret.
2. **The operating system's credential store**, through ``keyring``: Windows Credential
   Manager, macOS Keychain, the Secret Service (GNOME Keyring, KWallet) on a Linux
   desktop. Service ``therabak``, one entry per destination (see :func:`credential_id`).
3. **The fallback file**, only where ``therabak remote login --store file`` put it
   (a headless Linux has no credential store): ``credentials.json`` beside the settings
   file (``THERABAK_CREDENTIALS_FILE`` to move it), created readable by its owner only
   (0600, in a 0700 folder). It protects against other user accounts of the computer and
   keeps the secrets out of the settings file (which people copy and show around); it
   does NOT protect against an administrator (root), against software running as the
   same user, or against a copy of the home folder being read elsewhere: it is as safe
   as ``~/.ssh/id_ed25519`` without a passphrase or ``~/.aws/credentials``.

S3 with none of these: botocore's own places (``~/.aws/credentials``, a profile).
SSH keys are not credentials here: SFTP uses the SSH agent and ``~/.ssh`` first.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from therabak.errors import ConfigError
from therabak.fsutil import write_private
from therabak.i18n import _
from therabak.settings import config_file

SERVICE = "therabak"
PASSWORD_ENV = "THERABAK_REMOTE_PASSWORD"
S3_KEY_ID_ENV = "AWS_ACCESS_KEY_ID"
S3_SECRET_ENV = "AWS_SECRET_ACCESS_KEY"


class CredentialPlace(StrEnum):
    ENVIRONMENT = "environment"
    KEYRING = "keyring"
    FILE = "file"


@dataclass(frozen=True)
class Credential:
    """What a destination needs: a password (SFTP, WebDAV) or an access key (S3)."""

    secret: str
    key_id: str | None = None  # S3 only: the access key id

    def to_json(self) -> str:
        data = {"secret": self.secret}
        if self.key_id is not None:
            data["key_id"] = self.key_id
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> Credential | None:
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("secret"), str):
            return None
        key_id = data.get("key_id")
        return cls(data["secret"], key_id if isinstance(key_id, str) else None)

    def __repr__(self) -> str:  # never the secret, whatever prints it
        return f"Credential(key_id={'…' if self.key_id else None}, secret=…)"

    __str__ = __repr__


def credentials_file() -> Path:
    env = os.environ.get("THERABAK_CREDENTIALS_FILE")
    if env:
        return Path(env)
    return config_file().parent / "credentials.json"


def keyring_backend():
    """The usable keyring backend, or None (none installed or none reachable)."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return None
    try:
        backend = keyring.get_keyring()
    except Exception:
        return None
    if isinstance(backend, fail.Keyring):
        return None
    with contextlib.suppress(Exception):
        from keyring.backends.chainer import ChainerBackend

        if isinstance(backend, ChainerBackend) and not backend.backends:
            return None
    return backend


def keyring_name() -> str | None:
    backend = keyring_backend()
    return None if backend is None else getattr(backend, "name", type(backend).__name__)


class CredentialStore:
    """Reads and writes credentials in the places above (module docstring)."""

    def __init__(self, file: Path | None = None) -> None:
        self.file = file or credentials_file()

    # ---- the fallback file ------------------------------------------------------------

    def _read_file(self) -> dict[str, str]:
        try:
            data = json.loads(self.file.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            raise ConfigError(
                _("The credentials file {path} cannot be read; remove it and log in again").format(
                    path=self.file
                )
            ) from None
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}

    def _write_file(self, data: dict[str, str]) -> None:
        self.file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private(self.file, json.dumps(data, indent=1, sort_keys=True).encode("utf-8"))

    # ---- the interface ----------------------------------------------------------------

    def find(self, ident: str, *, s3: bool) -> tuple[Credential, CredentialPlace] | None:
        """The credential for *ident*, and where it was found; None when there is none."""
        if s3:
            key_id, secret = os.environ.get(S3_KEY_ID_ENV), os.environ.get(S3_SECRET_ENV)
            if key_id and secret:
                return Credential(secret, key_id), CredentialPlace.ENVIRONMENT
        else:
            password = os.environ.get(PASSWORD_ENV)
            if password:
                return Credential(password), CredentialPlace.ENVIRONMENT
        backend = keyring_backend()
        if backend is not None:
            try:
                text = backend.get_password(SERVICE, ident)
            except Exception:
                text = None
            if text:
                found = Credential.from_json(text)
                if found is not None:
                    return found, CredentialPlace.KEYRING
        text = self._read_file().get(ident)
        if text:
            found = Credential.from_json(text)
            if found is not None:
                return found, CredentialPlace.FILE
        return None

    def store(self, ident: str, credential: Credential, place: CredentialPlace) -> str:
        """Keep *credential* for *ident* in *place* (keyring or file); returns where, for
        people (the backend's name or the file's path)."""
        if place is CredentialPlace.FILE:
            data = self._read_file()
            data[ident] = credential.to_json()
            self._write_file(data)
            return str(self.file)
        backend = keyring_backend()
        if backend is None:
            raise ConfigError(
                _(
                    "This computer has no credential store (Windows Credential Manager, macOS "
                    "Keychain or a Secret Service); use --store file to keep it in {path} "
                    "(readable only by you), or give it for each run in an environment "
                    "variable (THERABAK_REMOTE_PASSWORD; AWS_ACCESS_KEY_ID and "
                    "AWS_SECRET_ACCESS_KEY for S3)"
                ).format(path=self.file)
            )
        try:
            backend.set_password(SERVICE, ident, credential.to_json())
        except Exception as e:
            raise ConfigError(
                _("The credential store refused to keep it ({error})").format(
                    error=type(e).__name__
                )
            ) from None
        return str(getattr(backend, "name", type(backend).__name__))

    def forget(self, ident: str) -> list[str]:
        """Remove *ident* from the credential store and the file; returns where it was."""
        removed: list[str] = []
        backend = keyring_backend()
        if backend is not None:
            try:
                if backend.get_password(SERVICE, ident) is not None:
                    backend.delete_password(SERVICE, ident)
                    removed.append(str(getattr(backend, "name", type(backend).__name__)))
            except Exception:
                pass
        data = self._read_file()
        if ident in data:
            del data[ident]
            self._write_file(data)
            removed.append(str(self.file))
        return removed
