"""A backup reads each large file of Data once: its pages leave the system's cache after
the read (``practice/source.py``, ``uncache``); small files stay cached. Checked with the
kernel's own count of a file's cached pages (util-linux ``fincore``)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from therabak.practice.account import AccountKey
from therabak.practice.envelope import seal_bytes
from therabak.practice.source import UNCACHE_FROM, read_plaintext, read_raw

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
