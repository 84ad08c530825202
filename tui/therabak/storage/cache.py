"""A local copy of a remote store's snapshots and index files, so that a backup (or a
listing) asks the server only for what is new.

Finding a store's newest snapshot reads the header of every snapshot; a backup reads the
index files: one request each, every time, growing with every backup. Both kinds of
object are immutable and named after the SHA-256 of their bytes (``snapshots/<64 hex>``,
``index/<64 hex>``), so a copy on this computer can be checked against its name every
time it is used: a copy that does not match is thrown away and fetched again, never
trusted. They are sealed as they are in the store (the same bytes): the copy tells nobody
more than the store does. Objects that the store no longer lists (forgotten, pruned) are
removed from the copy when their folder is listed.

Where: ``<state dir>/cache/<16 hex of the store's location>/`` (files 0600, folders 0700).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from therabak.fsutil import create_private
from therabak.settings import state_dir
from therabak.storage.base import ObjectInfo, Storage

#: Folders of objects named after their content's SHA-256.
CACHED = ("snapshots/", "index/")
_NAME = re.compile(r"(snapshots|index)/([0-9a-f]{64})")


def cache_folder(location: str) -> Path:
    digest = hashlib.sha256(location.encode("utf-8")).hexdigest()[:16]
    return state_dir() / "cache" / digest


class CachedStorage(Storage):
    """*inner*, with a checked local copy of its content-named objects (see the module)."""

    def __init__(self, inner: Storage, folder: Path | None = None) -> None:
        self.inner = inner
        self.location = inner.location
        self.folder = folder or cache_folder(inner.location)
        self.hits = 0  # objects served from the copy (for tests and benchmarks)

    # ---- the copy -----------------------------------------------------------------------

    def _path(self, name: str) -> Path | None:
        m = _NAME.fullmatch(name)
        return self.folder / m.group(1) / m.group(2) if m else None

    def _cached(self, name: str, path: Path) -> bytes | None:
        try:
            data = path.read_bytes()
        except OSError:
            return None
        if hashlib.sha256(data).hexdigest() != name.rsplit("/", 1)[1]:
            with contextlib.suppress(OSError):
                path.unlink()  # changed on this disk: never trusted, fetched again
            return None
        return data

    def _keep(self, path: Path, data: bytes | memoryview) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
            fd = create_private(tmp)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError, UnboundLocalError):
                tmp.unlink()

    # ---- the interface ------------------------------------------------------------------

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        path = self._path(name)
        if path is None:
            return self.inner.get(name, offset, length)
        data = self._cached(name, path)
        if data is not None:
            self.hits += 1
        else:
            data = self.inner.get(name)
            if hashlib.sha256(data).hexdigest() == name.rsplit("/", 1)[1]:
                self._keep(path, data)  # (a damaged object is left to the store to say)
        end = len(data) if length is None else offset + length
        return data[offset:end]

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        folder = next((p for p in CACHED if prefix == p), None)
        if folder is None:
            yield from self.inner.list(prefix)
            return
        seen: set[str] = set()
        for obj in self.inner.list(prefix):
            seen.add(obj.name)
            yield obj
        # listed completely: copies of objects the store no longer has go
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.folder / folder.rstrip("/")):
                if f"{folder}{entry.name}" not in seen:
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)

    def delete(self, name: str) -> None:
        self.inner.delete(name)
        path = self._path(name)
        if path is not None:
            with contextlib.suppress(OSError):
                path.unlink()

    def put(self, name: str, source: BinaryIO, size: int) -> None:
        """``put``, kept here when it is a snapshot or an index file, like
        :meth:`put_bytes` (a snapshot comes as a buffer: its bytes are read back from it,
        without a copy where the source lends them, ``getbuffer``)."""
        self.inner.put(name, source, size)
        path = self._path(name)
        if path is None:  # a pack: never read here
            return
        with contextlib.suppress(OSError, ValueError):
            lend = getattr(source, "getbuffer", None)
            if lend is not None:
                data = lend()
            else:
                source.seek(0)
                data = source.read()
            if hashlib.sha256(data).hexdigest() == name.rsplit("/", 1)[1]:
                self._keep(path, data)  # what this computer wrote need not come back

    def put_bytes(self, name: str, data: bytes) -> None:
        self.inner.put_bytes(name, data)
        path = self._path(name)
        if path is not None and hashlib.sha256(data).hexdigest() == name.rsplit("/", 1)[1]:
            self._keep(path, data)  # what this computer wrote need not come back

    def put_deferred(self, name: str, source: BinaryIO, size: int) -> None:
        """``put_deferred`` (a backup's index files: durable at its barrier), kept here
        like :meth:`put_bytes` when it is a snapshot or an index file (small objects)."""
        path = self._path(name)
        if path is None:  # a pack: passed on as it is, never read here
            self.inner.put_deferred(name, source, size)
            return
        data = source.read()
        self.inner.put_deferred(name, io.BytesIO(data), len(data))
        if hashlib.sha256(data).hexdigest() == name.rsplit("/", 1)[1]:
            self._keep(path, data)  # what this computer wrote need not come back

    def replace(self, name: str, data: bytes) -> None:
        self.inner.replace(name, data)

    def size(self, name: str) -> int | None:
        return self.inner.size(name)

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, attr: str):
        if attr == "inner":
            raise AttributeError(attr)
        return getattr(self.inner, attr)
