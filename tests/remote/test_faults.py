"""What networks and servers do, against the real servers: throttling and errors injected
by a proxy in front of them, connections dropped mid-upload, the server killed mid-upload
and started again, a full disk behind the server, wrong credentials, a missing bucket or
folder. After each: what was finished is intact, nothing half-written is visible, and the
error is the right type (with its exit code) and says nothing secret."""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli_support import small_filesystem
from remote.conftest import fast, make_s3, make_sftp, make_webdav, unique
from remote.fault_proxy import FaultProxy
from remote.servers import start_sshd, start_webdav
from therabak.errors import ExitCode
from therabak.storage.base import (
    CredentialsError,
    LocationMissingError,
    Storage,
    StorageError,
    StorageFullError,
    UnreachableError,
)
from therabak.storage.network import RetryNotice

HTTP_KINDS = ["s3", "webdav"]


def names(s: Storage) -> dict[str, int]:
    return {o.name: o.size for o in s.list()}


def behind_proxy(kind: str, request, tmp_path: Path, proxy: FaultProxy, **kw) -> Storage:
    if kind == "s3":
        server = request.getfixturevalue("s3_server")
        return make_s3(server, endpoint=f"http://127.0.0.1:{proxy.port}", **kw)
    if kind == "webdav":
        return make_webdav(request.getfixturevalue("webdav_server"), port=proxy.port, **kw)
    return make_sftp(request.getfixturevalue("ssh_server"), tmp_path, port=proxy.port, **kw)


def target_port(kind: str, request) -> int:
    fixture = {"s3": "s3_server", "webdav": "webdav_server", "sftp": "ssh_server"}[kind]
    server = request.getfixturevalue(fixture)
    return server.server.port


@pytest.fixture
def proxied(request, tmp_path: Path) -> Iterator:
    made: list[tuple[FaultProxy, Storage]] = []

    def make(kind: str, **kw) -> tuple[FaultProxy, Storage]:
        proxy = FaultProxy(target_port(kind, request), http=kind != "sftp")
        storage = behind_proxy(kind, request, tmp_path, proxy, **kw)
        made.append((proxy, storage))
        return proxy, storage

    yield make
    for proxy, storage in made:
        storage.close()
        proxy.close()


# ---- throttling and server errors -------------------------------------------------------


@pytest.mark.parametrize("kind", HTTP_KINDS)
@pytest.mark.parametrize("status", [429, 503, 500])
def test_throttling_and_server_errors_are_retried(kind: str, status: int, proxied) -> None:
    notices: list[RetryNotice] = []
    proxy, s = proxied(kind, options=fast(on_retry=notices.append))
    s.put_bytes("before", b"finished earlier")
    proxy.inject(status, times=2, methods=("PUT",), headers={"Retry-After": "0"})
    data = os.urandom(150_000)
    s.put_bytes("packs/p1", data)
    assert proxy.counts.injected == 2
    assert [n.attempt for n in notices] == [1, 2]
    assert all(str(status) in n.reason for n in notices)
    assert s.get("packs/p1") == data
    assert s.get("before") == b"finished earlier"
    assert names(s) == {"before": 16, "packs/p1": len(data)}
    # reads are retried the same way
    proxy.inject(status, times=2, methods=("GET",))
    assert s.get("packs/p1", 10, 10) == data[10:20]


@pytest.mark.parametrize("kind", HTTP_KINDS)
def test_a_server_that_keeps_failing_is_given_up_after_the_tries(kind: str, proxied) -> None:
    proxy, s = proxied(kind)
    s.put_bytes("before", b"finished earlier")
    proxy.inject(503, times=1000, methods=("PUT",))
    with pytest.raises(UnreachableError) as e:
        s.put_bytes("packs/p1", b"x" * 1000)
    assert e.value.exit_code is ExitCode.REMOTE_UNREACHABLE
    assert "5 tries" in str(e.value) and "503" in str(e.value)
    assert proxy.counts.injected == 5
    proxy.clear()
    assert s.size("packs/p1") is None
    assert names(s) == {"before": 16}


# ---- dropped connections ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["s3", "webdav", "sftp"])
def test_a_connection_dropped_mid_upload_is_retried(kind: str, proxied) -> None:
    proxy, s = proxied(kind)
    s.put_bytes("before", b"finished earlier")
    data = os.urandom(2 << 20)
    # HTTP: the PUT's body is cut after 300 kB, twice; SSH: the connection, once
    if kind == "sftp":
        s.close()  # the next call opens a new connection, which the proxy will cut
        proxy.drop_after(600_000)
    else:
        proxy.drop_after(300_000, times=2, methods=("PUT",))
    s.put("packs/p1", io.BytesIO(data), len(data))
    assert proxy.counts.dropped == (1 if kind == "sftp" else 2)
    assert s.get("packs/p1") == data
    assert names(s) == {"before": 16, "packs/p1": len(data)}


def test_s3_multipart_retries_only_the_part_that_was_cut(request, proxied) -> None:
    proxy, s = proxied("s3", multipart_threshold=6 << 20, part_size=5 << 20)
    data = os.urandom(11 << 20)
    proxy.drop_after(1 << 20, times=1, methods=("PUT",))
    s.put("packs/big", io.BytesIO(data), len(data))
    puts = [r for r in proxy.counts.requests if r.startswith("PUT") and "partNumber" in r]
    assert len(puts) == 4  # three parts, one of them twice
    assert s.get("packs/big") == data
    # no unfinished multipart upload stays behind
    raw = request.getfixturevalue("s3_server").client()
    assert raw.list_multipart_uploads(Bucket=s.bucket).get("Uploads", []) == []


# ---- the server killed mid-upload ---------------------------------------------------------


@pytest.fixture
def own_sshd(tmp_path_factory) -> Iterator:
    from remote.servers import sshd_missing

    why = sshd_missing()
    if why:
        pytest.skip(why)
    server = start_sshd(tmp_path_factory.mktemp("own-sshd"))
    yield server
    server.server.kill()


@pytest.fixture
def own_webdav(tmp_path_factory) -> Iterator:
    folder = tmp_path_factory.mktemp("own-wsgidav")
    (folder / "root").mkdir()
    server = start_webdav(folder, folder / "root")
    yield server
    server.server.kill()


class Watched(io.BytesIO):
    """A source that tells how far it has been read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.furthest = 0

    def read(self, n: int | None = -1) -> bytes:
        data = super().read(n)
        self.furthest = max(self.furthest, self.tell())
        return data


def _upload_in_background(s: Storage, name: str, data: bytes):
    errors: list[BaseException] = []
    source = Watched(data)

    def run():
        try:
            s.put(name, source, len(data))
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    t = threading.Thread(target=run)
    t.start()
    deadline = time.monotonic() + 30
    while source.furthest < len(data) // 3:  # a third is on its way
        assert time.monotonic() < deadline, "the upload never started"
        time.sleep(0.01)
    return t, errors


@pytest.mark.parametrize("kind", ["sftp", "webdav"])
def test_the_server_killed_mid_upload_and_started_again(kind: str, request, tmp_path: Path) -> None:
    options = fast(limit_upload=400_000)
    options.retry = type(options.retry)(tries=8, initial_delay_s=0.2, max_delay_s=1.0)
    if kind == "sftp":
        server = request.getfixturevalue("own_sshd")
        folder = server.folder / "data"
        folder.mkdir()
        s = make_sftp(server, tmp_path, folder=str(folder), options=options)
    else:
        server = request.getfixturevalue("own_webdav")
        folder = server.root / "praxis"
        folder.mkdir()
        s = make_webdav(server, folder="praxis", options=options)
    finished = os.urandom(100_000)
    s.put_bytes("packs/finished", finished)
    data = os.urandom(600_000)
    t, errors = _upload_in_background(s, "packs/p1", data)
    server.server.kill()  # mid-upload: the server and its sessions are gone
    time.sleep(0.5)
    server.server.start()
    t.join(120)
    assert errors == []
    assert s.get("packs/p1") == data
    assert s.get("packs/finished") == finished
    assert names(s) == {"packs/finished": 100_000, "packs/p1": 600_000}
    s.close()


def test_s3_endpoint_gone_mid_upload_and_back(proxied) -> None:
    """moto keeps its data in memory (a killed moto forgets every bucket), so for S3 the
    endpoint goes away in front of it: every connection cut, new ones refused, then back."""
    options = fast(limit_upload=400_000)
    options.retry = type(options.retry)(tries=8, initial_delay_s=0.2, max_delay_s=1.0)
    proxy, s = proxied("s3", options=options)
    s.put_bytes("packs/finished", b"f" * 1000)
    data = os.urandom(600_000)
    t, errors = _upload_in_background(s, "packs/p1", data)
    proxy.down()
    time.sleep(0.7)
    proxy.up()
    t.join(120)
    assert errors == []
    assert s.get("packs/p1") == data
    assert names(s) == {"packs/finished": 1000, "packs/p1": 600_000}


@pytest.mark.parametrize("kind", ["s3", "webdav", "sftp"])
def test_a_server_that_is_not_there(kind: str, tmp_path: Path, request) -> None:
    from remote.servers import free_port

    notices: list[RetryNotice] = []
    port = free_port()  # nothing listens there
    options = fast(on_retry=notices.append)
    if kind == "s3":
        s = make_s3(
            request.getfixturevalue("s3_server"),
            bucket="nobucket",
            endpoint=f"http://127.0.0.1:{port}",
            options=options,
        )
    elif kind == "webdav":
        s = make_webdav(
            request.getfixturevalue("webdav_server"), folder="x", port=port, options=options
        )
    else:
        s = make_sftp(
            request.getfixturevalue("ssh_server"), tmp_path, folder="/x", port=port, options=options
        )
    with pytest.raises(UnreachableError) as e:
        s.size("config")
    assert e.value.exit_code is ExitCode.REMOTE_UNREACHABLE
    assert len(notices) == 4
    assert "\n" not in str(e.value)


# ---- a full disk or quota -----------------------------------------------------------------


def test_sftp_full_disk(tmp_path: Path, request) -> None:
    server = request.getfixturevalue("ssh_server")
    with small_filesystem(tmp_path / "small", "2m") as small:
        s = make_sftp(server, tmp_path, folder=str(small))
        kept = os.urandom(500_000)
        s.put_bytes("packs/kept", kept)
        with pytest.raises(StorageFullError) as e:
            s.put_bytes("packs/big", os.urandom(3 << 20))
        assert e.value.exit_code is ExitCode.NO_SPACE
        assert s.get("packs/kept") == kept
        assert names(s) == {"packs/kept": 500_000}
        assert list((small / ".tmp").iterdir()) == []  # the partial upload was removed
        s.close()


def test_webdav_full_quota(tmp_path: Path, tmp_path_factory) -> None:
    folder = tmp_path_factory.mktemp("full-wsgidav")
    with small_filesystem(tmp_path / "small", "2m") as small:
        server = start_webdav(folder, small)
        try:
            s = make_webdav(server, folder="", options=fast())
            kept = os.urandom(500_000)
            s.put_bytes("packs/kept", kept)
            with pytest.raises(StorageFullError) as e:
                s.put_bytes("packs/big", os.urandom(3 << 20))
            assert e.value.exit_code is ExitCode.NO_SPACE
            assert s.get("packs/kept") == kept
            assert names(s) == {"packs/kept": 500_000}
            s.close()
        finally:
            server.server.kill()


@pytest.mark.parametrize(
    "status,code",
    [(507, "XMinioStorageFull"), (403, "QuotaExceeded")],  # MinIO, Ceph RGW
)
def test_s3_full_quota_as_providers_answer_it(status: int, code: str, proxied) -> None:
    """moto has no quotas: the proxy answers as MinIO and Ceph do when a bucket is full."""
    proxy, s = proxied("s3")
    s.put_bytes("packs/kept", b"k" * 1000)
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
        f"<Message>full</Message></Error>"
    ).encode()
    proxy.inject(status, methods=("PUT",), body=body, headers={"Content-Type": "application/xml"})
    with pytest.raises(StorageFullError) as e:
        s.put_bytes("packs/big", b"b" * 5000)
    assert e.value.exit_code is ExitCode.NO_SPACE
    assert proxy.counts.injected == 1  # not retried
    assert names(s) == {"packs/kept": 1000}


# ---- credentials, missing places ----------------------------------------------------------


def test_s3_wrong_secret(request) -> None:
    server = request.getfixturevalue("s3_server")
    bucket = server.new_bucket(unique("bkt"))
    secret = "wrong-secret-Zx81!" + "q" * 20
    s = make_s3(server, bucket=bucket, secret_access_key=secret)
    for call in (lambda: s.put_bytes("x", b"1"), lambda: s.size("x"), lambda: list(s.list())):
        with pytest.raises(CredentialsError) as e:
            call()
        assert e.value.exit_code is ExitCode.REMOTE_LOGIN
        assert secret not in str(e.value) and "therabak remote login" in str(e.value)


def test_webdav_wrong_password(request) -> None:
    server = request.getfixturevalue("webdav_server")
    password = "falsches Passwort 12345"
    s = make_webdav(server, password=password)
    with pytest.raises(CredentialsError) as e:
        s.put_bytes("x", b"1")
    assert e.value.exit_code is ExitCode.REMOTE_LOGIN
    assert password not in str(e.value)
    assert "stored password was refused" in str(e.value)


def test_sftp_wrong_password(request, tmp_path: Path) -> None:
    server = request.getfixturevalue("ssh_server")
    password = "falsches SSH-Passwort 98765"
    s = make_sftp(server, tmp_path, key_files=[], password=password)
    with pytest.raises(CredentialsError) as e:
        s.size("x")
    assert e.value.exit_code is ExitCode.REMOTE_LOGIN
    assert password not in str(e.value)
    # the password was offered (and refused): sshd says so
    log = server.server.log.read_text()
    assert f"Failed password for {server.user} from 127.0.0.1" in log


def test_sftp_no_key_and_no_password(request, tmp_path: Path) -> None:
    server = request.getfixturevalue("ssh_server")
    other_key = tmp_path / "other_key"
    import subprocess

    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other_key)], check=True
    )
    s = make_sftp(server, tmp_path, key_files=[other_key])
    with pytest.raises(CredentialsError, match="no key of the SSH agent"):
        s.size("x")


def test_missing_bucket(request) -> None:
    server = request.getfixturevalue("s3_server")
    s = make_s3(server, bucket="there-is-no-such-bucket")
    for call in (
        lambda: s.size("x"),
        lambda: s.put_bytes("x", b"1"),
        lambda: list(s.list()),
        lambda: s.get("x"),
    ):
        with pytest.raises(LocationMissingError) as e:
            call()
        assert e.value.exit_code is ExitCode.REMOTE_MISSING
        assert "there-is-no-such-bucket" in str(e.value)


@pytest.mark.parametrize("kind", ["sftp", "webdav"])
def test_missing_folder(kind: str, request, tmp_path: Path) -> None:
    if kind == "sftp":
        server = request.getfixturevalue("ssh_server")
        s = make_sftp(server, tmp_path, folder=str(server.folder / "no" / "such"))
    else:
        s = make_webdav(request.getfixturevalue("webdav_server"), folder="no-such-folder")
    with pytest.raises(LocationMissingError) as e:
        s.put_bytes("x", b"1")
    assert e.value.exit_code is ExitCode.REMOTE_MISSING


def test_s3_a_failed_multipart_upload_is_aborted(request) -> None:
    server = request.getfixturevalue("s3_server")
    s = make_s3(server, multipart_threshold=6 << 20, part_size=5 << 20)
    data = os.urandom(7 << 20)  # the source ends in the second part: 12 MiB were promised
    with pytest.raises(StorageError, match="ended before its size"):
        s.put("packs/big", io.BytesIO(data), 12 << 20)
    assert s.size("packs/big") is None
    assert server.client().list_multipart_uploads(Bucket=s.bucket).get("Uploads", []) == []


@pytest.mark.parametrize("kind", ["s3", "webdav", "sftp"])
def test_the_upload_limit_holds_on_the_wire(kind: str, proxied) -> None:
    """300 kB/s: 600 kB take at least (600 kB - the 30 kB burst) / 300 kB/s = 1.9 s (a lower
    bound only: a slow machine makes it slower, never faster)."""
    proxy, s = proxied(kind, options=fast(limit_upload=300_000))
    s.size("warm-up")  # connected (and, for SSH, logged in) before the clock starts
    data = os.urandom(600_000)
    started = time.monotonic()
    s.put("packs/p1", io.BytesIO(data), len(data))
    assert time.monotonic() - started >= 1.85
    assert s.get("packs/p1") == data
