"""Cooperative cancellation for jobs run in a thread (the app) or a process (CLI)."""

from __future__ import annotations

import threading

from therabak.errors import Cancelled


class CancelToken:
    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled()

    def sleep(self, seconds: float) -> None:
        """Sleep, but wake up (and raise Cancelled) as soon as the job is cancelled."""
        if self._event.wait(seconds):
            raise Cancelled()


NEVER = CancelToken()
