"""SSH host keys: which servers this computer knows, and trusting a new one.

therabak reads ``~/.ssh/known_hosts`` (the user's, as OpenSSH keeps it; never written) and
its own ``known_hosts`` beside the settings file (``THERABAK_KNOWN_HOSTS`` to move it),
where :func:`trust` adds a key the user confirmed. A server whose key is in neither is
refused with :class:`~therabak.storage.base.HostKeyUnknownError` (its fingerprint in the
message); a server that presents another key than the one known for it is refused with
:class:`~therabak.storage.base.HostKeyChangedError`. Nothing is ever accepted silently.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import paramiko

from therabak.fsutil import write_private
from therabak.settings import config_file

SSH_PORT = 22


def therabak_known_hosts() -> Path:
    env = os.environ.get("THERABAK_KNOWN_HOSTS")
    if env:
        return Path(env)
    return config_file().parent / "known_hosts"


def user_known_hosts() -> Path:
    return Path("~/.ssh/known_hosts").expanduser()


@dataclass(frozen=True)
class KnownHosts:
    """The known_hosts files consulted (in order) and the one :func:`trust` writes."""

    read: tuple[Path, ...]
    write: Path

    @classmethod
    def default(cls) -> KnownHosts:
        own = therabak_known_hosts()
        return cls((user_known_hosts(), own), own)


def host_entry_name(host: str, port: int) -> str:
    """How known_hosts names a server: ``host``, or ``[host]:port`` off port 22."""
    return host if port == SSH_PORT else f"[{host}]:{port}"


def fingerprint(key: paramiko.PKey) -> str:
    """``SHA256:…``, as ``ssh-keygen -l`` and OpenSSH's prompts show it."""
    return key.fingerprint


def trust(host: str, port: int, key: paramiko.PKey, known: KnownHosts | None = None) -> Path:
    """Add *key* for *host*:*port* to therabak's known_hosts (after the user confirmed it),
    replacing what that file held for the server; returns the file."""
    known = known or KnownHosts.default()
    name = host_entry_name(host, port)
    path = known.write
    lines: list[str] = []
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        text = ""
    for line in text.splitlines():
        fields = line.split()
        if fields and not line.lstrip().startswith("#") and name in fields[0].split(","):
            continue  # the old key of this server: replaced
        lines.append(line)
    lines.append(f"{name} {key.get_name()} {key.get_base64()}")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private(path, ("\n".join(lines) + "\n").encode("utf-8"))
    return path


def load_into(client: paramiko.SSHClient, known: KnownHosts) -> None:
    """Give *client* every known key (as "system" keys: paramiko never writes those)."""
    for path in known.read:
        if path.is_file():
            try:
                client.load_system_host_keys(str(path))
            except (OSError, UnicodeDecodeError):
                continue


class KeyState(StrEnum):
    KNOWN = "known"  # this very key is known for the server
    UNKNOWN = "unknown"  # no key of this type is known for the server
    CHANGED = "changed"  # another key of this type is known: refused


def key_state(
    host: str, port: int, key: paramiko.PKey, known: KnownHosts | None = None
) -> KeyState:
    """What the known_hosts files say about *key* for *host*:*port*."""
    known = known or KnownHosts.default()
    keys = paramiko.HostKeys()
    for path in known.read:
        if path.is_file():
            try:
                keys.load(str(path))
            except (OSError, UnicodeDecodeError):
                continue
    entries = keys.lookup(host_entry_name(host, port))
    if entries is None:
        return KeyState.UNKNOWN
    ours = entries.get(key.get_name())
    if ours is None:
        return KeyState.UNKNOWN
    return KeyState.KNOWN if ours == key else KeyState.CHANGED
