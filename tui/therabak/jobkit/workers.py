"""Per-file work on a few threads, handed back in the files' order.

Writing many small files waits in the kernel (creating a file takes tens to hundreds of
microseconds on a busy disk, and the GIL is free meanwhile), so a job that creates
thousands of them gains from doing several at once, as ``restic restore`` does. A job
keeps its events and its order: the threads only do the work; the job's own thread takes
the results one file after the other, in order, and emits every event itself.

``THERABAK_WORKERS`` forces the number of threads (1: one file at a time, on the job's own
thread, as before). By default: one on a machine with one or two cores, else as many as
the cores, at most 4; reading files back (a folder backup's device check) READ_WORKERS,
which waits on the device, not the CPU. Why one on two cores: a folder backup's copy with
two threads paid in some runs and cost in others, and always took more CPU (README
"Benchmarks"); a restore with one worker already creates its files on a second thread
(CreateAhead) while the job's thread decrypts, seals and writes, and creating a file is
kernel CPU time (110-260 us each on the 2-core test machine, the same with one creating
thread or two), so a second staging thread finds no free core and adds GIL hand-overs
(README "Restore speed").
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from typing import Generic, TypeVar

ENV = "THERABAK_WORKERS"
MAX_WORKERS = 16
#: how often the job's thread wakes while it waits for a file (to emit progress)
POLL_S = 0.1

T = TypeVar("T")
R = TypeVar("R")


def worker_count() -> int:
    """How many threads per-file work may use: ``THERABAK_WORKERS`` when it is a whole
    number >= 1 (at most MAX_WORKERS), else :func:`default_workers`."""
    return forced_workers() or default_workers()


#: threads for reading files back by default (README "Folder backup": 4 threads read the
#: bench copy back from the device 18-30 % faster than one, on 2 cores too; 2 did not pay)
READ_WORKERS = 4


def forced_workers() -> int | None:
    """``THERABAK_WORKERS`` when it is a whole number >= 1 (at most MAX_WORKERS), else None."""
    raw = os.environ.get(ENV, "").strip()
    if raw.isdigit() and int(raw) >= 1:
        return min(int(raw), MAX_WORKERS)
    return None


def read_workers() -> int:
    """How many threads may read files back at once (work that waits on the device, not
    the CPU): ``THERABAK_WORKERS`` when set, else READ_WORKERS whatever the cores."""
    return forced_workers() or READ_WORKERS


def default_workers(cores: int | None = None) -> int:
    """One thread on one or two cores, else one per core, at most 4."""
    cores = cores or os.cpu_count() or 1
    return 1 if cores <= 2 else min(4, cores)


class Stopped(Exception):
    """Raised inside a worker whose pool was closed (an error or a cancel elsewhere)."""


class InOrder(Generic[T, R]):
    """Runs *work* on every item on *workers* threads, at most *ahead* items at once, and
    gives back ``(item, future)`` in the items' order (:meth:`results`): the caller takes
    ``future.result()`` (the value, or the worker's exception) on its own thread.

    Memory is bounded by *ahead* items in work. Leaving :meth:`results` early (an error,
    a cancel, a break) sets :attr:`stop`, drops the items not started and waits for the
    ones running: nothing of the pool runs after it returns. *work* should check
    :meth:`check` between its steps so a stop takes effect soon.
    """

    def __init__(
        self,
        work: Callable[[T], R],
        items: Iterable[T],
        *,
        workers: int,
        ahead: int | None = None,
        on_wait: Callable[[], None] | None = None,
        name: str = "therabak-work",
    ) -> None:
        self._work = work
        self._items = items
        self._workers = max(1, workers)
        self._ahead = max(self._workers, ahead or 2 * self._workers)
        self._on_wait = on_wait
        self._name = name
        self.stop = threading.Event()

    def check(self) -> None:
        """In a worker: raise Stopped once the pool is closing."""
        if self.stop.is_set():
            raise Stopped

    def _run(self, item: T) -> R:
        self.check()
        return self._work(item)

    def results(self) -> Iterator[tuple[T, Future[R]]]:
        pool = ThreadPoolExecutor(self._workers, thread_name_prefix=self._name)
        pending: deque[tuple[T, Future[R]]] = deque()
        try:
            for item in self._items:
                pending.append((item, pool.submit(self._run, item)))
                if len(pending) >= self._ahead:
                    yield self._ready(pending.popleft())
            while pending:
                yield self._ready(pending.popleft())
        finally:
            self.stop.set()
            pool.shutdown(wait=True, cancel_futures=True)

    def _ready(self, got: tuple[T, Future[R]]) -> tuple[T, Future[R]]:
        future = got[1]
        while not future.done():
            wait_for([future], timeout=POLL_S)
            if self._on_wait is not None:
                self._on_wait()
        return got


class SharedCount:
    """Bytes counted by workers, handed to the job's thread (which emits the progress)."""

    __slots__ = ("_lock", "_n")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._n = 0

    def add_bytes(self, n: int) -> None:
        with self._lock:
            self._n += n

    def take(self) -> int:
        """The bytes counted since the last take."""
        with self._lock:
            n, self._n = self._n, 0
        return n
