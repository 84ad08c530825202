"""Progress accounting for jobs: rate, ETA and throttled Progress events."""

from __future__ import annotations

import time

from therabak.events import Emit, Progress, Throttle


class ProgressTracker:
    def __init__(
        self,
        emit: Emit,
        phase: str,
        *,
        bytes_total: int,
        files_total: int,
        rate: float = 10.0,
        files_reused: int = 0,
        bytes_reused: int = 0,
    ) -> None:
        self.phase = phase
        self.bytes_total = bytes_total
        self.files_total = files_total
        self.files_reused = files_reused  # not read (a store backup): counted apart
        self.bytes_reused = bytes_reused
        self.bytes_done = 0
        self.files_done = 0
        self.current = ""
        self._start = time.monotonic()
        self._throttle = Throttle(emit, rate)

    def _event(self) -> Progress:
        elapsed = max(time.monotonic() - self._start, 1e-6)
        rate = self.bytes_done / elapsed
        left = max(self.bytes_total - self.bytes_done, 0)
        eta = left / rate if rate > 0 and self.bytes_done else None
        return Progress(
            phase=self.phase,
            bytes_done=self.bytes_done,
            bytes_total=self.bytes_total,
            files_done=self.files_done,
            files_total=self.files_total,
            current=self.current,
            rate=round(rate, 1),
            eta_s=None if eta is None else round(eta, 1),
            files_reused=self.files_reused,
            bytes_reused=self.bytes_reused,
        )

    def start_file(self, path: str) -> None:
        self.current = path
        if self._throttle.due():
            self._throttle(self._event())

    def add_bytes(self, n: int) -> None:
        self.bytes_done += n
        if self._throttle.due():
            self._throttle(self._event())

    def rewind_bytes(self, n: int) -> None:
        """A failed attempt's bytes will be read again."""
        self.bytes_done = max(0, self.bytes_done - n)

    def file_done(self) -> None:
        self.files_done += 1
        if self._throttle.due():
            self._throttle(self._event())

    def finish(self) -> None:
        self.current = ""
        self._throttle(self._event(), force=True)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._start
