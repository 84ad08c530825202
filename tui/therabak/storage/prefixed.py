"""A folder inside a storage, as a storage of its own (``TheraPsy-Backups`` in a
destination).

The destination's own folder (an SFTP or WebDAV folder, an S3 prefix) must exist: a
missing one is a typo or a server that changed, and is said (exit 9). The folder of the
backup store below it is made as needed, as every folder of an object's name is: so a
store in ``sftp://nas/backups`` lives in ``backups/TheraPsy-Backups/…`` through the one
connection to ``backups``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from therabak.storage.base import ObjectInfo, Storage, check_name


class PrefixedStorage(Storage):
    """The objects of *inner* whose names start with ``folder/``, without that start."""

    def __init__(self, inner: Storage, folder: str) -> None:
        self.inner = inner
        self.prefix = check_name(folder.strip("/")) + "/"
        self.location = f"{inner.location.rstrip('/')}/{folder.strip('/')}"

    def _name(self, name: str) -> str:
        return self.prefix + check_name(name)

    def put(self, name: str, source: BinaryIO, size: int) -> None:
        self.inner.put(self._name(name), source, size)

    def replace(self, name: str, data: bytes) -> None:
        self.inner.replace(self._name(name), data)

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        return self.inner.get(self._name(name), offset, length)

    def get_immutable(self, name: str, offset: int, length: int) -> bytes:
        return self.inner.get_immutable(self._name(name), offset, length)

    def release_reads(self) -> None:
        self.inner.release_reads()

    def size(self, name: str) -> int | None:
        return self.inner.size(self._name(name))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        cut = len(self.prefix)
        for obj in self.inner.list(self.prefix + prefix):
            yield ObjectInfo(obj.name[cut:], obj.size)

    def delete(self, name: str) -> None:
        self.inner.delete(self._name(name))

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, attr: str):
        # what a kind of storage has beyond the interface (options, known_hosts, ...)
        if attr == "inner":
            raise AttributeError(attr)
        return getattr(self.inner, attr)
