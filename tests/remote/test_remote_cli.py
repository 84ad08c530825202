"""``therabak remote login|logout|test|trust`` as a user runs them (subprocesses), against
the real servers: credentials through keyring's file backend (keyrings.alt, in the test's
own XDG folders), the fallback file, the environment; every failure one line with its exit
code, and no secret in any output."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest

from cli_support import single_line
from conftest import run_cli
from remote.conftest import unique
from remote.servers import free_port
from therabak.errors import ExitCode

KEYRING_FILE = {"PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring"}
NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


def webdav_url(server, folder: str) -> str:
    return f"webdav://{server.user}@127.0.0.1:{server.port}/{folder}"


def no_secret(r, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in r.stdout and secret not in r.stderr


@pytest.fixture
def webdav_folder(webdav_server) -> str:
    folder = unique("cli")
    (webdav_server.root / folder).mkdir()
    return folder


def test_login_test_logout_with_the_credential_store(webdav_server, webdav_folder, isolated_env):
    url = webdav_url(webdav_server, webdav_folder)
    pw = webdav_server.password
    r = run_cli("remote", "test", url, env=KEYRING_FILE)
    assert r.returncode == ExitCode.REMOTE_LOGIN, r.stderr
    assert "no password is stored" in single_line(r.stderr)
    r = run_cli("remote", "login", url, "--stdin", "--json", env=KEYRING_FILE, input=pw + "\n")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["store"] == "keyring"
    no_secret(r, pw)
    keyring_dir = isolated_env / "xdg" / "data" / "python_keyring"
    assert keyring_dir.is_dir()  # the backend's own file, not the settings file
    assert not (isolated_env / "settings.toml").exists()
    r = run_cli("remote", "test", url, "--json", env=KEYRING_FILE)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["ok"] and result["steps"] == ["write", "read", "list", "delete"]
    assert list((webdav_server.root / webdav_folder).glob("therabak-test/*")) == []
    no_secret(r, pw)
    r = run_cli("remote", "logout", url, env=KEYRING_FILE)
    assert r.returncode == 0 and "Forgot" in r.stdout
    r = run_cli("remote", "test", url, env=KEYRING_FILE)
    assert r.returncode == ExitCode.REMOTE_LOGIN


def test_without_a_credential_store_the_fallback_file_is_explicit(
    webdav_server, webdav_folder, isolated_env
):
    url = webdav_url(webdav_server, webdav_folder)
    pw = webdav_server.password
    r = run_cli("remote", "login", url, "--stdin", env=NO_KEYRING, input=pw + "\n")
    assert r.returncode == ExitCode.ERROR
    line = single_line(r.stderr)
    assert "no credential store" in line and "--store file" in line
    no_secret(r, pw)
    r = run_cli(
        "remote", "login", url, "--stdin", "--store", "file", env=NO_KEYRING, input=pw + "\n"
    )
    assert r.returncode == 0, r.stderr
    path = isolated_env / "credentials.json"  # beside the settings file
    assert path.exists() and str(path) in r.stdout
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    r = run_cli("remote", "test", url, env=NO_KEYRING)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("OK: ")
    r = run_cli("remote", "logout", url, env=NO_KEYRING)
    assert r.returncode == 0 and str(path) in r.stdout
    assert json.loads(path.read_text()) == {}


def test_the_environment_gives_the_password_for_one_run(webdav_server, webdav_folder):
    url = webdav_url(webdav_server, webdav_folder)
    env = {**NO_KEYRING, "THERABAK_REMOTE_PASSWORD": webdav_server.password}
    r = run_cli("remote", "test", url, env=env)
    assert r.returncode == 0, r.stderr
    env["THERABAK_REMOTE_PASSWORD"] = "falsch"
    r = run_cli("remote", "test", url, env=env)
    assert r.returncode == ExitCode.REMOTE_LOGIN
    line = single_line(r.stderr)
    assert "while writing a test object" in line and "stored password was refused" in line


def test_a_password_in_the_url_is_refused_without_showing_it(webdav_server):
    r = run_cli("remote", "test", f"webdav://anna:Geheim4711@127.0.0.1:{webdav_server.port}/x")
    assert r.returncode == ExitCode.USAGE
    line = single_line(r.stderr)
    assert "Geheim4711" not in line
    assert "never holds a password" in line and "therabak remote login" in line


def s3_settings(isolated_env: Path, endpoint: str, **extra) -> None:
    text = f'[s3]\nendpoint = "{endpoint}"\nregion = "eu-central-1"\npath_style = true\n'
    if extra:
        text += "\n[remote]\n" + "".join(f"{k} = {v}\n" for k, v in extra.items())
    (isolated_env / "settings.toml").write_text(text)


def test_s3_login_and_test(s3_server, isolated_env):
    bucket = s3_server.new_bucket(unique("bkt"))
    s3_settings(isolated_env, s3_server.endpoint)
    url = f"s3://{bucket}/praxis/therabak"
    secrets = f"{s3_server.key_id}\n{s3_server.secret}\n"
    r = run_cli("remote", "login", url, "--stdin", env=KEYRING_FILE, input=secrets)
    assert r.returncode == 0, r.stderr
    no_secret(r, s3_server.secret, s3_server.key_id)
    r = run_cli("remote", "test", url, env=KEYRING_FILE)
    assert r.returncode == 0, r.stderr
    # the same through the AWS_* variables, no store
    env = {
        **NO_KEYRING,
        "AWS_ACCESS_KEY_ID": s3_server.key_id,
        "AWS_SECRET_ACCESS_KEY": s3_server.secret,
    }
    assert run_cli("remote", "test", url, env=env).returncode == 0
    env["AWS_SECRET_ACCESS_KEY"] = "wrong-" + s3_server.secret
    r = run_cli("remote", "test", url, env=env)
    assert r.returncode == ExitCode.REMOTE_LOGIN
    no_secret(r, s3_server.secret)
    env["AWS_SECRET_ACCESS_KEY"] = s3_server.secret
    r = run_cli("remote", "test", f"s3://no-such-bucket-{bucket}/x", env=env)
    assert r.returncode == ExitCode.REMOTE_MISSING
    assert "does not exist" in single_line(r.stderr)


def test_unreachable_after_the_documented_tries(isolated_env):
    port = free_port()
    s3_settings(
        isolated_env, f"http://127.0.0.1:{port}", tries=3, initial_delay_s=0.01, max_delay_s=0.02
    )
    env = {**NO_KEYRING, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}
    r = run_cli("remote", "test", "s3://bucket/x", env=env)
    assert r.returncode == ExitCode.REMOTE_UNREACHABLE
    assert "no answer after 3 tries" in single_line(r.stderr)


def test_sftp_host_key_trust_then_test(ssh_server, tmp_path: Path, isolated_env):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    shutil.copy(ssh_server.client_key, home / ".ssh" / "id_ed25519")
    folder = ssh_server.folder / "data" / unique("cli")
    folder.mkdir(parents=True)
    url = f"sftp://{ssh_server.user}@127.0.0.1:{ssh_server.port}{folder}"
    env = {**NO_KEYRING, "HOME": str(home), "SSH_AUTH_SOCK": None}
    r = run_cli("remote", "test", url, env=env)
    assert r.returncode == ExitCode.HOST_KEY
    line = single_line(r.stderr)
    assert ssh_server.host_fingerprint in line and "not a known SSH server" in line
    # not a terminal: the fingerprint must be given, and must match
    r = run_cli("remote", "trust", url, env=env)
    assert r.returncode == ExitCode.USAGE and ssh_server.host_fingerprint in r.stderr
    r = run_cli("remote", "trust", url, "--fingerprint", "SHA256:" + "A" * 43, env=env)
    assert r.returncode == ExitCode.HOST_KEY
    assert not (isolated_env / "known_hosts").exists()
    r = run_cli(
        "remote", "trust", url, "--fingerprint", ssh_server.host_fingerprint, "--json", env=env
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["new"] is True
    assert (isolated_env / "known_hosts").read_text() == ssh_server.host_key_line + "\n"
    r = run_cli("remote", "test", url, env=env)
    assert r.returncode == 0, r.stderr
    r = run_cli("remote", "trust", url, env=env)
    assert r.returncode == 0 and "known already" in r.stdout
    # a missing folder
    r = run_cli("remote", "test", url + "/missing", env=env)
    assert r.returncode == ExitCode.REMOTE_MISSING
