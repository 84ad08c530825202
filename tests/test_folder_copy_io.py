"""The folder backup's copy of one file (datafolder/filecopy.py): the end of a file is
found without a read past it when the size is known, and never guessed from a short read
below that size; the copy keeps the source's modification time."""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from therabak.datafolder import filecopy
from therabak.datafolder.filecopy import copy_fd, copy_file, sha256_file


def _copy_from_pipe(tmp_path: Path, parts: list[bytes], expected: int) -> tuple[int, str]:
    r, w = os.pipe()

    def feed() -> None:
        for part in parts:
            os.write(w, part)
            time.sleep(0.05)  # each part is a short read of its own
        os.close(w)

    writer = threading.Thread(target=feed)
    writer.start()
    out = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        return copy_fd(r, out, expected=expected)
    finally:
        writer.join()
        os.close(out)
        os.close(r)


@pytest.mark.skipif(sys.platform == "win32", reason="a pipe as a descriptor: POSIX")
@pytest.mark.parametrize("expected", [-1, 30_000])
def test_a_short_read_below_the_expected_size_is_not_the_end(tmp_path: Path, expected: int) -> None:
    parts = [b"a" * 10_000, b"b" * 10_000, b"c" * 10_000]
    size, sha = _copy_from_pipe(tmp_path, parts, expected)
    data = b"".join(parts)
    assert (size, sha) == (len(data), hashlib.sha256(data).hexdigest())
    assert (tmp_path / "out").read_bytes() == data


def _counting_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = filecopy._reader

    def reader(fd: int):  # noqa: ANN202 - the wrapped reader's type
        read = real(fd)

        def counted(buf: bytearray) -> int:
            n = read(buf)
            calls.append(n)
            return n

        return counted

    monkeypatch.setattr(filecopy, "_reader", reader)
    return calls


@pytest.mark.parametrize("size", [0, 1, 4096, 3 << 20])
def test_a_file_of_the_expected_size_is_copied_without_a_read_past_its_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    src = tmp_path / "src"
    src.write_bytes(os.urandom(size))
    calls = _counting_reads(monkeypatch)
    (tmp_path / "copy").mkdir()
    got = copy_file(src, tmp_path / "copy", "f")
    assert (got.size, got.sha256, got.changed) == (
        size,
        hashlib.sha256(src.read_bytes()).hexdigest(),
        False,
    )
    assert (tmp_path / "copy" / "f").read_bytes() == src.read_bytes()
    assert calls[-1] != 0 or size == 0  # the end was not read again to be seen
    assert sum(calls) == size


@pytest.mark.parametrize("windows_way", [False, True])
def test_the_copy_keeps_the_modification_time_and_reads_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, windows_way: bool
) -> None:
    if windows_way:  # no os.readv, no times set through a descriptor: as on Windows
        monkeypatch.setattr(filecopy, "_READV", None)
        monkeypatch.setattr(filecopy, "_UTIME_FD", False)
    src = tmp_path / "src"
    src.write_bytes(b"x" * 5000)
    os.utime(src, ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789))
    (tmp_path / "copy").mkdir()
    got = copy_file(src, tmp_path / "copy", "a/b/f")
    copied = tmp_path / "copy" / "a" / "b" / "f"
    assert copied.stat().st_mtime_ns == got.mtime_ns == src.stat().st_mtime_ns
    assert sha256_file(copied) == (5000, got.sha256)
