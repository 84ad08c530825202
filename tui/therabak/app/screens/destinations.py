"""Destinations: the named places backups go to (a USB stick, an off-site storage).

Add one (a folder or a URL), give its credentials (kept in the computer's credential
store by the engine, never in the settings file), trust an SSH server's host key after
the user compared its fingerprint (never silently), test the connection (write, read,
delete a small object; one line says what failed), remove one. Everything goes through
``therabak.destinations``; what talks to a server runs in a worker thread.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Static

from therabak.app.screens.destination_dialogs import (
    AddDestinationDialog,
    CredentialsDialog,
    HostKeyDialog,
)
from therabak.app.screens.dialogs import ConfirmDialog
from therabak.app.translated import AppScreen
from therabak.app.widgets.header import AppHeader
from therabak.app.widgets.retry_panel import head
from therabak.i18n import N_, _, pgettext

# ---- what the screens say about a destination --------------------------------------------


def kind_text(dest) -> str:
    return _("off-site") if dest.is_remote else _("local")


def login_text(dest, place) -> str:
    """Where the credentials of *dest* are, in a few words ('' for a local folder)."""
    from therabak.storage.url import StorageKind

    if not dest.is_remote:
        return ""
    if place is None:
        if dest.location.kind is StorageKind.SFTP:
            return _("SSH key")
        return _("no password yet")
    return {
        "environment": _("environment"),
        "keyring": pgettext("credentials", "stored"),
        "file": _("in a file"),
    }[str(place)]


class DestinationTable(DataTable):
    BINDINGS = [Binding("enter", "select_cursor", N_("Test"), show=False)]


class DestinationsScreen(AppScreen):
    """The destinations of the settings file, and what can be done with each."""

    BINDINGS = [
        Binding("a", "add", N_("Add")),
        Binding("t", "test", N_("Test")),
        Binding("l", "login", N_("Password"), tooltip=N_("Enter the password or access key")),
        Binding("delete,x", "remove", N_("Remove"), key_display="x"),
        Binding("escape", "back", N_("Back")),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.dests: list = []
        self.places: dict[str, object] = {}
        self.busy = False

    def help_text(self) -> str:
        return _(
            "Where backups go: a USB stick here, and a copy outside the practice (off-site: "
            "an S3 storage, an SSH server, a Nextcloud). a adds one, t tests the highlighted "
            "one (writes, reads and deletes a small test file), l enters its password or "
            "access key (kept in this computer's credential store, never in the settings "
            "file), x removes it (its backups stay where they are). A new SSH server's key "
            "is shown first: trust it only when it matches what the server's owner says."
        )

    def compose(self) -> ComposeResult:
        yield AppHeader(_("Destinations"))
        yield Static(
            _(
                "A backup on a USB stick shares the practice's fate (fire, water, burglary): "
                "keep one copy outside the practice as well."
            ),
            classes="hint",
            id="dest-intro",
        )
        yield DestinationTable(id="dest-table", cursor_type="row")
        yield Static("", id="dest-none", classes="hint")
        yield Static("", id="dest-msg", classes="form-error")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.after_recompose()

    def after_recompose(self) -> None:
        table = self.query_one("#dest-table", DataTable)
        table.add_column(_("Name"), key="name", width=16)
        table.add_column(_("Kind"), key="kind", width=10)
        table.add_column(_("Where"), key="where")
        table.add_column(_("Login"), key="login", width=18)
        self.reload()

    # ---- the list -------------------------------------------------------------------------

    def reload(self, select: str | None = None) -> None:
        from therabak import destinations as dests
        from therabak.errors import ConfigError

        settings, error = self.app.load_settings()
        try:
            self.dests = dests.destinations(settings)
        except ConfigError as e:
            self.dests, error = [], str(e)
        table = self.query_one("#dest-table", DataTable)
        table.clear()
        width = self.where_width()
        table.columns["where"].width = width
        table.columns["where"].auto_width = False
        for d in self.dests:
            place = self.places.get(d.name)
            table.add_row(
                Text(head(d.name, 16)),
                Text(kind_text(d)),
                Text(head(self.shown_where(d), width)),
                Text(login_text(d, place)),
                key=d.name,
            )
        none = self.query_one("#dest-none", Static)
        none.update(_("No destination yet: a adds one (a USB stick, or a URL off-site)."))
        none.display = not self.dests
        table.display = bool(self.dests)
        if select is not None:
            names = [d.name for d in self.dests]
            if select in names:
                table.move_cursor(row=names.index(select))
        if self.dests:
            table.focus()
        if error:
            self.say(error, error=True)
        self._places_worker([d for d in self.dests if d.is_remote])

    def where_width(self) -> int:
        """What the Where column gets: the screen's width less the other columns."""
        return max(16, self.app.size.width - (16 + 10 + 18) - 4 * 2 - 3)

    def shown_where(self, dest) -> str:
        return dest.where if dest.is_remote else self.app.ctx.display_path(dest.where)

    def on_resize(self) -> None:
        if self.dests and "where" in self.query_one("#dest-table", DataTable).columns:
            self.reload()

    @work(thread=True, exclusive=True, group="dest-places", exit_on_error=False)
    def _places_worker(self, remote: list) -> None:
        """Where each destination's credentials are (the credential store may be slow)."""
        from therabak import destinations as dests

        found = {}
        for d in remote:
            try:
                found[d.name] = dests.stored_credentials(d)
            except Exception:  # noqa: BLE001 - a broken credentials file: shown as none
                found[d.name] = None
        self.app.call_from_thread(self._show_places, found)

    def _show_places(self, found: dict) -> None:
        self.places.update(found)
        table = self.query_one("#dest-table", DataTable)
        for d in self.dests:
            if d.name in found and d.name in table.rows:
                table.update_cell(d.name, "login", Text(login_text(d, found[d.name])))

    def current(self):
        table = self.query_one("#dest-table", DataTable)
        if not self.dests or not table.display:
            return None
        row = table.cursor_row
        return self.dests[row] if 0 <= row < len(self.dests) else None

    def say(self, message: str, *, error: bool = False, ok: bool = False) -> None:
        style = "bold red" if error else ("bold green" if ok else "")
        self.query_one("#dest-msg", Static).update(Text(message, style=style))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("test", "remove"):
            return self.current() is not None and not self.busy
        if action == "login":
            d = self.current()
            return d is not None and d.is_remote and not self.busy
        return True

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.refresh_bindings()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_test()

    # ---- actions --------------------------------------------------------------------------

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_add(self) -> None:
        def added(dest) -> None:
            if dest is None:
                return
            self.reload(select=dest.name)
            self.say(_("Added {name}.").format(name=dest.name), ok=True)
            if dest.is_remote and needs_password_first(dest):
                self._ask_login(dest, then_test=True)
            else:
                self._start_test(dest)

        self.app.push_screen(AddDestinationDialog(), added)

    def action_login(self) -> None:
        dest = self.current()
        if dest is not None and dest.is_remote:
            self._ask_login(dest, then_test=True)

    def _ask_login(self, dest, *, then_test: bool) -> None:
        def done(where: str | None) -> None:
            if not where:
                return
            self.places.pop(dest.name, None)
            self.reload(select=dest.name)
            self.say(_("Kept in {where}.").format(where=where), ok=True)
            if then_test:
                self._start_test(dest)

        self.app.push_screen(CredentialsDialog(dest), done)

    def action_remove(self) -> None:
        dest = self.current()
        if dest is None:
            return

        def answered(yes: bool | None) -> None:
            if not yes:
                return
            from therabak import destinations as dests
            from therabak.errors import TherabakError

            settings, error = self.app.load_settings()
            if error:
                self.say(error, error=True)
                return
            try:
                dests.remove(settings, dest.name)
                settings.save()
            except (TherabakError, OSError) as e:
                self.say(str(e), error=True)
                return
            self.places.pop(dest.name, None)
            self.reload()
            self.say(_("Removed {name}; its backups stay where they are.").format(name=dest.name))

        body = _(
            "Remove the destination {name} ({where})? Its backups stay where they are; "
            "its stored password is forgotten."
        ).format(name=dest.name, where=dest.where)
        self.app.push_screen(
            ConfirmDialog(
                _("Remove a destination"), body, yes=_("Remove"), no=_("Keep"), danger=True
            ),
            answered,
        )

    def action_test(self) -> None:
        dest = self.current()
        if dest is not None and not self.busy:
            self._start_test(dest)

    # ---- testing, and the host key ------------------------------------------------------

    def _start_test(self, dest) -> None:
        self.busy = True
        self.refresh_bindings()
        self.say(_("Testing {name}…").format(name=dest.name))
        self._test_worker(dest)

    @work(thread=True, exclusive=True, group="dest-test", exit_on_error=False)
    def _test_worker(self, dest) -> None:
        from therabak import destinations as dests
        from therabak.errors import TherabakError
        from therabak.storage.base import HostKeyUnknownError
        from therabak.storage.probe import ProbeFailed

        def retrying(notice) -> None:
            from therabak import formatting

            self.app.call_from_thread(
                self.say,
                _(
                    "Testing {name}… no answer yet ({reason}); try {attempt} of {tries} in {wait}."
                ).format(
                    name=dest.name,
                    reason=_(notice.reason),
                    attempt=notice.attempt + 1,
                    tries=notice.tries,
                    wait=formatting.seconds(notice.delay_s),
                ),
            )

        try:
            result = dests.test_connection(dest, on_retry=retrying)
        except ProbeFailed as e:
            if isinstance(e.cause, HostKeyUnknownError):
                self.app.call_from_thread(self._ask_host_key, dest, e.cause)
                return
            self.app.call_from_thread(self._tested, dest, None, probe_failure_text(dest, e))
            return
        except TherabakError as e:
            self.app.call_from_thread(self._tested, dest, None, e.message)
            return
        except Exception as e:  # noqa: BLE001 - a library's surprise: one line, not a crash
            self.app.call_from_thread(
                self._tested,
                dest,
                None,
                _("Testing {place} failed: {error}").format(
                    place=dest.where, error=type(e).__name__
                ),
            )
            return
        self.app.call_from_thread(self._tested, dest, result, "")

    def _tested(self, dest, result, error: str) -> None:
        from therabak import formatting

        self.busy = False
        self.refresh_bindings()
        if result is None:
            self.say(error, error=True)
            return
        self.say(
            _("{name} works: wrote, read back and deleted a test file ({seconds}).").format(
                name=dest.name, seconds=formatting.seconds(result.seconds)
            ),
            ok=True,
        )

    def _ask_host_key(self, dest, unknown) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.say(_("Trusting the key of {host}…").format(host=dest.location.host))
                self._trust_worker(dest, unknown.fingerprint)
            else:
                self._tested(
                    dest,
                    None,
                    _("Not trusted: therabak does not connect to {host}.").format(
                        host=dest.location.host
                    ),
                )

        self.app.push_screen(HostKeyDialog(dest, unknown.key_type, unknown.fingerprint), answered)

    @work(thread=True, exclusive=True, group="dest-test", exit_on_error=False)
    def _trust_worker(self, dest, fingerprint: str) -> None:
        from therabak import destinations as dests
        from therabak.errors import TherabakError

        try:
            dests.trust_host_key(dest, fingerprint)
        except TherabakError as e:
            self.app.call_from_thread(self._tested, dest, None, e.message)
            return
        self.app.call_from_thread(self._start_test, dest)


def probe_failure_text(dest, failed) -> str:
    """One line: what failed while testing *dest*, and what to do (keys of this screen,
    not commands)."""
    from therabak.storage.base import CredentialsError
    from therabak.storage.probe import STEP_TEXT
    from therabak.storage.url import StorageKind

    step = _(STEP_TEXT[failed.step])
    if isinstance(failed.cause, CredentialsError):
        if dest.location.kind is StorageKind.S3:
            reason = _("the access key was refused, or none is kept (l: enter it)")
        else:
            reason = _("the login was refused: wrong or no password (l: enter it)")
    else:
        reason = failed.cause.message
    return _("Test of {name} failed while {step}: {reason}").format(
        name=dest.name, step=step, reason=reason
    )


def needs_password_first(dest) -> bool:
    """S3 and WebDAV need credentials before anything works; SFTP tries SSH keys first."""
    from therabak.storage.url import StorageKind

    return dest.location.kind in (StorageKind.S3, StorageKind.WEBDAV)
