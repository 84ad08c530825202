"""The app's destinations screen against the real servers (Pilot, the app in this
process): add an off-site destination, give its password (kept by the engine in the
credential store, never in the settings file), test it, see one line when it fails,
trust a new SSH server's key only after seeing its fingerprint, remove it."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import app.conftest as _app_fixtures
from app.apphelp import screen_text, wait_for
from remote.conftest import unique, use_keyring
from therabak.app.app import TherabakApp
from therabak.app.screens.destination_dialogs import (
    AddDestinationDialog,
    CredentialsDialog,
    HostKeyDialog,
)
from therabak.app.screens.destinations import DestinationsScreen
from therabak.app.screens.dialogs import ConfirmDialog
from therabak.settings import Settings

# the app's fixtures (tests/app/conftest.py), for this folder's tests
home = _app_fixtures.home
app_practice = _app_fixtures.app_practice
usb = _app_fixtures.usb
scheduler = _app_fixtures.scheduler
schedule_host = _app_fixtures.schedule_host
make_ctx = _app_fixtures.make_ctx
run_app = _app_fixtures.run_app

PLAIN_KEYRING = "keyrings.alt.file.PlaintextKeyring"


async def open_destinations(pilot) -> DestinationsScreen:
    await pilot.press("s")
    await wait_for(pilot, lambda: pilot.app.screen.query("#manage-destinations"))
    pilot.app.screen.query_one("#manage-destinations").press()
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, DestinationsScreen))
    return pilot.app.screen


async def add(pilot, name: str, where: str, limit: str = "") -> None:
    await pilot.press("a")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, AddDestinationDialog))
    dialog = pilot.app.screen
    dialog.query_one("#dest-name").value = name
    dialog.query_one("#dest-where").value = where
    dialog.query_one("#dest-limit").value = limit
    dialog.query_one("#add").press()
    await pilot.pause()


def message(screen: DestinationsScreen) -> str:
    return str(screen.query_one("#dest-msg").render())


def test_add_a_webdav_destination_give_its_password_and_test_it(
    make_ctx, run_app, webdav_server, monkeypatch, isolated_env: Path
):
    use_keyring(monkeypatch, PLAIN_KEYRING)
    folder = unique("app")
    (webdav_server.root / folder).mkdir()
    url = f"webdav://{webdav_server.user}@127.0.0.1:{webdav_server.port}/{folder}"
    app = TherabakApp(make_ctx())

    async def body(pilot):
        screen = await open_destinations(pilot)
        await add(pilot, "Nextcloud", url, "2M")
        # WebDAV needs its password before anything works: asked at once
        await wait_for(pilot, lambda: isinstance(app.screen, CredentialsDialog))
        dialog = app.screen
        await wait_for(pilot, lambda: dialog.has_store is not None)
        assert "credential store" in str(dialog.query_one("#cred-where").render())
        assert not dialog.query_one("#cred-file").display  # no file where a store exists
        await pilot.press(*"falsch", "enter")
        await wait_for(pilot, lambda: app.screen is screen)
        await wait_for(pilot, lambda: not screen.busy and "failed" in message(screen))
        line = message(screen)
        assert "failed while writing a test object" in line
        assert "wrong or no password (l: enter it)" in line
        assert "falsch" not in screen_text(app)
        await pilot.press("l")  # the right one
        await wait_for(pilot, lambda: isinstance(app.screen, CredentialsDialog))
        await wait_for(pilot, lambda: app.screen.has_store is not None)
        await pilot.press(*webdav_server.password, "enter")
        await wait_for(pilot, lambda: app.screen is screen)
        await wait_for(pilot, lambda: "works" in message(screen), timeout=60)
        assert "stored" in screen_text(app)  # the Login column

    run_app(app, body)
    text = Path(os.environ["THERABAK_CONFIG"]).read_text()
    assert url in text and 'limit_upload = "2M"' in text
    assert webdav_server.password not in text and "falsch" not in text
    keyring_dir = isolated_env / "xdg" / "data" / "python_keyring"
    assert keyring_dir.is_dir()  # kept by keyring, where its backend keeps things
    assert list((webdav_server.root / folder).rglob("therabak-test/*")) == []


def test_a_new_ssh_servers_key_is_shown_and_trusted_only_when_confirmed(
    make_ctx, run_app, ssh_server, home: Path, isolated_env: Path, monkeypatch
):
    use_keyring(monkeypatch, "keyring.backends.fail.Keyring")
    (home / ".ssh").mkdir()
    shutil.copy(ssh_server.client_key, home / ".ssh" / "id_ed25519")
    folder = ssh_server.folder / "data" / unique("app")
    folder.mkdir(parents=True)
    url = f"sftp://{ssh_server.user}@127.0.0.1:{ssh_server.port}{folder}"
    known = isolated_env / "known_hosts"
    app = TherabakApp(make_ctx())

    async def body(pilot):
        screen = await open_destinations(pilot)
        await add(pilot, "NAS", url)  # SFTP: tested at once (SSH keys first)
        await wait_for(pilot, lambda: isinstance(app.screen, HostKeyDialog), timeout=60)
        shown = screen_text(app)
        assert ssh_server.host_fingerprint in shown and "ssh-ed25519" in shown
        assert app.screen.query_one("#no").has_focus  # the safe answer first
        await pilot.press("enter")  # "Do not trust"
        await wait_for(pilot, lambda: app.screen is screen and not screen.busy)
        assert "Not trusted" in message(screen)
        assert not known.exists()
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, HostKeyDialog), timeout=60)
        app.screen.query_one("#yes").press()
        await wait_for(pilot, lambda: "works" in message(screen), timeout=60)

    run_app(app, body)
    assert known.read_text() == ssh_server.host_key_line + "\n"


def test_without_a_credential_store_the_file_is_chosen_explicitly(
    make_ctx, run_app, s3_server, monkeypatch, isolated_env: Path
):
    use_keyring(monkeypatch, "keyring.backends.fail.Keyring")
    settings = Settings.load()
    from therabak.settings import S3Settings

    settings.s3 = S3Settings(endpoint=s3_server.endpoint, path_style=True)
    settings.save()
    bucket = s3_server.new_bucket(unique("bkt"))
    app = TherabakApp(make_ctx())
    creds = isolated_env / "credentials.json"

    async def body(pilot):
        screen = await open_destinations(pilot)
        await add(pilot, "S3", f"s3://{bucket}/praxis")
        await wait_for(pilot, lambda: isinstance(app.screen, CredentialsDialog))
        dialog = app.screen
        await wait_for(pilot, lambda: dialog.has_store is False)
        assert dialog.query_one("#cred-file").display
        assert "no credential store" in str(dialog.query_one("#cred-where").render())
        dialog.query_one("#cred-key-id").value = s3_server.key_id
        dialog.query_one("#cred-secret").value = s3_server.secret
        dialog.query_one("#keep").press()
        await pilot.pause()
        assert "Tick the box" in str(dialog.query_one("#cred-error").render())
        assert not creds.exists()
        dialog.query_one("#cred-file").value = True
        dialog.query_one("#keep").press()
        await wait_for(pilot, lambda: app.screen is screen)
        await wait_for(pilot, lambda: "works" in message(screen), timeout=60)
        # remove it: asked first; the stored key goes with it
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        app.screen.query_one("#yes").press()
        await wait_for(pilot, lambda: app.screen is screen and not screen.dests)

    run_app(app, body)
    assert json.loads(creds.read_text()) == {}
    assert Settings.load().destinations == []
    assert s3_server.secret not in Path(os.environ["THERABAK_CONFIG"]).read_text()


def test_a_bad_place_is_said_in_the_dialog_and_nothing_is_saved(make_ctx, run_app):
    app = TherabakApp(make_ctx())

    async def body(pilot):
        await open_destinations(pilot)
        await add(pilot, "Cloud", "webdav://anna:Geheim4711@cloud.example.de/x")
        dialog = app.screen
        assert isinstance(dialog, AddDestinationDialog)
        error = str(dialog.query_one("#dest-error").render())
        assert "never goes into the address" in error and "Geheim4711" not in error
        # taken out of the field at once (not left on the screen)
        assert dialog.query_one("#dest-where").value == "webdav://anna@cloud.example.de/x"
        assert "Geheim4711" not in screen_text(app)
        dialog.query_one("#dest-where").value = "s3://bucket/x"
        dialog.query_one("#dest-limit").value = "schnell"
        dialog.query_one("#add").press()
        await pilot.pause()
        assert "upload rate" in str(dialog.query_one("#dest-error").render())
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, DestinationsScreen))

    run_app(app, body)
    assert Settings.load().destinations == []
