"""Named destinations: the places backups go to, as the settings file names them.

A destination is a name people chose ("USB-Stick", "Nextcloud"), a place (a folder or an
off-site URL, :mod:`therabak.storage.url`) and an optional upload limit. The settings
file holds them as ``[[destination]]`` tables (:class:`therabak.settings.DestinationEntry`);
never a secret: credentials go to the credential store
(:mod:`therabak.storage.credentials`), SSH host keys to known_hosts
(:mod:`therabak.storage.hostkeys`). This module is the one way from a destination to a
storage (:func:`open_destination`), and what the CLI and the app do with destinations:
add and remove them, store their credentials, trust a server's host key once the user
confirmed its fingerprint, test the connection.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from therabak.errors import ConfigError, UsageError
from therabak.i18n import _
from therabak.settings import (
    DestinationEntry,
    Settings,
    check_destination_where,
    parse_rate,
)
from therabak.storage.url import Location, S3Endpoint, StorageKind, network_options, parse_location

if TYPE_CHECKING:
    from collections.abc import Callable

    from therabak.storage.base import Storage
    from therabak.storage.credentials import CredentialPlace, CredentialStore
    from therabak.storage.network import RetryNotice
    from therabak.storage.probe import ProbeResult

#: Longest name of a destination (it shows in a table column of the app).
NAME_MAX = 40


class DestinationKind(StrEnum):
    LOCAL = "local"  # a folder: a USB stick, a second disk, a network drive
    REMOTE = "remote"  # off-site: s3://, sftp://, webdav(s)://


@dataclass(frozen=True)
class Destination:
    """A place backups go to. ``name`` is empty for a place given on the command line
    that the settings do not name."""

    name: str
    location: Location
    limit_upload: int | None = None  # bytes per second (remote destinations only)

    @property
    def where(self) -> str:
        """The folder or URL, as shown (never with a secret)."""
        return str(self.location)

    @property
    def kind(self) -> DestinationKind:
        return DestinationKind.REMOTE if self.location.is_remote else DestinationKind.LOCAL

    @property
    def is_remote(self) -> bool:
        return self.location.is_remote

    @property
    def label(self) -> str:
        """The name, or the place when it has none."""
        return self.name or self.where

    @classmethod
    def from_entry(cls, entry: DestinationEntry) -> Destination:
        try:
            location = parse_location(entry.where)
            rate = parse_rate(entry.limit_upload)
        except (UsageError, ValueError) as e:
            raise ConfigError(
                _("Destination {name} in the settings file: {problem}").format(
                    name=entry.name, problem=getattr(e, "message", None) or str(e)
                )
            ) from None
        return cls(entry.name, location, rate)

    def to_entry(self, limit_text: str = "") -> DestinationEntry:
        return DestinationEntry(self.name, self.where, limit_text)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "where": self.where,
            "kind": str(self.kind),
            "protocol": str(self.location.kind),
            "limit_upload": self.limit_upload,
        }


def destinations(settings: Settings) -> list[Destination]:
    """Every destination the settings name, in their order."""
    return [Destination.from_entry(e) for e in settings.destinations]


def find(settings: Settings, name: str) -> Destination | None:
    """The destination called *name* (case does not matter), or None."""
    wanted = name.strip().casefold()
    for entry in settings.destinations:
        if entry.name.casefold() == wanted:
            return Destination.from_entry(entry)
    return None


def resolve(text: str, settings: Settings | None = None) -> Destination:
    """What a person means by *text*: the destination of that name, else a folder or URL
    (without a name; a named destination at the same place lends its name and limit)."""
    settings = settings if settings is not None else Settings.load()
    named = find(settings, text)
    if named is not None:
        return named
    location = parse_location(text)
    for dest in destinations(settings):
        if _same_place(dest.location, location):
            return dest
    return Destination("", location)


def _same_place(a: Location, b: Location) -> bool:
    if a.is_remote or b.is_remote:
        return str(a) == str(b)
    try:
        return Path(a.path).expanduser().resolve() == Path(b.path).expanduser().resolve()
    except OSError:
        return False


# ---- changing the settings -------------------------------------------------------------


def check_name(name: str, settings: Settings, *, ignore: str = "") -> str:
    """*name* stripped, or UsageError: empty, too long, or naming another destination."""
    name = name.strip()
    if not name:
        raise UsageError(_("A destination needs a name."))
    if len(name) > NAME_MAX or not name.isprintable():
        raise UsageError(
            _("A destination's name has at most {n} printable characters.").format(n=NAME_MAX)
        )
    other = find(settings, name)
    if other is not None and name.casefold() != ignore.casefold():
        raise UsageError(_("There is a destination called {name} already.").format(name=other.name))
    return name


def make(name: str, where: str, limit_upload: str = "") -> tuple[Destination, str]:
    """A destination from what a person typed (the place checked as the settings file
    and the storages would), and the upload limit as typed (for the settings file)."""
    where = where.strip()
    problem = check_destination_where(where)
    location = parse_location(where)  # a URL with a password: refused here, unshown
    if problem:
        raise UsageError(_("The place {problem}.").format(problem=problem))
    if not location.is_remote:
        location = Location(StorageKind.LOCAL, str(Path(location.path).expanduser().absolute()))
    limit_upload = limit_upload.strip()
    try:
        rate = parse_rate(limit_upload)
    except ValueError as e:
        raise UsageError(_("Upload limit: {problem}").format(problem=str(e))) from None
    if rate is not None and not location.is_remote:
        raise UsageError(_("An upload limit is only for off-site destinations (URLs)."))
    return Destination(name.strip(), location, rate), limit_upload


def add(settings: Settings, name: str, where: str, limit_upload: str = "") -> Destination:
    """Add a destination to *settings* (the caller saves them)."""
    name = check_name(name, settings)
    dest, limit_text = make(name, where, limit_upload)
    for other in destinations(settings):
        if _same_place(other.location, dest.location):
            raise UsageError(
                _("{where} is the destination {name} already.").format(
                    where=dest.where, name=other.name
                )
            )
    settings.destinations.append(dest.to_entry(limit_text))
    return dest


def remove(settings: Settings, name: str, *, forget_credentials: bool = True) -> Destination:
    """Remove the destination *name* from *settings* (the caller saves them) and, unless
    another destination still uses them, its stored credentials. The backups stay."""
    dest = find(settings, name)
    if dest is None:
        raise UsageError(_("There is no destination called {name}.").format(name=name))
    settings.destinations = [
        e for e in settings.destinations if e.name.casefold() != dest.name.casefold()
    ]
    if forget_credentials and dest.is_remote:
        ident = credential_id(dest, settings)
        still_used = any(
            d.is_remote and credential_id(d, settings) == ident for d in destinations(settings)
        )
        if not still_used:
            from therabak.storage.credentials import CredentialStore

            CredentialStore().forget(ident)
    return dest


# ---- reaching a destination ------------------------------------------------------------


def open_destination(
    dest: Destination,
    settings: Settings | None = None,
    *,
    limit_upload: int | None = None,
    on_retry: Callable[[RetryNotice], None] | None = None,
    credentials: CredentialStore | None = None,
    subfolder: str = "",
    **extra,
) -> Storage:
    """The storage of *dest* (its folder, or *subfolder* below it), not yet connected.

    *limit_upload* (bytes per second) wins over the destination's own; both go to the
    storage's token bucket (every upload stream of it pays from one bucket). *on_retry*
    hears every retry of a transient failure. *extra* goes to the storage (tests)."""
    from therabak.storage.url import open_storage

    settings = settings if settings is not None else Settings.load()
    location = child_location(dest.location, subfolder) if subfolder else dest.location
    if not location.is_remote:
        return open_storage(location)
    rate = limit_upload if limit_upload is not None else dest.limit_upload
    options = network_options(settings, limit_upload=rate, on_retry=on_retry)
    return open_storage(
        location, settings=settings, options=options, credentials=credentials, **extra
    )


#: The folder a backup store gets in a destination (``E:\\TheraPsy-Backups``,
#: ``s3://bucket/praxis/TheraPsy-Backups``); same as ``therabak.store.place.STORE_FOLDER``.
STORE_FOLDER = "TheraPsy-Backups"
_CONFIG = "config"  # the store's config object (therabak.store.config.NAME)


def store_storage(dest: Destination, settings: Settings | None = None, **kw) -> Storage:
    """The storage of the backup store in *dest*: the place itself when it holds a store
    (its ``config``), else the ``TheraPsy-Backups`` below it (where a new store goes;
    off-site made as needed, through the connection to the destination's folder, which
    must exist). Asks the place once (one small request); *kw* goes to
    :func:`open_destination`."""
    outer = open_destination(dest, settings, **kw)
    try:
        here = outer.size(_CONFIG) is not None
    except BaseException:
        outer.close()
        raise
    if not dest.is_remote:
        if here:
            return outer
        outer.close()
        return open_destination(dest, settings, subfolder=STORE_FOLDER, **kw)
    from therabak.storage.cache import CachedStorage
    from therabak.storage.prefixed import PrefixedStorage

    # the destination's folder must exist; the store's folder in it is made as needed.
    # Snapshots and index files are kept on this computer too: asked for only once.
    return CachedStorage(outer if here else PrefixedStorage(outer, STORE_FOLDER))


def child_location(location: Location, name: str) -> Location:
    """The place *name* below *location* (a folder, a prefix)."""
    from dataclasses import replace

    if location.kind is StorageKind.LOCAL:
        return replace(location, path=str(Path(location.path) / name))
    if location.kind is StorageKind.S3:
        return replace(location, path=f"{location.path.strip('/')}/{name}".lstrip("/"))
    return replace(location, path=f"{location.path.rstrip('/')}/{name}")


# ---- credentials and host keys ---------------------------------------------------------


class LoginKind(StrEnum):
    NONE = "none"  # a local folder
    ACCESS_KEY = "access-key"  # S3: key id and secret
    PASSWORD = "password"  # WebDAV; SFTP when no SSH key is accepted


def login_kind(dest: Destination) -> LoginKind:
    if not dest.is_remote:
        return LoginKind.NONE
    return LoginKind.ACCESS_KEY if dest.location.kind is StorageKind.S3 else LoginKind.PASSWORD


def credential_id(dest: Destination, settings: Settings | None = None) -> str:
    endpoint = None
    if dest.location.kind is StorageKind.S3:
        endpoint = S3Endpoint.resolve(settings if settings is not None else Settings.load())
    return dest.location.credential_id(endpoint)


def stored_credentials(
    dest: Destination, settings: Settings | None = None, store: CredentialStore | None = None
) -> CredentialPlace | None:
    """Where the credentials of *dest* are found now (environment, credential store,
    file), or None."""
    from therabak.storage.credentials import CredentialStore

    if not dest.is_remote:
        return None
    found = (store or CredentialStore()).find(
        credential_id(dest, settings), s3=dest.location.kind is StorageKind.S3
    )
    return found[1] if found else None


def save_credentials(
    dest: Destination,
    secret: str,
    *,
    key_id: str | None = None,
    place: CredentialPlace | None = None,
    settings: Settings | None = None,
    store: CredentialStore | None = None,
) -> str:
    """Keep the password (or S3 access key: *key_id* and *secret*) of *dest* in the
    credential store, or with *place* ``file`` in the fallback file; returns where (for
    people). Never in the settings file."""
    from therabak.storage.credentials import Credential, CredentialPlace, CredentialStore

    kind = login_kind(dest)
    if kind is LoginKind.NONE:
        raise UsageError(_("A local folder needs no credentials."))
    if dest.location.kind is StorageKind.WEBDAV and not dest.location.user:
        raise UsageError(
            _("A WebDAV login needs the user name in the URL: webdavs://USER@HOST/PATH")
        )
    if not secret or (kind is LoginKind.ACCESS_KEY and not key_id):
        raise UsageError(_("Nothing entered."))
    return (store or CredentialStore()).store(
        credential_id(dest, settings),
        Credential(secret, key_id if kind is LoginKind.ACCESS_KEY else None),
        place or CredentialPlace.KEYRING,
    )


def credential_store_available() -> bool:
    """Whether this computer has a credential store (else only the fallback file)."""
    from therabak.storage.credentials import keyring_backend

    return keyring_backend() is not None


@dataclass(frozen=True)
class HostKey:
    """The host key an SSH server presents, and what this computer knows of it."""

    host: str  # as known_hosts names it: host, or [host]:port
    key_type: str
    fingerprint: str  # SHA256:…, as ssh-keygen -l shows it
    state: str  # known | unknown | changed (hostkeys.KeyState)

    def to_dict(self) -> dict:
        return {
            "host": self.host,
            "key_type": self.key_type,
            "fingerprint": self.fingerprint,
            "state": self.state,
        }


def _server_key(dest: Destination, settings: Settings | None, extra: dict):
    if dest.location.kind is not StorageKind.SFTP:
        raise UsageError(_("Only SSH servers (sftp://) have host keys."))
    storage = open_destination(dest, settings, **extra)
    try:
        return storage, storage.server_key()
    finally:
        storage.close()


def host_key(dest: Destination, settings: Settings | None = None, **extra) -> HostKey:
    """The key the SSH server of *dest* presents now (no login), for the user to compare
    with what the server's owner says."""
    from therabak.storage.hostkeys import fingerprint, host_entry_name, key_state

    storage, key = _server_key(dest, settings, extra)
    loc = dest.location
    return HostKey(
        host_entry_name(loc.host, loc.port),
        key.get_name(),
        fingerprint(key),
        str(key_state(loc.host, loc.port, key, storage.known_hosts)),
    )


def trust_host_key(
    dest: Destination, confirmed: str, settings: Settings | None = None, **extra
) -> Path:
    """Trust the SSH server's host key, only if it is still the one with the fingerprint
    *confirmed* (the one the user saw and confirmed); returns the known_hosts file.
    A key that differs from a known one is never replaced."""
    from therabak.storage.base import HostKeyChangedError, HostKeyError
    from therabak.storage.hostkeys import KeyState, fingerprint, host_entry_name, key_state, trust

    storage, key = _server_key(dest, settings, extra)
    loc = dest.location
    fp = fingerprint(key)
    name = host_entry_name(loc.host, loc.port)
    details = {"host": loc.host, "port": loc.port, "key_type": key.get_name(), "fingerprint": fp}
    if fp != confirmed.strip():
        raise HostKeyError(
            _("{host} presents the key {fingerprint}, not {expected}: not trusted").format(
                host=name, fingerprint=fp, expected=confirmed.strip()
            ),
            key=key,
            **details,
        )
    state = key_state(loc.host, loc.port, key, storage.known_hosts)
    if state is KeyState.CHANGED:
        raise HostKeyChangedError(
            _(
                "WARNING: {host} now presents another {kind} key ({fingerprint}) than the one "
                "known for it. therabak does not replace it. Only if the server's owner "
                "confirms the new key: remove the old line from the known_hosts file, then "
                "trust it again."
            ).format(host=name, kind=key.get_name(), fingerprint=fp),
            key=key,
            **details,
        )
    if state is KeyState.KNOWN:
        return storage.known_hosts.write
    return trust(loc.host, loc.port, key, storage.known_hosts)


def test_connection(dest: Destination, settings: Settings | None = None, **extra) -> ProbeResult:
    """Write, read back, list and delete a small object at *dest*; ProbeFailed (one line:
    which step failed and why, the cause's exit code) when a step fails."""
    from therabak.storage.probe import TEST_PREFIX, probe

    if not dest.is_remote:
        folder = Path(dest.location.path).expanduser()
        if not folder.is_dir():
            from therabak.storage.base import LocationMissingError

            raise LocationMissingError(
                _("The folder {path} does not exist (is the drive connected?)").format(path=folder)
            )
    with open_destination(dest, settings, **extra) as storage:
        try:
            return probe(storage)
        finally:
            if not dest.is_remote:  # the empty folders the test object left
                for sub in (TEST_PREFIX.rstrip("/"), ".tmp"):
                    with contextlib.suppress(OSError):
                        (folder / sub).rmdir()


test_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
