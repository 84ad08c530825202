"""The retry panel: one row per file that needed retries, with a live countdown.

"Last error" is said in the user's words (what kind of failure it was, from the retry
event's code), not as the exception's name; :func:`reason_notes` explains each kind
once, under the table. The columns follow the terminal's width: the file and the
error widen on a wide terminal, and shrink on a narrow one before "Try", "Next" or
"Outcome" would be pushed out of sight.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from therabak import formatting
from therabak.app.jobview import RetryRow
from therabak.i18n import N_, _, pgettext, shown

TRY_WIDTH = 5
NEXT_WIDTH = 5
MIN_PATH, MAX_PATH = 14, 70
MIN_ERROR, MAX_ERROR = 10, 24
PADDING = 2  # a cell's padding, both sides
SCROLLBAR = 2
OUTCOME_STYLE = {"recovered": "green", "raw": "yellow", "skipped": "bold red", "failed": "bold red"}

#: A failure's kind (the retry event's code): short words for the column, and a line
#: that says what it means, once, under the table.
REASONS = {
    "decrypt": (
        N_("could not be decrypted"),
        N_("could not be decrypted: the practice app may be writing it (tried again)"),
    ),
    "changed": (
        N_("changed while read"),
        N_("changed while read: the practice app wrote to it (tried again)"),
    ),
    "locked": (
        N_("locked"),
        N_("locked: another program, maybe the practice app, holds it (tried again)"),
    ),
}


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


def reason_words(row: RetryRow) -> str:
    """The "Last error" of *row* in the user's words."""
    known = REASONS.get(row.code)
    return _(known[0]) if known else shown(row.error)


def reason_notes(rows: list[RetryRow]) -> list[str]:
    """One line per kind of failure among *rows*, saying what it means."""
    seen = []
    for row in rows:
        if row.code in REASONS and row.code not in seen:
            seen.append(row.code)
    return [_(REASONS[code][1]) for code in seen]


def column_widths(width: int, rows: list[RetryRow] = ()) -> dict[str, int]:
    """The columns' widths for a table *width* cells wide holding *rows*: Try and Next
    keep theirs, Outcome and the error are as wide as their words (the error at most
    MAX_ERROR), the file name gets the rest; on a narrow terminal the error gives way
    first, then the file name, so no column is pushed out of sight."""
    outcomes = [outcome_label(r.outcome) if r.outcome else _("retrying") for r in rows]
    outcome = max([len(_("Outcome"))] + [len(o) for o in outcomes or [_("retrying")]])
    fixed = TRY_WIDTH + NEXT_WIDTH + outcome
    room = max(0, width - PADDING * 5 - SCROLLBAR - fixed)
    wanted = max([len(_("Last error"))] + [len(reason_words(r)) for r in rows])
    error = max(MIN_ERROR, min(MAX_ERROR, wanted))
    path = max(MIN_PATH, min(MAX_PATH, room - error))
    if path + error > room:  # narrow: the error gives way first, then the file name
        error = max(4, room - path)
        path = max(4, room - error)
    return {"path": path, "try": TRY_WIDTH, "error": error, "next": NEXT_WIDTH, "outcome": outcome}


class RetryPanel(DataTable):
    """Rows keyed by path; :meth:`show` adds new rows and updates the others."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._rows: dict[str, RetryRow] = {}
        self._now = 0.0

    def on_mount(self) -> None:
        self.cursor_type = "none"
        self.zebra_stripes = False
        widths = column_widths(self.size.width or self.app.size.width - 2)
        self.add_column(_("File"), width=widths["path"], key="path")
        self.add_column(_("Try"), width=widths["try"], key="try")
        self.add_column(_("Last error"), width=widths["error"], key="error")
        self.add_column(
            pgettext("retry panel: time to the next try", "Next"), width=widths["next"], key="next"
        )
        self.add_column(_("Outcome"), width=widths["outcome"], key="outcome")

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> bool:
        """Set the columns' widths for the table's width and rows; True when they changed
        (every row is then cut again to them)."""
        widths = column_widths(self.size.width, list(self._rows.values()))
        if all(self.columns[k].width == w for k, w in widths.items() if k in self.columns):
            return False
        for key, width in widths.items():
            if key in self.columns:
                self.columns[key].width = width
        for row in self._rows.values():
            if row.path in self.rows:
                self._update(row, self._now)
        self._require_update_dimensions = True
        self.refresh()
        return True

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
        path_w = self.columns["path"].width if "path" in self.columns else MIN_PATH
        error_w = self.columns["error"].width if "error" in self.columns else MIN_ERROR
        return {
            "path": Text(short_path(formatting.name(row.path), path_w)),
            "try": Text(f"{row.attempt}/{row.max}"),
            "error": Text(head(reason_words(row), error_w), style="dim"),
            "next": nxt,
            "outcome": Text(
                outcome_label(row.outcome) if row.outcome else _("retrying"),
                style=OUTCOME_STYLE.get(row.outcome, "italic"),
            ),
        }

    def _update(self, row: RetryRow, now: float) -> None:
        cells = self._cells(row, now)
        if row.path in self.rows:
            for column, value in cells.items():
                self.update_cell(row.path, column, value)
        else:
            self.add_row(*cells.values(), key=row.path)

    def show(self, rows: list[RetryRow], now: float) -> None:
        self._now = now
        for row in rows:
            self._rows[row.path] = row
        self._fit()
        for row in rows:
            self._update(row, now)

    def tick(self, rows: list[RetryRow], now: float) -> None:
        """Refresh the countdowns only."""
        self._now = now
        for row in rows:
            if row.path in self.rows and not row.outcome:
                self.update_cell(row.path, "next", self._cells(row, now)["next"])
