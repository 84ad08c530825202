"""Reading a job's event stream off the UI thread (toolong style).

A thread worker tails the job's log through the runner and posts typed messages;
progress events that a later one in the same batch supersedes are dropped, so a
replay after a re-attach costs one repaint, not thousands.
"""

from __future__ import annotations

import threading

from textual import work
from textual.message import Message
from textual.worker import get_current_worker

from therabak.app.jobview import coalesce
from therabak.app.runner import Job, JobRunner
from therabak.events import Event


class JobEvents(Message):
    """New events of a job (in order)."""

    def __init__(self, job_id: str, events: list[Event]) -> None:
        super().__init__()
        self.job_id = job_id
        self.events = events


class JobEnded(Message):
    """The job's stream ended (final event read, or its process is gone)."""

    def __init__(self, job_id: str) -> None:
        super().__init__()
        self.job_id = job_id


class FollowsJobs:
    """Mixin for a screen that follows jobs; stops its readers when it goes away."""

    _follow_stop: threading.Event | None = None

    def _stop_event(self) -> threading.Event:
        if self._follow_stop is None:
            self._follow_stop = threading.Event()
        return self._follow_stop

    def stop_following(self) -> None:
        if self._follow_stop is not None:
            self._follow_stop.set()
            self._follow_stop = None

    @work(thread=True, exit_on_error=False, group="follow")
    def follow_job(self, runner: JobRunner, job: Job) -> None:
        stop = self._stop_event()
        worker = get_current_worker()
        for batch in runner.follow(job, stop):
            if worker.is_cancelled or stop.is_set():
                return
            self.post_message(JobEvents(job.id, coalesce(batch)))  # type: ignore[attr-defined]
        if not stop.is_set():
            self.post_message(JobEnded(job.id))  # type: ignore[attr-defined]
