"""A storage on an SSH server (a NAS, a hosted storage box), via paramiko's SFTP client.

Objects are files under the folder of the URL; ``/`` in a name is a subfolder. ``put``
writes to ``.tmp/<random>.partial`` in that folder, then renames it under its final name
with the plain SFTP rename, which never replaces an existing file (OpenSSH's server links
the file into place and fails when the name exists); ``replace`` uses OpenSSH's
``posix-rename`` extension, which does. A crash leaves at most a file in ``.tmp/``, which
``list`` never shows and :meth:`SftpStorage.clean_temporary` removes.

Login: the keys of the user's SSH agent and ``~/.ssh`` (``id_ed25519``, ``id_ecdsa``,
``id_rsa``), then a password from the credential store if one is stored. The server's
host key must be known (:mod:`therabak.storage.hostkeys`). A dropped connection is opened
again by the next try.
"""

from __future__ import annotations

import contextlib
import errno
import io
import posixpath
import secrets
import socket
import stat
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import paramiko
from paramiko import sftp as sftp_protocol

from therabak.i18n import N_, _
from therabak.storage.base import (
    CredentialsError,
    HostKeyChangedError,
    HostKeyUnknownError,
    LocationMissingError,
    ObjectExistsError,
    ObjectInfo,
    ObjectNotFoundError,
    Storage,
    StorageError,
    StorageFullError,
    check_name,
)
from therabak.storage.hostkeys import KnownHosts, fingerprint, host_entry_name, load_into
from therabak.storage.network import NetworkOptions, TokenBucket, Transient, with_retries

_TMP = ".tmp"
_CHUNK = 32768 * 8


class _RefuseUnknown(paramiko.MissingHostKeyPolicy):
    """paramiko's hook for a server in no known_hosts file: refuse, with the fingerprint."""

    def __init__(self, host: str, port: int, known: KnownHosts) -> None:
        self.host, self.port, self.known = host, port, known

    def missing_host_key(self, client, hostname, key) -> None:
        raise HostKeyUnknownError(
            _(
                "{host} is not a known SSH server; its host key is {kind} {fingerprint}. "
                "Compare it with what the server's owner says, then trust it with: "
                "therabak remote trust URL"
            ).format(
                host=host_entry_name(self.host, self.port),
                kind=key.get_name(),
                fingerprint=fingerprint(key),
            ),
            host=self.host,
            port=self.port,
            key_type=key.get_name(),
            fingerprint=fingerprint(key),
            key=key,
        )


class SftpStorage(Storage):
    def __init__(
        self,
        host: str,
        root: str,
        *,
        user: str,
        port: int = 22,
        password: str | None = None,
        key_files: Sequence[Path] = (),
        look_for_keys: bool = True,
        allow_agent: bool = True,
        known_hosts: KnownHosts | None = None,
        options: NetworkOptions | None = None,
        location: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.user = user
        self.root = root.rstrip("/") or "/"
        self.location = location or f"sftp://{user}@{host}:{port}{self.root}"
        self.options = options or NetworkOptions()
        self.known_hosts = known_hosts or KnownHosts.default()
        self._password = password
        self._key_files = [str(p) for p in key_files]
        self._look_for_keys = look_for_keys
        self._allow_agent = allow_agent
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._lock = threading.RLock()
        self._made: set[str] = set()
        self._bucket = TokenBucket(self.options.limit_upload) if self.options.limit_upload else None

    # ---- the connection -------------------------------------------------------------

    def _connect(self) -> paramiko.SFTPClient:
        if self._sftp is not None:
            return self._sftp
        client = paramiko.SSHClient()
        load_into(client, self.known_hosts)
        client.set_missing_host_key_policy(_RefuseUnknown(self.host, self.port, self.known_hosts))
        try:
            client.connect(
                self.host,
                self.port,
                username=self.user,
                password=self._password,
                key_filename=self._key_files or None,
                look_for_keys=self._look_for_keys,
                allow_agent=self._allow_agent,
                timeout=self.options.timeout_s,
                banner_timeout=self.options.timeout_s,
                auth_timeout=self.options.timeout_s,
                channel_timeout=self.options.timeout_s,
            )
            sftp = client.open_sftp()
            sftp.get_channel().settimeout(self.options.timeout_s)
        except BaseException:
            client.close()
            raise
        self._client, self._sftp = client, sftp
        return sftp

    def _disconnect(self) -> None:
        sftp, client = self._sftp, self._client
        self._sftp = self._client = None
        self._made.clear()
        for thing in (sftp, client):
            if thing is not None:
                with contextlib.suppress(Exception):
                    thing.close()

    def close(self) -> None:
        with self._lock:
            self._disconnect()

    def _translate(self, e: BaseException, name: str | None) -> StorageError | Transient:
        what = name or self.root
        if isinstance(e, paramiko.BadHostKeyException):
            known = ", ".join(str(p) for p in self.known_hosts.read if p.is_file())
            return HostKeyChangedError(
                _(
                    "WARNING: the host key of {host} has CHANGED (it is now {kind} "
                    "{fingerprint}, known was {known_fingerprint}). Someone may be "
                    "intercepting the connection, or the server was set up anew. therabak "
                    "refuses to connect. Only if its owner confirms the new key: remove the "
                    "old one from {files} and trust the new one."
                ).format(
                    host=host_entry_name(self.host, self.port),
                    kind=e.key.get_name(),
                    fingerprint=fingerprint(e.key),
                    known_fingerprint=fingerprint(e.expected_key),
                    files=known or "known_hosts",
                ),
                host=self.host,
                port=self.port,
                key_type=e.key.get_name(),
                fingerprint=fingerprint(e.key),
                key=e.key,
            )
        if isinstance(e, paramiko.AuthenticationException):
            how = (
                _("the stored password was refused")
                if self._password
                else _("no key of the SSH agent or ~/.ssh was accepted and no password is stored")
            )
            return CredentialsError(
                _(
                    "{place}: the server refused the login ({how}); store a password with: "
                    "therabak remote login {url}"
                ).format(place=self.location, how=how, url=self.location)
            )
        if isinstance(e, FileNotFoundError) or (isinstance(e, OSError) and e.errno == errno.ENOENT):
            return ObjectNotFoundError(
                _("{name} is missing in {place}").format(name=what, place=self.location)
            )
        if isinstance(e, PermissionError) or (isinstance(e, OSError) and e.errno == errno.EACCES):
            return StorageError(
                _("{place}: permission denied for {name}").format(place=self.location, name=what)
            )
        if isinstance(e, socket.timeout | TimeoutError):
            return Transient(N_("timed out"))
        if isinstance(e, paramiko.ssh_exception.NoValidConnectionsError):
            return Transient(N_("connection refused"))
        if isinstance(e, ConnectionError | EOFError | paramiko.SSHException | socket.error):
            if (
                isinstance(e, OSError)
                and e.errno is None
                and not isinstance(e, ConnectionError)
                and self._alive()
            ):
                # an SFTP status (no errno): the server refused the operation
                return StorageError(
                    _("{place}: the server refused {name} ({error})").format(
                        place=self.location, name=what, error=e
                    )
                )
            return Transient(N_("connection dropped"))
        return StorageError(
            _("{place}: {name} failed ({error})").format(
                place=self.location, name=what, error=type(e).__name__
            )
        )

    def _alive(self) -> bool:
        transport = self._client.get_transport() if self._client is not None else None
        return transport is not None and transport.is_active()

    def _call(self, operation: str, fn, name: str | None = None):
        def attempt():
            with self._lock:
                return fn(self._connect())

        return with_retries(
            attempt,
            translate=lambda e: self._translate(e, name),
            options=self.options,
            location=self.location,
            operation=operation,
            before_retry=self._after_failure,
        )

    def _after_failure(self) -> None:
        with self._lock:
            self._disconnect()

    # ---- paths ------------------------------------------------------------------------

    def _path(self, name: str) -> str:
        return posixpath.join(self.root, check_name(name))

    def _check_root(self, sftp: paramiko.SFTPClient) -> None:
        if self.root in self._made:
            return
        try:
            st = sftp.stat(self.root)
        except FileNotFoundError:
            raise LocationMissingError(
                _("the folder {path} does not exist on {host}; create it first").format(
                    path=self.root, host=self.host
                )
            ) from None
        if not stat.S_ISDIR(st.st_mode or 0):
            raise LocationMissingError(
                _("{path} on {host} is not a folder").format(path=self.root, host=self.host)
            )
        self._made.add(self.root)

    def _mkdirs(self, sftp: paramiko.SFTPClient, folder: str) -> None:
        self._check_root(sftp)
        if folder in self._made or folder == self.root:
            return
        parent = posixpath.dirname(folder)
        if parent != folder and len(parent) >= len(self.root):
            self._mkdirs(sftp, parent)
        try:
            sftp.mkdir(folder, 0o700)
        except OSError:
            st = sftp.stat(folder)  # made by another writer, or there already
            if not stat.S_ISDIR(st.st_mode or 0):
                raise
        self._made.add(folder)

    # ---- the interface ------------------------------------------------------------

    def size(self, name: str) -> int | None:
        path = self._path(name)

        def size(sftp):
            self._check_root(sftp)
            try:
                st = sftp.stat(path)
            except FileNotFoundError:
                return None
            return st.st_size if stat.S_ISREG(st.st_mode or 0) else None

        return self._call("size", size, name)

    def put(self, name: str, source: BinaryIO, size: int) -> None:
        final = self._path(name)
        start = source.tell()
        tries = [0]

        def put(sftp):
            tries[0] += 1
            self._check_root(sftp)
            try:
                sftp.stat(final)
            except FileNotFoundError:
                pass
            else:
                if tries[0] > 1 and sftp.stat(final).st_size == size:
                    return  # our earlier try got there; its answer was lost
                raise ObjectExistsError(_("{name} exists already").format(name=name))
            tmp = self._upload_temporary(sftp, source, start, size, name)
            try:
                sftp.rename(tmp, final)
            except OSError:
                exists = True
                try:
                    sftp.stat(final)
                except FileNotFoundError:
                    exists = False
                if exists:
                    raise ObjectExistsError(_("{name} exists already").format(name=name)) from None
                raise
            finally:
                with contextlib.suppress(Exception):
                    sftp.remove(tmp)

        self._call("put", put, name)

    def _upload_temporary(
        self, sftp: paramiko.SFTPClient, source: BinaryIO, start: int, size: int, name: str
    ) -> str:
        final = self._path(name)
        self._mkdirs(sftp, posixpath.dirname(final))
        folder = posixpath.join(self.root, _TMP)
        self._mkdirs(sftp, folder)
        tmp = posixpath.join(folder, f"{secrets.token_hex(8)}.partial")
        source.seek(start)
        written = 0
        try:
            with sftp.open(tmp, "wb") as f:
                f.set_pipelined(True)
                while written < size:
                    chunk = source.read(min(_CHUNK, size - written))
                    if not chunk:
                        raise StorageError(_("the source ended before its size"))
                    if self._bucket is not None:
                        self._bucket.take(len(chunk))
                    f.write(chunk)
                    written += len(chunk)
            # close() waited for every write's answer; the size says all arrived
            arrived = sftp.stat(tmp).st_size or 0
            if arrived != size:
                if self._no_space(sftp, size - arrived):
                    raise self._full(name)
                raise StorageError(
                    _("{place}: {name} arrived incomplete").format(place=self.location, name=name)
                )
        except OSError as e:
            with contextlib.suppress(Exception):
                sftp.remove(tmp)
            if e.errno is None and self._no_space(sftp, size - written):
                raise self._full(name) from None
            raise
        except BaseException:
            with contextlib.suppress(Exception):
                sftp.remove(tmp)
            raise
        return tmp

    def _full(self, name: str) -> StorageFullError:
        return StorageFullError(
            _("{place} is full: no space for {name}").format(place=self.location, name=name)
        )

    def _no_space(self, sftp: paramiko.SFTPClient, needed: int) -> bool:
        """After a write the server refused without saying why (SFTP v3 has no "disk
        full" status): does OpenSSH's ``statvfs@openssh.com`` show less room than needed?"""
        try:
            kind, msg = sftp._request(sftp_protocol.CMD_EXTENDED, "statvfs@openssh.com", self.root)
            values = [msg.get_int64() for _field in range(11)]
        except Exception:
            return False
        frsize, bavail = values[1], values[4]
        return frsize * bavail < max(needed, 1) + 65536

    def replace(self, name: str, data: bytes) -> None:
        final = self._path(name)

        def replace(sftp):
            tmp = self._upload_temporary(sftp, io.BytesIO(data), 0, len(data), name)
            try:
                sftp.posix_rename(tmp, final)
            finally:
                with contextlib.suppress(Exception):
                    sftp.remove(tmp)

        self._call("replace", replace, name)

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        path = self._path(name)

        def get(sftp):
            self._check_root(sftp)
            with sftp.open(path, "rb") as f:
                total = f.stat().st_size
                n = total - offset if length is None else min(length, total - offset)
                if n <= 0:
                    return b""
                return b"".join(f.readv([(offset, n)]))

        return self._call("get", get, name)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        def walk(sftp) -> list[ObjectInfo]:
            self._check_root(sftp)
            found: list[ObjectInfo] = []

            def visit(folder: str, rel: str) -> None:
                try:
                    entries = sftp.listdir_attr(folder)
                except FileNotFoundError:
                    return
                for entry in entries:
                    if entry.filename.startswith("."):
                        continue
                    name = f"{rel}{entry.filename}"
                    mode = entry.st_mode or 0
                    if stat.S_ISDIR(mode):
                        if prefix.startswith(name + "/") or name.startswith(prefix):
                            visit(posixpath.join(folder, entry.filename), name + "/")
                    elif stat.S_ISREG(mode) and name.startswith(prefix):
                        found.append(ObjectInfo(name, entry.st_size or 0))

            visit(self.root, "")
            return found

        yield from self._call("list", walk)

    def delete(self, name: str) -> None:
        path = self._path(name)

        def delete(sftp):
            try:
                sftp.remove(path)
            except FileNotFoundError:
                return

        self._call("delete", delete, name)

    # ---- SFTP only --------------------------------------------------------------------

    def clean_temporary(self) -> int:
        """Remove what interrupted uploads left in ``.tmp/``; returns how many files."""
        folder = posixpath.join(self.root, _TMP)

        def clean(sftp) -> int:
            try:
                entries = sftp.listdir(folder)
            except FileNotFoundError:
                return 0
            removed = 0
            for entry in entries:
                if entry.endswith(".partial"):
                    with contextlib.suppress(OSError):
                        sftp.remove(posixpath.join(folder, entry))
                        removed += 1
            return removed

        return self._call("clean", clean)

    def server_key(self) -> paramiko.PKey:
        """The host key the server presents now (no login, no check): for the question
        whether to trust it."""
        try:
            with socket.create_connection((self.host, self.port), self.options.timeout_s) as sock:
                transport = paramiko.Transport(sock)
                try:
                    transport.start_client(timeout=self.options.timeout_s)
                    return transport.get_remote_server_key()
                finally:
                    transport.close()
        except (OSError, paramiko.SSHException, EOFError) as e:
            verdict = self._translate(e, None)
            if isinstance(verdict, Transient):
                from therabak.storage.base import UnreachableError

                raise UnreachableError(
                    _("{place}: no answer ({reason})").format(
                        place=self.location, reason=_(verdict.reason)
                    )
                ) from None
            raise verdict from None
