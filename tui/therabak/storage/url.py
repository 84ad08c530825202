"""Where a destination is, as people write it, and the storage that reaches it.

* a plain path (``E:\\Sicherung``, ``/media/anna/STICK/therabak``): a local folder
* ``s3://BUCKET/PREFIX``: an S3-compatible bucket; endpoint, region and path-style from
  ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``, ``AWS_REGION`` / ``AWS_DEFAULT_REGION``
  (these win) or the settings file's ``[s3]``
* ``sftp://USER@HOST[:PORT]/PATH``: a folder on an SSH server; ``/PATH`` is absolute,
  ``/~/PATH`` is relative to the login folder; without ``USER@`` the local user name
* ``webdav://[USER@]HOST[:PORT]/PATH`` (HTTP) and ``webdavs://…`` (HTTPS)

A URL never carries a password: one that does is refused, with where credentials go
(:mod:`therabak.storage.credentials`).
"""

from __future__ import annotations

import getpass
import os
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from therabak.errors import UsageError
from therabak.i18n import _
from therabak.settings import Settings
from therabak.storage.base import Storage
from therabak.storage.credentials import Credential, CredentialStore
from therabak.storage.network import NetworkOptions, RetryPolicy

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class StorageKind(StrEnum):
    LOCAL = "local"
    S3 = "s3"
    SFTP = "sftp"
    WEBDAV = "webdav"


@dataclass(frozen=True)
class Location:
    """A parsed destination. ``str()`` is its URL (or path), never with a secret."""

    kind: StorageKind
    path: str  # the local folder, the S3 prefix, the remote folder
    host: str = ""
    port: int = 0
    user: str = ""
    bucket: str = ""
    tls: bool = False  # webdavs

    @property
    def is_remote(self) -> bool:
        return self.kind is not StorageKind.LOCAL

    def __str__(self) -> str:
        if self.kind is StorageKind.LOCAL:
            return self.path
        if self.kind is StorageKind.S3:
            return f"s3://{self.bucket}/{self.path}".rstrip("/")
        scheme = "sftp" if self.kind is StorageKind.SFTP else ("webdavs" if self.tls else "webdav")
        user = f"{quote(self.user, safe='')}@" if self.user else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = {"sftp": 22, "webdav": 80, "webdavs": 443}[scheme]
        port = f":{self.port}" if self.port != default else ""
        return f"{scheme}://{user}{host}{port}{self.path}"

    def credential_id(self, s3: S3Endpoint | None = None) -> str:
        """The name of this destination's entry in the credential store: one per bucket
        (and endpoint), per SSH login, per WebDAV login; the path is not part of it."""
        if self.kind is StorageKind.S3:
            endpoint = (s3.endpoint_url if s3 else None) or "aws"
            return f"s3:{endpoint}/{self.bucket}"
        if self.kind is StorageKind.LOCAL:
            raise ValueError("a local folder has no credentials")
        scheme = "sftp" if self.kind is StorageKind.SFTP else ("webdavs" if self.tls else "webdav")
        return f"{scheme}://{self.user}@{self.host}:{self.port}"


@dataclass(frozen=True)
class S3Endpoint:
    endpoint_url: str | None
    region: str | None
    path_style: bool | None

    @classmethod
    def resolve(cls, settings: Settings | None) -> S3Endpoint:
        s3 = settings.s3 if settings is not None else None
        endpoint = (
            os.environ.get("AWS_ENDPOINT_URL_S3")
            or os.environ.get("AWS_ENDPOINT_URL")
            or (s3.endpoint if s3 else "")
            or None
        )
        region = (
            os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or (s3.region if s3 else "")
            or None
        )
        return cls(endpoint, region, s3.path_style if s3 else None)


def is_url(text: str) -> bool:
    """Whether *text* is written as a URL (``scheme://``), not as a local path (a drive
    letter such as ``C://`` on Windows is a path)."""
    m = _SCHEME.match(str(text).strip())
    return bool(m) and not (len(m.group(1)) == 1 and os.name == "nt")


def _refuse_password(text: str, scheme: str, netloc: str) -> None:
    """Refuse a URL with a password, naming it without the password."""
    userinfo = netloc.rpartition("@")[0]
    if ":" not in userinfo:
        return
    user = userinfo.split(":", 1)[0]
    host = netloc.rpartition("@")[2]
    shown = f"{scheme}://{user}@{host}/…"
    raise UsageError(
        _(
            "A destination URL never holds a password ({url}); store it with: therabak remote "
            "login {url}"
        ).format(url=shown)
    )


def parse_location(text: str) -> Location:
    """A destination as written by a person (a URL or a plain path)."""
    text = str(text).strip()
    m = _SCHEME.match(text)
    if not m or (len(m.group(1)) == 1 and os.name == "nt"):
        if not text:
            raise UsageError(_("No destination given."))
        return Location(StorageKind.LOCAL, text)
    scheme = m.group(1).lower()
    rest = text[m.end() :]
    netloc = rest.split("/", 1)[0]
    _refuse_password(text, scheme, netloc)
    if scheme not in ("s3", "sftp", "webdav", "webdavs"):
        raise UsageError(
            _(
                "Unknown kind of destination {scheme}:// (s3://, sftp://, webdav://, webdavs://)"
            ).format(scheme=scheme)
        )
    parts = urlsplit(text)
    if parts.query or parts.fragment:
        raise UsageError(_("A destination URL has no ?query or #part: {url}").format(url=text))
    if scheme == "s3":
        bucket = parts.netloc
        if "@" in bucket or not _BUCKET.match(bucket):
            raise UsageError(
                _("Not a bucket name: {name} (s3://BUCKET/PREFIX)").format(name=bucket)
            )
        prefix = unquote(parts.path).strip("/")
        return Location(StorageKind.S3, prefix, bucket=bucket)
    try:
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        raise UsageError(_("Not a valid address: {url}").format(url=text)) from None
    if not host:
        raise UsageError(_("The URL names no server: {url}").format(url=text))
    user = unquote(parts.username or "")
    path = unquote(parts.path) or "/"
    if "\x00" in path or any(p == ".." for p in path.split("/")):
        raise UsageError(_("Not a valid folder in {url}").format(url=text))
    if scheme == "sftp":
        return Location(
            StorageKind.SFTP, path, host=host, port=port or 22, user=user or getpass.getuser()
        )
    tls = scheme == "webdavs"
    return Location(
        StorageKind.WEBDAV, path, host=host, port=port or (443 if tls else 80), user=user, tls=tls
    )


def network_options(settings: Settings | None, **changes) -> NetworkOptions:
    r = settings.remote if settings is not None else None
    options = NetworkOptions()
    if r is not None:
        options = NetworkOptions(
            retry=RetryPolicy(r.tries, r.initial_delay_s, r.max_delay_s), timeout_s=r.timeout_s
        )
    for key, value in changes.items():
        setattr(options, key, value)
    return options


def open_storage(
    where: str | Location,
    *,
    settings: Settings | None = None,
    options: NetworkOptions | None = None,
    credentials: CredentialStore | None = None,
    **extra,
) -> Storage:
    """The storage for *where* (not yet connected: the first call connects).

    *extra* goes to the remote storage's constructor (e.g. ``key_files`` and
    ``known_hosts`` for SFTP, ``part_size`` for S3)."""
    location = where if isinstance(where, Location) else parse_location(where)
    if location.kind is StorageKind.LOCAL:
        from therabak.storage.local import LocalStorage

        return LocalStorage(Path(location.path).expanduser())
    if settings is None:
        settings = Settings.load()
    options = options or network_options(settings)
    store = credentials or CredentialStore()
    shown = str(location)
    if location.kind is StorageKind.S3:
        from therabak.storage.s3 import S3Storage

        endpoint = S3Endpoint.resolve(settings)
        found = store.find(location.credential_id(endpoint), s3=True)
        credential: Credential | None = found[0] if found else None
        return S3Storage(
            location.bucket,
            location.path,
            endpoint_url=endpoint.endpoint_url,
            region=endpoint.region,
            path_style=endpoint.path_style,
            access_key_id=credential.key_id if credential else None,
            secret_access_key=credential.secret if credential else None,
            options=options,
            location=shown,
            **extra,
        )
    found = store.find(location.credential_id(), s3=False)
    password = found[0].secret if found else None
    if location.kind is StorageKind.SFTP:
        from therabak.storage.sftp import SftpStorage

        path = location.path
        if path == "/~" or path.startswith("/~/"):
            path = path[3:] or "."
        return SftpStorage(
            location.host,
            path,
            user=location.user,
            port=location.port,
            password=password,
            options=options,
            location=shown,
            **extra,
        )
    from therabak.storage.webdav import WebdavStorage

    scheme = "https" if location.tls else "http"
    host = f"[{location.host}]" if ":" in location.host else location.host
    base = f"{scheme}://{host}:{location.port}{quote(location.path)}"
    return WebdavStorage(
        base,
        user=location.user or None,
        password=password,
        options=options,
        location=shown,
        **extra,
    )
