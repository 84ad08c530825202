"""Read one file of ``Data`` as plaintext: decrypt its envelope or pass a plain file through.

A read is one *attempt*. It fails (and can be retried from the start) when a chunk
does not authenticate, the file is torn or locked while the practice app writes it,
or its size or modification time changed while it was read.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from therabak import faults
from therabak.crypto.stream import TAG_SIZE, StreamOpener
from therabak.errors import DecryptionError
from therabak.fsutil import (
    created_and_modified_ns,
    drop_cached_after_read,
    open_long,
    stat_long,
)
from therabak.i18n import _
from therabak.practice.account import AccountKey
from therabak.practice.envelope import HEADER_SIZE, MAGIC, check_key, parse_header

READ_BLOCK = 1 << 20
# Files up to this size are read whole in one system call (most files of a practice).
SMALL_FILE = 1 << 20
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0)
#: A plain file that is empty or holds only the beginning of the envelope magic, and was
#: changed this recently, is taken for an envelope the app is rewriting in place (it has
#: truncated the file and not yet written the header): the read fails like any read of a
#: file that changes, and is tried again. Once it is older, it is simply what it is.
FRESH_NS = 5 * 10**9
#: An empty file not changed since it was created (its modification time at most this
#: much after its creation time) is a new empty file, not one emptied to be rewritten:
#: it is backed up as empty at once (where the system records creation times).
NEW_FILE_NS = 10**6


class SourceChanged(Exception):
    """The file changed while it was being read."""


@dataclass
class SourceRead:
    sealed: bool  # an envelope file (decrypted) rather than a plain file
    size: int  # source bytes on disk
    mtime_ns: int
    plaintext_size: int


def _stamp(st: os.stat_result) -> tuple[int, int]:
    return st.st_size, st.st_mtime_ns


def read_plaintext(
    path: Path,
    rel: str,
    key: AccountKey,
    write: Callable[[bytes], None],
    *,
    attempt: int = 1,
    on_bytes: Callable[[int], None] | None = None,
    check_cancel: Callable[[], None] | None = None,
) -> SourceRead:
    """Stream the plaintext of *path* into *write*. Raises DecryptionError (incl.
    ForeignKeyError), SourceChanged or OSError; the caller discards what was written.

    A file up to SMALL_FILE bytes is read with one system call; a larger one in blocks
    of its envelope's chunk size (plain files: READ_BLOCK). ``on_bytes`` counts source
    bytes, so a file's calls add up to its size on disk.
    """
    faults.source_open(path)
    fd = open_long(path, _OPEN_FLAGS)
    size = 0
    try:
        # The open file's size and time are the reference: the path must still show
        # them after the last byte was read (a rename over it or a write changes them).
        before = os.fstat(fd)
        size = before.st_size
        if size <= SMALL_FILE:
            whole = _read_exact(fd, size)
            prefix = whole[:HEADER_SIZE]
        else:
            whole = None
            prefix = _read_exact(fd, HEADER_SIZE)
        header = parse_header(prefix)
        inject = faults.ACTIVE.decrypt_fails(rel, attempt)
        if header is not None:
            plain = _sealed(fd, whole, size, header, key, write, on_bytes, check_cancel, inject)
        else:
            if _maybe_torn_envelope(prefix, before, fd):
                raise SourceChanged(_("empty or cut short just now: probably being written"))
            plain = _plain(fd, whole, prefix, write, on_bytes, check_cancel)
            if inject:
                raise DecryptionError(_("read failed (injected by THERABAK_FAILPOINTS)"))
    finally:
        drop_cached_after_read(fd, size)  # read once: a large file's pages go
        os.close(fd)
    after = stat_long(path)
    if _stamp(after) != _stamp(before):
        raise SourceChanged(_("file changed while being read"))
    return SourceRead(
        sealed=header is not None,
        size=before.st_size,
        mtime_ns=before.st_mtime_ns,
        plaintext_size=plain,
    )


def _sealed(
    fd: int,
    whole: bytes | None,
    size: int,
    header,
    key: AccountKey,
    write: Callable[[bytes], None],
    on_bytes,
    check_cancel,
    inject: bool,
) -> int:
    """Decrypt an envelope's chunks (see FORMAT.md, "Envelope"); returns the plaintext size.

    The last chunk is the one that ends at the file size taken when the file was
    opened; a file that grows or shrinks meanwhile fails a tag or the final stat.
    """
    check_key(header, key)
    opener = StreamOpener(header.file_key(key), what="sealed file")
    block = header.chunk_size + TAG_SIZE
    left = size - HEADER_SIZE
    if left < TAG_SIZE:
        raise DecryptionError(_("sealed file is truncated"))
    if whole is not None:
        view = memoryview(whole)
    else:  # one buffer, reused for every chunk (decrypt copies out of it)
        view = None
        buf = memoryview(bytearray(block))
        f = open(fd, "rb", buffering=0, closefd=False)  # noqa: SIM115 - fd closed by caller
    pos = HEADER_SIZE
    counted = 0  # the header is counted with the first chunk
    plain = 0
    while True:
        n = min(block, left)
        last = n == left
        if view is not None:
            sealed = view[pos : pos + n]
        else:  # a file that shrank since it was opened gives a short chunk: its tag fails
            sealed = buf[: _readinto_exact(f, buf[:n])]
        got = len(sealed)
        chunk = opener.open(sealed, last=last)
        write(chunk)
        plain += len(chunk)
        pos += got
        left -= got
        if on_bytes is not None:
            on_bytes(pos - counted)
            counted = pos
        if inject:
            raise DecryptionError(_("DecryptionFailed (injected by THERABAK_FAILPOINTS)"))
        if check_cancel is not None:
            check_cancel()
        if last:
            return plain


def _plain(
    fd: int,
    whole: bytes | None,
    prefix: bytes,
    write: Callable[[bytes], None],
    on_bytes,
    check_cancel,
) -> int:
    """Pass a plain file through; returns its size."""
    if whole is not None:
        if whole:
            write(whole)
            if on_bytes is not None:
                on_bytes(len(whole))
        if check_cancel is not None:
            check_cancel()
        return len(whole)
    total = 0
    if prefix:
        write(prefix)
        total += len(prefix)
        if on_bytes is not None:
            on_bytes(len(prefix))
    while True:
        block = os.read(fd, READ_BLOCK)
        if not block:
            return total
        write(block)
        total += len(block)
        if on_bytes is not None:
            on_bytes(len(block))
        if check_cancel is not None:
            check_cancel()


def _readinto_exact(f, view: memoryview) -> int:
    """Fill *view* (fewer bytes only at end of file); returns how many were read."""
    got = f.readinto(view) or 0
    n = len(view)
    while 0 < got < n:
        more = f.readinto(view[got:])
        if not more:
            break
        got += more
    return got


def _read_exact(fd: int, n: int) -> bytes:
    """Read *n* bytes (fewer only at end of file)."""
    data = os.read(fd, n)
    if len(data) == n or not data:
        return data
    parts, got = [data], len(data)
    while got < n:
        more = os.read(fd, n - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def read_raw(
    path: Path, write: Callable[[bytes], None], *, check_cancel: Callable[[], None] | None = None
) -> SourceRead:
    """Copy the file's bytes as they are (for entries stored raw)."""
    faults.source_open(path)
    before = stat_long(path)
    size = 0
    with open(open_long(path, _OPEN_FLAGS), "rb", buffering=0) as f:
        while True:
            block = f.read(READ_BLOCK)
            if not block:
                break
            write(block)
            size += len(block)
            if check_cancel is not None:
                check_cancel()
        drop_cached_after_read(f.fileno(), size)
    after = stat_long(path)
    if _stamp(after) != _stamp(before):
        raise SourceChanged(_("file changed while being read"))
    return SourceRead(sealed=True, size=size, mtime_ns=before.st_mtime_ns, plaintext_size=size)


def _maybe_torn_envelope(prefix: bytes, st: os.stat_result, fd: int) -> bool:
    """Is this plain file (its first bytes *prefix*) perhaps an envelope that the app has
    just truncated to rewrite it in place? Only a file changed a moment ago that holds no
    more than the beginning of the magic; and an empty one only if it existed before it
    was emptied: a file created empty (and not changed since) is new and simply empty."""
    if len(prefix) >= len(MAGIC) or not MAGIC.startswith(prefix):
        return False
    if not 0 <= time.time_ns() - st.st_mtime_ns < FRESH_NS:
        return False
    if not prefix:
        times = created_and_modified_ns(fd)
        if times is not None and times[1] - times[0] <= NEW_FILE_NS:
            return False  # created empty, never written: a new empty file
    return True
