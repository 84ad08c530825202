"""Putting one immutable object into a store's storage, with the failpoints of a
destination write, handing a buffer to the storage without copying it, or writing an
object piece by piece where the storage can (:class:`StreamedObject`)."""

from __future__ import annotations

from therabak import faults
from therabak.i18n import _
from therabak.storage.base import PartialObject, Storage
from therabak.store.errors import StoreFullError


def put_object(
    storage: Storage,
    name: str,
    data: bytes | bytearray | memoryview,
    written: list[int],
    *,
    durable: bool = True,
) -> None:
    """Put an immutable object, with the failpoints of a destination write
    (``crash-after-bytes``, ``enospc-after``) counted over everything this process put.
    Not *durable*: durable after the next ``storage.sync()`` (the packs of a backup)."""
    try:
        faults.before_write(written[0], len(data))
    except OSError as e:
        raise StoreFullError(
            _("Not enough space in {place} to write {name}: {reason}").format(
                place=storage.location, name=name, reason=e.strerror
            )
        ) from None
    if isinstance(data, bytearray | memoryview):
        put = storage.put if durable else storage.put_deferred
        put(name, BufferFile(data), len(data))
    elif durable:
        storage.put_bytes(name, data)
    else:
        import io

        storage.put_deferred(name, io.BytesIO(data), len(data))
    written[0] += len(data)


class StreamedObject:
    """An object written piece by piece (``Storage.open_deferred``: a pack as it fills),
    with the failpoints of a destination write before each piece, as :func:`put_object`
    has them before a whole object. The bytes count into *written* as they go."""

    __slots__ = ("_partial", "_storage", "_what", "_written", "size")

    def __init__(
        self, storage: Storage, partial: PartialObject, written: list[int], what: str = "packs/"
    ) -> None:
        self._storage = storage
        self._partial = partial
        self._written = written
        self._what = what  # what is written, for a message ("packs/", "snapshots/")
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        n = len(data)
        try:
            faults.before_write(self._written[0], n)
        except OSError as e:
            raise StoreFullError(
                _("Not enough space in {place} to write {name}: {reason}").format(
                    place=self._storage.location, name=self._what, reason=e.strerror
                )
            ) from None
        self._partial.write(data)
        self._written[0] += n
        self.size += n

    def publish(self, name: str, *, durable: bool = False) -> None:
        """Durable after the next ``storage.sync()`` (*durable*: its bytes before its name,
        see ``PartialObject.publish``)."""
        self._partial.publish(name, durable=durable)

    def discard(self) -> None:
        self._partial.discard()


class BufferFile:
    """A read-only, seekable file over a buffer, without copying it (a pack of 16 MiB
    is handed to the storage as it is)."""

    def __init__(self, data: bytearray | memoryview) -> None:
        self._view = memoryview(data)
        self._pos = 0

    def read(self, n: int = -1) -> bytes:
        end = len(self._view) if n is None or n < 0 else min(len(self._view), self._pos + n)
        out = bytes(self._view[self._pos : end])
        self._pos = end
        return out

    def readinto(self, buf) -> int:
        n = min(len(buf), len(self._view) - self._pos)
        buf[:n] = self._view[self._pos : self._pos + n]
        self._pos += n
        return n

    def seek(self, pos: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: len(self._view)}[whence]
        self._pos = max(0, min(len(self._view), base + pos))
        return self._pos

    def tell(self) -> int:
        return self._pos

    def getbuffer(self) -> memoryview:
        """The whole buffer (a local storage writes it from there, without copies)."""
        return self._view

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True
