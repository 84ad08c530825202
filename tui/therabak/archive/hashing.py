"""SHA-256 of large buffers on a background thread.

``hashlib`` releases the GIL while it hashes more than a few KiB, so hashing a file's
content on another thread overlaps reading, decrypting, sealing and writing it (SHA-256
is the most expensive step of a backup or a restore). One thread serves the process;
its queue is bounded (at most ``DEPTH`` buffers wait), so memory stays flat.
"""

from __future__ import annotations

import hashlib
import queue
import threading

# Buffers at least this large are hashed by the background thread; smaller ones inline
# (a hand-over costs more than hashing a few KiB).
BACKGROUND_MIN = 256 << 10


class _Hasher:
    """The background thread and its bounded queue of (hash object, buffer)."""

    DEPTH = 4

    def __init__(self) -> None:
        self._queue: queue.Queue = queue.Queue(self.DEPTH)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="therabak-sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        get = self._queue.get
        while True:
            h, data = get()
            if h is None:
                data.set()  # a threading.Event: everything queued before it is hashed
                continue
            try:
                h.update(data)
            except BaseException as e:  # noqa: BLE001 - handed to the waiting writer
                self._error = e

    def update(self, h, data: bytes) -> None:
        self._queue.put((h, data))

    def drain(self) -> None:
        """Wait until everything queued so far is hashed."""
        done = threading.Event()
        self._queue.put((None, done))
        done.wait()
        if self._error is not None:
            error, self._error = self._error, None
            raise RuntimeError("hashing failed") from error


_hasher: _Hasher | None = None
_hasher_lock = threading.Lock()


def background_hasher() -> _Hasher:
    global _hasher
    if _hasher is None:
        with _hasher_lock:
            if _hasher is None:
                _hasher = _Hasher()
    return _hasher


class Sha256Behind:
    """SHA-256 of consecutive buffers; large ones are hashed on the background thread.

    Buffers must not change after :meth:`update` (bytes; bytearrays and memoryviews
    are copied). Once one buffer went to the background, all later ones follow it, so
    the order is kept. :meth:`hexdigest` waits for the queued ones.
    """

    __slots__ = ("_h", "_behind")

    def __init__(self) -> None:
        self._h = hashlib.sha256()
        self._behind = False

    def update(self, data: bytes) -> None:
        if self._behind or len(data) >= BACKGROUND_MIN:
            if isinstance(data, bytearray | memoryview):
                data = bytes(data)  # the hasher reads it later: it must not change
            background_hasher().update(self._h, data)
            self._behind = True
        else:
            self._h.update(data)

    def hexdigest(self) -> str:
        if self._behind:
            background_hasher().drain()
        return self._h.hexdigest()

    def digest(self) -> bytes:
        if self._behind:
            background_hasher().drain()
        return self._h.digest()
