"""What a job writes before it is done, and the one sweeper of what a dead job left.

**Names.** A file or folder that a job is still writing is called
``<final name>.<pid>.partial`` (:func:`partial_name`): an archive or a volume of a split
backup (``….therabak.<pid>.partial``, ``….therabak.002.<pid>.partial``), a folder backup
being copied (``TheraPsy-Data-<time>.<pid>.partial/``), a restore's staging folder
(``Data.restore-<time>.<pid>.partial/``). Once complete it is renamed to its final name.
The process id says whether its writer still runs (:func:`parse_partial`).

**The sweeper** (:func:`sweep`) removes what a job whose process is gone left behind,
and is careful about what it touches, because a destination folder is anyone's:

* an entry is a leftover only when its name parses, its final name is one the caller
  recognises (*belongs*), its process is gone, and ``lstat`` shows what such a job makes
  (a regular file, or a real folder) and that it belongs to this user (POSIX);
* a link (or a Windows junction) found at a leftover's name is removed as a link: its
  target is never chmod-ed, entered or emptied; anything else of another type is left
  alone;
* inside a leftover folder, links are removed as links (:func:`remove_tree`);
* only what was really removed is returned, so nobody reports a cleanup that did not
  happen.

Backups (``jobs/backup.py``), folder backups (``jobs/folder.py``) and restores
(``datafolder/swap.py``) all sweep through here. The reservation of a final name while a job
runs is a job lock (``datafolder/locks.py``, :func:`~therabak.datafolder.locks.reserve_name`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
from collections.abc import Callable, Container
from enum import StrEnum
from pathlib import Path

from therabak.fsutil import IS_WINDOWS, is_link_or_junction
from therabak.processes import pid_alive

PARTIAL_SUFFIX = ".partial"
_PARTIAL_RE = re.compile(r"^(.+)\.([0-9]+)\.partial$", re.DOTALL)


class LeftoverKind(StrEnum):
    """What a job writes under a partial name."""

    FILE = "file"  # an archive, or a volume of a split one
    FOLDER = "folder"  # a folder backup being copied, a restore's staging folder


def partial_name(final_name: str, pid: int | None = None) -> str:
    """The name a job (this process unless *pid*) writes *final_name* under."""
    return f"{final_name}.{os.getpid() if pid is None else pid}{PARTIAL_SUFFIX}"


def partial_path(final: Path, pid: int | None = None) -> Path:
    return Path(final).with_name(partial_name(Path(final).name, pid))


def parse_partial(name: str) -> tuple[str, int] | None:
    """(final name, process id) of a partial name, or None when *name* is not one. An
    impossible process id (from a damaged or planted name) is returned as it is: no
    process has it, so its writer is gone."""
    m = _PARTIAL_RE.match(name)
    if m is None:
        return None
    return m.group(1), int(m.group(2))


def being_written(folder: Path, first_name: str) -> bool:
    """Does a live process still write (or rename) *first_name* in *folder*, or a file
    named after it (``<first_name>.<more>``: a later volume of a split backup)?"""
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            parsed = parse_partial(entry.name)
            if (
                parsed is not None
                and (parsed[0] == first_name or parsed[0].startswith(first_name + "."))
                and pid_alive(parsed[1])
            ):
                return True
    return False


# ---- the sweeper ---------------------------------------------------------------------------


def sweep(
    folder: Path,
    *,
    belongs: Callable[[str], bool],
    kind: LeftoverKind,
    keep: Container[str] = (),
) -> list[Path]:
    """Remove from *folder* the partial entries of jobs whose process is gone: those
    whose final name *belongs* (the caller's kind of output) and whose path is not in
    *keep*. Returns what was removed. Never raises for a folder it cannot read."""
    removed: list[Path] = []
    try:
        names = [e.name for e in os.scandir(folder)]
    except OSError:
        return removed
    for name in sorted(names):
        parsed = parse_partial(name)
        if parsed is None or not belongs(parsed[0]) or pid_alive(parsed[1]):
            continue
        path = Path(folder) / name
        if str(path) in keep:
            continue
        if remove_leftover(path, kind):
            removed.append(path)
    return removed


def remove_leftover(path: Path, kind: LeftoverKind) -> bool:
    """Remove *path* if ``lstat`` shows a leftover of *kind* of this user's, or a link at
    its name; True when it is gone now (False: left alone, or it could not be removed)."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if not owned_by_me(st):
        return False
    try:
        if is_link_or_junction(st):
            remove_link(path)
        elif kind is LeftoverKind.FILE and stat.S_ISREG(st.st_mode):
            os.unlink(path)
        elif kind is LeftoverKind.FOLDER and stat.S_ISDIR(st.st_mode):
            remove_tree(path)
        else:
            return False  # not what a job of ours makes under this name
    except OSError:
        pass
    return not os.path.lexists(path)


def owned_by_me(st: os.stat_result) -> bool:
    """Does the entry ``lstat`` described belong to this user? (Windows: always yes.)"""
    if IS_WINDOWS or not hasattr(os, "geteuid"):
        return True
    return st.st_uid == os.geteuid()


def remove_link(path: Path) -> None:
    """Remove the link (or junction) *path* itself, never what it points to."""
    try:
        os.unlink(path)
    except OSError:
        if not IS_WINDOWS:
            raise
        os.rmdir(path)  # Windows: a link to a folder, or a junction, goes with rmdir


def remove_tree(path: Path) -> None:
    """Delete a folder a job of ours made, with everything in it.

    Links are removed as links, wherever they are: *path* itself or anything inside
    (``shutil.rmtree`` never follows one). A folder without write or search permission
    for its owner is made usable first (POSIX), a read-only file writable (Windows);
    a link is never chmod-ed. What cannot be removed stays; nothing is raised for it
    (the caller checks what is left when that matters).
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if is_link_or_junction(st):
        remove_link(path)
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(path)
        return
    failed: list[str] = []
    shutil.rmtree(path, onerror=lambda _func, p, _exc: failed.append(p))
    if failed and os.path.lexists(path):
        _open_up_folders(Path(path))
        shutil.rmtree(path, onerror=_writable_then_again)


def _open_up_folders(root: Path) -> None:
    """Give the owner read, write and search permission on every real folder below
    *root* (links are neither followed nor changed)."""
    stack = [os.fspath(root)]
    while stack:
        folder = stack.pop()
        try:
            st = os.lstat(folder)
        except OSError:
            continue
        if is_link_or_junction(st) or not stat.S_ISDIR(st.st_mode):
            continue
        mode = stat.S_IMODE(st.st_mode)
        if mode & stat.S_IRWXU != stat.S_IRWXU:
            with contextlib.suppress(OSError):
                os.chmod(folder, mode | stat.S_IRWXU)
        try:
            with os.scandir(folder) as it:
                stack.extend(e.path for e in it if e.is_dir(follow_symlinks=False))
        except OSError:
            continue


def _writable_then_again(func, p: str, _exc) -> None:
    """rmtree could not remove *p*: a read-only file (Windows). Make it writable (never
    through a link) and try once more."""
    with contextlib.suppress(OSError):
        st = os.lstat(p)
        if is_link_or_junction(st):
            remove_link(Path(p))
            return
        os.chmod(p, stat.S_IMODE(st.st_mode) | stat.S_IWRITE)
        func(p)
