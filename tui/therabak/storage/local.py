"""A storage in a local folder: a USB stick, a second disk, a network drive.

Objects are files under the folder, ``/`` in a name is a subfolder. ``put`` writes to a
temporary file in ``.tmp/`` beside them, fsyncs it and moves it under its final name without
replacing anything (a hard link where the file system has them, else a rename after a
check: FAT sticks have no hard links), then fsyncs the folder. A crash leaves at most a
file in ``.tmp/``, which ``list`` never shows and :meth:`LocalStorage.clean_temporary`
removes. Names starting with ``.`` are never listed.

``put_deferred`` (the packs of a backup) does the same without the two fsyncs: it starts
the file's writeback at once (``posix_fadvise(DONTNEED)``: the kernel begins writing
and drops the pages once written, so a backup does not fill the page cache) and
remembers the file; once two more were put, the putting thread fsyncs it (written by
then, mostly); :meth:`LocalStorage.sync`, the barrier, fsyncs every file put since the
last barrier that is not durable yet, and their folders. The writer never waits for one
pack's fsync before it fills the next.
``open_deferred`` writes such a file piece by piece (a pack as its blobs are sealed,
each while it is still in the processor's cache) and ``publish`` links it under its
name as ``put_deferred`` would.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, cast

from therabak.fsutil import CAN_DROP_CACHED, IS_WINDOWS, create_private, drop_cached, fsync_dir
from therabak.i18n import N_, _
from therabak.storage.base import (
    ObjectExistsError,
    ObjectInfo,
    ObjectNotFoundError,
    Storage,
    StorageError,
    StorageFullError,
    check_name,
)

_TMP = ".tmp"
_WRITE = N_("cannot write {name} in {place}: {reason}")
_READ = N_("cannot read {name} in {place}: {reason}")
_DELETE = N_("cannot delete {name} in {place}: {reason}")
_LIST = N_("cannot list {name} in {place}: {reason}")
_COPY_BUFFER = 1 << 20
_PREAD = hasattr(os, "pread") and CAN_DROP_CACHED
#: A blob this large, once read by :meth:`LocalStorage.get_immutable`, leaves the
#: system's cache: a restore or a check reads each blob once, and the memory its pages
#: took serves the next reads and the restored files (``fsutil.READ_ONCE_CACHED_UP_TO``
#: does the same for a backup's large files, with the figures).
UNCACHE_FROM = 256 << 10
#: The page cache keeps the last BEHIND files put_deferred (their writeback started when
#: they were written); an older one is made durable (fsync) and dropped from it: the
#: cache does not grow by the backup's size, which costs more CPU time (fresh pages) than
#: the copying itself, and the barrier has only the last few files left to fsync.
_BEHIND = 2
_WRITE_FLAGS = os.O_RDWR | getattr(os, "O_BINARY", 0)  # Windows fsyncs only writable files
_FULL = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})
# errno values of a file system that has no hard links (FAT: EPERM; others: ENOTSUP)
_NO_LINKS = frozenset(
    {errno.EPERM, errno.EMLINK, getattr(errno, "ENOTSUP", -1), getattr(errno, "EOPNOTSUPP", -1)}
)


class LocalStorage(Storage):
    reads_in_parallel = True  # each get opens the file on its own
    cheap_partial_reads = True  # a get reads only the part asked for

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.location = str(self.root)
        self._unsynced: dict[Path, None] = {}  # files put_deferred since the last barrier
        self._unsynced_dirs: dict[Path, None] = {}
        self._sync_lock = threading.Lock()
        self._behind: list[Path] = []  # the last files put_deferred, still in the cache
        self._reading = threading.local()  # per thread: (name, descriptor) it last read
        self._open_reads: dict[int, str] = {}  # every descriptor get_immutable keeps open
        self._reads_lock = threading.Lock()

    # ---- helpers ------------------------------------------------------------------

    def _path(self, name: str) -> Path:
        return self.root.joinpath(*check_name(name).split("/"))

    def _fail(self, message: str, name: str, e: OSError) -> StorageError:
        """*message* is a marked text with ``{name}``, ``{place}`` and ``{reason}``."""
        kind = StorageFullError if e.errno in _FULL else StorageError
        return kind(_(message).format(name=name, place=self.location, reason=e.strerror or e))

    def _temporary(self) -> tuple[Path, int]:
        folder = self.root / _TMP
        _private_dirs(folder)
        path = folder / f"{secrets.token_hex(8)}.partial"
        return path, create_private(path)

    def _write_temporary(self, source: BinaryIO, size: int, *, durable: bool = True) -> Path:
        tmp, fd = self._temporary()
        try:
            with os.fdopen(fd, "wb", buffering=0) as f:
                view = _whole_view(source, size)
                if view is not None:  # a buffer in memory (a pack): written without a copy
                    _write_all(f, view)
                else:
                    left = size
                    while left > 0:
                        chunk = source.read(min(_COPY_BUFFER, left))
                        if not chunk:
                            raise StorageError(_("the source ended before its size"))
                        _write_all(f, memoryview(chunk))
                        left -= len(chunk)
                if durable:
                    os.fsync(f.fileno())
                else:  # start the writeback now; the barrier waits for the rest
                    drop_cached(f.fileno())
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        return tmp

    # ---- the interface ------------------------------------------------------------

    def put(self, name: str, source: BinaryIO, size: int) -> None:
        self._put(name, source, size, durable=True)

    def put_deferred(self, name: str, source: BinaryIO, size: int) -> None:
        self._put(name, source, size, durable=False)

    def put_bytes(self, name: str, data: bytes) -> None:
        """``put`` of bytes in memory, written from them as they are (the default's
        ``io.BytesIO`` copies what it shares once its buffer is asked for: a snapshot of
        100,000 files, ~10 MB, was twice in memory at the peak of the commit)."""
        self._put(name, cast(BinaryIO, _BytesSource(data)), len(data), durable=True)

    def _put(self, name: str, source: BinaryIO, size: int, *, durable: bool) -> None:
        final = self._path(name)
        if final.exists():
            raise ObjectExistsError(_("{name} exists already").format(name=name))
        try:
            _private_dirs(final.parent)
            tmp = self._write_temporary(source, size, durable=durable)
        except OSError as e:
            raise self._fail(_WRITE, name, e) from e
        try:
            self._move_no_replace(tmp, final, name)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        if durable:
            fsync_dir(final.parent)
            return
        self._deferred(final)

    def _deferred(self, final: Path) -> None:
        """*final* was put without an fsync: the next barrier makes it durable."""
        with self._sync_lock:
            self._unsynced[final] = None
            self._unsynced_dirs[final.parent] = None
            self._unsynced_dirs[final.parent.parent] = None  # a new packs/xx/ folder
            self._behind.append(final)
            older = self._behind.pop(0) if len(self._behind) > _BEHIND else None
        if older is not None:
            self._sync_early(older)

    def _sync_early(self, path: Path) -> None:
        """fsync a file put_deferred a while ago (written by now, mostly) and let its
        pages go, from the thread that puts (a backup's uploader, not the one that fills
        the packs): the barrier is left the last few, not one fsync (one journal commit)
        per pack at the end. A failure is left to the barrier, which says what failed."""
        try:
            fd = os.open(path, _WRITE_FLAGS)
            try:
                os.fsync(fd)
                drop_cached(fd)
            finally:
                os.close(fd)
        except OSError:
            return
        with self._sync_lock:
            self._unsynced.pop(path, None)

    def open_deferred(self) -> _LocalPartial:
        """A temporary file in ``.tmp/``, written as the caller goes and linked under its
        name by ``publish`` (then as ``put_deferred``: durable at the next barrier)."""
        try:
            tmp, fd = self._temporary()
        except OSError as e:
            raise self._fail(_WRITE, _TMP, e) from e
        return _LocalPartial(self, tmp, fd)

    def sync(self, *, also: Iterable[str] = ()) -> None:
        """fsync every file put_deferred since the last barrier (and the objects *also*),
        then their folders."""
        with self._sync_lock:
            self._behind.clear()
            for name in also:
                path = self._path(name)
                if path.exists():
                    self._unsynced[path] = None
                    self._unsynced_dirs[path.parent] = None
            files, self._unsynced = list(self._unsynced), {}
            folders, self._unsynced_dirs = list(self._unsynced_dirs), {}
        try:
            for path in files:
                fd = os.open(path, _WRITE_FLAGS)
                try:
                    os.fsync(fd)
                    drop_cached(fd)  # written now: its pages can go
                finally:
                    os.close(fd)
        except OSError as e:
            with self._sync_lock:  # not durable: the next barrier tries again
                self._unsynced.update(dict.fromkeys(files))
                self._unsynced_dirs.update(dict.fromkeys(folders))
            raise self._fail(_WRITE, os.path.basename(e.filename or ""), e) from e
        for folder in folders:
            fsync_dir(folder)

    def drop_cache(self, name: str) -> None:
        _advise_dontneed(self._path(name))

    def _move_no_replace(self, tmp: Path, final: Path, name: str) -> None:
        if IS_WINDOWS:  # rename refuses an existing target on Windows
            try:
                os.rename(tmp, final)
            except FileExistsError:
                raise ObjectExistsError(_("{name} exists already").format(name=name)) from None
            return
        try:
            os.link(tmp, final)
        except FileExistsError:
            raise ObjectExistsError(_("{name} exists already").format(name=name)) from None
        except OSError as e:
            if e.errno not in _NO_LINKS:
                raise self._fail(_WRITE, name, e) from e
            if final.exists():
                raise ObjectExistsError(_("{name} exists already").format(name=name)) from None
            os.rename(tmp, final)

    def replace(self, name: str, data: bytes) -> None:
        final = self._path(name)
        try:
            _private_dirs(final.parent)
            import io

            tmp = self._write_temporary(io.BytesIO(data), len(data))
            os.replace(tmp, final)
        except OSError as e:
            raise self._fail(_WRITE, name, e) from e
        fsync_dir(final.parent)

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        path = self._path(name)
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                return f.read() if length is None else f.read(length)
        except FileNotFoundError:
            raise ObjectNotFoundError(
                _("{name} is missing in {place}").format(name=name, place=self.location)
            ) from None
        except OSError as e:
            raise self._fail(_READ, name, e) from e

    def get_immutable(self, name: str, offset: int, length: int) -> bytes:
        """Each thread keeps the object it read last open (POSIX: ``os.pread``, no shared
        position), so the blobs of a pack read one after the other cost one system call
        each and the kernel, seeing one file read front to back, reads ahead; a new open
        per blob would start its read-ahead afresh every time."""
        if not _PREAD:  # Windows: an open file cannot be deleted (prune); open per read
            return self.get(name, offset, length)
        held = getattr(self._reading, "held", None)
        if held is not None and held[0] != name:
            self._forget_read(held[1])
            held = None
        try:
            if held is None:
                fd = os.open(self._path(name), os.O_RDONLY)
                with self._reads_lock:
                    self._open_reads[fd] = name
                held = self._reading.held = (name, fd)
                with contextlib.suppress(OSError):  # a hint: read ahead further
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
            parts = []
            start, asked = offset, length
            while length > 0:
                got = os.pread(held[1], length, offset)
                if not got:
                    break  # cut short: the caller sees the length and says so
                parts.append(got)
                offset += len(got)
                length -= len(got)
            if asked >= UNCACHE_FROM:  # read once (a restore, a check): its pages go
                drop_cached(held[1], start, asked)
            return parts[0] if len(parts) == 1 else b"".join(parts)
        except FileNotFoundError:
            raise ObjectNotFoundError(
                _("{name} is missing in {place}").format(name=name, place=self.location)
            ) from None
        except OSError as e:
            if held is not None:
                self._forget_read(held[1])
            raise self._fail(_READ, name, e) from e

    def _forget_read(self, fd: int) -> None:
        self._reading.held = None
        with self._reads_lock:
            if self._open_reads.pop(fd, None) is None:
                return  # release_reads closed it already
        with contextlib.suppress(OSError):
            os.close(fd)

    def release_reads(self) -> None:
        """Close every descriptor get_immutable keeps open (call it once no thread reads)."""
        with self._reads_lock:
            fds, self._open_reads = list(self._open_reads), {}
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._reading = threading.local()

    def close(self) -> None:
        self.release_reads()

    def size(self, name: str) -> int | None:
        try:
            st = os.lstat(self._path(name))
        except FileNotFoundError:
            return None
        except OSError as e:
            raise self._fail(_READ, name, e) from e
        return st.st_size if stat.S_ISREG(st.st_mode) else None

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        # walk only the folders the prefix can be in; never follow links; skip dot names
        def walk(folder: Path, rel: str) -> Iterator[ObjectInfo]:
            try:
                entries = list(os.scandir(folder))
            except FileNotFoundError:
                return
            except OSError as e:
                raise self._fail(_LIST, rel or ".", e) from e
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                name = f"{rel}{entry.name}"
                if entry.is_dir(follow_symlinks=False):
                    if prefix.startswith(name + "/") or name.startswith(prefix):
                        yield from walk(Path(entry.path), name + "/")
                elif entry.is_file(follow_symlinks=False) and name.startswith(prefix):
                    yield ObjectInfo(name, entry.stat(follow_symlinks=False).st_size)

        yield from walk(self.root, "")

    def delete(self, name: str) -> None:
        try:
            os.unlink(self._path(name))
        except FileNotFoundError:
            return
        except OSError as e:
            raise self._fail(_DELETE, name, e) from e

    # ---- local only ---------------------------------------------------------------

    def clean_temporary(self) -> int:
        """Remove what interrupted writes left in ``.tmp/``; returns how many files."""
        folder = self.root / _TMP
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            return 0
        removed = 0
        for entry in entries:
            if entry.name.endswith(".partial") and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    removed += 1
        return removed


class _LocalPartial:
    """An object of a :class:`LocalStorage` being written (``open_deferred``)."""

    __slots__ = ("_storage", "_tmp", "_fd", "size")

    def __init__(self, storage: LocalStorage, tmp: Path, fd: int) -> None:
        self._storage = storage
        self._tmp = tmp
        self._fd = fd
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._fd < 0:
            raise StorageError(_("the object was published or discarded already"))
        view = memoryview(data)
        try:
            done = 0
            while done < len(view):
                n = os.write(self._fd, view[done:])
                if not n:
                    raise OSError(errno.EIO, _("nothing was written"))
                done += n
        except OSError as e:
            raise self._storage._fail(_WRITE, f"{_TMP}/{self._tmp.name}", e) from e
        self.size += len(view)

    def publish(self, name: str, *, durable: bool = False) -> None:
        storage = self._storage
        final = storage._path(name)
        if self._fd < 0:
            raise StorageError(_("the object was published or discarded already"))
        try:
            if final.exists():
                raise ObjectExistsError(_("{name} exists already").format(name=name))
            try:
                if durable:
                    os.fsync(self._fd)
                drop_cached(self._fd)  # start the writeback now; the barrier waits for the rest
                fd, self._fd = self._fd, -1
                os.close(fd)  # closed before it is linked or renamed (Windows)
                _private_dirs(final.parent)
            except OSError as e:
                raise storage._fail(_WRITE, name, e) from e
            storage._move_no_replace(self._tmp, final, name)
        finally:
            self.discard()  # the temporary name (the object keeps its own link)
        storage._deferred(final)

    def discard(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError):
            self._tmp.unlink()


def _private_dirs(folder: Path) -> None:
    """Make *folder* and the folders above it that are missing, each private (0700) from
    its creation (whatever the umask; a file system without modes ignores it)."""
    if folder.is_dir():
        return
    missing = []
    while not folder.exists():
        missing.append(folder)
        if folder.parent == folder:
            break
        folder = folder.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)


class _BytesSource:
    """Bytes as a source of :meth:`LocalStorage._write_temporary`: a view, not a copy."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data = data

    def getbuffer(self) -> memoryview:
        return memoryview(self._data)

    def tell(self) -> int:
        return 0


def _whole_view(source: BinaryIO, size: int) -> memoryview | None:
    """The *size* bytes *source* holds from its position, as one view without a copy,
    when it is a buffer in memory (``getbuffer``: io.BytesIO, the store's pack view)."""
    getbuffer = getattr(source, "getbuffer", None)
    if getbuffer is None:
        return None
    start = source.tell()
    view = getbuffer()[start : start + size]
    if len(view) != size:
        raise StorageError(_("the source ended before its size"))
    return view


def _advise_dontneed(path: Path) -> None:
    """Ask the kernel to write *path*'s dirty pages and to drop the clean ones."""
    if not CAN_DROP_CACHED:
        return
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            drop_cached(fd)
        finally:
            os.close(fd)


def _write_all(f, view: memoryview) -> None:
    done = 0
    while done < len(view):
        n = f.write(view[done:])
        if not n:
            raise OSError(errno.EIO, _("nothing was written"))
        done += n
