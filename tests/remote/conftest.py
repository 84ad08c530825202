"""Fixtures for the remote storages: real servers on 127.0.0.1 (see servers.py), started
once per test session (per xdist worker), and a fresh storage of each kind per test.

``storage_factory(kind)`` makes a new, empty storage of *kind* (``local``, ``s3``,
``sftp``, ``webdav``): a new bucket, a new folder. ``FAST`` retries quickly (the tests of
retries wait tenths of seconds, not the defaults' seconds).
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from remote.servers import (
    S3Server,
    SshServer,
    WebdavServer,
    sshd_missing,
    start_s3,
    start_sshd,
    start_webdav,
)
from therabak.storage.base import Storage
from therabak.storage.hostkeys import KnownHosts
from therabak.storage.local import LocalStorage
from therabak.storage.network import NetworkOptions, RetryPolicy
from therabak.storage.s3 import S3Storage
from therabak.storage.sftp import SftpStorage
from therabak.storage.webdav import WebdavStorage

KINDS = ["local", "s3", "sftp", "webdav"]
REMOTE_KINDS = ["s3", "sftp", "webdav"]


def fast(**changes) -> NetworkOptions:
    options = NetworkOptions(
        retry=RetryPolicy(tries=5, initial_delay_s=0.05, max_delay_s=0.3), timeout_s=10
    )
    for k, v in changes.items():
        setattr(options, k, v)
    return options


_counter = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}{os.getpid()}x{next(_counter)}"


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> Iterator[S3Server]:
    try:
        server = start_s3(tmp_path_factory.mktemp("moto"))
    except ImportError as e:  # pragma: no cover - the test extras bring moto
        pytest.skip(f"moto[server] is not installed: {e}")
    yield server
    server.server.kill()


@pytest.fixture(scope="session")
def ssh_server(tmp_path_factory) -> Iterator[SshServer]:
    why = sshd_missing()
    if why:
        pytest.skip(why)
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.server.kill()


@pytest.fixture(scope="session")
def webdav_server(tmp_path_factory) -> Iterator[WebdavServer]:
    folder = tmp_path_factory.mktemp("wsgidav")
    root = folder / "root"
    root.mkdir()
    server = start_webdav(folder, root)
    yield server
    server.server.kill()


@pytest.fixture(autouse=True)
def _no_ssh_agent(monkeypatch) -> None:
    """Never the developer's SSH agent or keys: the tests give their own."""
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("THERABAK_REMOTE_PASSWORD", raising=False)


def use_keyring(monkeypatch, backend: str) -> None:
    """Use keyring *backend* in this process (keyring picks its backend once and keeps it)."""
    import keyring.core

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", backend)
    keyring.core.init_backend()


@pytest.fixture(autouse=True)
def _fresh_keyring() -> Iterator[None]:
    yield
    import keyring.core

    keyring.core.init_backend()


def make_s3(
    server: S3Server, *, bucket: str | None = None, endpoint: str | None = None, **kw
) -> S3Storage:
    bucket = bucket or server.new_bucket(unique("bkt"))
    kw.setdefault("options", fast())
    kw.setdefault("access_key_id", server.key_id)
    kw.setdefault("secret_access_key", server.secret)
    return S3Storage(
        bucket, "backups/praxis", endpoint_url=endpoint or server.endpoint, path_style=True, **kw
    )


def make_sftp(
    server: SshServer, tmp_path: Path, *, folder: str | None = None, port: int | None = None, **kw
) -> SftpStorage:
    if folder is None:
        path = server.folder / "data" / unique("f")
        path.mkdir(parents=True)
        folder = str(path)
    known = tmp_path / f"known_hosts-{port or server.port}"
    if not known.exists():
        server.known_hosts(known, port)
    kw.setdefault("options", fast())
    kw.setdefault("key_files", [server.client_key])
    kw.setdefault("known_hosts", KnownHosts((known,), known))
    return SftpStorage(
        "127.0.0.1",
        folder,
        user=server.user,
        port=port or server.port,
        look_for_keys=False,
        allow_agent=False,
        **kw,
    )


def make_webdav(
    server: WebdavServer, *, folder: str | None = None, port: int | None = None, **kw
) -> WebdavStorage:
    if folder is None:
        folder = unique("f")
        (server.root / folder).mkdir()
    kw.setdefault("options", fast())
    kw.setdefault("user", server.user)
    kw.setdefault("password", server.password)
    return WebdavStorage(f"http://127.0.0.1:{port or server.port}/{folder}", **kw)


@pytest.fixture
def storage_factory(request, tmp_path: Path) -> Iterator[Callable[[str], Storage]]:
    made: list[Storage] = []

    def make(kind: str, **kw) -> Storage:
        if kind == "local":
            s: Storage = LocalStorage(tmp_path / unique("local"))
        elif kind == "s3":
            s = make_s3(request.getfixturevalue("s3_server"), **kw)
        elif kind == "sftp":
            s = make_sftp(request.getfixturevalue("ssh_server"), tmp_path, **kw)
        else:
            s = make_webdav(request.getfixturevalue("webdav_server"), **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


@pytest.fixture
def remote_place(request, tmp_path: Path, monkeypatch):
    """``remote_place(kind)``: a fresh place of *kind* (``s3``, ``sftp``, ``webdav``,
    ``local``) reachable by its URL as a user reaches it (see remote/places.py)."""
    from remote.places import make_place

    def make(kind: str):
        return make_place(kind, request, tmp_path, monkeypatch)

    return make


@pytest.fixture
def proxied_url(request, tmp_path: Path, isolated_env: Path, monkeypatch) -> Iterator:
    """``proxied_url(kind)``: (a URL of a fresh place reached through a counting proxy, the
    proxy)."""
    from remote.fault_proxy import FaultProxy
    from therabak.settings import S3Settings, Settings

    proxies: list[FaultProxy] = []

    def make(kind: str) -> tuple[str, FaultProxy]:
        if kind == "s3":
            server = request.getfixturevalue("s3_server")
            proxy = FaultProxy(server.server.port, http=True)
            settings = Settings.load()
            settings.s3 = S3Settings(
                endpoint=f"http://127.0.0.1:{proxy.port}", region="", path_style=True
            )
            settings.save()
            monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.key_id)
            monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret)
            url = f"s3://{server.new_bucket(unique('bkt'))}/praxis"
        elif kind == "sftp":
            server = request.getfixturevalue("ssh_server")
            proxy = FaultProxy(server.port, http=False)
            home = tmp_path / "home"
            if not (home / ".ssh" / "id_ed25519").exists():
                (home / ".ssh").mkdir(parents=True, exist_ok=True)
                shutil.copy(server.client_key, home / ".ssh" / "id_ed25519")
            monkeypatch.setenv("HOME", str(home))
            known = Path(os.environ["THERABAK_CONFIG"]).parent / "known_hosts"
            line = server.host_key_line.replace(f"]:{server.port} ", f"]:{proxy.port} ")
            with known.open("a") as f:
                f.write(line + "\n")
            folder = server.folder / "data" / unique("place")
            folder.mkdir(parents=True)
            url = f"sftp://{server.user}@127.0.0.1:{proxy.port}{folder}"
        else:
            server = request.getfixturevalue("webdav_server")
            proxy = FaultProxy(server.server.port, http=True)
            monkeypatch.setenv("THERABAK_REMOTE_PASSWORD", server.password)
            name = unique("place")
            (server.root / name).mkdir()
            url = f"webdav://{server.user}@127.0.0.1:{proxy.port}/{name}"
        proxies.append(proxy)
        return url, proxy

    yield make
    for proxy in proxies:
        proxy.close()
