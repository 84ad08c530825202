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
from therabak.errors import DecryptionError
from therabak.i18n import _
from therabak.practice.account import AccountKey
from therabak.practice.envelope import (
    HEADER_SIZE,
    MAGIC,
    check_key,
    iter_plaintext,
    parse_header,
)

READ_BLOCK = 1 << 20
#: A plain file that is empty or holds only the beginning of the envelope magic, and was
#: changed this recently, is taken for an envelope the app is rewriting in place (it has
#: truncated the file and not yet written the header): the read fails like any read of a
#: file that changes, and is tried again. Once it is older, it is simply what it is.
FRESH_NS = 5 * 10**9


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
    ForeignKeyError), SourceChanged or OSError; the caller discards what was written."""
    faults.source_open(path)
    before = os.stat(path)
    size = 0
    with open(path, "rb", buffering=0) as f:
        opened = os.fstat(f.fileno())
        if _stamp(opened) != _stamp(before):
            raise SourceChanged(_("file changed while it was opened"))
        prefix = f.read(HEADER_SIZE)
        header = parse_header(prefix)
        inject = faults.ACTIVE.decrypt_fails(rel, attempt)
        if header is not None:
            check_key(header, key)
            f = _Buffered(f)
            source_pos = 0  # the header counts as read with the first chunk
            for chunk in iter_plaintext(f, header, key):
                write(chunk)
                size += len(chunk)
                step = f.pos - source_pos
                source_pos = f.pos
                if on_bytes is not None:
                    on_bytes(step)
                if inject:
                    raise DecryptionError(_("DecryptionFailed (injected by THERABAK_FAILPOINTS)"))
                if check_cancel is not None:
                    check_cancel()
        else:
            if _maybe_torn_envelope(prefix, before):
                raise SourceChanged(_("empty or cut short just now: probably being written"))
            if prefix:
                write(prefix)
                size += len(prefix)
                if on_bytes is not None:
                    on_bytes(len(prefix))
            while True:
                block = f.read(READ_BLOCK)
                if not block:
                    break
                write(block)
                size += len(block)
                if on_bytes is not None:
                    on_bytes(len(block))
                if check_cancel is not None:
                    check_cancel()
            if inject:
                raise DecryptionError(_("read failed (injected by THERABAK_FAILPOINTS)"))
    after = os.stat(path)
    if _stamp(after) != _stamp(before):
        raise SourceChanged(_("file changed while being read"))
    return SourceRead(
        sealed=header is not None,
        size=before.st_size,
        mtime_ns=before.st_mtime_ns,
        plaintext_size=size,
    )


def read_raw(
    path: Path, write: Callable[[bytes], None], *, check_cancel: Callable[[], None] | None = None
) -> SourceRead:
    """Copy the file's bytes as they are (for entries stored raw)."""
    faults.source_open(path)
    before = os.stat(path)
    size = 0
    with open(path, "rb", buffering=0) as f:
        while True:
            block = f.read(READ_BLOCK)
            if not block:
                break
            write(block)
            size += len(block)
            if check_cancel is not None:
                check_cancel()
    after = os.stat(path)
    if _stamp(after) != _stamp(before):
        raise SourceChanged(_("file changed while being read"))
    return SourceRead(sealed=True, size=size, mtime_ns=before.st_mtime_ns, plaintext_size=size)


def _maybe_torn_envelope(prefix: bytes, st: os.stat_result) -> bool:
    if len(prefix) >= len(MAGIC) or not MAGIC.startswith(prefix):
        return False
    return 0 <= time.time_ns() - st.st_mtime_ns < FRESH_NS


class _Buffered:
    """A reader that counts how far it got (for progress in source bytes)."""

    def __init__(self, f) -> None:
        self._f = f
        self.pos = HEADER_SIZE

    def read(self, n: int) -> bytes:
        data = self._f.read(n)
        self.pos += len(data)
        return data
