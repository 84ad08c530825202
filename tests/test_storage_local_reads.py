"""LocalStorage.get_immutable: a pack kept open per thread between reads (one system call
per blob, the kernel's read-ahead working), the same bytes as get, from several threads
at once, and nothing left open after release_reads."""

from __future__ import annotations

import io
import os
import random
import threading
from pathlib import Path

import pytest

from conftest import IS_WINDOWS
from therabak.storage.base import ObjectNotFoundError
from therabak.storage.local import LocalStorage
from therabak.storage.prefixed import PrefixedStorage

NAMES = [f"packs/{i:02x}/{i:02x}{'ab' * 31}" for i in range(4)]


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    st = LocalStorage(tmp_path / "store")
    for i, name in enumerate(NAMES):
        data = random.Random(i).randbytes(300_000 + i)
        st.put(name, io.BytesIO(data), len(data))
    return st


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_reads_give_what_get_gives_in_any_order(storage: LocalStorage) -> None:
    rng = random.Random(7)
    for _ in range(300):
        name = rng.choice(NAMES)
        offset = rng.randrange(300_000)
        length = rng.randrange(1, 70_000)
        assert storage.get_immutable(name, offset, length) == storage.get(name, offset, length)
    # past the end: cut short, exactly as get (the caller checks the length)
    assert storage.get_immutable(NAMES[0], 299_990, 100) == storage.get(NAMES[0], 299_990, 100)
    storage.release_reads()


def test_several_threads_read_at_once(storage: LocalStorage) -> None:
    errors: list[str] = []

    def reader(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(200):
            name = rng.choice(NAMES)
            offset, length = rng.randrange(250_000), rng.randrange(1, 50_000)
            if storage.get_immutable(name, offset, length) != storage.get(name, offset, length):
                errors.append(f"{name}@{offset}")

    threads = [threading.Thread(target=reader, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    storage.release_reads()
    assert errors == []


@pytest.mark.skipif(IS_WINDOWS or not Path("/proc/self/fd").is_dir(), reason="/proc/self/fd")
def test_release_reads_closes_every_descriptor_kept_open(storage: LocalStorage) -> None:
    before = _open_fds()
    storage.get_immutable(NAMES[0], 0, 10)
    storage.get_immutable(NAMES[0], 100, 10)
    assert len(_open_fds() - before) == 1  # one pack, kept open between its reads
    storage.get_immutable(NAMES[1], 0, 10)
    assert len(_open_fds() - before) == 1  # the thread moved on: the first one closed
    done = threading.Event()
    t = threading.Thread(target=lambda: (storage.get_immutable(NAMES[2], 0, 10), done.set()))
    t.start()
    t.join()
    assert done.is_set()
    assert len(_open_fds() - before) == 2  # a worker's pack stays open after it ended
    storage.release_reads()
    assert _open_fds() - before == set()
    assert storage.get_immutable(NAMES[3], 5, 5) == storage.get(NAMES[3], 5, 5)  # reopens
    storage.close()
    assert _open_fds() - before == set()


def test_a_missing_pack_is_named(storage: LocalStorage) -> None:
    with pytest.raises(ObjectNotFoundError, match="is missing"):
        storage.get_immutable("packs/ff/" + "f" * 64, 0, 10)


def test_a_prefixed_storage_passes_it_on(tmp_path: Path, storage: LocalStorage) -> None:
    outer = LocalStorage(tmp_path)
    prefixed = PrefixedStorage(outer, "store/")
    assert prefixed.get_immutable(NAMES[1], 10, 20) == storage.get(NAMES[1], 10, 20)
    prefixed.release_reads()
