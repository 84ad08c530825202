"""Every rule of ``therabak.storage.base`` (its docstring), for every storage: a local
folder, S3 (moto), SFTP (OpenSSH's sshd) and WebDAV (wsgidav), all real, on 127.0.0.1."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable

import pytest

from remote.conftest import KINDS
from therabak.storage.base import (
    ObjectExistsError,
    ObjectNotFoundError,
    Storage,
    StorageError,
)
from therabak.storage.local import LocalStorage
from therabak.storage.s3 import S3Storage
from therabak.storage.sftp import SftpStorage
from therabak.storage.webdav import WebdavStorage

pytestmark = pytest.mark.parametrize("kind", KINDS)

Factory = Callable[..., Storage]


def twin(make: Factory, kind: str, s: Storage) -> Storage:
    """A second storage on the same place (another client, another connection)."""
    if isinstance(s, LocalStorage):
        return LocalStorage(s.root)
    if isinstance(s, S3Storage):
        return make(kind, bucket=s.bucket)
    if isinstance(s, SftpStorage):
        return make(kind, folder=s.root)
    assert isinstance(s, WebdavStorage)
    return make(kind, folder=s.base_url.rstrip("/").rsplit("/", 1)[1])


class Gate(io.RawIOBase):
    """A source that stops after *first* bytes until released (or fails there)."""

    def __init__(self, data: bytes, first: int, *, fail: bool = False) -> None:
        self.data = data
        self.first = first
        self.pos = 0
        self.reached = threading.Event()
        self.release = threading.Event()
        self.fail = fail

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = (
            offset
            if whence == 0
            else (self.pos + offset if whence == 1 else len(self.data) + offset)
        )
        return self.pos

    def read(self, n: int = -1) -> bytes:
        if self.pos >= self.first:
            self.reached.set()
            if self.fail:
                raise OSError("the source broke")
            assert self.release.wait(60)
        end = len(self.data) if n is None or n < 0 else self.pos + n
        if self.pos < self.first:
            end = min(end, self.first)
        chunk = self.data[self.pos : end]
        self.pos += len(chunk)
        return chunk

    def readinto(self, b) -> int:
        chunk = self.read(len(b))
        b[: len(chunk)] = chunk
        return len(chunk)


def names(s: Storage, prefix: str = "") -> dict[str, int]:
    return {o.name: o.size for o in s.list(prefix)}


def test_put_get_size_list_delete(kind: str, storage_factory: Factory) -> None:
    s = storage_factory(kind)
    assert names(s) == {}
    s.put_bytes("config", b"store config")
    s.put_bytes("packs/3f/3f00aa", b"pack" * 1000)
    s.put_bytes("packs/a1/a1bb", b"")
    s.put_bytes("snapshots/2026-12-07", b"snap")
    assert names(s) == {
        "config": 12,
        "packs/3f/3f00aa": 4000,
        "packs/a1/a1bb": 0,
        "snapshots/2026-12-07": 4,
    }
    assert names(s, "packs/") == {"packs/3f/3f00aa": 4000, "packs/a1/a1bb": 0}
    assert names(s, "packs/3") == {"packs/3f/3f00aa": 4000}
    assert names(s, "nothing/") == {}
    assert names(s, "packs/3f/") == {"packs/3f/3f00aa": 4000}
    assert names(s, "config/") == {}  # an object where the prefix names a folder
    assert s.get("packs/3f/3f00aa") == b"pack" * 1000
    assert s.get("packs/a1/a1bb") == b""
    assert s.size("config") == 12
    assert s.size("packs/a1/a1bb") == 0
    assert s.size("missing") is None
    assert s.size("packs") is None  # a folder is no object
    s.delete("config")
    assert s.size("config") is None
    assert "config" not in names(s)
    with pytest.raises(ObjectNotFoundError):
        s.get("config")


def test_put_reads_size_bytes_from_the_current_position(
    kind: str, storage_factory: Factory
) -> None:
    s = storage_factory(kind)
    source = io.BytesIO(b"HEADER" + bytes(range(256)) * 40 + b"TRAILER")
    source.seek(6)
    s.put("obj", source, 256 * 40)
    assert s.get("obj") == bytes(range(256)) * 40


def test_a_short_source_leaves_nothing(kind: str, storage_factory: Factory) -> None:
    s = storage_factory(kind)
    with pytest.raises(StorageError):
        s.put("obj", io.BytesIO(b"x" * 1000), 5000)
    assert s.size("obj") is None
    assert names(s) == {}


def test_put_never_overwrites(kind: str, storage_factory: Factory) -> None:
    s = storage_factory(kind)
    s.put_bytes("keys/k1", b"first")
    with pytest.raises(ObjectExistsError):
        s.put_bytes("keys/k1", b"second, longer")
    assert s.get("keys/k1") == b"first"
    assert names(s) == {"keys/k1": 5}


def test_replace_creates_and_replaces(kind: str, storage_factory: Factory) -> None:
    s = storage_factory(kind)
    s.replace("locks/host", b"one")
    assert s.get("locks/host") == b"one"
    s.replace("locks/host", b"two, longer")
    assert s.get("locks/host") == b"two, longer"
    s.replace("locks/host", b"3")
    assert s.get("locks/host") == b"3"
    assert names(s) == {"locks/host": 1}


def test_get_ranges(kind: str, storage_factory: Factory) -> None:
    s = storage_factory(kind)
    data = os.urandom(100_000)
    s.put_bytes("obj", data)
    assert s.get("obj", 0, 10) == data[:10]
    assert s.get("obj", 99_990) == data[99_990:]
    assert s.get("obj", 50_000, 20_000) == data[50_000:70_000]
    assert s.get("obj", 99_990, 100) == data[99_990:]  # past the end: what is there
    assert s.get("obj", 100_000) == b""
    assert s.get("obj", 200_000, 10) == b""
    assert s.get("obj", 5, 0) == b""
    with pytest.raises(ObjectNotFoundError):
        s.get("nothing", 0, 10)
    with pytest.raises(ObjectNotFoundError):
        s.get("nothing")
    with pytest.raises(ObjectNotFoundError):
        s.get("nothing", 3, 0)


def test_delete_of_a_missing_object_is_fine(kind: str, storage_factory: Factory) -> None:
    s = storage_factory(kind)
    s.delete("never/was")
    s.put_bytes("x", b"1")
    s.delete("x")
    s.delete("x")
    assert names(s) == {}


@pytest.mark.parametrize(
    "bad", ["", "/abs", "../up", "a/../b", "a//b", "a/./b", "a b", "ä", "a\\b", "a/", "..", "x\0"]
)
def test_invalid_names_are_refused_everywhere(
    kind: str, storage_factory: Factory, bad: str
) -> None:
    s = storage_factory(kind)
    for call in (
        lambda: s.put_bytes(bad, b"x"),
        lambda: s.replace(bad, b"x"),
        lambda: s.get(bad),
        lambda: s.size(bad),
        lambda: s.delete(bad),
    ):
        with pytest.raises(StorageError, match="invalid object name"):
            call()
    assert names(s) == {}


def test_an_object_is_invisible_until_complete(kind: str, storage_factory: Factory) -> None:
    s = storage_factory(kind)
    other = twin(storage_factory, kind, s)
    data = os.urandom(300_000)
    source = Gate(data, 100_000)
    errors: list[BaseException] = []

    def upload():
        try:
            s.put("packs/p1", source, len(data))
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    t = threading.Thread(target=upload)
    t.start()
    assert source.reached.wait(30)
    # half of it is on its way: nobody sees it yet
    assert other.size("packs/p1") is None
    assert names(other) == {}
    with pytest.raises(ObjectNotFoundError):
        other.get("packs/p1", 0, 10)
    source.release.set()
    t.join(60)
    assert errors == []
    assert other.get("packs/p1") == data
    assert names(other) == {"packs/p1": len(data)}


def test_a_failed_put_leaves_nothing_visible(kind: str, storage_factory: Factory) -> None:
    s = storage_factory(kind)
    data = os.urandom(200_000)
    with pytest.raises((StorageError, OSError)):
        s.put("packs/p1", Gate(data, 50_000, fail=True), len(data))
    assert s.size("packs/p1") is None
    assert names(s) == {}
    s.put_bytes("packs/p1", data[:10])  # the name is free
    assert s.get("packs/p1") == data[:10]


def test_of_two_writers_of_one_name_only_the_first_to_finish_wins(
    kind: str, storage_factory: Factory
) -> None:
    s = storage_factory(kind)
    other = twin(storage_factory, kind, s)
    slow = Gate(b"S" * 200_000, 100_000)
    errors: list[BaseException] = []

    def upload():
        try:
            s.put("snapshots/one", slow, 200_000)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    t = threading.Thread(target=upload)
    t.start()
    assert slow.reached.wait(30)  # it checked that the name is free, and is uploading
    other.put_bytes("snapshots/one", b"F" * 1000)  # another writer finishes first
    slow.release.set()
    t.join(60)
    assert len(errors) == 1 and isinstance(errors[0], ObjectExistsError), errors
    assert other.get("snapshots/one") == b"F" * 1000
    assert names(other) == {"snapshots/one": 1000}


def test_large_objects_stream(kind: str, storage_factory: Factory) -> None:
    """12 MiB, from a file: for S3 a multipart upload of three parts of 5 MiB."""
    extra = {"multipart_threshold": 6 << 20, "part_size": 5 << 20} if kind == "s3" else {}
    s = storage_factory(kind, **extra)
    data = os.urandom(12 << 20)
    s.put("packs/big", io.BytesIO(data), len(data))
    assert s.size("packs/big") == len(data)
    assert s.get("packs/big", (5 << 20) - 10, 20) == data[(5 << 20) - 10 : (5 << 20) + 10]
    assert s.get("packs/big") == data
    with pytest.raises(ObjectExistsError):
        s.put("packs/big", io.BytesIO(data), len(data))
    assert names(s) == {"packs/big": len(data)}
