"""Safe file creation below a root folder, and a copy that hashes in the same pass.

Paths come from backups, which are hostile input: every relative path is checked again
at write time (:func:`~therabak.archive.index.check_relative_path`), folders are made
one component at a time and must be real folders (never a symbolic link or junction),
and files are created with ``O_EXCL`` (and ``O_NOFOLLOW`` where it exists), so nothing
is ever written outside the root or through a link. The names written are the target's
(``namemap`` chose them); on Windows a name Windows cannot hold is refused here all the
same (``x:y`` would write an alternate data stream of ``x``). Paths of any length work
(``fsutil.located``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import stat
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from therabak import faults
from therabak.errors import DamagedArchiveError
from therabak.fsrules import WINDOWS
from therabak.fsutil import (
    IS_WINDOWS,
    drop_cached_after_read,
    is_link_or_junction,
    mkdir_long,
    open_long,
    stat_long,
    utime_long,
)
from therabak.i18n import _
from therabak.storedpaths import check_relative_path

COPY_BLOCK = 8 << 20  # large reads: few system calls, hashing in the same pass
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)
_READV: Callable[[int, list[bytearray]], int] | None = getattr(os, "readv", None)
#: a file's times set through its descriptor (``futimens``: no second path lookup)
_UTIME_FD = os.utime in os.supports_fd


class UnsafePath(DamagedArchiveError):
    """A path that would leave its root or go through a link."""


class DestinationWriteFailed(Exception):
    """Writing the copy failed (its folder is full, gone, read-only ...), as opposed to
    reading the source: the caller, which knows what the copy is for, says what happened."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


def make_dirs_under(
    root: Path, rel_dir_parts: list[str], mode: int = 0o700, known: set[str] | None = None
) -> Path:
    """Create ``root/a/b/...`` one folder at a time; every component must be a real folder.

    *known* (optional, one set per root) remembers folders this process already made
    or checked below *root*, so the next file in them costs no system call.
    """
    if known is not None:
        rel = "/".join(rel_dir_parts)
        if rel in known:
            return Path(root, *rel_dir_parts)
    cur = Path(root)
    for part in rel_dir_parts:
        cur = cur / part
        try:
            mkdir_long(cur, mode)
            continue
        except FileExistsError:
            pass
        st = stat_long(cur, follow_symlinks=False)
        if is_link_or_junction(st) or not stat.S_ISDIR(st.st_mode):
            raise UnsafePath(
                _("Refusing to write through a link or non-folder: {cur}").format(cur=cur)
            )
    if known is not None:
        known.add("/".join(rel_dir_parts))
    return cur


def create_under(
    root: Path, rel: str, *, mode: int = 0o600, known_dirs: set[str] | None = None
) -> tuple[int, Path]:
    """A new file ``root/rel`` opened for writing: (descriptor, path). Refuses unsafe paths."""
    rel = _writable(rel)
    parts = rel.split("/")
    folder = make_dirs_under(root, parts[:-1], known=known_dirs)
    path = folder / parts[-1]
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_BINARY
    try:
        fd = open_long(path, flags, mode)
    except FileExistsError:
        raise UnsafePath(
            _("Refusing to overwrite an existing file or link: {path}").format(path=path)
        ) from None
    if not IS_WINDOWS:
        os.fchmod(fd, mode)
    return fd, path


def _writable(rel: str) -> str:
    """*rel*, checked: safe below a root, and on Windows a path Windows can hold."""
    rel = check_relative_path(rel)
    if IS_WINDOWS:
        for part in rel.split("/"):
            if WINDOWS.problem(part) is not None:
                raise UnsafePath(
                    _("Refusing a name Windows cannot hold as it is: {part}").format(part=part)
                )
    return rel


def open_under(root: Path, rel: str) -> int:
    """Open ``root/rel`` for reading without following a link anywhere below *root*."""
    rel = _writable(rel)
    cur = Path(root)
    for part in rel.split("/")[:-1]:
        cur = cur / part
        st = stat_long(cur, follow_symlinks=False)
        if is_link_or_junction(st) or not stat.S_ISDIR(st.st_mode):
            raise UnsafePath(_("Refusing to read through a link: {cur}").format(cur=cur))
    path = cur / rel.split("/")[-1]
    st = stat_long(path, follow_symlinks=False)
    if is_link_or_junction(st) or not stat.S_ISREG(st.st_mode):
        raise UnsafePath(
            _("Refusing to read something that is not a plain file: {path}").format(path=path)
        )
    return open_long(path, os.O_RDONLY | _O_NOFOLLOW | _O_BINARY)


class CreateAhead:
    """Creates the files *rels* below *root* (with :func:`create_under`) on a background
    thread, in order, at most DEPTH ahead of :meth:`take`.

    Creating a file is the costliest step of writing many small ones (a file system's
    create takes tens to hundreds of microseconds, without the GIL), so it overlaps the
    decrypting and sealing of the files before it. An error (an unsafe path) is raised
    by :meth:`take` for the file it belongs to. :meth:`close` closes what was not taken;
    those files stay behind, empty, in *root* (a staging folder the caller removes).
    """

    DEPTH = 64

    def __init__(self, root: Path, rels: list[str]) -> None:
        self._queue: queue.Queue = queue.Queue(self.DEPTH)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(Path(root), rels), name="therabak-create", daemon=True
        )
        self._thread.start()

    def _run(self, root: Path, rels: list[str]) -> None:
        known: set[str] = set()
        for rel in rels:
            try:
                item = (rel, create_under(root, rel, known_dirs=known), None)
            except BaseException as e:  # noqa: BLE001 - raised by take() for this file
                item = (rel, None, e)
            while True:
                if self._stop.is_set():
                    if item[1] is not None:
                        os.close(item[1][0])
                    return
                try:
                    self._queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue

    def take(self, rel: str) -> tuple[int, Path]:
        """The created file for *rel* (the next one in order): (descriptor, path)."""
        got, created, error = self._queue.get()
        if got != rel:  # cannot happen: the caller walks the same list in order
            if created is not None:
                os.close(created[0])
            raise RuntimeError(f"files created out of order ({got} != {rel})")
        if error is not None:
            raise error
        return created

    def close(self) -> None:
        self._stop.set()
        while True:
            with contextlib.suppress(queue.Empty):
                while True:
                    _rel, created, _error = self._queue.get_nowait()
                    if created is not None:
                        os.close(created[0])
            if not self._thread.is_alive():
                break
            self._thread.join(timeout=0.05)


_LOCAL = threading.local()
PARALLEL_HASH_MIN = 1 << 20
_HASHER: ThreadPoolExecutor | None = None
_HASHER_LOCK = threading.Lock()


def _hasher() -> ThreadPoolExecutor:
    """One worker thread for hashing: hashlib and os.write both release the GIL, so a
    large block is hashed and written at the same time."""
    global _HASHER
    with _HASHER_LOCK:
        if _HASHER is None:
            _HASHER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="therabak-hash")
        return _HASHER


def _buffer() -> memoryview:
    """A reusable copy buffer per thread: allocating (and zeroing) 8 MiB per file would
    cost more than copying a small file."""
    view = getattr(_LOCAL, "view", None)
    if view is None:
        view = _LOCAL.view = memoryview(bytearray(COPY_BLOCK))
    return view


class ByteBudget:
    """Counts bytes written by a job and applies the write fault points (tests). Shared by
    the threads of a job that writes several files at once."""

    def __init__(self) -> None:
        self.written = 0
        self._lock = threading.Lock()

    def before(self, n: int) -> None:
        with self._lock:
            faults.before_write(self.written, n)
            self.written += n


def write_all(fd: int, data: bytes | memoryview, budget: ByteBudget | None = None) -> None:
    if budget is not None:
        budget.before(len(data))
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


class FdWriter:
    """A minimal file object over a descriptor (for EnvelopeWriter), counting bytes."""

    def __init__(self, fd: int, budget: ByteBudget | None = None) -> None:
        self.fd = fd
        self.budget = budget
        self.size = 0

    def write(self, data: bytes) -> int:
        write_all(self.fd, data, self.budget)
        self.size += len(data)
        return len(data)


@dataclass
class CopyResult:
    size: int
    sha256: str
    mtime_ns: int
    changed: bool  # the source's size or mtime changed while it was copied


def copy_fd(
    src_fd: int,
    dst_fd: int,
    *,
    budget: ByteBudget | None = None,
    on_bytes: Callable[[int], None] | None = None,
    check_cancel: Callable[[], None] | None = None,
    expected: int = -1,
) -> tuple[int, str]:
    """Copy everything from *src_fd* to *dst_fd*, hashing the bytes as they pass.

    *expected*: the source's size when it was opened (-1: unknown). A short read that
    reaches it is taken as the end of the file without one more read to see it (one
    system call per file; a file that grows meanwhile has another size afterwards, which
    the caller compares)."""
    digest = hashlib.sha256()
    view = _buffer()
    buf = view.obj
    size = 0
    read = _reader(src_fd)
    while True:
        n = read(buf)
        if not n:
            break
        chunk = view[:n]
        try:
            if n >= PARALLEL_HASH_MIN:  # hash on another core while the bytes are written
                pending = _hasher().submit(digest.update, chunk)
                try:
                    write_all(dst_fd, chunk, budget)
                finally:
                    pending.result()  # the buffer is reused only once the hash is done
            else:
                digest.update(chunk)
                write_all(dst_fd, chunk, budget)
        except OSError as e:
            raise DestinationWriteFailed(e) from None
        size += n
        if on_bytes is not None:
            on_bytes(n)
        if check_cancel is not None:
            check_cancel()
        if size == expected and n < len(buf):
            break
    drop_cached_after_read(src_fd, size)  # copied once (a folder backup, a restore from one)
    return size, digest.hexdigest()


def _reader(fd: int) -> Callable[[bytearray], int]:
    """``readinto`` for a descriptor: ``os.readv`` where it exists (no file object, so no
    ``fstat`` per file), a raw file object elsewhere (Windows)."""
    if _READV is not None:
        return lambda buf: _READV(fd, [buf])
    return open(fd, "rb", buffering=0, closefd=False).readinto


def copy_file(
    src: Path | int,
    dst_root: Path,
    rel: str,
    *,
    budget: ByteBudget | None = None,
    on_bytes: Callable[[int], None] | None = None,
    check_cancel: Callable[[], None] | None = None,
    fsync: bool = False,
    known_dirs: set[str] | None = None,
) -> CopyResult:
    """Copy *src* (a path, or a descriptor opened for reading) to ``dst_root/rel``.

    The copy gets the source's modification time. ``changed`` tells whether the source's
    size or mtime differed after the copy from before (the caller copies again).
    *known_dirs*: as for :func:`create_under` (one set per *dst_root*; threads may share it).
    """
    own = not isinstance(src, int)
    if own:
        faults.source_open(src)
    src_fd = open_long(src, os.O_RDONLY | _O_NOFOLLOW | _O_BINARY) if own else src
    try:
        before = os.fstat(src_fd)
        try:
            fd, path = create_under(dst_root, rel, known_dirs=known_dirs)
        except OSError as e:
            raise DestinationWriteFailed(e) from None
        try:
            size, sha = copy_fd(  # a failed write raises DestinationWriteFailed, a read OSError
                src_fd,
                fd,
                budget=budget,
                on_bytes=on_bytes,
                check_cancel=check_cancel,
                expected=before.st_size,
            )
            if _UTIME_FD:  # after the last write: one call on the open file
                try:
                    os.utime(fd, ns=(before.st_mtime_ns, before.st_mtime_ns))
                except OSError as e:
                    raise DestinationWriteFailed(e) from None
            if fsync:
                try:
                    os.fsync(fd)
                except OSError as e:
                    raise DestinationWriteFailed(e) from None
        finally:
            os.close(fd)
        after = stat_long(src) if own else os.fstat(src_fd)
    finally:
        if own:
            os.close(src_fd)
    if not _UTIME_FD:  # Windows: by its path, once the file is closed
        try:
            utime_long(path, (before.st_mtime_ns, before.st_mtime_ns))
        except OSError as e:
            raise DestinationWriteFailed(e) from None
    changed = (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns) or (
        size != before.st_size
    )
    return CopyResult(size=size, sha256=sha, mtime_ns=before.st_mtime_ns, changed=changed)


def sha256_file(
    path: Path | int,
    *,
    on_bytes: Callable[[int], None] | None = None,
    check_cancel: Callable[[], None] | None = None,
) -> tuple[int, str]:
    """Size and SHA-256 of *path* (or of an open descriptor, which is closed afterwards)."""
    digest = hashlib.sha256()
    view = _buffer()
    buf = view.obj
    size = 0
    fd = path if isinstance(path, int) else open_long(path, os.O_RDONLY | _O_BINARY)
    try:
        read = _reader(fd)
        while True:
            n = read(buf)
            if not n:
                break
            digest.update(view[:n])
            size += n
            if on_bytes is not None:
                on_bytes(n)
            if check_cancel is not None:
                check_cancel()
    finally:
        os.close(fd)
    return size, digest.hexdigest()


def sync_files(paths: Iterable[Path]) -> None:
    """Make written files durable before a rename publishes them.

    POSIX: one ``sync()`` (far cheaper than an fsync per file for many small files);
    elsewhere an fsync per file.
    """
    if hasattr(os, "sync"):
        os.sync()
        return
    for p in paths:
        try:
            fd = open_long(p, os.O_RDWR | _O_BINARY)
        except OSError:
            continue
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
