"""The storage interface under the backup store.

A storage holds named files ("objects"). Names are relative, ``/``-separated, made of
ASCII letters, digits, ``-``, ``_`` and ``.`` (the store chooses them: ``packs/3f/3f…``,
``snapshots/…``, ``keys/…``, ``locks/…``); :func:`check_name` refuses anything else, so
no name can climb out of the storage or mean something on one platform only.

Rules every implementation keeps:

* ``put`` writes an **immutable** object. It becomes visible (to ``get``, ``list``,
  ``size``) only once complete: a reader never sees half of it, a crash never leaves a
  short object under its final name. Putting a name that already exists raises
  :class:`ObjectExistsError` and leaves the existing object as it was.
* ``put_deferred`` is ``put`` whose durability may wait for the next :meth:`Storage.sync`
  (a barrier: once it returns, every object put so far survives a power loss). Until
  then a crash of the computer (not of the process) may leave such an object damaged or
  gone; callers put nothing that needs it before the barrier. Remote storages are
  durable when a put is acknowledged: their barrier has nothing to do.
* ``open_deferred`` (optional; ``None`` where a storage has none) starts an object that
  is written piece by piece and named at the end (:class:`PartialObject`: a pack written
  as it fills, while its bytes are still in the processor's cache, instead of a pack-sized
  buffer copied out at once). Publishing it is ``put_deferred`` of its bytes: invisible
  until complete, never replacing an existing name, durable at the next barrier.
* ``replace`` is the only way to change an object, meant for the few small mutable files
  (key files, locks): the new content replaces the old one atomically.
* ``get`` reads a range; reading past the end returns what is there (possibly ``b""``),
  a missing object raises :class:`ObjectNotFoundError`.
* ``delete`` of a missing object is not an error.
* Errors are the types below (all :class:`~therabak.errors.TherabakError`), never a
  library's own exception; messages never hold a secret (a password, a key, a token).
* Transient failures (a dropped connection, HTTP 429/5xx) are retried inside the
  implementation with backoff; what reaches the caller is final.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from therabak.errors import ExitCode, NotEnoughSpaceError, TherabakError
from therabak.i18n import _

_NAME = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*")


@dataclass(frozen=True)
class ObjectInfo:
    """One object as ``list`` reports it."""

    name: str
    size: int


class StorageError(TherabakError):
    """A storage could not do what was asked (the message says what and where)."""


class ObjectNotFoundError(StorageError):
    """The named object does not exist."""


class ObjectExistsError(StorageError):
    """``put`` of a name that already exists (immutable objects are never overwritten)."""


# ---- what a remote destination can answer (each with its own exit code) -------------------


class CredentialsError(StorageError):
    """The remote destination refused the credentials, or none were found for it."""

    exit_code = ExitCode.REMOTE_LOGIN


class LocationMissingError(StorageError):
    """The bucket, or the folder a remote destination names, does not exist."""

    exit_code = ExitCode.REMOTE_MISSING


class StorageFullError(StorageError, NotEnoughSpaceError):
    """The remote destination is full (a quota, or its disk)."""

    exit_code = ExitCode.NO_SPACE


class UnreachableError(StorageError):
    """No usable answer from the remote destination, after every retry."""

    exit_code = ExitCode.REMOTE_UNREACHABLE


class HostKeyError(StorageError):
    """An SSH server's host key is not the one this computer knows (see the subclasses).

    ``host``, ``port``, ``key_type`` and ``fingerprint`` (``SHA256:…``, as OpenSSH shows
    it) say which key the server presented; ``key`` is that public key, for a caller that
    decides to trust it (:func:`therabak.storage.hostkeys.trust`)."""

    exit_code = ExitCode.HOST_KEY

    def __init__(
        self,
        message: str,
        *,
        host: str,
        port: int,
        key_type: str,
        fingerprint: str,
        key: object = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.host = host
        self.port = port
        self.key_type = key_type
        self.fingerprint = fingerprint
        self.key = key


class HostKeyUnknownError(HostKeyError):
    """The server's host key is in no known_hosts file: it must be trusted explicitly."""


class HostKeyChangedError(HostKeyError):
    """The server presents another key than the one known for it: refused, loudly."""


def check_name(name: str) -> str:
    """Return *name* if it is a valid object name, else raise :class:`StorageError`."""
    if (
        not isinstance(name, str)
        or not _NAME.fullmatch(name)
        or any(part in (".", "..") for part in name.split("/"))
    ):
        raise StorageError(_("invalid object name: {name!r}").format(name=name))
    return name


class PartialObject(Protocol):
    """An object being written piece by piece (:meth:`Storage.open_deferred`): not
    visible under any name until :meth:`publish`; :meth:`discard` leaves nothing."""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append *data* (all of it, or a :class:`StorageError`)."""

    def publish(self, name: str, *, durable: bool = False) -> None:
        """Give the complete object its name (``put_deferred``: durable at the next
        :meth:`Storage.sync`; an existing *name* raises :class:`ObjectExistsError`).
        *durable*: its bytes are made durable before it gets its name (a snapshot, the
        commit: never a name over bytes a power loss could still take away); the name
        itself is durable at the next :meth:`Storage.sync`."""

    def discard(self) -> None:
        """Drop what was written (no error: called while another is being handled)."""


class Storage(ABC):
    """A place that holds a backup store's files (see the module docstring for the rules)."""

    #: Where this is, for people: a path or a URL without credentials.
    location: str

    @abstractmethod
    def put(self, name: str, source: BinaryIO, size: int) -> None:
        """Write the immutable object *name* from *source* (*size* bytes, read from its
        current position; seekable, so an implementation may rewind it to retry)."""

    def put_bytes(self, name: str, data: bytes) -> None:
        import io

        self.put(name, io.BytesIO(data), len(data))

    #: How many puts a writer may have under way at once (threads): a local folder
    #: gains nothing from more than one; a remote destination hides its latency.
    puts_in_flight: int = 1
    #: :meth:`get` may be called from several threads at once (a restore stages several
    #: files at once only then).
    reads_in_parallel: bool = False
    #: A part of an object is read (:meth:`get` with an offset) without reading or
    #: fetching the rest: a backup reads its parent snapshot's body again when it
    #: commits, rather than holding it from its start (a local folder).
    cheap_partial_reads: bool = False

    def put_deferred(self, name: str, source: BinaryIO, size: int) -> None:
        """``put``, durable only after the next :meth:`sync` (see the module docstring)."""
        self.put(name, source, size)

    def open_deferred(self) -> PartialObject | None:
        """An object to write piece by piece and name when complete (see the module
        docstring), or None: this storage has none (the caller buffers the object and
        puts it with :meth:`put_deferred`)."""
        return None

    def sync(self, *, also: Iterable[str] = ()) -> None:  # noqa: B027 - durable at once
        """The durability barrier: every object put so far, and the objects *also* (put
        by another process that may not have made them durable), survive a power loss."""

    def drop_cache(self, name: str) -> None:  # noqa: B027 - only local storages cache
        """Forget what the computer caches of *name*, so the next read comes from the
        device (a verify after writing)."""

    @abstractmethod
    def replace(self, name: str, data: bytes) -> None:
        """Create or atomically replace the small mutable object *name*."""

    @abstractmethod
    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        """Read *length* bytes (to the end when ``None``) from *offset* of *name*."""

    def get_immutable(self, name: str, offset: int, length: int) -> bytes:
        """Like :meth:`get`, for an object that never changes once put (a pack): an
        implementation may keep it open between reads (:meth:`release_reads` closes it)."""
        return self.get(name, offset, length)

    def release_reads(self) -> None:  # noqa: B027 - optional for implementations
        """Close what :meth:`get_immutable` keeps open (reading again opens it again)."""

    @abstractmethod
    def size(self, name: str) -> int | None:
        """The size of *name* in bytes, or ``None`` when it does not exist."""

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object whose name starts with *prefix* (order unspecified)."""

    @abstractmethod
    def delete(self, name: str) -> None:
        """Remove *name*; a missing object is not an error."""

    def close(self) -> None:  # noqa: B027 - optional for implementations
        """Release connections; the storage is not used afterwards."""

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
