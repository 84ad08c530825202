"""A backup's parent snapshot's body, kept so that the next snapshot takes over the encoded
text of the entries it takes over unchanged.

A backup with nothing changed writes a snapshot whose entries are its parent's: encoding
each of them again as JSON (twice: the body's size is declared before it is written) was
the largest part of its commit (bench practice, 32,000 files: ~55 ms of CPU). The parent
was read from a body whose entries were checked one by one as they were decoded
(store/snapshot_read.py); :class:`ParentBody` keeps that body compressed (as it was in
the sealed snapshot) with where each entry's text lies in it. When the new snapshot is
encoded, every run of entries that are the parent's own entry objects, one after
another as in the parent, is copied from the parent's body (opened and decompressed as a
stream, never whole in memory), the rest is encoded as before. An entry object is the parent's
only where the backup took the file over as it was (``BackupWriter.reuse``: same size,
mtime and identity); a file read again, or put under another category, is a new object
and is encoded anew. What is copied is text that decodes to those very entries: the new
snapshot is sealed, named and read exactly as any other (FORMAT.md, "snapshots/")."""

from __future__ import annotations

from array import array
from collections.abc import Callable
from typing import Any

import zstandard

from therabak.store.keys import NONCE_SIZE, TAG_SIZE

#: A snapshot's entry (store/snapshot.py's SnapshotEntry, whose module imports this one):
#: only its identity is looked at here.
Entry = Any

#: A run of the parent's entries taken over: (where its text starts, where it ends).
Span = tuple[int, int]
#: Bytes decompressed from the parent's body at a time while its runs are copied (each
#: read is several buffers of this size at once: read, opened, decompressed, compressed
#: and sealed again; 1 MiB each made the commit's peak 3 MB higher)
_READ = 256 << 10


class EntrySpans:
    """Where each entry of a body lies in it (offsets into its ASCII text): 16 bytes an
    entry."""

    __slots__ = ("ends", "starts")

    def __init__(self) -> None:
        self.starts = array("q")
        self.ends = array("q")

    def add(self, start: int, end: int) -> None:
        self.starts.append(start)
        self.ends.append(end)

    def __len__(self) -> int:
        return len(self.starts)


class StoredBody:
    """A parent's sealed body where it is stored (a local store's file, likely still in
    the page cache), read again piece by piece when the next snapshot is encoded: not
    held in memory from the start of a backup to its commit (for 113,000 files 10 MB
    through the whole backup). The nonce and the tag are kept from the bytes that were
    read and checked: bytes read again that are not those fail the tag at the end of the
    stream (and the new snapshot is encoded anew, ``encode_snapshot``)."""

    __slots__ = ("_read", "length", "nonce", "start", "tag")

    def __init__(
        self, read: Callable[[int, int], bytes], start: int, sealed: memoryview | bytes
    ) -> None:
        self._read = read  # (offset, length) -> bytes of the stored object
        self.start = start  # where the sealed body begins in the object
        self.nonce = bytes(sealed[:NONCE_SIZE])
        self.tag = bytes(sealed[-TAG_SIZE:])
        self.length = len(sealed) - NONCE_SIZE - TAG_SIZE  # of the ciphertext

    def ciphertext(self, pos: int, n: int) -> bytes:
        piece = self._read(self.start + NONCE_SIZE + pos, n)
        if len(piece) != n:
            raise ValueError("the parent's snapshot is not what was read")
        return piece

    def __bytes__(self) -> bytes:
        """The sealed body, whole (nonce, ciphertext, tag), as stored now."""
        return self.nonce + self.ciphertext(0, self.length) + self.tag


class ParentBody:
    """A parsed snapshot's sealed body (the snapshot's own bytes, which its reader held
    anyway: no copy more at the peak of reading it; or where they are stored, a
    :class:`StoredBody`), what opens it, its entries (the very list of the snapshot) and
    where each lies in the body."""

    __slots__ = ("aad", "entries", "key", "sealed", "spans")

    def __init__(
        self,
        sealed: memoryview | StoredBody,
        key: bytes,
        aad: bytes,
        entries: list[Entry],
        spans: EntrySpans,
    ) -> None:
        self.sealed = sealed  # nonce, ciphertext, tag (``seal``'s layout), or where stored
        self.key = key
        self.aad = aad
        self.entries = entries
        self.spans = spans

    def plan(self, entries: list[Entry]) -> list[Entry | Span]:
        """*entries* (the new snapshot's, in order) as the pieces of its body: an entry to
        encode, or the span of a run of the parent's entries, taken over one after another
        as they are in the parent (its text holds the commas between them). Only an entry
        that is the parent's own object (``is``) is taken, and only after those taken
        before it (the spans go forward through the body).

        Both lists are in the order of their paths (every writer sorts them): the parent's
        entry for each new one is found by walking both at once, not by a dict of every
        entry's place (for 113,000 files ~11 MB at the peak of the commit). A parent whose
        entries are in another order is read as well; its entries the walk does not meet
        are encoded anew."""
        own = self.entries
        if len(self.spans) != len(own):
            return list(entries)
        starts, ends = self.spans.starts, self.spans.ends
        out: list[Entry | Span] = []
        count = len(own)
        run_first = run_last = -1
        j = 0  # the next of the parent's entries that can be taken
        for entry in entries:
            i = -1
            if j < count:
                if own[j] is entry:
                    i = j
                else:
                    path = entry.path
                    while j < count and own[j].path < path:  # the parent's, not taken over
                        j += 1
                    if j < count and own[j] is entry:
                        i = j
            if i >= 0:
                j = i + 1
                if run_last >= 0 and i == run_last + 1:
                    run_last = i
                    continue
            if run_last >= 0:
                out.append((starts[run_first], ends[run_last]))
                run_first = run_last = -1
            if i >= 0:
                run_first = run_last = i
            else:
                out.append(entry)
        if run_last >= 0:
            out.append((starts[run_first], ends[run_last]))
        return out

    def copier(self) -> BodyCopier:
        """What copies spans of the body (use in ``with``)."""
        return BodyCopier(_Opening(self.sealed, self.key, self.aad))


class _Opening:
    """The plaintext of a sealed body as a stream (AES-256-GCM, ``seal``'s layout). The
    bytes were authenticated when the snapshot was read (this is the same immutable
    object); the tag is checked again when the stream is read to its end (the copier
    reads it to its end when it is done)."""

    def __init__(self, sealed: memoryview | StoredBody, key: bytes, aad: bytes) -> None:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        if isinstance(sealed, StoredBody):
            nonce, tag, self._length = sealed.nonce, sealed.tag, sealed.length
            self._ciphertext = sealed.ciphertext
        else:
            nonce, tag = bytes(sealed[:NONCE_SIZE]), bytes(sealed[-TAG_SIZE:])
            body = sealed[NONCE_SIZE:-TAG_SIZE]
            self._length = len(body)
            self._ciphertext = lambda pos, n: body[pos : pos + n]
        self._decryptor = Cipher(algorithms.AES(key), modes.GCM(nonce, tag)).decryptor()
        self._decryptor.authenticate_additional_data(aad)
        self._pos = 0
        self._done = False

    def read(self, n: int = -1) -> bytes:
        if self._done:
            return b""
        end = self._length if n is None or n < 0 else min(self._length, self._pos + n)
        piece = self._decryptor.update(self._ciphertext(self._pos, end - self._pos))
        self._pos = end
        if end == self._length:
            self._done = True
            piece += self._decryptor.finalize()  # InvalidTag: not the bytes that were read
        return piece


class BodyCopier:
    """Copies spans of a compressed body, in ascending order, opening and decompressing
    it as a stream (never whole in memory)."""

    def __init__(self, source: _Opening) -> None:
        self._source = source
        self._reader = zstandard.ZstdDecompressor().stream_reader(source, read_size=_READ)
        self._pos = 0

    def copy(self, span: Span, write: Callable[[bytes], object]) -> int:
        """The bytes of *span* to *write*; returns how many. ValueError for a span
        before one copied already, or past the body's end."""
        start, end = span
        if start < self._pos or end < start:
            raise ValueError("spans out of order")
        self._read(start - self._pos, None)
        self._read(end - start, write)
        self._pos = end
        return end - start

    def _read(self, n: int, write: Callable[[bytes], object] | None) -> None:
        while n > 0:
            piece = self._reader.read(min(n, _READ))
            if not piece:
                raise ValueError("the parent's body ended early")
            if write is not None:
                write(piece)
            n -= len(piece)

    def __enter__(self) -> BodyCopier:
        return self

    def __exit__(self, exc_type, *_exc: object) -> None:
        self._reader.close()
        if exc_type is None:  # the rest opened too: the tag is checked before the commit
            while self._source.read(_READ):
                pass
