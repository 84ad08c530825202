"""Writing a split set: :class:`VolumeSink` (as ``.partial`` files, published first
volume last; a new volume at the volume size or when the file system refuses more)."""

from __future__ import annotations

import contextlib
import errno
import os
from dataclasses import dataclass
from pathlib import Path

from therabak import faults
from therabak.archive.byteio import WRITE_BEHIND, publish, write_error
from therabak.archive.volumes.naming import (
    ARCHIVE_ID,
    MAX_VOLUMES,
    MIN_VOLUME_SIZE,
    VOLUME_HEADER_SIZE,
    VolumeHeader,
    volume_path,
)
from therabak.datafolder.partials import partial_path
from therabak.errors import NotEnoughSpaceError, TherabakError
from therabak.fsutil import CAN_DROP_CACHED, create_private, drop_cached, fsync_dir
from therabak.i18n import _

# Every WRITE_BEHIND bytes a volume asks the OS to start writing what it has and to drop
# it from the page cache once written (as FileSink does, see byteio.py).
_TOO_LARGE_ERRNOS = frozenset({errno.EFBIG, errno.E2BIG})
# Windows: ERROR_FILE_TOO_LARGE, ERROR_FILE_SYSTEM_LIMITATION
_TOO_LARGE_WINERRORS = frozenset({223, 665})


# ---- writing ----------------------------------------------------------------------------------


def _too_large(e: OSError) -> bool:
    return e.errno in _TOO_LARGE_ERRNOS or getattr(e, "winerror", None) in _TOO_LARGE_WINERRORS


class _TooLarge(Exception):
    """The file system refused to make a volume larger; *pending* are the bytes (in order)
    that were accepted or given but never reached the file."""

    def __init__(self, pending: bytes) -> None:
        super().__init__("file too large")
        self.pending = pending


class _VolumeFile:
    """One volume file: buffered writes straight to the descriptor, so that when the file
    system refuses to make the file larger it is known exactly which bytes got in."""

    def __init__(self, path: Path, buffer_size: int, reopen_at: int | None = None) -> None:
        self.path = path
        try:
            if reopen_at is None:
                fd = create_private(path)
            else:
                fd = os.open(path, os.O_WRONLY | getattr(os, "O_BINARY", 0))
                try:
                    os.ftruncate(fd, reopen_at)
                    os.lseek(fd, reopen_at, os.SEEK_SET)
                except BaseException:
                    os.close(fd)
                    raise
        except OSError as e:
            raise write_error(e, path) from None
        self._fd: int | None = fd
        self.size = reopen_at or 0  # bytes in the file
        self._buf = bytearray(buffer_size)
        self._n = 0  # bytes in the buffer
        self._advised = self.size
        self._next_advice = self.size + WRITE_BEHIND if CAN_DROP_CACHED else -1

    @property
    def end(self) -> int:
        """Bytes in the file once the buffer is written."""
        return self.size + self._n

    def write(self, data: memoryview) -> None:
        n = len(data)
        if self._n + n <= len(self._buf):
            self._buf[self._n : self._n + n] = data
            self._n += n
            return
        try:
            self.flush()
        except _TooLarge as full:
            raise _TooLarge(full.pending + bytes(data)) from None
        if n < len(self._buf):
            self._buf[:n] = data
            self._n = n
        else:
            self._raw(data)

    def flush(self) -> None:
        if self._n:
            n, self._n = self._n, 0
            with memoryview(self._buf) as view:
                self._raw(view[:n])

    def _raw(self, view: memoryview) -> None:
        done, total = 0, len(view)
        while done < total:
            try:
                n = self._os_write(view[done:])
            except OSError as e:
                if _too_large(e):
                    raise _TooLarge(bytes(view[done:])) from None
                raise write_error(e, self.path) from None
            if n <= 0:
                raise write_error(OSError(errno.EIO, _("nothing was written")), self.path)
            done += n
            self.size += n
        if self.size >= self._next_advice > 0:
            self._write_behind()

    def _os_write(self, view: memoryview) -> int:
        limit = faults.file_size_limit()
        if limit is not None:  # like a file system that cannot hold more: short, then EFBIG
            room = limit - self.size
            if room <= 0:
                raise OSError(errno.EFBIG, os.strerror(errno.EFBIG))
            view = view[:room]
        assert self._fd is not None
        return os.write(self._fd, view)

    def _write_behind(self) -> None:
        start = max(0, self._advised - WRITE_BEHIND)
        drop_cached(self._fd, start, self.size - start)
        self._advised = self.size
        self._next_advice = self.size + WRITE_BEHIND

    def truncate(self, size: int) -> None:
        if size >= self.size:
            self._n = size - self.size
            return
        self._n = 0
        try:
            os.ftruncate(self._fd, size)
            os.lseek(self._fd, size, os.SEEK_SET)
        except OSError as e:
            raise write_error(e, self.path) from None
        self.size = size
        self._advised = min(self._advised, size)
        if self._next_advice > 0:
            self._next_advice = size + WRITE_BEHIND

    def overwrite_start(self, data: bytes) -> None:
        """Replace the file's first bytes (the volume header) in place."""
        self.flush()
        try:
            os.lseek(self._fd, 0, os.SEEK_SET)
            _write_all(self._fd, data)
            os.lseek(self._fd, self.size, os.SEEK_SET)
        except OSError as e:
            raise write_error(e, self.path) from None

    def sync(self) -> None:
        self.flush()
        try:
            os.fsync(self._fd)
        except OSError as e:
            raise write_error(e, self.path) from None

    def close(self) -> None:
        if self._fd is None:
            return
        self.flush()
        if CAN_DROP_CACHED and self.size > self._advised:
            self._write_behind()  # a finished volume's writeback starts now, not at the end
        fd, self._fd = self._fd, None
        try:
            os.close(fd)
        except OSError as e:
            raise write_error(e, self.path) from None

    def abandon(self) -> None:
        """Close without writing what is buffered (after a failure)."""
        self._n = 0
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


@dataclass
class _Volume:
    number: int
    partial: Path
    start: int  # offset in the archive of its first byte
    header_size: int  # 0 for the first volume
    length: int = 0  # archive bytes it holds, once finished


class VolumeSink:
    """A :class:`~therabak.archive.byteio.ByteSink` writing ``final`` and, when it must,
    ``final.002``, ``final.003``, ... as ``<name>.<pid>.partial`` files.

    A new volume begins when the current one has *volume_size* bytes (None: no size
    known), or when the file system refuses to make it larger: from then on volumes stay
    at the size that was refused. ``truncate`` may go back into earlier volumes (an entry
    that was being written across a volume boundary is dropped). :meth:`sync` completes
    every volume header and fsyncs; :meth:`publish` renames volumes 2..N, then the first.
    """

    # write() has copied or written what it was given when it returns (see FileSink).
    copies_data = True

    def __init__(
        self, final: Path, *, volume_size: int | None = None, buffer_size: int = 1 << 20
    ) -> None:
        if volume_size is not None and volume_size < MIN_VOLUME_SIZE:
            raise ValueError(f"volume size below {MIN_VOLUME_SIZE}")
        self.final = Path(final)
        self.volume_size = volume_size
        self.refused_at: int | None = None  # the file size the file system refused
        self._buffer_size = buffer_size
        self._pid = os.getpid()
        self._volumes: list[_Volume] = []
        self._renamed: list[Path] = []
        self._head = b""  # the archive's first bytes: its id names the set
        self._pos = 0
        self._cur: _VolumeFile | None = None
        self._open(1, 0)

    # -- facts --

    @property
    def count(self) -> int:
        return len(self._volumes)

    @property
    def partials(self) -> list[Path]:
        return [v.partial for v in self._volumes]

    def final_paths(self) -> list[Path]:
        return [volume_path(self.final, v.number) for v in self._volumes]

    def _partial(self, number: int) -> Path:
        return partial_path(volume_path(self.final, number), self._pid)

    # -- ByteSink --

    def write(self, data: bytes | bytearray | memoryview) -> None:
        n = len(data)
        if not n:
            return
        try:
            faults.before_stream_write(self._pos, n)
        except OSError as e:
            raise write_error(e, self._current().path) from None
        if len(self._head) < ARCHIVE_ID.stop:
            self._head += bytes(data[: ARCHIVE_ID.stop - len(self._head)])
        view = memoryview(data)
        self._put(view if view.format == "B" else view.cast("B"))
        self._pos += n

    def tell(self) -> int:
        return self._pos

    def truncate(self, offset: int) -> None:
        if not 0 <= offset <= self._pos:
            raise ValueError("truncate beyond the end")
        vol = self._volumes[-1]
        if offset >= vol.start:
            self._current().truncate(vol.header_size + offset - vol.start)
        else:  # back into an earlier volume: the later ones go
            self._current().abandon()
            self._unlink(vol.partial)
            self._volumes.pop()
            while self._volumes[-1].start > offset:
                self._unlink(self._volumes.pop().partial)
            vol = self._volumes[-1]
            vol.length = 0
            at = vol.header_size + offset - vol.start
            self._cur = _VolumeFile(vol.partial, self._buffer_size, reopen_at=at)
        self._pos = offset

    def sync(self) -> None:
        """Write everything, complete the volume headers (the count), fsync every volume."""
        while True:
            try:
                self._current().flush()
                break
            except _TooLarge as full:
                self._refused(full.pending)
        vol = self._volumes[-1]
        cur = self._current()
        vol.length = cur.size - vol.header_size
        if vol.number > 1:
            cur.overwrite_start(self._header(vol, count=self.count))
            # The finished volumes were closed unsynced (an fsync per volume would stop
            # the writing while the device catches up); their data went out behind the
            # writing (write-behind), so these fsyncs find little left to do.
            _patch(self._volumes[0].partial, None)
            for other in self._volumes[1:-1]:
                _patch(other.partial, self._header(other, count=self.count))
        cur.sync()

    def close(self) -> None:
        if self._cur is not None:
            self._cur.close()

    # -- the set --

    def discard(self) -> None:
        """Close and delete every volume (after a failure), renamed ones too."""
        if self._cur is not None:
            self._cur.abandon()
        for v in self._volumes:
            self._unlink(v.partial)
        for p in self._renamed:
            self._unlink(p)

    def publish(self) -> list[Path]:
        """Rename the synced, closed volumes to their final names: 2..N first, then the
        first, so that a set that looks finished is complete."""
        finals = self.final_paths()
        for f in finals:
            if os.path.lexists(f):
                raise FileExistsError(f"{f} already exists")
        for v, f in zip(self._volumes[1:], finals[1:], strict=True):
            try:
                os.replace(v.partial, f)
            except OSError as e:
                raise write_error(e, f) from None
            self._renamed.append(f)
        if len(finals) > 1:
            fsync_dir(self.final.parent)
            faults.point("backup.volumes-renamed")
        publish(self._volumes[0].partial, finals[0])
        self._renamed = []
        return finals

    # -- inside --

    def _current(self) -> _VolumeFile:
        assert self._cur is not None
        return self._cur

    def _header(self, vol: _Volume, count: int = 0) -> bytes:
        archive_id = self._head[ARCHIVE_ID]
        return VolumeHeader(archive_id, vol.number, count, vol.start, vol.length).pack()

    def _open(self, number: int, start: int) -> None:
        if number > MAX_VOLUMES:
            raise TherabakError(
                _(
                    "The backup would need more than {most} volumes; choose a larger volume size."
                ).format(most=MAX_VOLUMES)
            )
        vol = _Volume(
            number, self._partial(number), start, 0 if number == 1 else VOLUME_HEADER_SIZE
        )
        self._cur = _VolumeFile(vol.partial, self._buffer_size)
        self._volumes.append(vol)
        if vol.header_size:
            self._cur.write(memoryview(self._header(vol)))

    def _room(self) -> int | None:
        if self.volume_size is None:
            return None
        return self.volume_size - self._current().end

    def _put(self, view: memoryview) -> None:
        while len(view):
            room = self._room()
            if room is not None and room <= 0:
                self._next()
                continue
            piece = view if room is None or len(view) <= room else view[:room]
            try:
                self._current().write(piece)
            except _TooLarge as full:
                self._refused(full.pending)
            view = view[len(piece) :]

    def _refused(self, pending: bytes) -> None:
        """The file system would not make the current volume larger: that is its limit."""
        size = self._current().size
        vol = self._volumes[-1]
        if size < MIN_VOLUME_SIZE or size - vol.header_size <= 0:
            from therabak import formatting

            raise NotEnoughSpaceError(
                _(
                    "The destination {dest} cannot hold a file larger than {size}; the backup "
                    "was stopped and its partial files removed."
                ).format(dest=self.final.parent, size=formatting.size(size))
            )
        self.refused_at = size if self.refused_at is None else min(self.refused_at, size)
        self.volume_size = size if self.volume_size is None else min(self.volume_size, size)
        self._next(pending)

    def _next(self, pending: bytes = b"") -> None:
        """Finish the current volume and begin the next; *pending* bytes go there first."""
        cur = self._current()
        try:
            cur.flush()
        except _TooLarge as full:  # the buffer did not fit: the limit is lower than thought
            self._refused(full.pending + pending)
            return
        vol = self._volumes[-1]
        vol.length = cur.size - vol.header_size
        cur.close()  # fsynced with the others once the set is complete (see sync)
        faults.point("backup.volume")
        self._open(vol.number + 1, vol.start + vol.length)
        if pending:
            self._put(memoryview(pending))

    def _unlink(self, path: Path) -> None:
        with contextlib.suppress(OSError):
            path.unlink()


def _patch(path: Path, header: bytes | None) -> None:
    """Rewrite a closed volume's header (its count is known once the set is complete),
    and fsync it (*header* None: only fsync)."""
    try:
        fd = os.open(path, os.O_WRONLY | getattr(os, "O_BINARY", 0))
        try:
            if header is not None:
                _write_all(fd, header)
            os.fsync(fd)
            drop_cached(fd)  # written: its pages need not stay in the cache
        finally:
            os.close(fd)
    except OSError as e:
        raise write_error(e, path) from None
