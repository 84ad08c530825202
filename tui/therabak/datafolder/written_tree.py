"""What a job wrote into a private folder, and a check that the folder holds exactly that.

A restore records every file it writes into its staging folder (the file's identity and
size, taken from the open descriptor). :func:`unexpected_entries` then walks the folder
without following anything (metadata only: no file is read) and names what is not as it
was written: a symbolic link or junction (planted, e.g. where a folder was), a file the
job did not write or that was replaced since (another identity), one whose size changed,
and a written file that is gone. A file's content is checked as it is written; this walk
checks that those files are still the ones the swap publishes. What it cannot tell: a
file deleted and written again with the same size that got the same inode number back
(a file system reuses a freed number at once); only reading it would. The folder is the
user's own (0700), and whoever can write there can change the data after the swap too.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

from therabak.fsutil import IS_WINDOWS, extended, is_link_or_junction, stat_long

_BY_FD = not IS_WINDOWS and os.scandir in os.supports_fd and os.stat in os.supports_dir_fd
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class WrittenFiles:
    """The files written below one folder: relative path -> its device, inode and size
    as one int (exact; for 100,000 files 12 MB less than a tuple of three ints each).
    Safe to add to from several threads."""

    def __init__(self) -> None:
        self._files: dict[str, int | tuple[int, int, int]] = {}
        self._lock = threading.Lock()

    def add(self, rel: str, st: os.stat_result) -> None:
        with self._lock:
            self._files[rel] = _identity(st)

    def discard(self, rel: str) -> None:
        with self._lock:
            self._files.pop(rel, None)

    def __len__(self) -> int:
        return len(self._files)

    def unexpected_entries(self, root: Path) -> list[str]:
        """The relative paths below *root* that are not as written (empty: all is well)."""
        with self._lock:
            expected = dict(self._files)
        bad: list[str] = []
        for rel, st in _entries(root):
            if not _as_written(st, expected.pop(rel, None)):
                bad.append(rel)
        bad += expected  # written, and gone (moved away, or behind a planted link)
        return sorted(bad)


def _as_written(st: os.stat_result, written: int | tuple[int, int, int] | None) -> bool:
    """A real folder, or a plain file that is the one written (same identity and size)."""
    if is_link_or_junction(st):
        return False
    if stat.S_ISDIR(st.st_mode):
        return written is None
    return stat.S_ISREG(st.st_mode) and written == _identity(st)


def _identity(st: os.stat_result) -> int | tuple[int, int, int]:
    """Device, inode and size in one int, each in bits of its own (an inode may have 128
    bits on Windows); a tuple, just as exact, where a value does not fit."""
    dev, ino, size = st.st_dev, st.st_ino, st.st_size
    if dev >= 0 and 0 <= ino < 1 << 128 and 0 <= size < 1 << 64:
        return (dev << 192) | (ino << 64) | size
    return (dev, ino, size)


def _entries(root: Path) -> Iterator[tuple[str, os.stat_result]]:
    """Every entry below *root* with its ``lstat``; folders are entered, never links."""
    if _BY_FD:  # one folder at a time by descriptor: any depth, nothing followed
        fd = os.open(root, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW)
        try:
            yield from _entries_at(fd, "")
        finally:
            os.close(fd)
        return
    yield from _entries_by_path(Path(root), "")


def _entries_at(fd: int, prefix: str) -> Iterator[tuple[str, os.stat_result]]:
    with os.scandir(fd) as it:
        names = [e.name for e in it]
    for name in names:
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        rel = prefix + name
        yield rel, st
        if stat.S_ISDIR(st.st_mode):
            sub = os.open(name, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW, dir_fd=fd)
            try:
                yield from _entries_at(sub, rel + "/")
            finally:
                os.close(sub)


def _entries_by_path(folder: Path, prefix: str) -> Iterator[tuple[str, os.stat_result]]:
    with os.scandir(extended(folder)) as it:
        names = [e.name for e in it]
    for name in names:
        st = stat_long(folder / name, follow_symlinks=False)
        rel = prefix + name
        yield rel, st
        if stat.S_ISDIR(st.st_mode) and not is_link_or_junction(st):
            yield from _entries_by_path(folder / name, rel + "/")
