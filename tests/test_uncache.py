"""What is read once leaves the system's cache: a backup's large files of Data
(``practice/source.py``, ``fsutil.drop_cached_after_read``; small files stay cached),
the large files a folder backup copies (``datafolder/filecopy.py``) and the large blobs a
restore or a check reads from a local store's packs (``storage/local.py``). Checked with
the kernel's own count of a file's cached pages (util-linux ``fincore``)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from therabak.datafolder import filecopy
from therabak.fsutil import READ_ONCE_CACHED_UP_TO as UNCACHE_FROM
from therabak.practice.account import AccountKey
from therabak.practice.envelope import seal_bytes
from therabak.practice.source import read_plaintext, read_raw
from therabak.storage import local

pytestmark = pytest.mark.skipif(
    shutil.which("fincore") is None or not hasattr(os, "posix_fadvise"),
    reason="needs posix_fadvise and util-linux fincore",
)


def cached_bytes(path: Path) -> int:
    out = subprocess.run(
        ["fincore", "--bytes", "--noheadings", "--output", "RES", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return int(out)


def written(path: Path, data: bytes) -> Path:
    """*data* in *path*, on disk and in the cache (written back: only clean pages go)."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    with open(path, "rb") as f:
        assert f.read() == data
    if cached_bytes(path) == 0:
        pytest.skip("this file system keeps no pages of the file in the cache")
    return path


@pytest.fixture
def key() -> AccountKey:
    return AccountKey.generate()


def test_a_large_sealed_file_leaves_the_cache_after_it_was_read(tmp_path: Path, key) -> None:
    plain = os.urandom(UNCACHE_FROM * 3 + 123)
    path = written(tmp_path / "audio.ogg", seal_bytes(key, plain))
    out = bytearray()
    info = read_plaintext(path, "audio.ogg", key, out.extend)
    assert bytes(out) == plain and info.sealed
    assert cached_bytes(path) == 0


def test_a_large_plain_file_leaves_the_cache_too(tmp_path: Path, key) -> None:
    plain = os.urandom(UNCACHE_FROM * 2 + 5)
    path = written(tmp_path / "scan.pdf", plain)
    out = bytearray()
    read_plaintext(path, "scan.pdf", key, out.extend)
    assert bytes(out) == plain
    assert cached_bytes(path) == 0
    raw = bytearray()
    written(path, plain)
    read_raw(path, raw.extend)
    assert bytes(raw) == plain
    assert cached_bytes(path) == 0


def test_a_small_file_stays_cached(tmp_path: Path, key) -> None:
    """Notes and invoices are what the practice app reads again: they stay."""
    plain = os.urandom(UNCACHE_FROM // 4)
    path = written(tmp_path / "note.rtf", seal_bytes(key, plain))
    out = bytearray()
    read_plaintext(path, "note.rtf", key, out.extend)
    assert bytes(out) == plain
    assert cached_bytes(path) > 0


def test_a_packs_large_blobs_leave_the_cache_as_they_are_read(tmp_path: Path) -> None:
    """A restore reads a pack's blobs front to back, once: each large one's pages go."""
    storage = local.LocalStorage(tmp_path / "store")
    name = "packs/aa/" + "aa" * 32
    blob = local.UNCACHE_FROM * 2
    data = os.urandom(blob * 4)
    storage.put(name, io.BytesIO(data), len(data))
    path = tmp_path / "store" / name
    fd = os.open(path, os.O_RDONLY)  # the pack not cached (as after a reboot)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    if cached_bytes(path) != 0:
        pytest.skip("this file system keeps the pages of a written file")
    try:
        for k in range(4):
            assert storage.get_immutable(name, k * blob, blob) == data[k * blob : (k + 1) * blob]
        assert cached_bytes(path) == 0
        small = storage.get_immutable(name, 0, 4096)  # a small blob (notes) may stay
        assert small == data[:4096]
    finally:
        storage.release_reads()


def test_a_large_file_copied_leaves_the_cache_a_small_one_stays(tmp_path: Path) -> None:
    """A folder backup copies each file once (its copy is what the check reads back)."""
    for size, stays in ((UNCACHE_FROM * 3, False), (UNCACHE_FROM // 2, True)):
        data = os.urandom(size)
        src = written(tmp_path / f"src{size}", data)
        dst = tmp_path / f"dst{size}"
        s, d = os.open(src, os.O_RDONLY), os.open(dst, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            copied, _sha = filecopy.copy_fd(s, d, expected=size)
        finally:
            os.close(s)
            os.close(d)
        assert copied == size and dst.read_bytes() == data
        assert (cached_bytes(src) > 0) is stays
