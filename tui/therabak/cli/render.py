"""Render job events for a human: a live progress bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys

from therabak.events import Damaged, Event, FileOutcome, Phase, Progress, Retry, Warning
from therabak.i18n import N_, _, ngettext, shown

#: What the progress bar says in each phase (the engine's phase names are not text).
PHASE_TEXTS = {
    "opening": N_("Opening"),
    "scanning": N_("Scanning"),
    "writing": N_("Writing"),
    "syncing": N_("Syncing"),
    "verifying": N_("Verifying"),
    "comparing": N_("Comparing"),
    "staging": N_("Restoring"),
    "swapping": N_("Swapping"),
    "copying": N_("Copying"),
    "checking": N_("Checking"),
    "carrying-over": N_("Keeping"),
    "salvaging": N_("Salvaging"),
    "reading": N_("Reading"),
    "planning": N_("Planning"),
    "repacking": N_("Repacking"),
    "indexing": N_("Indexing"),
    "deleting": N_("Deleting"),
    "forgetting": N_("Forgetting"),
}
OUTCOME_TEXTS = {
    "recovered": N_("{path}: recovered after retries ({n} attempts)"),
    "raw": N_(
        "{path}: stored raw (still sealed with the account key; restorable on this "
        "account only) ({n} attempts)"
    ),
    "skipped": N_("{path}: NOT in the backup ({n} attempts)"),
    "failed": N_("{path}: failed ({n} attempts)"),
}


def phase_text(phase: str) -> str:
    return _(PHASE_TEXTS[phase]) if phase in PHASE_TEXTS else phase.capitalize()


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
                description=phase_text(event.phase),
                completed=event.bytes_done,
                total=event.bytes_total or 1,
                files=ngettext(
                    "{done}/{total} file", "{done}/{total} files", event.files_total
                ).format(done=event.files_done, total=event.files_total),
            )
        elif isinstance(event, Phase):
            if self._task is not None and self._progress is not None:
                self._progress.remove_task(self._task)
                self._task = None
        elif isinstance(event, Retry):
            self._line(
                _("retry {attempt}/{max}: {path}: {error} (next try in {delay} s)").format(
                    attempt=event.attempt,
                    max=event.max,
                    path=event.path,
                    error=shown(event.error),
                    delay=f"{event.delay_s:g}",
                )
            )
        elif isinstance(event, FileOutcome):
            text = OUTCOME_TEXTS.get(event.outcome, "{path}: {n}")
            self._line(_(text).format(path=event.path, n=event.attempts))
        elif isinstance(event, Warning):
            self._line(_("warning: {message}").format(message=shown(event.message)))
        elif isinstance(event, Damaged):
            self._line(
                _("DAMAGED: {path}: {reason}").format(path=event.path, reason=shown(event.reason))
            )

    def close(self) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.stop()


def renamed_lines(renamed: list, system: str, *, limit: int | None = None) -> list[str]:
    """One line per file written under another name (``namemap.Renamed``): its name,
    the name it got and why; names as printable text (``formatting.name``)."""
    from therabak import formatting
    from therabak.namemap import reason_text

    lines = []
    for r in renamed[:limit]:
        why = "; ".join(reason_text(x, system) for x in r.reasons)
        lines.append(
            "  "
            + _("{path} -> {target} ({reason})").format(
                path=formatting.name(r.path), target=formatting.name(r.target), reason=why
            )
        )
    if limit is not None and len(renamed) > limit:
        lines.append("  " + _("… and {n} more").format(n=len(renamed) - limit))
    return lines
