"""Named destinations against the real servers: what the app and ``therabak destination``
do through ``therabak.destinations`` — store the credentials (the credential store, never
the settings file), trust an SSH server's host key only with the fingerprint the user
confirmed, test the connection (one line says which step failed), and the upload limit
of a destination reaching the wire."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from conftest import run_cli
from remote.conftest import unique, use_keyring
from therabak import destinations as dests
from therabak.errors import ExitCode
from therabak.settings import Settings
from therabak.storage.base import HostKeyChangedError, HostKeyError, HostKeyUnknownError
from therabak.storage.credentials import CredentialPlace
from therabak.storage.probe import ProbeFailed, ProbeStep

PLAIN_KEYRING = "keyrings.alt.file.PlaintextKeyring"


def _settings_text() -> str:
    path = Path(os.environ["THERABAK_CONFIG"])
    return path.read_text() if path.exists() else ""


def _no_secret_anywhere(env_dir: Path, *secrets: str) -> None:
    """Not in the settings file, not in any file of the state folder."""
    for path in [Path(os.environ["THERABAK_CONFIG"]), *env_dir.joinpath("state").rglob("*")]:
        if path.is_file():
            data = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in data, path


def test_webdav_destination_credentials_and_test(
    webdav_server, isolated_env: Path, monkeypatch
) -> None:
    use_keyring(monkeypatch, PLAIN_KEYRING)
    folder = unique("dest")
    (webdav_server.root / folder).mkdir()
    s = Settings.load()
    url = f"webdav://{webdav_server.user}@127.0.0.1:{webdav_server.port}/{folder}"
    d = dests.add(s, "Nextcloud", url)
    s.save()
    with pytest.raises(ProbeFailed) as e:
        dests.test_connection(d, s)
    assert e.value.step is ProbeStep.WRITE and e.value.exit_code == ExitCode.REMOTE_LOGIN
    assert "\n" not in e.value.message
    where = dests.save_credentials(d, "falsch", settings=s)
    assert "Plaintext" in where or "keyring" in where.lower()
    assert dests.stored_credentials(d, s) is CredentialPlace.KEYRING
    with pytest.raises(ProbeFailed) as e:
        dests.test_connection(d, s)
    assert "refused" in e.value.message and "falsch" not in e.value.message
    dests.save_credentials(d, webdav_server.password, settings=s)
    result = dests.test_connection(d, s)
    assert result.done == [ProbeStep.WRITE, ProbeStep.READ, ProbeStep.LIST, ProbeStep.DELETE]
    assert list((webdav_server.root / folder).rglob("therabak-test/*")) == []
    _no_secret_anywhere(isolated_env, webdav_server.password)
    assert webdav_server.password not in _settings_text()


def test_s3_destination_with_its_access_key(s3_server, isolated_env: Path, monkeypatch) -> None:
    use_keyring(monkeypatch, "keyring.backends.fail.Keyring")  # a headless Linux
    assert not dests.credential_store_available()
    Path(os.environ["THERABAK_CONFIG"]).write_text(
        f'[s3]\nendpoint = "{s3_server.endpoint}"\npath_style = true\n'
    )
    bucket = s3_server.new_bucket(unique("bkt"))
    s = Settings.load()
    d = dests.add(s, "Offsite", f"s3://{bucket}/praxis")
    s.save()
    from therabak.errors import ConfigError

    with pytest.raises(ConfigError, match="no credential store"):
        dests.save_credentials(d, s3_server.secret, key_id=s3_server.key_id, settings=s)
    where = dests.save_credentials(
        d, s3_server.secret, key_id=s3_server.key_id, place=CredentialPlace.FILE, settings=s
    )
    assert where == str(isolated_env / "credentials.json")
    assert dests.test_connection(d, s).done[-1] is ProbeStep.DELETE
    missing = dests.add(s, "Gone", f"s3://{unique('nobkt')}/x")
    dests.save_credentials(
        missing, s3_server.secret, key_id=s3_server.key_id, place=CredentialPlace.FILE, settings=s
    )
    with pytest.raises(ProbeFailed) as e:
        dests.test_connection(missing, s)
    assert e.value.exit_code == ExitCode.REMOTE_MISSING and "does not exist" in e.value.message
    assert s3_server.secret not in _settings_text()


@pytest.fixture
def ssh_home(ssh_server, tmp_path: Path, monkeypatch) -> Path:
    """A home folder whose ~/.ssh holds the key the test server accepts."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    shutil.copy(ssh_server.client_key, home / ".ssh" / "id_ed25519")
    monkeypatch.setenv("HOME", str(home))
    return home


def test_sftp_host_key_is_trusted_only_as_confirmed(
    ssh_server, ssh_home: Path, isolated_env: Path
) -> None:
    folder = ssh_server.folder / "data" / unique("dest")
    folder.mkdir(parents=True)
    s = Settings.load()
    d = dests.add(s, "NAS", f"sftp://{ssh_server.user}@127.0.0.1:{ssh_server.port}{folder}")
    key = dests.host_key(d, s)
    assert key.fingerprint == ssh_server.host_fingerprint and key.state == "unknown"
    assert key.host == f"[127.0.0.1]:{ssh_server.port}"
    with pytest.raises(ProbeFailed) as e:  # never accepted silently
        dests.test_connection(d, s)
    assert isinstance(e.value.cause, HostKeyUnknownError)
    assert e.value.exit_code == ExitCode.HOST_KEY
    with pytest.raises(HostKeyError, match="not trusted"):
        dests.trust_host_key(d, "SHA256:" + "A" * 43, s)
    known = isolated_env / "known_hosts"
    assert not known.exists()
    path = dests.trust_host_key(d, key.fingerprint, s)
    assert path == known and known.read_text() == ssh_server.host_key_line + "\n"
    assert dests.host_key(d, s).state == "known"
    assert dests.test_connection(d, s).done[-1] is ProbeStep.DELETE
    # a server that now shows another key: refused, and trust never replaces it
    other = "[127.0.0.1]:{} ssh-ed25519 {}".format(
        ssh_server.port,
        "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
    )
    known.write_text(other + "\n")
    assert dests.host_key(d, s).state == "changed"
    with pytest.raises(HostKeyChangedError, match="CHANGED|another"):
        dests.trust_host_key(d, key.fingerprint, s)
    assert known.read_text() == other + "\n"


def test_the_upload_limit_of_a_destination_holds(webdav_server, isolated_env: Path) -> None:
    """``remote test NAME``: the 64 KiB test object at the destination's 16k/s takes at
    least (64 KiB - the 16 KiB burst) / 16 KiB/s = 3 s (a lower bound only: a slow machine
    makes it slower, never faster). That ``--limit-upload`` wins over it:
    test_open_destination_gives_the_limit_to_the_storage."""
    folder = unique("limit")
    (webdav_server.root / folder).mkdir()
    url = f"webdav://{webdav_server.user}@127.0.0.1:{webdav_server.port}/{folder}"
    env = {"THERABAK_REMOTE_PASSWORD": webdav_server.password}
    assert run_cli("destination", "add", "Slow", url, "--limit-upload", "16k").returncode == 0
    started = time.monotonic()
    r = run_cli("remote", "test", "Slow", env=env)
    took = time.monotonic() - started
    assert r.returncode == 0, r.stderr
    assert took >= 3.0
    r = run_cli("remote", "test", "Slow", "--limit-upload", "fast", env=env)
    assert r.returncode == ExitCode.USAGE and "--limit-upload" in r.stderr
