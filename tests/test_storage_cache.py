"""storage/cache.py: the local copy of a remote store's snapshots and index files. Checked
against its name every time (a changed copy is never trusted), dropped when the store no
longer lists the object, private, and only for content-named objects. The inner storage
counts what it is asked (a local folder stands in for the server here; tests/remote/ has
the real ones)."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

from therabak.storage.cache import CachedStorage
from therabak.storage.local import LocalStorage


class Counting(LocalStorage):
    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.gets: list[str] = []

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        self.gets.append(name)
        return super().get(name, offset, length)


def named(prefix: str, data: bytes) -> str:
    return f"{prefix}/{hashlib.sha256(data).hexdigest()}"


def test_content_named_objects_are_asked_for_once(tmp_path: Path) -> None:
    inner = Counting(tmp_path / "server")
    snap = b"S" * 10_000
    name = named("snapshots", snap)
    inner.put_bytes(name, snap)
    inner.put_bytes("config", b"c")
    cached = CachedStorage(inner, tmp_path / "cache")
    assert cached.get(name, 0, 100) == snap[:100]  # a header read fetches the whole object
    assert cached.get(name, 9_990) == snap[9_990:]
    assert cached.get(name) == snap
    assert inner.gets == [name] and cached.hits == 2
    cached.get("config")
    cached.get("config")
    assert inner.gets == [name, "config", "config"]  # not content-named: never kept
    copy = tmp_path / "cache" / "snapshots" / name.split("/")[1]
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600


def test_a_changed_copy_is_never_trusted(tmp_path: Path) -> None:
    inner = Counting(tmp_path / "server")
    data = b"index bytes" * 100
    name = named("index", data)
    inner.put_bytes(name, data)
    cached = CachedStorage(inner, tmp_path / "cache")
    cached.get(name)
    copy = tmp_path / "cache" / "index" / name.split("/")[1]
    copy.write_bytes(b"X" + data[1:])  # changed on this disk
    assert cached.get(name) == data  # fetched again, and kept again
    assert inner.gets == [name, name]
    assert copy.read_bytes() == data


def test_a_damaged_object_is_not_kept(tmp_path: Path) -> None:
    """An object whose bytes do not match its name comes back as it is (the store says
    it is damaged) and is not kept: the next read asks the server again."""
    inner = Counting(tmp_path / "server")
    name = "snapshots/" + "0" * 64
    inner.put_bytes(name, b"not what the name says")
    cached = CachedStorage(inner, tmp_path / "cache")
    assert cached.get(name) == b"not what the name says"
    assert cached.get(name) == b"not what the name says"
    assert len(inner.gets) == 2
    assert not (tmp_path / "cache" / "snapshots").exists() or not any(
        (tmp_path / "cache" / "snapshots").iterdir()
    )


def test_what_the_store_no_longer_lists_leaves_the_copy(tmp_path: Path) -> None:
    inner = Counting(tmp_path / "server")
    a, b = b"a" * 50, b"b" * 50
    na, nb = named("snapshots", a), named("snapshots", b)
    cached = CachedStorage(inner, tmp_path / "cache")
    cached.put_bytes(na, a)  # what this computer wrote is kept at once
    cached.put_bytes(nb, b)
    assert inner.gets == []
    assert cached.get(na) == a and inner.gets == []
    inner.delete(nb)  # forgotten by another computer
    assert {o.name for o in cached.list("snapshots/")} == {na}
    assert not (tmp_path / "cache" / "snapshots" / nb.split("/")[1]).exists()
    assert (tmp_path / "cache" / "snapshots" / na.split("/")[1]).exists()
    cached.delete(na)
    assert not (tmp_path / "cache" / "snapshots" / na.split("/")[1]).exists()
