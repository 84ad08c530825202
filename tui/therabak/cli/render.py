"""Render job events for a human: a live progress bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys

from therabak.events import Damaged, Event, FileOutcome, Phase, Progress, Retry, Warning


class ProgressRenderer:
    """Consumes events; draws a rich progress bar on stderr when it is a terminal."""

    def __init__(self, enabled: bool = True) -> None:
        self._live = enabled and sys.stderr.isatty()
        self._progress = None
        self._task = None
        if self._live:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._console = Console(stderr=True)
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[files]}"),
                console=self._console,
                transient=True,
            )

    def _line(self, text: str) -> None:
        if self._progress is not None:
            from rich.text import Text

            self._progress.console.print(Text(text))
        else:
            sys.stderr.write(text + "\n")

    def __call__(self, event: Event) -> None:
        if isinstance(event, Progress):
            if self._progress is None:
                return
            if self._task is None:
                self._progress.start()
                self._task = self._progress.add_task(
                    event.phase, total=event.bytes_total or 1, files=""
                )
            self._progress.update(
                self._task,
                description=event.phase.capitalize(),
                completed=event.bytes_done,
                total=event.bytes_total or 1,
                files=f"{event.files_done}/{event.files_total} files",
            )
        elif isinstance(event, Phase):
            if self._task is not None and self._progress is not None:
                self._progress.remove_task(self._task)
                self._task = None
        elif isinstance(event, Retry):
            self._line(
                f"retry {event.attempt}/{event.max}: {event.path}: {event.error} "
                f"(next try in {event.delay_s:g} s)"
            )
        elif isinstance(event, FileOutcome):
            what = {
                "recovered": "recovered after retries",
                "raw": "stored raw (still sealed "
                "with the account key; restorable on this account only)",
                "skipped": "NOT in the backup",
                "failed": "failed",
            }[event.outcome]
            self._line(f"{event.path}: {what} ({event.attempts} attempts)")
        elif isinstance(event, Warning):
            self._line(f"warning: {event.message}")
        elif isinstance(event, Damaged):
            self._line(f"DAMAGED: {event.path}: {event.reason}")

    def close(self) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.stop()
