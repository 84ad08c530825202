"""SSH host keys against a real sshd: an unknown key is refused with its fingerprint (the
one ``ssh-keygen -l`` prints) and can be trusted by a separate call; a changed key is
refused loudly; ``~/.ssh/known_hosts`` counts as well as therabak's own file."""

from __future__ import annotations

import subprocess
from pathlib import Path

import paramiko
import pytest

from remote.conftest import make_sftp
from therabak.errors import ExitCode
from therabak.storage.base import HostKeyChangedError, HostKeyUnknownError
from therabak.storage.hostkeys import KnownHosts, trust


def test_an_unknown_host_key_is_refused_with_its_fingerprint(ssh_server, tmp_path: Path) -> None:
    own = tmp_path / "therabak_known_hosts"
    known = KnownHosts((tmp_path / "empty_known_hosts", own), own)
    s = make_sftp(ssh_server, tmp_path, known_hosts=known)
    with pytest.raises(HostKeyUnknownError) as e:
        s.size("x")
    error = e.value
    assert error.exit_code is ExitCode.HOST_KEY
    assert error.fingerprint == ssh_server.host_fingerprint  # as ssh-keygen -l shows it
    assert ssh_server.host_fingerprint in str(error)
    assert error.key_type == "ssh-ed25519"
    assert f"[127.0.0.1]:{ssh_server.port}" in str(error)
    assert not own.exists()  # nothing was accepted silently
    # the separate, explicit call: trusted, then the same storage connects
    trust("127.0.0.1", ssh_server.port, error.key, known)
    assert own.read_text() == ssh_server.host_key_line + "\n"
    assert own.stat().st_mode & 0o077 == 0
    assert s.size("x") is None
    s.put_bytes("x", b"1")
    assert s.get("x") == b"1"


def test_a_changed_host_key_is_refused_loudly(ssh_server, tmp_path: Path) -> None:
    fake = tmp_path / "fake"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(fake)], check=True)
    kind, blob = (tmp_path / "fake.pub").read_text().split()[:2]
    known_file = tmp_path / "known_hosts"
    known_file.write_text(f"[127.0.0.1]:{ssh_server.port} {kind} {blob}\n")
    s = make_sftp(ssh_server, tmp_path, known_hosts=KnownHosts((known_file,), tmp_path / "own"))
    with pytest.raises(HostKeyChangedError) as e:
        s.size("x")
    message = str(e.value)
    assert e.value.exit_code is ExitCode.HOST_KEY
    assert message.startswith("WARNING")
    assert "CHANGED" in message and ssh_server.host_fingerprint in message
    assert str(known_file) in message
    assert e.value.fingerprint == ssh_server.host_fingerprint
    assert known_file.read_text().split()[2] == blob  # left as it was


def test_the_users_known_hosts_counts(ssh_server, tmp_path: Path, monkeypatch) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    ssh_server.known_hosts(home / ".ssh" / "known_hosts")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("THERABAK_KNOWN_HOSTS", str(tmp_path / "own"))
    s = make_sftp(ssh_server, tmp_path, known_hosts=KnownHosts.default())
    assert s.size("x") is None
    assert not (tmp_path / "own").exists()


def test_hashed_known_hosts_entries_count(ssh_server, tmp_path: Path) -> None:
    known_file = ssh_server.known_hosts(tmp_path / "known_hosts")
    subprocess.run(["ssh-keygen", "-H", "-f", str(known_file)], check=True, capture_output=True)
    assert "127.0.0.1" not in known_file.read_text()  # hashed, as Debian's ssh writes it
    s = make_sftp(ssh_server, tmp_path, known_hosts=KnownHosts((known_file,), tmp_path / "own"))
    assert s.size("x") is None


def test_trust_replaces_only_that_servers_line(tmp_path: Path) -> None:
    own = tmp_path / "known_hosts"
    own.write_text("# mine\nnas.local ssh-ed25519 AAAAother\n[10.0.0.5]:2222 ssh-ed25519 AAAAold\n")
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True
    )
    key = paramiko.Ed25519Key.from_private_key_file(str(tmp_path / "k"))
    trust("10.0.0.5", 2222, key, KnownHosts((own,), own))
    lines = own.read_text().splitlines()
    assert lines[:2] == ["# mine", "nas.local ssh-ed25519 AAAAother"]
    assert lines[2] == f"[10.0.0.5]:2222 ssh-ed25519 {key.get_base64()}"
    assert len(lines) == 3
