"""Checking an envelope as it is written: the sealed bytes opened again in memory.

A restore seals each file again with this computer's account key (:class:`EnvelopeWriter`).
:class:`SealCheck` sits between the writer and the file: every byte the writer hands on
passes through it, is parsed (the header: magic, this account's key id, chunk size) and
opened chunk by chunk with the account key, exactly as the practice app will open the
file (the STREAM's order and last-chunk flag included), and the plaintext that comes out
is compared byte for byte with the plaintext that went in (:meth:`SealCheck.expect`).
:meth:`SealCheck.finish` then requires the stream to be complete and nothing expected to
be left over. So a sealer that flips, drops, adds or reorders a byte, seals with another
key or leaves the stream unfinished is caught before the file counts as staged, without
reading the file back. What it cannot see is what happens below the write call (the
file system, the page cache, the disk): the caller checks the size on disk, and only a
read from the device (not the page cache) would catch a failing disk.

Memory: at most one sealed chunk and the plaintext not yet matched (about one chunk).
"""

from __future__ import annotations

from typing import BinaryIO

from therabak.crypto.stream import TAG_SIZE, StreamOpener
from therabak.errors import DecryptionError
from therabak.practice.account import AccountKey
from therabak.practice.envelope import HEADER_SIZE, check_key, parse_header


class SealCheckFailed(Exception):
    """The sealed bytes do not open to the plaintext that went in (an internal error:
    the caller says what it means for the user)."""


class SealCheck:
    """A file-like sink for :class:`EnvelopeWriter`: checks, then passes the bytes on to
    *out*. Feed it the plaintext with :meth:`expect` before the writer gets it; call
    :meth:`finish` after the writer's ``close()``."""

    __slots__ = (
        "_out",
        "_key",
        "_known",
        "_head",
        "_opener",
        "_block",
        "_held",
        "_partial",
        "_expected",
    )

    def __init__(self, out: BinaryIO, key: AccountKey) -> None:
        self._out = out
        self._key = key
        self._known: tuple[bytes, bytes] | None = None  # (header, its file key)
        self._head = bytearray()  # the header, until it is whole
        self._opener: StreamOpener | None = None
        self._block = 0  # a sealed chunk's size (chunk size + tag)
        self._held: bytes | None = None  # a whole sealed chunk: last or not is not known yet
        self._partial = bytearray()  # a sealed chunk being collected
        self._expected = bytearray()  # plaintext that went in and has not come out yet

    def know_key(self, header: bytes, file_key: bytes) -> None:
        """The file key the writer derived for *header*: used when exactly those header
        bytes come through (a key derivation less per file); any other header's key is
        derived here from the bytes that came through."""
        self._known = (bytes(header), file_key)

    def expect(self, plain: bytes | bytearray | memoryview) -> None:
        """Plaintext the writer is about to seal (in order)."""
        self._expected += plain

    def write(self, data: bytes | bytearray | memoryview) -> int:
        n = len(data)
        self._take(memoryview(data))
        self._out.write(data)
        return n

    def finish(self) -> None:
        """The writer has closed: the stream must end here, with its last chunk, and every
        byte that went in must have come out."""
        if self._opener is None:
            raise SealCheckFailed("no envelope header was written")
        if self._partial:  # a shorter chunk is the last one
            if self._held is not None:
                self._open(self._held, last=False)
                self._held = None
            self._open(bytes(self._partial), last=True)
            self._partial.clear()
        elif self._held is not None:  # a whole chunk was the last one
            self._open(self._held, last=True)
            self._held = None
        if not self._opener.finished:
            raise SealCheckFailed("the envelope has no last chunk")
        if self._expected:
            raise SealCheckFailed(f"{len(self._expected)} bytes were not sealed")

    # -- internals --

    def _take(self, view: memoryview) -> None:
        if self._opener is None:
            need = HEADER_SIZE - len(self._head)
            self._head += view[:need]
            view = view[need:]
            if len(self._head) < HEADER_SIZE:
                return
            self._start(bytes(self._head))
        while view:
            if self._held is not None:  # more bytes follow: the held chunk was not the last
                self._open(self._held, last=False)
                self._held = None
            if not self._partial and len(view) >= self._block:
                whole, view = view[: self._block], view[self._block :]
                self._held = whole.tobytes()
                continue
            need = self._block - len(self._partial)
            self._partial += view[:need]
            view = view[need:]
            if len(self._partial) == self._block:
                self._held = bytes(self._partial)
                self._partial.clear()

    def _start(self, raw: bytes) -> None:
        try:
            header = parse_header(raw)
            if header is None:
                raise SealCheckFailed("the envelope's magic is missing")
            check_key(header, self._key)
        except DecryptionError as e:  # incl. ForeignKeyError
            raise SealCheckFailed(f"the envelope's header: {e}") from None
        if self._known is not None and self._known[0] == raw:
            file_key = self._known[1]
        else:
            file_key = header.file_key(self._key)
        self._opener = StreamOpener(file_key, what="envelope written")
        self._block = header.chunk_size + TAG_SIZE

    def _open(self, sealed: bytes, *, last: bool) -> None:
        assert self._opener is not None
        try:
            plain = self._opener.open(sealed, last=last)
        except DecryptionError as e:
            raise SealCheckFailed(str(e)) from None
        n = len(plain)
        if len(self._expected) < n or not self._expected.startswith(plain):
            raise SealCheckFailed(f"chunk {self._opener.counter - 1} opens to other bytes")
        del self._expected[:n]
