"""Walk the data folder once: every file with its leaf category, size and mtime.

The walk is iterative ``os.scandir`` (the stat data comes with the directory listing
on Windows), classifies once per folder where a whole subtree belongs to one
category, never follows symbolic links and reports what it skipped.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from therabak.errors import DataFolderError
from therabak.fsrules import FsRules
from therabak.fsutil import extended, followed_root, open_long
from therabak.i18n import _
from therabak.practice.categories import Rules

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

#: How many paths a NameNote keeps as examples.
NOTE_EXAMPLES = 5


@dataclass(slots=True)
class FileEntry:
    path: str  # relative to Data, "/"-separated
    category: str
    size: int
    mtime_ns: int
    ino: int = 0  # the file's identity on its file system, where the listing says (POSIX)
    dev: int = 0

    @property
    def identity(self) -> str:
        """``device:inode`` (a store backup compares it with the previous snapshot's), or
        "" where the listing does not say (Windows): then size and mtime decide."""
        return f"{self.dev}:{self.ino}" if self.ino else ""


@dataclass(slots=True)
class Tally:
    files: int = 0
    bytes: int = 0

    def add(self, other: Tally) -> None:
        self.files += other.files
        self.bytes += other.bytes


@dataclass(frozen=True)
class LeaveOut:
    """What a scan leaves out (and lists apart): in the folders *folders* (relative to
    Data, "/"-separated with a trailing "/"; "" is Data itself), the entries for which
    ``matches(name, is_dir)`` holds, with everything below such a folder entry.

    Used for the backups kept in a destination inside Data (datafolder/nesting.py), so that
    a backup never holds the backups before it."""

    folders: frozenset[str]
    matches: Callable[[str, bool], bool]


@dataclass
class NameNote:
    """Files of one category whose path holds a name some target cannot hold as it is
    (``scan(names=...)``): a restore there gives them an escaped name (``namemap``)."""

    files: int = 0
    examples: list[str] = field(default_factory=list)  # the first few paths

    def add(self, path: str) -> None:
        self.files += 1
        if len(self.examples) < NOTE_EXAMPLES:
            self.examples.append(path)


@dataclass
class ScanResult:
    root: Path
    files: list[FileEntry]
    totals: dict[str, Tally]  # per leaf id
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    # per leaf id, the files with a name the rules given to scan(names=...) cannot hold
    name_notes: dict[str, NameNote] = field(default_factory=dict)
    left_out: list[FileEntry] = field(default_factory=list)  # see LeaveOut

    def selected_notes(self, selection: Iterable[str]) -> NameNote:
        """The name notes of the chosen leaves, together."""
        out = NameNote()
        for leaf in sorted(selection):
            note = self.name_notes.get(leaf)
            if note is not None:
                out.files += note.files
                out.examples.extend(note.examples[: NOTE_EXAMPLES - len(out.examples)])
        return out

    def node_totals(self, rules: Rules) -> dict[str, Tally]:
        """Totals for every node; a parent sums its children."""
        out: dict[str, Tally] = {}

        def total(node_id: str) -> Tally:
            node = rules.nodes[node_id]
            if node.is_leaf:
                t = Tally()
                t.add(self.totals.get(node_id, Tally()))
            else:
                t = Tally()
                for child in node.children:
                    t.add(total(child))
            out[node_id] = t
            return t

        for root in rules.roots():
            total(root.id)
        return out

    def selected_total(self, selection: Iterable[str]) -> Tally:
        t = Tally()
        for leaf in selection:
            t.add(self.totals.get(leaf, Tally()))
        return t

    @property
    def total(self) -> Tally:
        t = Tally()
        for v in self.totals.values():
            t.add(v)
        return t

    def selected_files(self, selection: Iterable[str]) -> list[FileEntry]:
        chosen = frozenset(selection)
        return sorted((f for f in self.files if f.category in chosen), key=lambda f: f.path)


def require_data_dir(root: Path) -> Path:
    """The data folder *root*, which must exist; when *root* is a link to it (the folder
    moved to another disk and linked back), the folder it leads to (fsutil.followed_root)."""
    root = followed_root(Path(root))
    if not root.exists():
        raise DataFolderError(
            _("Data folder not found: {root}").format(root=root),
            hint=_("Give its location with --data-dir or THERABAK_DATA_DIR."),
        )
    if not root.is_dir():
        raise DataFolderError(_("Not a folder: {root}").format(root=root))
    return root


# POSIX: list each folder through a descriptor, so that every stat is an fstatat()
# relative to it (as du does) instead of a lookup of the whole path; O_NOFOLLOW keeps
# a folder swapped for a symlink between listing and opening from being followed.
# Windows gets the stat data with the listing and needs none of this.
_USE_FD = os.scandir in os.supports_fd and os.open in os.supports_dir_fd
_DIR_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_DIRECTORY", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


def _list_folder(folder: str):
    """``os.scandir`` of *folder* (an iterator to use in ``with``); raises OSError."""
    if not _USE_FD:
        return os.scandir(extended(folder))
    fd = open_long(folder, _DIR_FLAGS)  # a folder deep below Data too
    try:
        it = os.scandir(fd)
    except BaseException:
        os.close(fd)
        raise
    return _FdListing(it, fd)


class _FdListing:
    """A scandir iterator over a descriptor that closes the descriptor with it."""

    __slots__ = ("_fd", "_it")

    def __init__(self, it, fd: int) -> None:
        self._it, self._fd = it, fd

    def __enter__(self):
        return self._it

    def __exit__(self, *_: object) -> None:
        try:
            self._it.close()
        finally:
            os.close(self._fd)


class _Listed:
    """A folder listed ahead (:class:`_ReadAhead`): its entries, each file's stat data
    already taken (a ``DirEntry`` keeps it), and the listing still open, so that what is
    asked again (a stat that failed) is asked of the same open folder. A listing that
    failed part-way fails at the same place for the walk."""

    __slots__ = ("entries", "error", "listing")

    def __init__(self, listing, entries: list[os.DirEntry], error: OSError | None) -> None:
        self.listing, self.entries, self.error = listing, entries, error

    def __enter__(self) -> Iterable[os.DirEntry]:
        return self.entries if self.error is None else self._then_fail()

    def _then_fail(self) -> Iterator[os.DirEntry]:
        yield from self.entries
        raise self.error  # type: ignore[misc]

    def __exit__(self, *_: object) -> None:
        self.listing.__exit__(None, None, None)


def _list_and_stat(folder: str) -> _Listed:
    """List *folder* and take each file's stat data (errors are left for the walk, which
    asks again); raises OSError when it cannot be listed."""
    listing = _list_folder(folder)
    entries: list[os.DirEntry] = []
    error = None
    try:
        try:
            for entry in listing.__enter__():
                entries.append(entry)
                with contextlib.suppress(OSError):
                    if entry.is_file(follow_symlinks=False):
                        entry.stat(follow_symlinks=False)
        except OSError as e:  # the listing broke off: the walk meets it where it did
            error = e
    except BaseException:
        listing.__exit__(None, None, None)
        raise
    return _Listed(listing, entries, error)


class _ReadAhead:
    """The next folders of a walk listed (and their files stat'ed) on a few threads
    while the walk sorts the one before: on a cold cache each stat waits for the disk,
    and several waiting at once take a fraction of the time. The walk takes each folder
    from here in its own order, so what it finds, skips and reports is exactly as without
    (the threads only ask the system sooner). At most *ahead* folders are held, each with
    its listing open (on POSIX a descriptor), until the walk takes or :meth:`close`
    drops it.

    The threads are started only when the walk turns out to wait for the disk
    (:meth:`walked`): while the system answers from its cache (a second backup soon
    after the first), a stat takes a microsecond, and handing the interpreter's lock
    to and fro between eight threads for each of them cost more than the walk itself
    (bench practice, 32,000 files: 240 instead of 130 ms of CPU)."""

    def __init__(self, threads: int, ahead: int) -> None:
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._ahead = ahead
        self._pending: dict[str, Future[_Listed]] = {}
        self._walked_s = 0.0  # time the walk spent listing on its own so far
        self._entries = 0  # what it listed meanwhile (files and folders)

    @property
    def started(self) -> bool:
        return self._pool is not None

    def walked(self, seconds: float, entries: int) -> None:
        """The walk listed *entries* on its own in *seconds*: the threads start once it
        has walked :data:`AHEAD_AFTER_S` at more than :data:`AHEAD_SLOW_ENTRY_S` an entry."""
        self._walked_s += seconds
        self._entries += entries
        if self._walked_s >= AHEAD_AFTER_S and self._walked_s > AHEAD_SLOW_ENTRY_S * max(
            self._entries, 1
        ):
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="scan-ahead")

    def plan(self, stack: list[_Folder]) -> None:
        """Start listing the folders the walk takes next (the top of its *stack*)."""
        if self._pool is None:
            return
        pending = self._pending
        for item in reversed(stack[-self._ahead :]):
            if len(pending) >= self._ahead:
                return
            folder = item[0]
            if folder not in pending:
                pending[folder] = self._pool.submit(_list_and_stat, folder)

    def take(self, folder: str):
        """*folder*'s listing (to use in ``with``), listed ahead or now; raises OSError."""
        future = self._pending.pop(folder, None)
        if future is None:
            return _list_folder(folder)
        return future.result()

    def close(self) -> None:
        """Drop what was listed ahead and not taken (its listings closed); wait for the
        threads."""
        pending, self._pending = self._pending, {}
        for future in pending.values():
            future.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        for future in pending.values():
            if not future.cancelled() and future.exception() is None:
                future.result().__exit__(None, None, None)


#: Threads and folders of a scan's read-ahead (``scan(read_ahead=True)``).
AHEAD_THREADS = 8
AHEAD_FOLDERS = 64
#: The read-ahead starts once the walk has spent this long on its own (seconds) ...
AHEAD_AFTER_S = 0.02
#: ... at more than this an entry (seconds): it waits for a slow disk. From the cache a
#: file's stat and its entry take 3-5 microseconds; from this VM's virtual disk, with
#: the cache dropped, about 11 (the file system reads its inodes ahead itself), and
#: there the threads only cost: the bench practice's 32,057 files took 360 ms to scan
#: without them and 420-580 ms with 1-8 (113,571 files: 1.1-1.2 against 1.6-2.4 s);
#: a whole second backup 0.79 against 0.96 s. They are for disks that answer a stat
#: in a tenth of a millisecond or more (a spinning disk, a network share).
AHEAD_SLOW_ENTRY_S = 100e-6


def scan(
    root: Path,
    rules: Rules,
    *,
    keep_files: bool = True,
    on_folder: Callable[[int, int], None] | None = None,
    names: FsRules | None = None,
    leave_out: LeaveOut | None = None,
    read_ahead: bool = False,
) -> ScanResult:
    """Scan *root* (the Data folder). ``on_folder(files, bytes)`` is called after each folder.

    *root* itself may be a link (see :func:`require_data_dir`). Below it, symbolic links
    (to files or folders) are never followed: they are listed in ``skipped``, like
    anything that is neither a regular file nor a folder and every file or folder that
    cannot be read. What *leave_out* matches is listed in ``left_out`` instead of
    ``files`` and counted in no total. With *names* (e.g. ``fsrules.WINDOWS``), the
    files whose path holds a name those rules cannot hold as it is (or that they take
    for another name of its folder) are counted per category in ``name_notes`` (what is
    left out is not backed up, so it gets no note and takes no name). With *read_ahead*,
    once the walk is found to wait for the disk, the next folders are listed on a few
    threads while it goes on (a backup's scan: see :class:`_ReadAhead`); the result is
    the same.
    """
    root = require_data_dir(root)
    ahead = _ReadAhead(AHEAD_THREADS, AHEAD_FOLDERS) if read_ahead else None
    walk = _Walk(rules, keep_files=keep_files, names=names, leave_out=leave_out, ahead=ahead)
    stack: list[_Folder] = [(os.fspath(root), "", (), rules.subtree_category(()), False)]
    try:
        while stack:
            if ahead is not None and ahead.started:
                ahead.plan(stack)
                listed = walk.folder(*stack.pop(), stack)
            elif ahead is not None:  # timed until the walk is found to wait for the disk
                began, before = time.perf_counter(), walk.n_files + len(stack)
                listed = walk.folder(*stack.pop(), stack)
                ahead.walked(time.perf_counter() - began, walk.n_files + len(stack) - before + 1)
            else:
                listed = walk.folder(*stack.pop(), stack)
            if listed and on_folder is not None:
                on_folder(walk.n_files, walk.n_bytes)
    finally:
        if ahead is not None:
            ahead.close()
    return ScanResult(root, walk.files, walk.totals, walk.skipped, walk.notes, walk.left_out)


#: A folder still to walk: its absolute path, its relative prefix "a/b/", its parts, its
#: fixed category (or None), whether a folder on the way has a name the *names* rules
#: cannot hold.
_Folder = tuple[str, str, tuple[str, ...], str | None, bool]


class _Walk:
    """What :func:`scan` collects, one folder at a time (:meth:`folder`)."""

    def __init__(
        self,
        rules: Rules,
        *,
        keep_files: bool,
        names: FsRules | None,
        leave_out: LeaveOut | None,
        ahead: _ReadAhead | None = None,
    ) -> None:
        self.rules, self.keep_files, self.names, self.leave_out = (
            rules,
            keep_files,
            names,
            leave_out,
        )
        self.list_folder = ahead.take if ahead is not None else _list_folder
        self.files: list[FileEntry] = []
        self.devices: dict[int, int] = {}  # one int object per device, not one per file
        self.totals: dict[str, Tally] = {leaf.id: Tally() for leaf in rules.leaves()}
        self.skipped: list[tuple[str, str]] = []
        self.notes: dict[str, NameNote] = {}
        self.left_out: list[FileEntry] = []
        self.n_files = self.n_bytes = 0
        self.outside: set[str] = set()  # prefixes of folders left out (leave_out)
        self.odd_name = names.checker() if names is not None else None
        self.key = names.key_function() if names is not None else str

    def folder(
        self,
        folder: str,
        prefix: str,
        parts: tuple[str, ...],
        fixed: str | None,
        odd_above: bool,
        stack: list[_Folder],
    ) -> bool:
        """Walk one folder: its files counted, its folders onto *stack*; False when it
        cannot be listed (then it is in ``skipped``). Long on purpose: a file of a
        folder whose category is fixed (nearly every file) is handled inline, without a
        call per file."""
        seen: set[str] = set()  # the names of this folder, as the *names* rules compare them
        here: list[str] = []  # the files of this folder (fixed category), for *names*
        try:
            listing = self.list_folder(folder)
        except OSError as e:
            self.skipped.append(
                (
                    prefix.rstrip("/") or ".",
                    _("folder cannot be read ({error})").format(error=e.strerror),
                )
            )
            return False
        leave_out, names, keep_files = self.leave_out, self.names, self.keep_files
        append, devices = self.files.append, self.devices
        folder_out = prefix in self.outside
        check = leave_out is not None and not folder_out and prefix in leave_out.folders
        # Files of a folder whose category is fixed are summed locally (the hot path).
        count = size = 0
        with listing as it:
            for entry in it:
                try:
                    out = folder_out or (
                        check
                        and leave_out.matches(  # type: ignore[union-attr]
                            entry.name, entry.is_dir(follow_symlinks=False)
                        )
                    )
                    if entry.is_file(follow_symlinks=False):
                        st = entry.stat(follow_symlinks=False)
                    elif entry.is_dir(follow_symlinks=False):
                        stack.append(
                            self._subfolder(
                                entry.name, folder, prefix, parts, fixed, odd_above, out, seen
                            )
                        )
                        continue
                    else:
                        why = (
                            _("symbolic link, not followed")
                            if entry.is_symlink()
                            else _("not a file")
                        )
                        self.skipped.append((prefix + entry.name, why))
                        continue
                except OSError as e:
                    self.skipped.append(
                        (
                            prefix + entry.name,
                            _("cannot be read ({error})").format(error=e.strerror),
                        )
                    )
                    continue
                if out:
                    rel = prefix + entry.name
                    cat = fixed if fixed is not None else self.rules.category_of(rel)
                    self.left_out.append(FileEntry(rel, cat, st.st_size, st.st_mtime_ns))
                    continue
                if fixed is not None:
                    count += 1
                    size += st.st_size
                    if keep_files:
                        append(
                            FileEntry(
                                prefix + entry.name,
                                fixed,
                                st.st_size,
                                st.st_mtime_ns,
                                st.st_ino,
                                devices.setdefault(st.st_dev, st.st_dev),
                            )
                        )
                    if names is not None:
                        here.append(entry.name)
                    continue
                self._categorised(entry.name, st, prefix, parts, odd_above, seen)
        if here and names is not None:
            self._note_odd_names(here, seen, prefix, fixed, odd_above)
        if count:
            self._count(fixed, count, size)  # type: ignore[arg-type]
        return True

    def _subfolder(
        self,
        name: str,
        folder: str,
        prefix: str,
        parts: tuple[str, ...],
        fixed: str | None,
        odd_above: bool,
        out: bool,
        seen: set[str],
    ) -> _Folder:
        """The subfolder *name* of *folder*, to walk later."""
        sub = (*parts, name)
        cat = fixed if fixed is not None else self.rules.subtree_category(sub)
        if out:
            self.outside.add(prefix + name + "/")
        odd = odd_above
        if self.odd_name is not None and not odd and not out:
            odd = self.odd_name(name) or _taken(self.key(name), seen)
        return (folder + os.sep + name, prefix + name + "/", sub, cat, odd)

    def _categorised(
        self,
        name: str,
        st: os.stat_result,
        prefix: str,
        parts: tuple[str, ...],
        odd_above: bool,
        seen: set[str],
    ) -> None:
        """A file of a folder whose files the rules sort one by one."""
        if self.rules.is_ignored((*parts, name)):
            return
        rel = prefix + name
        cat = self.rules.category_of(rel)
        odd_name = self.odd_name
        if odd_name is not None and (odd_above or odd_name(name) or _taken(self.key(name), seen)):
            self.notes.setdefault(cat, NameNote()).add(rel)
        t = self.totals[cat]
        t.files += 1
        t.bytes += st.st_size
        self.n_files += 1
        self.n_bytes += st.st_size
        if self.keep_files:
            self.files.append(
                FileEntry(
                    rel,
                    cat,
                    st.st_size,
                    st.st_mtime_ns,
                    st.st_ino,
                    self.devices.setdefault(st.st_dev, st.st_dev),
                )
            )

    def _note_odd_names(
        self, here: list[str], seen: set[str], prefix: str, fixed: str | None, odd_above: bool
    ) -> None:
        """The files of a fixed-category folder whose names the *names* rules cannot
        hold (or take for another of the folder's)."""
        odd = here if odd_above else self.names.odd_among(here, seen)  # type: ignore[union-attr]
        if odd:
            note = self.notes.setdefault(fixed, NameNote())  # type: ignore[arg-type]
            for name in sorted(odd):
                note.add(prefix + name)

    def _count(self, fixed: str, count: int, size: int) -> None:
        """A fixed-category folder's files, summed locally, into the totals."""
        t = self.totals[fixed]
        t.files += count
        t.bytes += size
        self.n_files += count
        self.n_bytes += size


def _taken(key: str, seen: set[str]) -> bool:
    """Has a name of this folder already taken *key*? (Records it when not.)"""
    if key in seen:
        return True
    seen.add(key)
    return False
