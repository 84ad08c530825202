"""What networks do, handled once for every remote storage: retries and the upload limit.

**Retries.** A remote storage runs each request through :func:`with_retries`. The
storage's own ``translate`` says what a failure means: a final answer (a
:class:`~therabak.storage.base.StorageError` such as wrong credentials, a missing bucket,
a full quota) is raised at once; a transient one (HTTP 429 and 5xx other than 501/505/507,
a connection refused, reset or dropped, a timeout) is tried again after an exponential
backoff with jitter: before try *n* + 1 therabak waits a random time between half and all
of ``min(max_delay_s, initial_delay_s * 2 ** (n - 1))``. With the defaults (8 tries, 0.5 s
doubling, at most 30 s) a request is given up after about 45 s (at most 61.5 s) of
waiting, as :class:`~therabak.storage.base.UnreachableError` with the last reason. A retry
starts the request again from its beginning (an upload re-reads its source from the
start; a multipart upload only the part that failed).

**Upload limit.** ``limit_upload`` (bytes per second) is a token bucket around every
upload stream: whatever reads the bytes to send (the HTTP client, the SFTP writer) waits
for them. One bucket per storage, shared by its uploads.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO, TypeVar

from therabak.i18n import _
from therabak.storage.base import StorageError, UnreachableError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a transient failure is tried again (see the module)."""

    tries: int = 8
    initial_delay_s: float = 0.5
    max_delay_s: float = 30.0

    def delay(self, retry: int, rng: random.Random | None = None) -> float:
        """The wait before retry number *retry* (1 for the second try)."""
        cap = min(self.max_delay_s, self.initial_delay_s * 2 ** (retry - 1))
        return cap / 2 + (rng or random).uniform(0, cap / 2)


@dataclass(frozen=True)
class RetryNotice:
    """One retry about to happen, for a caller that shows it (the app's progress)."""

    location: str
    operation: str
    attempt: int  # the try that failed (1 = the first)
    tries: int
    reason: str
    delay_s: float


@dataclass
class NetworkOptions:
    """Everything network-related a remote storage is given."""

    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout_s: float = 30.0  # connecting, and each read of an answer
    limit_upload: int | None = None  # bytes per second; None: no limit
    on_retry: Callable[[RetryNotice], None] | None = None
    sleep: Callable[[float], None] = time.sleep


class Transient(Exception):
    """What a storage's ``translate`` returns for a failure worth another try."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def with_retries(
    call: Callable[[], T],
    *,
    translate: Callable[[BaseException], StorageError | Transient],
    options: NetworkOptions,
    location: str,
    operation: str,
    before_retry: Callable[[], None] | None = None,
) -> T:
    """Run *call* until it succeeds, fails for good, or has been tried ``tries`` times.

    *translate* turns a library's exception into a final :class:`StorageError` or a
    :class:`Transient`; a ``StorageError`` raised by *call* itself is final as it is.
    *before_retry* runs before each new try (to drop a broken connection, rewind a source).
    """
    policy = options.retry
    attempt = 0
    while True:
        attempt += 1
        try:
            return call()
        except StorageError:
            raise
        except Exception as e:  # a library's exception: what does it mean?
            verdict = translate(e)
            if isinstance(verdict, StorageError):
                raise verdict from None
            if attempt >= policy.tries:
                raise UnreachableError(
                    _(
                        "{place}: no answer after {tries} tries ({reason}); check the "
                        "connection and try again later"
                    ).format(place=location, tries=policy.tries, reason=_(verdict.reason))
                ) from None
            delay = policy.delay(attempt)
            if options.on_retry is not None:
                options.on_retry(
                    RetryNotice(location, operation, attempt, policy.tries, verdict.reason, delay)
                )
            options.sleep(delay)
            if before_retry is not None:
                before_retry()


# ---- the upload limit -------------------------------------------------------------------


class TokenBucket:
    """At most *rate* bytes per second on average, in bursts of at most *burst* bytes.

    ``take(n)`` returns once *n* bytes may go; a take larger than the bucket goes into
    debt and waits it off, so the average holds for any read size. Thread-safe."""

    def __init__(
        self,
        rate: float,
        burst: int | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.capacity = float(burst if burst is not None else max(16384, rate / 10))
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = threading.Lock()

    def take(self, n: int) -> None:
        if n <= 0:
            return
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= n
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)


class SourceSlice:
    """*length* bytes of *source* from *start*, as a file of their own (read, seek, tell),
    each read paid from *bucket* when there is one. Nothing is held in memory: a retry
    seeks back and reads the source again."""

    def __init__(
        self, source: BinaryIO, start: int, length: int, bucket: TokenBucket | None = None
    ) -> None:
        self._source = source
        self._start = start
        self._length = length
        self._pos = 0
        self._bucket = bucket

    def __len__(self) -> int:
        return self._length

    def read(self, n: int = -1) -> bytes:
        left = self._length - self._pos
        if n is None or n < 0 or n > left:
            n = left
        if n <= 0:
            return b""
        self._source.seek(self._start + self._pos)
        data = self._source.read(n)
        if not data:
            raise StorageError(_("the source ended before its size"))
        self._pos += len(data)
        if self._bucket is not None:
            self._bucket.take(len(data))
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._length}[whence]
        self._pos = max(0, min(self._length, base + offset))
        return self._pos

    def tell(self) -> int:
        return self._pos

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def __iter__(self):
        while chunk := self.read(65536):
            yield chunk
