"""The retry panel: one row per file that needed retries, with a live countdown."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from therabak import formatting
from therabak.app.jobview import RetryRow
from therabak.i18n import _, pgettext, shown

PATH_WIDTH = 29
ERROR_WIDTH = 16
OUTCOME_STYLE = {"recovered": "green", "raw": "yellow", "skipped": "bold red", "failed": "bold red"}


def tail(text: str, width: int) -> str:
    """The end of *text* in *width* cells ("…" in front when cut): file names end there."""
    return text if len(text) <= width else "…" + text[-(width - 1) :]


def short_path(path: str, width: int) -> str:
    """*path* in *width* cells, keeping what tells files apart: the file name and the
    folder it is in ("…/K0012/Antrag Kos…ahme 1.pdf"), never just a common ending."""
    if len(path) <= width:
        return path
    parts = path.split("/")
    for i in range(1, len(parts)):
        candidate = "…/" + "/".join(parts[i:])
        if len(candidate) <= width:
            return candidate
    name = parts[-1]
    prefix = f"…/{parts[-2]}/" if len(parts) > 1 else ""
    room = width - len(prefix)
    if room < 9:
        prefix, room = "", width
    if len(name) <= room:
        return prefix + name
    keep_end = (room - 1) // 2
    return prefix + name[: room - 1 - keep_end] + "…" + name[len(name) - keep_end :]


def head(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def outcome_label(outcome: str) -> str:
    return {
        "recovered": _("recovered"),
        "raw": _("stored raw"),
        "skipped": _("skipped"),
        "failed": _("failed"),
    }.get(outcome, outcome)


class RetryPanel(DataTable):
    """Rows keyed by path; :meth:`show` adds new rows and updates the others."""

    def on_mount(self) -> None:
        self.cursor_type = "none"
        self.zebra_stripes = False
        self.add_column(_("File"), width=PATH_WIDTH, key="path")
        self.add_column(_("Try"), width=4, key="try")
        self.add_column(_("Last error"), width=ERROR_WIDTH, key="error")
        self.add_column(pgettext("retry panel: time to the next try", "Next"), width=5, key="next")
        self.add_column(_("Outcome"), width=10, key="outcome")

    def _cells(self, row: RetryRow, now: float) -> dict[str, Text]:
        left = row.seconds_left(now)
        if row.outcome:
            nxt = Text("")
        elif left is None:
            nxt = Text("…")
        elif left > 0:
            nxt = Text(formatting.seconds(left))
        else:
            nxt = Text(_("now"))
        return {
            "path": Text(short_path(formatting.name(row.path), PATH_WIDTH)),
            "try": Text(f"{row.attempt}/{row.max}"),
            "error": Text(head(shown(row.error), ERROR_WIDTH), style="dim"),
            "next": nxt,
            "outcome": Text(
                outcome_label(row.outcome) if row.outcome else _("retrying"),
                style=OUTCOME_STYLE.get(row.outcome, "italic"),
            ),
        }

    def show(self, rows: list[RetryRow], now: float) -> None:
        for row in rows:
            cells = self._cells(row, now)
            if row.path in self.rows:
                for column, value in cells.items():
                    self.update_cell(row.path, column, value)
            else:
                self.add_row(*cells.values(), key=row.path)

    def tick(self, rows: list[RetryRow], now: float) -> None:
        """Refresh the countdowns only."""
        for row in rows:
            if row.path in self.rows and not row.outcome:
                self.update_cell(row.path, "next", self._cells(row, now)["next"])
