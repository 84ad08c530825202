"""One file's content on its way into a backup (:class:`FileWriter`): cut into chunks of the
store's chunk size, each chunk's keyed id taken and the chunk handed to the backup
(``store/backup.py``, through :class:`ChunkSink`), the whole file's SHA-256 beside it, and
at the end the file's snapshot entry. A file's first chunk is identified on the caller's
thread (in a store with SHA-256 ids, its SHA-256 is the file's when it is the only one; a
BLAKE3 store takes no SHA-256 per chunk, only the file's); later ones on the backup's
chunk thread, at most ``CHUNKS_AHEAD`` waiting, while the caller reads on."""

from __future__ import annotations

import contextlib
import hashlib
from collections import deque
from typing import TYPE_CHECKING, Protocol

from therabak.archive.hashing import Sha256Behind
from therabak.store.blob import Compressor, blob_id_of
from therabak.store.snapshot import SnapshotEntry

if TYPE_CHECKING:
    from concurrent.futures import Future

    from therabak.store.keys import StoreKeys

#: chunks of one file that may wait for the chunk thread (1 MiB each by default)
CHUNKS_AHEAD = 4


class ChunkSink(Protocol):
    """What a file writer needs of the backup it writes into (``BackupWriter``)."""

    keys: StoreKeys

    @property
    def chunk_size(self) -> int: ...

    def store_chunk(
        self, blob_id: bytes, chunk: bytes, compressor: Compressor, *, first: bool
    ) -> None: ...

    def chunk_later(self, piece: bytes, compressor: Compressor) -> Future[bytes]: ...

    def add_entry(self, entry: SnapshotEntry, *, read: int, reused: bool = False) -> None: ...


class FileWriter:
    """One file's content. Not thread-safe; one per file (and thread)."""

    def __init__(
        self,
        backup: ChunkSink,
        *,
        path: str,
        category: str,
        mtime_ns: int,
        identity: str,
        sealed: bool | None,
        raw: bool,
        key_id: str,
        source_size: int = -1,
    ) -> None:
        self._backup = backup
        self.path, self.category, self.mtime_ns = path, category, mtime_ns
        self.identity, self.sealed, self.raw, self.key_id = identity, sealed, raw, key_id
        self.source_size = source_size
        self._chunk = backup.chunk_size
        self._buf = bytearray()
        self._blobs: list[bytes] = []
        self._count = 0  # chunks cut so far
        self._later: deque[Future[bytes]] = deque()  # ids of later chunks, in order
        self._first: bytes | None = None  # the first chunk, until a second one comes
        self._first_digest = b""
        self._whole: Sha256Behind | None = None  # hashed on a background thread
        self._size = 0
        self._compressor = Compressor()
        self.done = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.done:
            raise RuntimeError("file writer already finished")
        n = len(data)
        if not n:
            return
        self._size += n
        buf, chunk = self._buf, self._chunk
        if not buf and n == chunk:
            self._cut(bytes(data))
            return
        buf += data
        while len(buf) >= chunk:
            with memoryview(buf) as view:
                piece = bytes(view[:chunk])  # one copy: it is hashed behind, then sealed
            del buf[:chunk]
            self._cut(piece)

    def _cut(self, piece: bytes) -> None:
        """The first chunk is identified and stored here (its SHA-256 is the whole
        file's when it is the only one); later ones on the backup's chunk thread, while
        this thread reads the next and the background hasher hashes the whole file: the
        two SHA-256 passes over a large file run beside each other."""
        backup = self._backup
        self._count += 1
        if self._count == 1:
            blob_id, digest = blob_id_of(backup.keys, piece)
            # the file's SHA-256 if it is the only chunk (a BLAKE3 store: b"", taken at
            # the end then, here, without a hand-over to the background hasher)
            self._first, self._first_digest = piece, digest
            self._blobs.append(blob_id)
            backup.store_chunk(blob_id, piece, self._compressor, first=True)
            return
        if self._whole is None:
            self._whole = Sha256Behind()
            self._whole.update(self._first)
            self._first = None
        self._whole.update(piece)  # bytes, never changed: safe to hash behind
        later = self._later
        later.append(backup.chunk_later(piece, self._compressor))
        if len(later) > CHUNKS_AHEAD:  # memory stays bounded
            self._blobs.append(later.popleft().result())

    def _collect(self) -> None:
        """Wait for the ids of the chunks on the chunk thread, in order."""
        later = self._later
        while later:
            self._blobs.append(later.popleft().result())

    def finish(
        self,
        *,
        source_size: int | None = None,
        mtime_ns: int | None = None,
        sealed: bool | None = None,
    ) -> SnapshotEntry:
        """The file is complete: its entry goes into the snapshot. *source_size* and
        *mtime_ns* are the file's in Data as it was read (what the next backup compares to
        tell an unchanged file), *sealed* whether it was an envelope."""
        if source_size is not None:
            self.source_size = source_size
        if mtime_ns is not None:
            self.mtime_ns = mtime_ns
        if sealed is not None:
            self.sealed = sealed
        if self.done:
            raise RuntimeError("file writer already finished")
        if self._buf:
            piece = bytes(self._buf)
            self._buf.clear()
            self._cut(piece)
        self.done = True
        self._collect()
        if self._whole is not None:
            sha = self._whole.digest()
        elif self._blobs:
            sha = self._first_digest or hashlib.sha256(self._first or b"").digest()
        else:
            sha = hashlib.sha256(b"").digest()
        self._first = None
        entry = SnapshotEntry(
            path=self.path,
            category=self.category,
            size=self._size,
            mtime_ns=self.mtime_ns,
            sha256=sha,
            blobs=b"".join(self._blobs),
            identity=self.identity,
            source_size=self.source_size,
            sealed=True if self.raw else self.sealed,
            raw=self.raw,
            key_id=self.key_id if self.raw else "",
        )
        self._backup.add_entry(entry, read=self._size)
        return entry

    def abort(self) -> None:
        """Drop this attempt: nothing of it reaches the snapshot (chunks already packed
        stay in the store unused until a backup needs them or prune reclaims them)."""
        self.done = True
        self._buf = bytearray()
        self._first = None
        while self._later:  # nothing of this attempt is still being packed after it
            with contextlib.suppress(BaseException):
                self._later.popleft().result()
