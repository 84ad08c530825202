"""Rewrite an archive's header region in place, crash-safely (a new password or recovery code).

The header region has a fixed size and the fixed part never changes, so new key
slots mean rewriting the bytes after the fixed part; the data stays as it is
(FORMAT.md, section 5a). A crash during that write would leave a header that is
neither old nor new, so the new region goes to a journal first:

1. ``<archive>.rekey`` (0600) receives the complete new header region, is fsynced,
   and the folder is fsynced;
2. the archive's header region is overwritten in place (slots and MAC, then padding
   and checksum) and fsynced;
3. the journal is removed.

:func:`recover_journal`, called whenever an archive is opened, finishes step 2 from
the journal when the header in place is torn, and ignores the journal when the header
in place is intact (the change either never started or already finished).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from therabak import faults
from therabak.archive.byteio import ByteSource, FileSource
from therabak.archive.header import (
    CHECKSUM_SIZE,
    MAC_SIZE,
    MAX_HEADER_SIZE,
    ArchiveHeader,
    parse_header,
)
from therabak.errors import DamagedArchiveError
from therabak.fsutil import create_private, fsync_dir

JOURNAL_SUFFIX = ".rekey"


def journal_path(archive: Path) -> Path:
    return Path(archive).with_name(Path(archive).name + JOURNAL_SUFFIX)


def rewrite_header(
    archive: Path, old: ArchiveHeader, region: bytes, new: ArchiveHeader, *, step: str = "passwd"
) -> None:
    """Replace the header region of *archive* (parsed as *old*) by *region* (parsed as
    *new*, same fixed part), through the journal. *step* names the crash points
    (``<step>.journal``, ``<step>.write``: faults.py): ``passwd`` or ``recovery``."""
    if new.fixed != old.fixed or len(region) != old.header_size:
        raise ValueError("a new header region must keep the fixed part and the size")
    journal = journal_path(archive)
    with contextlib.suppress(FileNotFoundError):
        journal.unlink()  # left by an earlier change that never touched the archive
    _write_journal(journal, region)
    faults.point(f"{step}.journal")
    _write_region(archive, region, split=new.mac_offset + MAC_SIZE, start=len(new.fixed), step=step)
    journal.unlink()
    fsync_dir(journal.parent)


def _write_journal(journal: Path, region: bytes) -> None:
    fd = create_private(journal)
    try:
        _write_at(fd, 0, region)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            journal.unlink()
        raise
    os.close(fd)
    fsync_dir(journal.parent)


def _write_region(archive: Path, region: bytes, *, split: int, start: int, step: str = "") -> None:
    """Overwrite bytes [start, len(region)) of *archive*: slots and MAC up to *split*
    first, then padding and checksum; fsync."""
    fd = os.open(archive, os.O_RDWR | getattr(os, "O_BINARY", 0))
    try:
        _write_at(fd, start, region[start:split])
        if step:
            faults.point(f"{step}.write")  # the worst moment: new slots, old checksum
        _write_at(fd, split, region[split:])
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_at(fd: int, offset: int, data: bytes) -> None:
    os.lseek(fd, offset, os.SEEK_SET)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def recover_journal(archive: Path) -> bytes | None:
    """Finish an interrupted header rewrite of *archive*, if there is one.

    Returns None when there is nothing to do or the archive was repaired in place;
    returns the journal's header region when the archive's header is torn but cannot
    be written (read-only medium): the caller reads the archive with that region.
    """
    journal = journal_path(archive)
    try:
        with open(journal, "rb") as f:
            data = f.read(MAX_HEADER_SIZE + 1)
    except OSError:
        return None
    try:
        new = parse_header(data)
    except DamagedArchiveError:
        return None  # torn journal: step 2 never began, the header in place is the old one
    try:
        with open(archive, "rb") as f:
            current = f.read(new.header_size)
    except OSError:
        return None
    if not current.startswith(new.fixed):
        return None  # a journal of another archive
    try:
        parse_header(current)
        return None  # the header in place is whole (old or new): it is the truth
    except DamagedArchiveError:
        pass
    try:
        _write_region(archive, data, split=new.mac_offset + MAC_SIZE, start=len(new.fixed))
    except OSError:
        return data
    with contextlib.suppress(OSError):
        journal.unlink()
        fsync_dir(journal.parent)
    return None


class HeaderOverlay:
    """A byte source that reads *region* in place of the first bytes of *source*."""

    def __init__(self, source: FileSource | ByteSource, region: bytes) -> None:
        if len(region) < CHECKSUM_SIZE:
            raise ValueError("header region too short")
        self._source = source
        self._region = region
        self.size = source.size

    def read_at(self, offset: int, n: int) -> bytes:
        data = self._source.read_at(offset, n)
        end = offset + len(data)
        if offset >= len(self._region) or not data:
            return data
        head = self._region[offset : min(end, len(self._region))]
        return head + data[len(head) :]

    def close(self) -> None:
        self._source.close()
