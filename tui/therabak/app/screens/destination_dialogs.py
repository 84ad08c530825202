"""The dialogs of the destinations screen: naming a new destination, entering its
password or access key, and trusting a new SSH server's key."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label, Static

from therabak.app.screens.dialogs import ConfirmDialog
from therabak.app.translated import Translated
from therabak.app.widgets.inputs import TextInput, TickBox
from therabak.app.widgets.password_input import PasswordInput
from therabak.app.widgets.retry_panel import head
from therabak.i18n import N_, _


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
