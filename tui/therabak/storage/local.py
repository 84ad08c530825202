"""A storage in a local folder: a USB stick, a second disk, a network drive.

Objects are files under the folder, ``/`` in a name is a subfolder. ``put`` writes to a
temporary file in ``.tmp/`` beside them, fsyncs it and moves it under its final name without
replacing anything (a hard link where the file system has them, else a rename after a
check: FAT sticks have no hard links), then fsyncs the folder. A crash leaves at most a
file in ``.tmp/``, which ``list`` never shows and :meth:`LocalStorage.clean_temporary`
removes. Names starting with ``.`` are never listed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from therabak.fsutil import IS_WINDOWS, create_private, fsync_dir
from therabak.i18n import N_, _
from therabak.storage.base import (
    ObjectExistsError,
    ObjectInfo,
    ObjectNotFoundError,
    Storage,
    StorageError,
    check_name,
)

_TMP = ".tmp"
_WRITE = N_("cannot write {name} in {place}: {reason}")
_READ = N_("cannot read {name} in {place}: {reason}")
_DELETE = N_("cannot delete {name} in {place}: {reason}")
_LIST = N_("cannot list {name} in {place}: {reason}")
_COPY_BUFFER = 1 << 20
# errno values of a file system that has no hard links (FAT: EPERM; others: ENOTSUP)
_NO_LINKS = frozenset(
    {errno.EPERM, errno.EMLINK, getattr(errno, "ENOTSUP", -1), getattr(errno, "EOPNOTSUPP", -1)}
)


class LocalStorage(Storage):
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.location = str(self.root)

    # ---- helpers ------------------------------------------------------------------

    def _path(self, name: str) -> Path:
        return self.root.joinpath(*check_name(name).split("/"))

    def _fail(self, message: str, name: str, e: OSError) -> StorageError:
        """*message* is a marked text with ``{name}``, ``{place}`` and ``{reason}``."""
        return StorageError(
            _(message).format(name=name, place=self.location, reason=e.strerror or e)
        )

    def _temporary(self) -> tuple[Path, int]:
        folder = self.root / _TMP
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{secrets.token_hex(8)}.partial"
        return path, create_private(path)

    def _write_temporary(self, source: BinaryIO, size: int) -> Path:
        tmp, fd = self._temporary()
        try:
            with os.fdopen(fd, "wb") as f:
                left = size
                while left > 0:
                    chunk = source.read(min(_COPY_BUFFER, left))
                    if not chunk:
                        raise StorageError(_("the source ended before its size"))
                    f.write(chunk)
                    left -= len(chunk)
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        return tmp

    # ---- the interface ------------------------------------------------------------

    def put(self, name: str, source: BinaryIO, size: int) -> None:
        final = self._path(name)
        if final.exists():
            raise ObjectExistsError(_("{name} exists already").format(name=name))
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._write_temporary(source, size)
        except OSError as e:
            raise self._fail(_WRITE, name, e) from e
        try:
            self._move_no_replace(tmp, final, name)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        fsync_dir(final.parent)

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
            final.parent.mkdir(parents=True, exist_ok=True)
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
