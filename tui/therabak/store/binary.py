"""Reading the store's binary records from untrusted bytes: every read is bounds-checked.

A record that ends early, holds bytes after its end or a count beyond its limit raises
:class:`~therabak.store.errors.DamagedStoreError` naming the object, never an
``IndexError`` or ``struct.error``.
"""

from __future__ import annotations

import struct

from therabak.i18n import _
from therabak.store.errors import DamagedStoreError

_U16 = struct.Struct(">H")
_I16 = struct.Struct(">h")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_I64 = struct.Struct(">q")


class Reader:
    """Consumes *data* front to back; *name* says which object it is (for messages)."""

    __slots__ = ("_data", "_pos", "name")

    def __init__(self, data: bytes | memoryview, name: str) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self.name = name

    def damaged(self, what: str) -> DamagedStoreError:
        return DamagedStoreError(
            _("{name} is damaged ({what}).").format(name=self.name, what=what), name=self.name
        )

    @property
    def pos(self) -> int:
        return self._pos

    @property
    def left(self) -> int:
        return len(self._data) - self._pos

    def take(self, n: int) -> bytes:
        if n < 0 or self._pos + n > len(self._data):
            raise self.damaged(_("cut short"))
        out = bytes(self._data[self._pos : self._pos + n])
        self._pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return _U16.unpack(self.take(2))[0]

    def i16(self) -> int:
        return _I16.unpack(self.take(2))[0]

    def u32(self) -> int:
        return _U32.unpack(self.take(4))[0]

    def u64(self) -> int:
        return _U64.unpack(self.take(8))[0]

    def i64(self) -> int:
        return _I64.unpack(self.take(8))[0]

    def count(self, limit: int, size: int, what: str) -> int:
        """A 4-byte count of records of *size* bytes each, at most *limit* and no more
        than the bytes left can hold (so a crafted count allocates nothing)."""
        n = self.u32()
        if n > limit or n * size > self.left:
            raise self.damaged(what)
        return n

    def end(self) -> None:
        if self._pos != len(self._data):
            raise self.damaged(_("bytes after the end"))


def u16(n: int) -> bytes:
    return _U16.pack(n)


def i16(n: int) -> bytes:
    return _I16.pack(n)


def u32(n: int) -> bytes:
    return _U32.pack(n)


def u64(n: int) -> bytes:
    return _U64.pack(n)


def i64(n: int) -> bytes:
    return _I64.pack(n)
