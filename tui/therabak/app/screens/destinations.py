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
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Footer, Label, Static

from therabak.app.screens.dialogs import ConfirmDialog
from therabak.app.translated import AppScreen, Translated
from therabak.app.widgets.header import AppHeader
from therabak.app.widgets.inputs import TextInput, TickBox
from therabak.app.widgets.password_input import PasswordInput
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


# ---- dialogs -----------------------------------------------------------------------------


class HostKeyDialog(ConfirmDialog):
    """A new SSH server: its key's fingerprint, to compare before trusting it."""

    def __init__(self, dest, key_type: str, fingerprint: str) -> None:
        from therabak.storage.hostkeys import host_entry_name

        host = host_entry_name(dest.location.host, dest.location.port)
        body = Text()
        body.append(
            _("therabak has never connected to {host}. It presents this key:").format(host=host)
            + "\n\n"
        )
        body.append(f"  {key_type}\n  {fingerprint}\n\n", style="bold")
        body.append(
            _(
                "Compare it with the fingerprint the server's owner gives you (on the "
                "server: ssh-keygen -l -f /etc/ssh/ssh_host_ed25519_key.pub). Trust it only "
                "if they match; otherwise someone may be listening in between."
            )
        )
        super().__init__(
            _("A new SSH server"), body, yes=_("They match: trust it"), no=_("Do not trust")
        )
        self.fingerprint = fingerprint


class AddDestinationDialog(Translated, ModalScreen):
    """Name a new destination: a folder or a URL, and for one off-site an upload limit."""

    BINDINGS = [Binding("escape", "cancel", N_("Cancel"))]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="dest-dialog"):
            yield Static(_("Add a destination"), classes="dialog-title")
            with Horizontal(classes="form-row"):
                yield Label(_("Name"), classes="form-label")
                yield TextInput(
                    id="dest-name", placeholder=_("e.g. USB stick, Nextcloud"), compact=True
                )
            with Horizontal(classes="form-row"):
                yield Label(_("Where"), classes="form-label")
                yield TextInput(id="dest-where", placeholder=_("a folder, or a URL"), compact=True)
            yield Static(
                Text(
                    _("s3://BUCKET/FOLDER, sftp://USER@SERVER/FOLDER, webdavs://USER@SERVER/…"),
                    style="dim",
                ),
                classes="form-note",
            )
            with Horizontal(classes="form-row"):
                yield Label(_("Upload limit"), classes="form-label")
                yield TextInput(
                    id="dest-limit", placeholder=_("e.g. 2M per second; empty: none"), compact=True
                )
            yield Static("", id="dest-error", classes="form-note error")
            with Horizontal(classes="dialog-buttons"):
                yield Button(_("Cancel"), id="cancel", compact=True)
                yield Button(_("Add"), id="add", compact=True, variant="primary")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#dest-name", TextInput).focus()
        self.query_one("#dest-error").display = False

    def on_input_submitted(self, event) -> None:
        event.stop()
        self.add()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "add":
            self.add()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def add(self) -> None:
        from therabak import destinations as dests
        from therabak.errors import TherabakError

        name = self.query_one("#dest-name", TextInput).value
        where = self.query_one("#dest-where", TextInput).value
        limit = self.query_one("#dest-limit", TextInput).value
        cleaned = without_password(where)
        if cleaned != where:  # never kept, never shown again: out of the field at once
            self.query_one("#dest-where", TextInput).value = cleaned
            self.show_error(
                _(
                    "A password never goes into the address; it was taken out. Add the "
                    "destination, then enter its password (key l)."
                )
            )
            return
        settings, error = self.app.load_settings()
        try:
            if error:
                raise TherabakError(error)
            dest = dests.add(settings, name, where, limit)
            settings.save()
        except TherabakError as e:
            self.show_error(e.message)
            return
        except OSError as e:
            self.show_error(str(e))
            return
        self.dismiss(dest)

    def show_error(self, message: str) -> None:
        line = self.query_one("#dest-error", Static)
        line.update(message)
        line.display = True


def without_password(where: str) -> str:
    """*where* with the password of a ``scheme://user:password@host`` URL taken out."""
    import re

    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/@:]*):[^/@]*@", r"\1@", where.strip())


class CredentialsDialog(Translated, ModalScreen):
    """The password (SFTP, WebDAV) or access key (S3) of a destination, handed to the
    engine's credential store; where it is kept is said, and the file (a computer without
    a credential store) only when the user ticks it."""

    BINDINGS = [Binding("escape", "cancel", N_("Cancel"))]

    def __init__(self, dest) -> None:
        super().__init__()
        self.dest = dest
        self.has_store: bool | None = None

    def compose(self) -> ComposeResult:
        from therabak import destinations as dests

        s3 = dests.login_kind(self.dest) is dests.LoginKind.ACCESS_KEY
        with Vertical(classes="dialog", id="cred-dialog"):
            yield Static(_("Login for {name}").format(name=self.dest.name), classes="dialog-title")
            yield Static(Text(head(self.dest.where, 68), style="dim"))
            if s3:
                with Horizontal(classes="form-row"):
                    yield Label(_("Access key id"), classes="form-label")
                    yield TextInput(id="cred-key-id", compact=True)
            with Horizontal(classes="form-row"):
                yield Label(_("Secret key") if s3 else _("Password"), classes="form-label")
                yield PasswordInput(id="cred-secret")
            yield Static(Text(_("checking where it can be kept…"), "dim"), id="cred-where")
            yield TickBox(_("Keep it in that file"), id="cred-file", compact=True)
            yield Static("", id="cred-error", classes="form-note error")
            with Horizontal(classes="dialog-buttons"):
                yield Button(_("Cancel"), id="cancel", compact=True)
                yield Button(_("Keep it"), id="keep", compact=True, variant="primary")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#cred-error").display = False
        self.query_one("#cred-file").display = False
        key_ids = self.query("#cred-key-id")
        (key_ids.first() if key_ids else self.query_one("#cred-secret")).focus()
        self._where_worker()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _where_worker(self) -> None:
        from therabak import destinations as dests
        from therabak.storage.credentials import credentials_file, keyring_name

        has = dests.credential_store_available()
        name = keyring_name() if has else None
        file = self.app.ctx.display_path(credentials_file())
        self.app.call_from_thread(self._show_where, has, name, file)

    def _show_where(self, has: bool, name: str | None, file: str) -> None:
        self.has_store = has
        where = self.query_one("#cred-where", Static)
        if has:
            where.update(
                Text(
                    _(
                        "Kept in this computer's credential store ({name}), never in the settings."
                    ).format(name=name),
                    style="dim",
                )
            )
            return
        where.update(
            Text(
                _(
                    "This computer has no credential store. It can be kept in {path}, readable "
                    "only by you (not by other users; an administrator can read it)."
                ).format(path=file),
                style="dim",
            )
        )
        self.query_one("#cred-file").display = True

    def on_input_submitted(self, event) -> None:
        event.stop()
        self.keep()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "keep":
            self.keep()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def keep(self) -> None:
        from therabak.storage.credentials import CredentialPlace

        if self.has_store is None:
            return  # still looking
        secret = self.query_one("#cred-secret", PasswordInput).value
        key_ids = self.query("#cred-key-id")
        key_id = key_ids.first().value.strip() if key_ids else None
        if not secret or (key_ids and not key_id):
            self.show_error(_("Nothing entered."))
            return
        place = CredentialPlace.KEYRING
        if not self.has_store:
            if not self.query_one("#cred-file", TickBox).value:
                self.show_error(_("Tick the box to keep it in the file, or press Esc."))
                return
            place = CredentialPlace.FILE
        self._save_worker(secret, key_id, place)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _save_worker(self, secret: str, key_id: str | None, place) -> None:
        from therabak import destinations as dests
        from therabak.errors import TherabakError

        try:
            where = dests.save_credentials(self.dest, secret, key_id=key_id, place=place)
        except TherabakError as e:
            self.app.call_from_thread(self.show_error, e.message)
            return
        self.app.call_from_thread(self.dismiss, where)

    def show_error(self, message: str) -> None:
        line = self.query_one("#cred-error", Static)
        line.update(message)
        line.display = True
