"""Ask the system to fetch the next small files of Data while the current one is read.

A backup reads Data's files one after the other. A practice is mostly small files
(notes, invoices: tens of thousands of a few KiB), and reading one that is not in
the system's cache waits for the disk each time: measured on the 2 GB bench practice
with the cache dropped, 32,000 small files took about 6 s read one by one and about
2-3 s with the next 128 announced ahead (``posix_fadvise(WILLNEED)``: the kernel
starts reading them at once and several reads overlap), the same order of reads, no
thread, no copy.

The hint changes nothing the backup reads: each file is still opened, read and
checked by ``practice/source.py`` as before (a file changed in between is read as it
is then). Only files up to ``LARGEST`` bytes are announced (a large file's own reads
are sequential, which the system's read-ahead already serves), at most
``FILES_AHEAD`` files and ``BYTES_AHEAD`` bytes beyond the one being read.

Where the system has no such hint (Windows, macOS) nothing is announced.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from therabak.practice.scan import FileEntry

FILES_AHEAD = 128
BYTES_AHEAD = 32 << 20
LARGEST = 1 << 20
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0)


def _will_need(path: str) -> None:
    """Announce that *path* is read soon (errors do not matter: the read says them)."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError:
        return
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
    except OSError:
        pass
    finally:
        os.close(fd)


def can_read_ahead() -> bool:
    return hasattr(os, "posix_fadvise") and os.name != "nt"


class ReadAhead:
    """Announces ``files[i+1 ..]`` (the small ones, within the window) as the caller
    reaches ``files[i]`` (:meth:`reached`, with ever larger *i*)."""

    def __init__(
        self,
        root: str,
        files: Sequence[FileEntry],
        *,
        files_ahead: int = FILES_AHEAD,
        bytes_ahead: int = BYTES_AHEAD,
        largest: int = LARGEST,
        hint: Callable[[str], None] | None = None,
    ) -> None:
        self._root = root
        self._files = files
        self._files_ahead, self._bytes_ahead, self._largest = files_ahead, bytes_ahead, largest
        self._hint = hint if hint is not None else (_will_need if can_read_ahead() else None)
        self._next = 0  # the next file to consider announcing
        self._passed = 0  # files the caller reached so far (their bytes left the window)
        self._bytes = 0  # bytes announced and not yet reached

    def reached(self, i: int) -> None:
        """The caller begins to read ``files[i]``."""
        hint = self._hint
        if hint is None:
            return
        files, largest = self._files, self._largest
        while self._passed <= i:  # what the caller reached no longer counts as ahead
            size = files[self._passed].size
            if self._passed < self._next and size <= largest:
                self._bytes -= size
            self._passed += 1
        self._next = max(self._next, i + 1)
        end = min(len(files), i + 1 + self._files_ahead)
        while self._next < end:
            f = files[self._next]
            if f.size <= largest:
                if self._bytes + f.size > self._bytes_ahead:
                    return
                self._bytes += f.size
                if f.size:
                    hint(os.path.join(self._root, f.path))
            self._next += 1


__all__ = ["BYTES_AHEAD", "FILES_AHEAD", "LARGEST", "ReadAhead", "can_read_ahead"]
