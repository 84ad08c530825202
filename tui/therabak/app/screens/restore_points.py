"""The restore screen's first step: the restore points, found in a worker (the local
ones first: the usual places and the folders searched), then the off-site destinations'
points, one worker per destination, joining the list as each server answers; one that
cannot be reached gets a line "Could not reach NAME: why" and holds nothing up."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import work
from textual.widgets import Static

from therabak.app.widgets.points_table import PointsTable
from therabak.i18n import _


class RestorePointsList:
    """Mixin of the restore screen (a Textual screen with ``#points`` and
    ``#points-msg``)."""

    extra: list[Path]
    # set by each listing (see _points_found): the local points, the off-site answers,
    # the destinations not answered yet, the folders searched
    local_points: list
    off_site: dict
    off_site_pending: list[str]
    searched: list[str]

    def refresh_points(self) -> None:
        self._msg("#points-msg", _("Looking for backups…"), "italic")
        self._find_worker(list(self.extra))

    @work(thread=True, exclusive=True, exit_on_error=False, group="points")
    def _find_worker(self, extra: list[Path]) -> None:
        from therabak.app.points import find_points

        try:
            listing = find_points(self.app.ctx, extra)
        except Exception as e:  # noqa: BLE001 - shown, never a crash
            self.app.call_from_thread(self._msg, "#points-msg", str(e), "bold red")
            return
        self.app.call_from_thread(self._points_found, listing)

    def _points_found(self, listing) -> None:
        from therabak.app.points import off_site_destinations

        self.local_points = list(listing.points)
        self.off_site = {}
        self.off_site_pending = [d.name for d in off_site_destinations()]
        table = self.query_one(PointsTable)
        table.show(listing.points)
        self._points_message(listing)
        for dest in off_site_destinations():  # after the local ones, one worker each
            self._off_site_worker(dest)

    @work(thread=True, exit_on_error=False, group="off-site")
    def _off_site_worker(self, dest) -> None:
        from therabak.app.points import find_off_site_points

        found = find_off_site_points(self.app.ctx, dest)
        self.app.call_from_thread(self._off_site_found, found)

    def _off_site_found(self, found) -> None:
        """One off-site destination answered: its points join the list (the highlighted
        one stays highlighted), or a line says it could not be reached."""
        if found.name not in self.off_site_pending:
            return  # a search since started over
        self.off_site_pending.remove(found.name)
        self.off_site[found.name] = found
        table = self.query_one(PointsTable)
        if found.points:
            current = table.current
            points = list(self.local_points)
            for other in self.off_site.values():
                points += other.points
            table.show(points)
            if current is not None:
                table.highlight(current.ref)
        self._points_message(None)

    def _points_message(self, listing) -> None:
        table = self.query_one(PointsTable)
        lines = []
        pending = getattr(self, "off_site_pending", [])
        if pending:
            lines.append(
                Text(_("Asking {names}…").format(names=", ".join(pending)), style="italic dim")
            )
        for found in getattr(self, "off_site", {}).values():
            if found.error:
                lines.append(
                    Text(
                        _("Could not reach {name}: {error}").format(
                            name=found.name, error=found.error
                        ),
                        style="yellow",
                    )
                )
        if listing is not None:
            self.searched = [
                self.app.ctx.display_path(s.folder) for s in listing.places if s.available
            ]
        if table.row_count:
            head = Text(
                _("Enter: use the highlighted backup  ·  a: search another folder"), style="dim"
            )
        else:
            text = _("No backups found. Press a to search a folder (a USB stick, a backup folder).")
            if getattr(self, "searched", None):
                text += "\n" + _("Searched: {places}").format(places=", ".join(self.searched))
            head = Text(text, style="bold")
        self.query_one("#points-msg", Static).update(Text("\n").join([head, *lines]))
