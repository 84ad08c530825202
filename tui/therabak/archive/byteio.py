"""Where archive bytes go to and come from.

The writer and reader only see a :class:`ByteSink` / :class:`ByteSource`: one
logical byte stream. A plain ``.therabak`` file is one; a split set of volumes can be
another without the format code changing.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path
from typing import Protocol

from therabak import faults
from therabak.errors import DestinationError, NotEnoughSpaceError, TherabakError
from therabak.fsutil import (
    CAN_DROP_CACHED,
    IS_WINDOWS,
    create_private,
    drop_cached,
    fsync_dir,
    open_regular,
    read_full,
)
from therabak.i18n import _

_NO_SPACE = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})


class ByteSink(Protocol):
    def write(self, data: bytes) -> None: ...
    def tell(self) -> int: ...
    def truncate(self, offset: int) -> None: ...
    def sync(self) -> None: ...
    def close(self) -> None: ...


class ByteSource(Protocol):
    size: int

    def read_at(self, offset: int, n: int) -> bytes: ...
    def close(self) -> None: ...


# Where the OS supports it, FileSink asks it every WRITE_BEHIND bytes to start writing
# what was written so far to the device and to drop it from the page cache once it is
# there. The final fsync then has little left to do, a backup does not push the user's
# files out of the cache, and the page cache does not have to grow by the archive size
# (which costs more CPU time than the copy itself).
WRITE_BEHIND = 32 << 20


class FileSink:
    """A new private (0600) file, written with a large buffer; ``truncate`` rewinds."""

    # write() has copied (or written) the bytes when it returns: callers may reuse buffers.
    copies_data = True

    def __init__(self, path: Path, buffer_size: int = 1 << 20) -> None:
        self.path = Path(path)
        fd = create_private(self.path)
        self._f = os.fdopen(fd, "wb", buffering=buffer_size)
        self._buffer_size = buffer_size
        self._pos = 0
        self._advised = 0  # bytes before this were handed to posix_fadvise once
        self._next_advice = WRITE_BEHIND + buffer_size if CAN_DROP_CACHED else -1

    def write(self, data: bytes) -> None:
        try:
            faults.before_write(self._pos, len(data))
            self._f.write(data)
        except OSError as e:
            raise write_error(e, self.path) from None
        self._pos += len(data)
        if self._pos >= self._next_advice > 0:
            self._write_behind()

    def _write_behind(self) -> None:
        # Everything more than one buffer behind the position has reached the OS. Pages
        # still dirty at the first advice are written then and dropped at the next.
        upto = self._pos - self._buffer_size
        start = max(0, self._advised - WRITE_BEHIND)
        drop_cached(self._f.fileno(), start, upto - start)
        self._advised = upto
        self._next_advice = self._pos + WRITE_BEHIND

    def tell(self) -> int:
        return self._pos

    def truncate(self, offset: int) -> None:
        try:
            self._f.flush()
            self._f.truncate(offset)
            self._f.seek(offset)
        except OSError as e:
            raise write_error(e, self.path) from None
        self._pos = offset
        self._advised = min(self._advised, offset)
        if self._next_advice > 0:
            self._next_advice = offset + WRITE_BEHIND + self._buffer_size

    def sync(self) -> None:
        try:
            self._f.flush()
            os.fsync(self._f.fileno())
        except OSError as e:
            raise write_error(e, self.path) from None

    def close(self) -> None:
        if not self._f.closed:
            try:
                self._f.close()
            except OSError as e:
                raise write_error(e, self.path) from None

    def discard(self) -> None:
        """Close and delete the file (after a failure)."""
        with contextlib.suppress(OSError, ValueError):
            self._f.close()
        with contextlib.suppress(OSError):
            self.path.unlink()


def write_error(e: OSError, path: Path, where: Path | None = None) -> TherabakError:
    """The user-facing error for a failed write to a destination file (*where*: the
    destination folder to name, by default the file's folder)."""
    where = Path(where) if where is not None else Path(path).parent
    if e.errno in (errno.ENOENT, getattr(errno, "ENODEV", -1), getattr(errno, "ENXIO", -1)):
        return DestinationError(
            _(
                "The destination {where} disappeared while the backup was written (was the drive "
                "removed?); nothing was kept there."
            ).format(where=where)
        )
    if e.errno in _NO_SPACE:
        return NotEnoughSpaceError(
            _(
                "The destination {where} is full; the backup was stopped and its partial file "
                "removed."
            ).format(where=where)
        )
    if e.errno == errno.EFBIG:
        return NotEnoughSpaceError(
            _(
                "The destination {where} cannot hold a file this large (FAT32 drives stop at 4 "
                "GiB); use a drive formatted as exFAT or NTFS."
            ).format(where=where)
        )
    return DestinationError(
        _(
            "Writing to {where} failed ({error}); the backup was stopped and its partial file "
            "removed."
        ).format(where=where, error=e.strerror or e)
    )


class FileSource:
    """Positional reads from one file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        # a regular file only: a FIFO or a device given as a backup is refused, not read
        self._f = os.fdopen(open_regular(self.path), "rb", buffering=0)
        self.size = os.fstat(self._f.fileno()).st_size

    def read_at(self, offset: int, n: int) -> bytes:
        if offset < 0 or n < 0:
            raise ValueError("negative read")
        if IS_WINDOWS or not hasattr(os, "pread"):
            self._f.seek(offset)
            return read_full(self._f, n)
        out = os.pread(self._f.fileno(), n, offset)
        if len(out) < n and out:
            parts, got = [out], len(out)
            while got < n:
                more = os.pread(self._f.fileno(), n - got, offset + got)
                if not more:
                    break
                parts.append(more)
                got += len(more)
            out = b"".join(parts)
        return out

    def drop_cache(self) -> None:
        """Ask the OS to forget cached pages, so the next reads come from the device."""
        drop_cached(self._f.fileno())

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> FileSource:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def publish(partial: Path, final: Path) -> None:
    """Rename a finished ``*.partial`` to its final name and make the rename durable."""
    if final.exists():
        raise FileExistsError(f"{final} already exists")
    try:
        os.replace(partial, final)
    except OSError as e:
        raise write_error(e, final) from None
    fsync_dir(final.parent)
