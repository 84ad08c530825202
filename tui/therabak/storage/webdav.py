"""A storage on a WebDAV server (Nextcloud, ownCloud, a NAS, Apache), via webdav4 (httpx).

Objects are files under the folder of the URL; ``/`` in a name is a subfolder (made with
MKCOL as needed). ``put`` uploads to ``.tmp/<random>.partial`` in that folder (streamed
from the source, ``Content-Length`` known), then MOVEs it under its final name with
``Overwrite: F``: the server refuses (412) when the name exists, so nothing is ever
overwritten and a reader never sees half an object. ``replace`` MOVEs with
``Overwrite: T`` (on servers that delete the old file before moving the new one in, the
name is missing for that moment; it is never half-written). Ranges are HTTP ``Range``
requests. Login: the user of the URL and the password (a Nextcloud app password) from the
credential store, sent as HTTP Basic authentication, so use ``webdavs://`` (HTTPS) for
anything but a server in the same building.
"""

from __future__ import annotations

import contextlib
import io
import posixpath
import secrets
import threading
from collections.abc import Iterator
from typing import BinaryIO

from therabak.i18n import N_, _
from therabak.storage.base import (
    CredentialsError,
    LocationMissingError,
    ObjectExistsError,
    ObjectInfo,
    ObjectNotFoundError,
    Storage,
    StorageError,
    StorageFullError,
    check_name,
)
from therabak.storage.network import (
    NetworkOptions,
    SourceSlice,
    TokenBucket,
    Transient,
    with_retries,
)

_TMP = ".tmp"


def _lib():
    """webdav4 and httpx, imported when a WebDAV storage is first used: httpx imports its
    command-line client whenever rich is installed (Textual brings it), and the engine
    imports nothing of the UI's libraries until it needs httpx (tests/test_architecture)."""
    import httpx
    import webdav4.client

    return httpx, webdav4.client


_TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504, 509})


class WebdavStorage(Storage):
    def __init__(
        self,
        base_url: str,
        *,
        user: str | None = None,
        password: str | None = None,
        options: NetworkOptions | None = None,
        location: str | None = None,
        verify: bool | str = True,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.location = location or self.base_url
        self.options = options or NetworkOptions()
        self._has_password = bool(password)
        _httpx, dav = _lib()
        self._dav = dav
        self._client = dav.Client(
            self.base_url,
            auth=(user, password) if user is not None and password is not None else None,
            retry=False,
            timeout=self.options.timeout_s,
            verify=verify,
            follow_redirects=False,
        )
        self._made: set[str] = set()
        self._root_checked = False
        self._lock = threading.RLock()
        self._bucket = TokenBucket(self.options.limit_upload) if self.options.limit_upload else None

    # ---- helpers ------------------------------------------------------------------

    def _translate(self, e: BaseException, name: str | None) -> StorageError | Transient:
        httpx, dav = _lib()
        what = name or self.location
        if isinstance(e, dav.ResourceNotFound):
            return ObjectNotFoundError(
                _("{name} is missing in {place}").format(name=what, place=self.location)
            )
        if isinstance(e, dav.InsufficientStorage):
            return StorageFullError(
                _("{place} is full (the server says: 507 Insufficient Storage)").format(
                    place=self.location
                )
            )
        if isinstance(e, dav.BadGatewayError):
            return Transient("HTTP 502")
        if isinstance(e, dav.HTTPError):
            status = e.status_code
            if status in (401, 403):
                how = (
                    _("the stored password was refused")
                    if self._has_password
                    else _("no password is stored")
                )
                return CredentialsError(
                    _(
                        "{place}: the server refused the login ({how}); store the password "
                        "with: therabak remote login {url}"
                    ).format(place=self.location, how=how, url=self.location)
                )
            if status in _TRANSIENT_STATUS:
                return Transient(f"HTTP {status}")
            return StorageError(
                _("{place}: the server refused the request for {name} (HTTP {status})").format(
                    place=self.location, name=what, status=status
                )
            )
        if isinstance(e, httpx.TimeoutException):
            return Transient(N_("timed out"))
        if isinstance(e, httpx.ConnectError):
            return Transient(N_("cannot connect"))
        if isinstance(e, httpx.TransportError | ConnectionError):
            return Transient(N_("connection dropped"))
        return StorageError(
            _("{place}: {name} failed ({error})").format(
                place=self.location, name=what, error=type(e).__name__
            )
        )

    def _call(self, operation: str, fn, name: str | None = None, before_retry=None):
        def attempt():
            with self._lock:
                self._check_root()
                return fn()

        return with_retries(
            attempt,
            translate=lambda e: self._translate(e, name),
            options=self.options,
            location=self.location,
            operation=operation,
            before_retry=before_retry,
        )

    def _check_root(self) -> None:
        if self._root_checked:
            return
        try:
            props = self._client.get_props("", name="resourcetype")
        except self._dav.ResourceNotFound:
            raise LocationMissingError(
                _("the folder {url} does not exist on the server; create it first").format(
                    url=self.location
                )
            ) from None
        if not props.collection:
            raise LocationMissingError(_("{url} is not a folder").format(url=self.location))
        self._root_checked = True

    def _mkdirs(self, folder: str) -> None:
        if not folder or folder in self._made:
            return
        parent = posixpath.dirname(folder)
        if parent:
            self._mkdirs(parent)
        try:
            self._client.mkdir(folder)
        except self._dav.ResourceAlreadyExists:
            pass
        except self._dav.ResourceConflict:  # the parent vanished meanwhile: once more from the top
            self._made.clear()
            raise
        self._made.add(folder)

    # ---- the interface ------------------------------------------------------------

    def size(self, name: str) -> int | None:
        path = check_name(name)

        def size():
            try:
                props = self._client.get_props(path)
            except self._dav.ResourceNotFound:
                return None
            if props.collection:
                return None
            return int(props.content_length or 0)

        return self._call("size", size, name)

    def put(self, name: str, source: BinaryIO, size: int) -> None:
        path = check_name(name)
        start = source.tell()
        tries = [0]

        def put():
            tries[0] += 1
            existing = self.size(name) if tries[0] > 1 else self._size_once(path)
            if existing is not None:
                if tries[0] > 1 and existing == size:
                    return  # our earlier try got there; its answer was lost
                raise ObjectExistsError(_("{name} exists already").format(name=name))
            tmp = self._upload_temporary(source, start, size, path)
            try:
                self._client.move(tmp, path, overwrite=False)
            except BaseException as e:
                # moved, the temporary name is gone (no request to remove it); not moved, it goes
                with contextlib.suppress(Exception):
                    self._client.remove(tmp)
                if isinstance(e, self._dav.ResourceAlreadyExists):
                    raise ObjectExistsError(_("{name} exists already").format(name=name)) from None
                raise

        self._call("put", put, name)

    def _size_once(self, path: str) -> int | None:
        try:
            props = self._client.get_props(path)
        except self._dav.ResourceNotFound:
            return None
        return None if props.collection else int(props.content_length or 0)

    def _upload_temporary(self, source: BinaryIO, start: int, size: int, path: str) -> str:
        self._mkdirs(posixpath.dirname(path))
        self._mkdirs(_TMP)
        tmp = f"{_TMP}/{secrets.token_hex(8)}.partial"
        body = SourceSlice(source, start, size, self._bucket)
        try:
            self._client.upload_fileobj(body, tmp, overwrite=True, size=size)
        except BaseException:
            with contextlib.suppress(Exception):
                self._client.remove(tmp)
            raise
        return tmp

    def replace(self, name: str, data: bytes) -> None:
        path = check_name(name)

        def replace():
            tmp = self._upload_temporary(io.BytesIO(data), 0, len(data), path)
            try:
                self._client.move(tmp, path, overwrite=True)
            except BaseException:
                with contextlib.suppress(Exception):
                    self._client.remove(tmp)
                raise

        self._call("replace", replace, name)

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        path = check_name(name)
        if length is not None and length <= 0:
            if self.size(name) is None:
                raise ObjectNotFoundError(
                    _("{name} is missing in {place}").format(name=name, place=self.location)
                )
            return b""
        end = "" if length is None else str(offset + length - 1)

        def get():
            # streamed: a buffered httpx response sits in a reference cycle until the
            # cyclic collector runs, so each range read would stay in memory a while
            dav = self._dav
            url = self._client.join_url(path)
            headers = {"Range": f"bytes={offset}-{end}"}
            with self._client.http.stream("GET", url, headers=headers) as response:
                status = response.status_code
                if status == 416:  # starts at or past the end: nothing there
                    return b""
                if status == 404:
                    raise dav.ResourceNotFound(path)
                if status >= 400:
                    response.read()
                    if status == 507:
                        raise dav.InsufficientStorage(path)
                    raise dav.HTTPError(response)
                data = bytearray()
                for chunk in response.iter_bytes():
                    data += chunk
            if status == 200:  # the server ignored the Range: the whole object came
                return bytes(data[offset : None if length is None else offset + length])
            return bytes(data)

        return self._call("get", get, name)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        def walk() -> list[ObjectInfo]:
            found: list[ObjectInfo] = []

            def visit(folder: str, rel: str) -> None:
                try:
                    entries = self._client.ls(folder, detail=True, allow_listing_resource=False)
                except (self._dav.ResourceNotFound, self._dav.IsAResourceError):
                    return  # not there, or an object where the prefix names a folder
                for entry in entries:
                    base = posixpath.basename(str(entry["name"]).rstrip("/"))
                    if not base or base.startswith("."):
                        continue
                    name = f"{rel}{base}"
                    if entry.get("type") == "directory":
                        if prefix.startswith(name + "/") or name.startswith(prefix):
                            visit(name, name + "/")
                    elif name.startswith(prefix):
                        found.append(ObjectInfo(name, int(entry.get("content_length") or 0)))

            # from the deepest folder the prefix names whole: not one PROPFIND per folder
            # above it on every listing (a hidden folder is never listed: from the top then)
            start = prefix.rpartition("/")[0]
            if start and all(part and not part.startswith(".") for part in start.split("/")):
                visit(start, start + "/")
            else:
                visit("", "")
            return found

        yield from self._call("list", walk)

    def delete(self, name: str) -> None:
        path = check_name(name)

        def delete():
            try:
                self._client.remove(path)
            except self._dav.ResourceNotFound:
                return

        self._call("delete", delete, name)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._client.http.close()

    # ---- WebDAV only ------------------------------------------------------------------

    def clean_temporary(self) -> int:
        """Remove what interrupted uploads left in ``.tmp/``; returns how many files."""

        def clean() -> int:
            try:
                entries = self._client.ls(_TMP, detail=True)
            except self._dav.ResourceNotFound:
                return 0
            removed = 0
            for entry in entries:
                base = posixpath.basename(str(entry["name"]).rstrip("/"))
                if base.endswith(".partial"):
                    with contextlib.suppress(Exception):
                        self._client.remove(f"{_TMP}/{base}")
                        removed += 1
            return removed

        return self._call("clean", clean)
