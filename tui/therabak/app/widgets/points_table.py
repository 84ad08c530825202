"""The restore points as a table: age, kind, size, protection, account; sortable by date."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from therabak import formatting
from therabak.app.points import account_label, kind_label, protection_label
from therabak.i18n import N_, _
from therabak.jobs.points import RestorePoint


class PointsTable(DataTable):
    """Rows keyed by the point's path; newest first until ``o`` flips the order."""

    BINDINGS = [
        Binding("enter", "select_cursor", N_("Choose")),
        Binding("o", "flip_order", N_("Sort by date"), key_display="o"),
    ]

    class Highlighted(Message):
        def __init__(self, point: RestorePoint | None) -> None:
            super().__init__()
            self.point = point

    def __init__(self, now: Callable[[], datetime], *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.now = now
        self.points: dict[str, RestorePoint] = {}
        self.newest_first = True

    def on_mount(self) -> None:
        self.add_column(_("Made"), width=15, key="age")
        self.add_column(_("Kind"), width=14, key="kind")
        self.add_column(_("Size"), width=9, key="size")
        self.add_column(_("Protection"), width=11, key="protection")
        self.add_column(_("Account"), width=8, key="account")

    def show(self, points: list[RestorePoint]) -> None:
        self.points = {str(p.path): p for p in points}
        self.clear()
        for point in self._ordered():
            self.add_row(*self._cells(point), key=str(point.path))
        if self.row_count:
            self.move_cursor(row=0)
        self.post_message(self.Highlighted(self.current))

    def _ordered(self) -> list[RestorePoint]:
        def when(p: RestorePoint) -> float:
            return p.created.timestamp() if p.created else float("-inf")

        return sorted(self.points.values(), key=when, reverse=self.newest_first)

    def _cells(self, p: RestorePoint) -> tuple[Text, ...]:
        dim = "dim" if not p.readable else ""
        age = formatting.ago(p.created, self.now()) if p.created else _("time unknown")
        size = formatting.size(p.size) if p.size is not None else ""
        account = account_label(p)
        return (
            Text(age, style=dim),
            Text(kind_label(p), style="bold red" if not p.readable or p.incomplete else ""),
            Text(size, style=dim),
            Text(protection_label(p) if p.readable else "", style=dim),
            Text(account, style="bold red" if account == _("OTHER") else dim),
        )

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
