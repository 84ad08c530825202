"""The restore points as a table: age, kind, size, what was new in it (backups in a store),
protection, account and where each one is; sortable by date.

The columns are as wide as their longest text in the current language (German ages
such as "vor einer Minute" are longer than English ones, and are never cut); "Where"
takes what is left of the terminal's width and shows the end of the folder's path
(the part that tells two copies apart). The "New" column is there only when a point of
a backup store is listed (an archive or a folder backup has nothing to say there).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable

from therabak import formatting
from therabak.app.points import account_label, protection_label, remember_searched
from therabak.i18n import N_, _
from therabak.points.point import RestorePoint, category_summary
from therabak.presentation import kind_label

#: Columns of a fixed kind of text, in order ("new" only beside points of a store).
FIXED = ("age", "kind", "size", "new", "protection", "account")
HEADERS = {
    "age": N_("Made"),
    "kind": N_("Kind"),
    "size": N_("Size"),
    "new": N_("New"),
    "protection": N_("Protection"),
    "account": N_("Account"),
    "where": N_("Where"),
}
MAX_WIDTH = {"age": 20, "kind": 16, "size": 10, "new": 10, "protection": 12, "account": 9}
MIN_WHERE = 8
PADDING = 2  # a cell's padding, both sides
SCROLLBAR = 2


def cut_front(text: str, width: int) -> str:
    """The end of *text* in *width* cells ("…" in front when cut)."""
    if len(text) <= width:
        return text
    return "…" + text[-(width - 1) :] if width > 1 else text[-width:]


class PointsTable(DataTable):
    """Rows keyed by the point's reference (its path; ``STORE@ID`` for a backup in a
    store); newest first until ``o`` flips the order.

    A subclass may show other columns: :attr:`fixed` names them (before "Where"),
    :attr:`headers` and :attr:`max_width` describe them, :meth:`_cells` fills them
    ("new" is shown only beside points of a store)."""

    fixed: tuple[str, ...] = FIXED
    headers: dict[str, str] = HEADERS
    max_width: dict[str, int] = MAX_WIDTH

    BINDINGS = [
        Binding("enter", "select_cursor", N_("Choose")),
        Binding("o", "flip_order", N_("Sort by date"), key_display="o"),
    ]

    class Highlighted(Message):
        def __init__(self, point: RestorePoint | None) -> None:
            super().__init__()
            self.point = point

    def __init__(
        self,
        now: Callable[[], datetime],
        where: Callable[[RestorePoint], str],
        *,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.now = now
        self.where = where
        self.points: dict[str, RestorePoint] = {}
        self.newest_first = True
        self._widths: dict[str, int] = {}
        self._fixed: tuple[str, ...] = tuple(k for k in self.fixed if k != "new")

    def on_mount(self) -> None:
        self._widths = self._fixed_widths([])
        self._add_columns()
        self._fit_where()

    def _add_columns(self) -> None:
        for key in (*self._fixed, "where"):
            self.add_column(_(self.headers[key]), width=self._widths.get(key, MIN_WHERE), key=key)

    # ---- widths ---------------------------------------------------------------------------

    def _fixed_widths(self, points: list[RestorePoint]) -> dict[str, int]:
        widths = {}
        cells = [self._cells(p) for p in points]
        for i, key in enumerate(self._fixed):
            longest = max([len(_(self.headers[key]))] + [len(c[i].plain) for c in cells])
            widths[key] = min(longest, self.max_width[key])
        return widths

    def _where_width(self) -> int:
        width = self.size.width or (self.app.size.width - 2)
        used = (
            sum(self._widths.get(k, 0) for k in self._fixed)
            + PADDING * (len(self._fixed) + 1)
            + SCROLLBAR
        )
        return max(MIN_WHERE, width - used)

    def _fit_where(self) -> None:
        """Give the Where column the rest of the table's width."""
        if "where" not in self.columns:
            return
        width = self._where_width()
        column = self.columns["where"]
        changed = column.width != width
        for key in self._fixed:
            col = self.columns[key]
            if col.width != self._widths.get(key, col.width):
                col.width = self._widths[key]
                changed = True
        if changed:
            column.width = width
            for p in self.points.values():
                key = p.ref
                if key in self.rows:
                    self.update_cell(key, "where", self._where_cell(p), update_width=False)
            self._require_update_dimensions = True
            self.refresh()

    def on_resize(self) -> None:
        self._fit_where()

    # ---- rows -------------------------------------------------------------------------------

    def show(self, points: list[RestorePoint]) -> None:
        self.points = {p.ref: p for p in points}
        store = any(p.added is not None for p in points)
        fixed = tuple(k for k in self.fixed if k != "new" or store)
        if fixed != self._fixed:  # a store's points came or went: "New" with them
            self._fixed = fixed
            self.clear(columns=True)
            self._widths = self._fixed_widths(points)
            self._add_columns()
        else:
            self._widths = self._fixed_widths(points)
            self.clear()
        self._fit_where()
        for point in self._ordered():
            self.add_row(*self._cells(point), self._where_cell(point), key=point.ref)
        if self.row_count:
            self.move_cursor(row=0)
        self.post_message(self.Highlighted(self.current))

    def highlight(self, ref: str) -> None:
        """Move the cursor to the point *ref* (when it is listed)."""
        try:
            row = self.get_row_index(ref)
        except Exception:  # noqa: BLE001 - not listed (any more): the cursor stays
            return
        self.move_cursor(row=row)

    def _ordered(self) -> list[RestorePoint]:
        def when(p: RestorePoint) -> float:
            return p.created.timestamp() if p.created else float("-inf")

        return sorted(self.points.values(), key=when, reverse=self.newest_first)

    def _cells(self, p: RestorePoint) -> tuple[Text, ...]:
        dim = "dim" if not p.readable else ""
        age = formatting.ago(p.created, self.now()) if p.created else _("time unknown")
        size = formatting.size(p.size) if p.size is not None else ""
        account = account_label(p)
        cells = {
            "age": Text(age, style=dim),
            "kind": Text(
                kind_label(p.kind), style="bold red" if not p.readable or p.incomplete else ""
            ),
            "size": Text(size, style=dim),
            "new": Text(formatting.size(p.added) if p.added is not None else "", style=dim),
            "protection": Text(protection_label(p) if p.readable else "", style=dim),
            "account": Text(account, style="bold red" if account == _("OTHER") else dim),
        }
        return tuple(cells.get(k, Text("")) for k in self._fixed)  # a subclass fills its own

    def _where_cell(self, p: RestorePoint) -> Text:
        width = self.columns["where"].width if "where" in self.columns else MIN_WHERE
        return Text(cut_front(self.where(p), width), style="dim" if not p.readable else "")

    @property
    def current(self) -> RestorePoint | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        return self.points.get(str(key.value))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.post_message(self.Highlighted(self.current))

    def action_flip_order(self) -> None:
        self.newest_first = not self.newest_first
        self.show(list(self.points.values()))


def search_another_folder(screen: Screen, extra: list[Path], then: Callable[[], None]) -> None:
    """Ask for a folder to search for restore points (the folder picker); it is added
    to *extra* and searched again next time (the settings' searched folders), then
    *then* runs."""
    from therabak.app.widgets.dir_picker import DirPicker, picker_start

    def picked(path: Path | None) -> None:
        if path is not None:
            remember_searched(path)
            if path not in extra:
                extra.append(path)
            then()

    screen.app.push_screen(DirPicker(picker_start(screen.app.ctx)), picked)


def point_details(point: RestorePoint | None, ctx, rules) -> Text:
    """The details pane of a restore point."""
    if point is None:
        return Text("")
    text = Text()
    text.append(_("Backup:") + " ", style="bold")
    text.append(ctx.display_path(point.path))
    if point.is_store:
        text.append(" " + _("(a backup store: one of its backups)"), style="dim")
    if not point.readable:
        text.append("\n" + _("It cannot be read: {error}").format(error=point.error), "bold red")
        return text
    when = (
        f"{formatting.local_time(point.created)} ({formatting.ago(point.created, ctx.now())})"
        if point.created
        else _("time unknown")
    )
    text.append("\n" + _("Made:") + " ", style="bold")
    text.append(when)
    text.append("  " + _("Kind:") + " ", style="bold")
    text.append(kind_label(point.kind))
    if point.kind.is_folder:
        holds = _("everything (a copy of the data folder)")
    else:
        holds = category_summary(rules, point.categories, point.kind) or _("unknown")
    text.append("\n" + _("Holds:") + " ", style="bold")
    text.append(holds)
    if point.added is not None:
        text.append("\n" + _("New in it:") + " ", style="bold")
        text.append(
            _("{size} (what this backup added to the store; the rest was there already)").format(
                size=formatting.size(point.added)
            )
        )
    if point.volumes > 1:
        text.append(
            "\n"
            + _("Split into {n} volumes ({name}, .002, ...): all are needed.").format(
                n=point.volumes, name=Path(point.path).name
            )
        )
    if point.incomplete:
        text.append("\n" + _("INCOMPLETE: {problem}").format(problem=point.incomplete), "bold red")
    if point.account_match == "no":
        text.append(
            "\n" + _("Made with another account's key: it cannot be restored here."), "bold red"
        )
    elif point.protection == "password" and point.account_match != "yes":
        text.append("\n" + _("Needs its password (Enter asks for it)."), "italic")
    if point.protection == "password" and point.recovery_code:
        text.append(
            "\n" + _("Has a recovery code: it opens the backup when the password is forgotten."),
            "italic",
        )
    elif point.protection == "none":
        text.append("\n" + _("Not protected: anyone with the file can read it."), "yellow")
    return text
