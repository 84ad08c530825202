"""Split sets: one archive stored as volumes below a file-size limit (FORMAT.md section 8).

The writer and the reader see one byte stream; here it is spread over files:

* ``<name>.therabak`` holds the archive's first bytes as they are (a single-file archive
  is a set of one volume, byte for byte what it always was);
* ``<name>.therabak.002``, ``.003``, ... each begin with an 80-byte volume header (the
  archive id names the set; the volume's number, the number of volumes, and which bytes
  of the archive it holds; a SHA-256 of the header) followed by those bytes.

:class:`VolumeSink` writes a set (as ``.partial`` files, renamed by :meth:`publish`, the
first volume last). It starts a new volume when the current one reaches the volume size,
or when the file system refuses to make it larger (``EFBIG``: a FAT32 drive nobody told
us about). :func:`open_source` reads a set from the path of any of its volumes; a
missing, foreign, swapped or cut-off volume is named in the error, or, for salvage,
becomes a hole in the stream (:class:`VolumeSource`) that reads raise
:class:`VolumeMissing` for and that scans skip.
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import hashlib
import os
import re
import stat
import struct
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from therabak import faults
from therabak.archive.byteio import WRITE_BEHIND, FileSource, publish, write_error
from therabak.archive.header import MAGIC as ARCHIVE_MAGIC
from therabak.archive.header import read_header_size
from therabak.archive.layout import TRAILER_SIZE, parse_trailer
from therabak.datafolder.partials import owned_by_me, partial_path
from therabak.errors import DamagedArchiveError, NotEnoughSpaceError, Remedy, TherabakError
from therabak.fsutil import IS_WINDOWS, create_private, fsync_dir, open_regular
from therabak.i18n import Message, _, ngettext

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)

VOLUME_MAGIC = b"TBVOLUME"
VOLUME_VERSION = 1
# magic, version, header size, archive id, volume number, volume count, start, length
_FIELDS = struct.Struct(">8sHH16sHHQQ")
VOLUME_HEADER_SIZE = _FIELDS.size + 32  # + SHA-256 of the fields
MAX_VOLUMES = 999  # three digits in the file names
#: The smallest volume (file size) a set is split into; the first volume must hold at
#: least the archive's header region (at most 64 KiB).
MIN_VOLUME_SIZE = 1 << 20
#: Volumes on a file system with a file-size limit stay this much below it.
VOLUME_MARGIN = 16 << 20
_ARCHIVE_ID = slice(26, 42)  # where the archive header keeps the archive id
_MAX_OFFSET = 1 << 62

# Every WRITE_BEHIND bytes a volume asks the OS to start writing what it has and to drop
# it from the page cache once written (as FileSink does, see byteio.py).
_ADVISE = hasattr(os, "posix_fadvise") and not IS_WINDOWS
_TOO_LARGE_ERRNOS = frozenset({errno.EFBIG, errno.E2BIG})
# Windows: ERROR_FILE_TOO_LARGE, ERROR_FILE_SYSTEM_LIMITATION
_TOO_LARGE_WINERRORS = frozenset({223, 665})


def volume_size_for(limit: int | None, requested: int | None = None) -> int | None:
    """The size of each volume file: *requested*, and below a file system's *limit* (the
    largest file it holds) by a margin; None when neither applies (no splitting)."""
    sizes = [s for s in (requested,) if s is not None]
    if limit is not None:
        sizes.append(max(MIN_VOLUME_SIZE, limit + 1 - VOLUME_MARGIN))
    return min(sizes) if sizes else None


def volumes_needed(archive_size: int, volume_size: int | None) -> int:
    """How many volumes an archive of *archive_size* bytes takes (1: not split)."""
    if volume_size is None or archive_size <= volume_size:
        return 1
    rest = archive_size - volume_size
    return 1 + -(-rest // (volume_size - VOLUME_HEADER_SIZE))


def set_size(archive_size: int, volume_size: int | None) -> int:
    """Bytes on disk of an archive of *archive_size* bytes split into volumes."""
    return archive_size + (volumes_needed(archive_size, volume_size) - 1) * VOLUME_HEADER_SIZE


# ---- the volume header ---------------------------------------------------------------------------


class NotAVolume(DamagedArchiveError):
    """The file does not begin with a volume header."""


@dataclass(frozen=True)
class VolumeHeader:
    archive_id: bytes
    number: int  # 2 ... count
    count: int  # the number of volumes in the set; 0 while the set is being written
    start: int  # offset in the archive of this volume's first byte
    length: int  # bytes of the archive this volume holds

    def pack(self) -> bytes:
        body = _FIELDS.pack(
            VOLUME_MAGIC,
            VOLUME_VERSION,
            VOLUME_HEADER_SIZE,
            self.archive_id,
            self.number,
            self.count,
            self.start,
            self.length,
        )
        return body + hashlib.sha256(body).digest()

    @classmethod
    def parse(cls, data: bytes) -> VolumeHeader:
        if data[:8] != VOLUME_MAGIC:
            raise NotAVolume(_("it is not a volume of a split backup"))
        if len(data) < VOLUME_HEADER_SIZE:
            raise DamagedArchiveError(_("its volume header is cut off"))
        body, digest = data[: _FIELDS.size], data[_FIELDS.size : VOLUME_HEADER_SIZE]
        if hashlib.sha256(body).digest() != digest:
            raise DamagedArchiveError(_("its volume header is damaged"))
        _magic, version, size, archive_id, number, count, start, length = _FIELDS.unpack(body)
        if version != VOLUME_VERSION or size != VOLUME_HEADER_SIZE:
            raise DamagedArchiveError(
                _("its volume header has an unknown version ({version})").format(version=version)
            )
        if not 2 <= number <= MAX_VOLUMES or (count and not number <= count <= MAX_VOLUMES):
            raise DamagedArchiveError(_("its volume header is damaged (volume number)"))
        if start >= _MAX_OFFSET or length >= _MAX_OFFSET:
            raise DamagedArchiveError(_("its volume header is damaged (offsets)"))
        return cls(archive_id, number, count, start, length)


# ---- names ----------------------------------------------------------------------------------

_LATER = re.compile(r"^(?P<first>.+\.therabak)\.(?P<number>[0-9]{3})$", re.IGNORECASE)


def volume_path(first: Path, number: int) -> Path:
    """The name of volume *number* of the set whose first volume is *first*."""
    first = Path(first)
    return first if number == 1 else first.with_name(f"{first.name}.{number:03d}")


def later_volume_name(name: str) -> tuple[str, int] | None:
    """(first volume's name, number) for a name like ``X.therabak.003``, else None."""
    m = _LATER.match(name)
    if m is None or int(m.group("number")) < 2:
        return None
    return m.group("first"), int(m.group("number"))


def first_volume(path: Path) -> Path:
    """The set's first volume for the path of any of its volumes; *path* otherwise (also
    for a file named like a later volume that is a whole archive)."""
    path = Path(path)
    later = later_volume_name(path.name)
    if later is None:
        return path
    with contextlib.suppress(OSError, TherabakError), os.fdopen(open_regular(path), "rb") as f:
        if f.read(len(ARCHIVE_MAGIC)) == ARCHIVE_MAGIC:
            return path
    return path.with_name(later[0])


def later_volumes(first: Path, names: Iterable[str] | None = None) -> dict[int, Path]:
    """The files beside *first* named like its later volumes (``<first>.NNN``), by number.
    *names*: the folder's listing when the caller has it."""
    first = Path(first)
    if names is None:
        try:
            names = [e.name for e in os.scandir(first.parent)]
        except OSError:
            return {}
    prefix = first.name + "."
    out = {}
    for name in names:
        if name.startswith(prefix) and re.fullmatch(r"[0-9]{3}", name[len(prefix) :]):
            number = int(name[len(prefix) :])
            if number >= 2:
                out[number] = first.with_name(name)
    return dict(sorted(out.items()))


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
        self._next_advice = self.size + WRITE_BEHIND if _ADVISE else -1

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
        with contextlib.suppress(OSError):
            os.posix_fadvise(self._fd, start, self.size - start, os.POSIX_FADV_DONTNEED)
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
        if _ADVISE and self.size > self._advised:
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
        if len(self._head) < _ARCHIVE_ID.stop:
            self._head += bytes(data[: _ARCHIVE_ID.stop - len(self._head)])
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
        archive_id = self._head[_ARCHIVE_ID]
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
            if _ADVISE:  # written: its pages need not stay in the cache
                with contextlib.suppress(OSError):
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    except OSError as e:
        raise write_error(e, path) from None


# ---- reading ----------------------------------------------------------------------------------


class VolumeMissing(DamagedArchiveError):
    """Bytes of the archive that lie in a volume that is missing or cut off."""


@dataclass
class _Found:
    """A file named like a later volume, and what its header says."""

    number: int  # from its name
    path: Path
    size: int = 0
    header: VolumeHeader | None = None
    error: str = ""  # a translated message


def _read_later(number: int, path: Path) -> _Found:
    try:
        with os.fdopen(open_regular(path), "rb") as f:
            size = os.fstat(f.fileno()).st_size
            data = f.read(VOLUME_HEADER_SIZE)
    except OSError as e:
        return _Found(
            number, path, error=_("it cannot be read ({error})").format(error=e.strerror or str(e))
        )
    except TherabakError as e:  # a FIFO or a device named like a volume: never read
        return _Found(number, path, error=_("it cannot be read ({error})").format(error=e))
    try:
        return _Found(number, path, size, VolumeHeader.parse(data))
    except DamagedArchiveError as e:
        return _Found(number, path, size, error=e.message)


@dataclass
class _Part:
    number: int
    path: Path
    start: int  # in the archive
    length: int  # archive bytes readable from it
    offset: int  # where they begin in the file

    @property
    def end(self) -> int:
        return self.start + self.length


@dataclass
class SetCheck:
    """What the volumes of a set on disk say, and what is wrong with them."""

    first: Path
    count: int  # volumes in the set (as far as can be told)
    size: int  # the archive's size (as far as can be told)
    disk_size: int  # bytes of the volume files present
    parts: list[_Part] = field(default_factory=list)  # readable ranges, in archive order
    problems: list[Message] = field(default_factory=list)  # sentences naming volume files

    def holes(self) -> list[tuple[int, int, str]]:
        """[start, end) ranges of the archive that cannot be read, and where they were."""
        out = []
        pos, before = 0, None
        for part in [*self.parts, None]:
            end = part.start if part is not None else self.size
            if end > pos:
                out.append((pos, end, self._where(before, part)))
            if part is not None:
                pos, before = max(pos, part.end), part
        return out

    def _where(self, before: _Part | None, after: _Part | None) -> str:
        lo = before.number if before else 0
        hi = after.number if after else self.count + 1
        if hi - lo > 1:
            if hi - lo == 2:
                return _("the missing volume {k} of {n} ({path})").format(
                    k=lo + 1, n=self.count, path=volume_path(self.first, lo + 1)
                )
            return _("the missing volumes {first}-{last} of {n}").format(
                first=lo + 1, last=hi - 1, n=self.count
            )
        assert before is not None
        return _("the cut-off end of volume {k} of {n} ({path})").format(
            k=lo, n=self.count, path=before.path
        )


def check_set(first: Path, first_size: int, archive_id: bytes, later: dict[int, Path]) -> SetCheck:
    """Read the headers of the files named like *first*'s later volumes and check that
    they make one complete archive with it; the problems name each volume file."""
    found = [_read_later(n, p) for n, p in sorted(later.items())]
    ours = [f for f in found if f.header is not None and f.header.archive_id == archive_id]
    others = {f.number: f for f in found if f.header is not None and f not in ours}
    unusable = {f.number: f for f in found if f.header is None}
    counts = {f.header.count for f in ours if f.header and f.header.count}
    numbers = [f.header.number for f in ours if f.header]
    count = max(counts | set(numbers)) if ours else max(f.number for f in found)
    problems: list[Message] = []
    if len(counts) > 1:
        problems.append(
            _("The volumes of {path} disagree on how many there are ({counts}).").format(
                path=first, counts=", ".join(str(c) for c in sorted(counts))
            )
        )
    by_number: dict[int, _Found] = {}
    for f in sorted(ours, key=lambda f: (f.header.number != f.number, f.number)):  # type: ignore[union-attr]
        assert f.header is not None
        if f.header.count == 0:
            problems.append(
                _("{path} is an unfinished volume (its backup never completed).").format(
                    path=f.path
                )
            )
            continue
        k = f.header.number
        if k in by_number:
            problems.append(
                _("{path} and {other} both claim to be volume {k}.").format(
                    path=f.path, other=by_number[k].path, k=k
                )
            )
            continue
        by_number[k] = f
        if f.number != k:
            problems.append(
                _(
                    "{path} holds volume {k} of {n}, not volume {m} (the volume files were "
                    "swapped or renamed)."
                ).format(path=f.path, k=k, n=count, m=f.number)
            )
    for k in range(2, count + 1):
        if k in by_number:
            continue
        where = volume_path(first, k)
        if k in others:
            problems.append(
                _("Volume {k} of {n} is missing: {path} belongs to another backup.").format(
                    k=k, n=count, path=where
                )
            )
        elif k in unusable:
            problems.append(
                _("Volume {k} of {n} cannot be used: {path}: {error}.").format(
                    k=k, n=count, path=where, error=unusable[k].error
                )
            )
        else:
            problems.append(
                _("Volume {k} of {n} is missing: {path}.").format(k=k, n=count, path=where)
            )

    parts = [_Part(1, first, 0, first_size, 0)]
    for k in sorted(by_number):
        f = by_number[k]
        h = f.header
        assert h is not None
        held = f.size - VOLUME_HEADER_SIZE
        if held < h.length:
            problems.append(_cut_off(k, count, f.path, f.size, h.length + VOLUME_HEADER_SIZE))
        elif held > h.length:
            problems.append(_too_long(k, count, f.path))
        parts.append(_Part(k, f.path, h.start, min(held, h.length), VOLUME_HEADER_SIZE))
    # Each volume must begin where the one before it ends.
    for prev, part in zip(parts, parts[1:], strict=False):
        if part.number != prev.number + 1:
            continue
        expected = by_number[part.number].header.start  # type: ignore[union-attr]
        full_end = prev.start + (
            by_number[prev.number].header.length  # type: ignore[union-attr]
            if prev.number > 1
            else first_size
        )
        if prev.number == 1 and first_size < expected:
            problems.append(_cut_off(1, count, first, first_size, expected))
        elif prev.number == 1 and first_size > expected:
            problems.append(_too_long(1, count, first))
            prev.length = expected
        elif full_end != expected:
            problems.append(
                _(
                    "Volume {k} of {n} does not continue volume {prev}: {path} (damaged or "
                    "from another copy of the backup)."
                ).format(k=part.number, n=count, prev=prev.number, path=part.path)
            )
    # Readable ranges in archive order, without overlaps.
    parts.sort(key=lambda p: p.start)
    kept: list[_Part] = []
    for part in parts:
        if kept and part.start < kept[-1].end:
            continue
        if part.length > 0:
            kept.append(part)
    last = by_number.get(count)
    size = last.header.start + last.header.length if last and last.header else kept[-1].end
    disk = first_size + sum(f.size for f in by_number.values())
    return SetCheck(first, count, max(size, kept[-1].end), disk, kept, problems)


def _cut_off(k: int, n: int, path: Path, size: int, expected: int) -> Message:
    return _("Volume {k} of {n} is cut off: {path} has {size} of its {expected} bytes.").format(
        k=k, n=n, path=path, size=size, expected=expected
    )


def _too_long(k: int, n: int, path: Path) -> Message:
    return _("Volume {k} of {n} is longer than it should be: {path}.").format(k=k, n=n, path=path)


def joined(problems: list[Message], most: int = 3) -> Message:
    """Up to *most* problems as one message (sentences one after the other)."""
    text = problems[min(len(problems), most) - 1]
    for problem in reversed(problems[: min(len(problems), most) - 1]):
        text = _("{problem} {next}").format(problem=problem, next=text)
    if len(problems) > most:
        rest = len(problems) - most
        text = ngettext(
            "{problems} And {n} more problem.", "{problems} And {n} more problems.", rest
        ).format(problems=text, n=rest)
    return text


def _complete_alone(source: FileSource) -> bool:
    """Is the file a whole single-file archive (its trailer names it and fits its size)?"""
    try:
        header_size = read_header_size(source.read_at(0, 14))
        archive_id = source.read_at(0, _ARCHIVE_ID.stop)[_ARCHIVE_ID]
        parse_trailer(
            source.read_at(source.size - TRAILER_SIZE, TRAILER_SIZE),
            archive_size=source.size,
            header_size=header_size,
            archive_id=archive_id,
        )
        return True
    except (DamagedArchiveError, ValueError):
        return False


class VolumeSource:
    """The archive stored in a set's volumes, read as one stream (a ByteSource).

    ``problems`` says what is wrong (salvage only: otherwise the set is refused). Bytes in
    a missing or cut-off volume are a hole: reading them raises :class:`VolumeMissing`;
    :meth:`present_span` lets a scan skip holes."""

    #: Volumes kept open at once (a set of 999 would otherwise need 999 descriptors).
    MAX_OPEN = 16

    def __init__(self, check: SetCheck, first: FileSource) -> None:
        self.first = check.first
        self.count = check.count
        self.size = check.size
        self.disk_size = check.disk_size
        self.problems = list(check.problems)
        self._parts = check.parts
        self._starts = [p.start for p in self._parts]
        self._sources: OrderedDict[int, FileSource] = OrderedDict({1: first})
        self._holes = check.holes()
        self._runs: list[tuple[int, int]] = []  # contiguous readable ranges
        for p in self._parts:
            if self._runs and self._runs[-1][1] == p.start:
                self._runs[-1] = (self._runs[-1][0], p.end)
            else:
                self._runs.append((p.start, p.end))

    @property
    def volumes(self) -> int:
        return self.count

    @property
    def paths(self) -> list[Path]:
        return [volume_path(self.first, k) for k in range(1, self.count + 1)]

    def read_at(self, offset: int, n: int) -> bytes:
        if offset < 0 or n < 0:
            raise ValueError("negative read")
        end = min(offset + n, self.size)
        pos, pieces = offset, []
        i = bisect.bisect_right(self._starts, pos) - 1
        while pos < end:
            if (
                i < 0
                or i >= len(self._parts)
                or not self._parts[i].start <= pos < self._parts[i].end
            ):
                raise VolumeMissing(_("in {where}").format(where=self.hole_at(pos)))
            part = self._parts[i]
            take = min(end, part.end) - pos
            data = self._source(part).read_at(part.offset + pos - part.start, take)
            if len(data) != take:
                raise VolumeMissing(
                    _("{path} became shorter while it was read").format(path=part.path)
                )
            pieces.append(data)
            pos += take
            i += 1
        if len(pieces) == 1:
            return pieces[0]
        return b"".join(pieces)

    def _source(self, part: _Part) -> FileSource:
        source = self._sources.get(part.number)
        if source is not None:
            self._sources.move_to_end(part.number)
            return source
        try:
            source = FileSource(part.path)
        except OSError as e:
            raise VolumeMissing(
                _("{path} cannot be read ({error})").format(
                    path=part.path, error=e.strerror or str(e)
                )
            ) from None
        self._sources[part.number] = source
        if len(self._sources) > self.MAX_OPEN:
            self._sources.popitem(last=False)[1].close()
        return source

    def hole_at(self, pos: int) -> str:
        for start, end, where in self._holes:
            if start <= pos < end:
                return where
        return _("a missing volume")

    def missing_part(self, offset: int, length: int) -> str | None:
        """Where the range [offset, offset+length) was, when part of it cannot be read."""
        for start, end, where in self._holes:
            if start < offset + length and offset < end:
                return where
        return None

    def present_span(self, pos: int) -> tuple[int, int] | None:
        """The readable range holding *pos*, or the next one after it; None: no more."""
        for start, end in self._runs:
            if end > pos:
                return start, end
        return None

    def drop_cache(self) -> None:
        for part in self._parts:
            self._source(part).drop_cache()

    def close(self) -> None:
        while self._sources:
            self._sources.popitem()[1].close()

    def __enter__(self) -> VolumeSource:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _count_from(later: dict[int, Path]) -> int | None:
    for number, path in later.items():
        found = _read_later(number, path)
        if found.header is not None and found.header.count:
            return found.header.count
    return None


def open_source(path: Path, *, salvage: bool = False) -> FileSource | VolumeSource:
    """The archive at *path* as a ByteSource: the file itself, or the whole set when it is
    a volume of a split backup. A problem with the set raises DamagedArchiveError naming
    the volume; with *salvage*, only a missing first volume does (the rest are holes)."""
    path = Path(path)
    first = first_volume(path)
    later = later_volumes(first)
    try:
        source = FileSource(first)
    except FileNotFoundError:
        if later:
            count = _count_from(later)
            if count:
                raise DamagedArchiveError(
                    _(
                        "Volume 1 of {n} of this split backup is missing: {path}; without it "
                        "nothing can be read (it holds the backup's header and key slots)."
                    ).format(n=count, path=first)
                ) from None
            raise DamagedArchiveError(
                _(
                    "Volume 1 of this split backup is missing: {path}; without it nothing can "
                    "be read (it holds the backup's header and key slots)."
                ).format(path=first)
            ) from None
        raise DamagedArchiveError(_("Backup not found: {path}").format(path=path)) from None
    except IsADirectoryError:
        raise DamagedArchiveError(_("Not a backup file: {path}").format(path=path)) from None
    try:
        if not later or _complete_alone(source):
            return source
        archive_id = source.read_at(0, _ARCHIVE_ID.stop)[_ARCHIVE_ID]
        check = check_set(first, source.size, archive_id, later)
        if check.problems and not salvage:
            raise DamagedArchiveError(
                joined(check.problems),
                hint=_("therabak restore --salvage restores every file in the volumes present."),
                remedy=Remedy.SALVAGE,
            )
        return VolumeSource(check, source)
    except BaseException:
        source.close()
        raise


@dataclass
class SetInfo:
    """A split set as a restore-point listing sees it (headers only)."""

    volumes: int
    disk_size: int
    problems: list[Message]


def describe_set(first: Path, names: Iterable[str] | None = None) -> SetInfo | None:
    """None for an archive that is one file; else its volumes, size on disk and problems.
    Reads only headers (and the first volume's trailer when later volumes are beside it)."""
    later = later_volumes(first, names)
    if not later:
        return None
    try:
        with FileSource(first) as source:
            if _complete_alone(source):
                return None
            archive_id = source.read_at(0, _ARCHIVE_ID.stop)[_ARCHIVE_ID]
            check = check_set(first, source.size, archive_id, later)
    except OSError:
        return None
    return SetInfo(check.count, check.disk_size, check.problems)


def delete_set(first: Path) -> list[Path]:
    """Delete an archive and its later volumes: the first volume first, so that an
    interruption leaves no set that looks whole (the rest are removed as orphans)."""
    first = Path(first)
    archive_id = b""
    with contextlib.suppress(OSError, TherabakError), os.fdopen(open_regular(first), "rb") as f:
        archive_id = f.read(_ARCHIVE_ID.stop)[_ARCHIVE_ID]
    later = later_volumes(first)
    first.unlink()
    deleted = [first]
    for number, path in later.items():
        found = _read_later(number, path)
        if found.header is not None and found.header.archive_id == archive_id:
            with contextlib.suppress(OSError):
                path.unlink()
                deleted.append(path)
    return deleted


def delete_later_orphans(
    folder: Path, writing: Callable[[Path, str], bool], *, prefix: str = "TheraPsy-"
) -> list[Path]:
    """Delete later volumes (``<prefix>...therabak.NNN`` that begin with a volume header)
    whose first volume does not exist and that no live process is writing or renaming:
    what a split backup that died while its volumes were renamed leaves (its first volume
    is renamed last). *writing(folder, first name)* is asked before the first volume is
    looked for, so a rename between the two is seen by one of them. Without the first
    volume (the header and key slots), nothing in them could ever be read."""
    try:
        names = [e.name for e in os.scandir(folder)]
    except OSError:
        return []
    groups: dict[str, list[str]] = {}
    for name in names:
        later = later_volume_name(name)
        if later is not None and name.startswith(prefix):
            groups.setdefault(later[0], []).append(name)
    removed = []
    for first_name, names_of_set in sorted(groups.items()):
        if writing(folder, first_name) or os.path.lexists(folder / first_name):
            continue
        for name in sorted(names_of_set):
            path = folder / name
            with contextlib.suppress(OSError):
                if owned_by_me(os.lstat(path)) and is_volume_file(path):
                    path.unlink()
                    removed.append(path)
    return removed


def is_volume_file(path: Path) -> bool:
    """Is *path* a regular file (never a link, FIFO or device: it is not opened then)
    that begins with a volume header whose checksum holds?"""
    try:
        fd = os.open(path, os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | getattr(os, "O_BINARY", 0))
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        VolumeHeader.parse(os.read(fd, VOLUME_HEADER_SIZE))
        return True
    except (OSError, DamagedArchiveError):
        return False
    finally:
        os.close(fd)


__all__ = [
    "MAX_VOLUMES",
    "MIN_VOLUME_SIZE",
    "VOLUME_HEADER_SIZE",
    "SetCheck",
    "SetInfo",
    "VolumeHeader",
    "VolumeMissing",
    "VolumeSink",
    "VolumeSource",
    "check_set",
    "delete_later_orphans",
    "delete_set",
    "describe_set",
    "first_volume",
    "later_volumes",
    "open_source",
    "volume_path",
    "volume_size_for",
    "volumes_needed",
]
