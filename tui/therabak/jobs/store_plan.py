"""What a store backup writes: the files it takes over from its parent unread and those
it reads, the space that needs at the destination, and the refusal when it is short."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from therabak import formatting
from therabak.errors import NotEnoughSpaceError
from therabak.fsutil import reported_free_space
from therabak.i18n import _, ngettext
from therabak.practice.scan import FileEntry
from therabak.store.backup import same_file
from therabak.store.core import Store
from therabak.store.index import BlobIndex
from therabak.store.snapshot import Snapshot, SnapshotEntry

#: Room for the snapshot, index files and pack headers on top of the new content.
SPACE_MARGIN = 1 << 20
#: Per file in the backup (its snapshot entry) and per new chunk (index and pack header).
SPACE_PER_FILE = 160
SPACE_PER_CHUNK = 128


#: A file taken over: the parent's entry, or (the entry, the category the file has now)
#: where the rules put it elsewhere now (rare: no pair for every file)
Reused = SnapshotEntry | tuple[SnapshotEntry, str]


@dataclass
class ReusePlan:
    """Which files a backup takes over from its parent unread, and which it reads."""

    reused: list[Reused]
    to_read: list[FileEntry]
    bytes_total: int  # every file, as the scan saw it
    bytes_to_read: int  # the files to read
    bytes_new: int  # an estimate of the content the store does not hold yet
    files_total: int
    bytes_reused: int = 0

    def reused_pairs(self) -> Iterator[tuple[SnapshotEntry, str]]:
        """Each file taken over as (the parent's entry, its category now)."""
        for r in self.reused:
            yield (r, r.category) if type(r) is SnapshotEntry else r  # type: ignore[misc]


def plan_reuse(
    files: list[FileEntry],
    parent: Snapshot | None,
    index: BlobIndex,
    *,
    reread: bool = False,
    unchanged: Callable[[FileEntry], SnapshotEntry | None] | None = None,
    unchanged_all: Callable[[list[FileEntry]], list[SnapshotEntry | None]] | None = None,
    consume: bool = False,
) -> ReusePlan:
    """Compare the scan with *parent*: a file whose size, mtime and identity match and
    whose content *index* still holds is reused; the others are read. *unchanged* (the
    backup writer's own test, under its lock) overrides the test on *index*, and
    *unchanged_all* (the same for every file at once, in order) overrides both. With
    *reread*, every file is read, but only the changed ones count as new. With
    *consume*, *files* is emptied as it is planned: the scan's entry of a file taken
    over goes at once (for 100,000 unchanged files the scan's entries, ~30 MB, and a
    pair per file, ~7 MB, are never alive beside the plan)."""
    test = unchanged
    if unchanged_all is not None:
        matched = unchanged_all(files)  # in the order of files
        if consume:
            matched.reverse()  # taken from the end, as files are
        test = _in_turn(matched, consume)
    if test is None:  # the parent's files by path: only for this test (the writer has its own)
        before = {e.path: e for e in parent.entries} if parent is not None else {}
        # the parent's blobs the index lacks, as one set (not a lookup per file and blob)
        missing = index.missing_of(parent.entries) if parent is not None else set()

        def still_there(f: FileEntry) -> SnapshotEntry | None:
            prev = before.get(f.path)
            if prev is None or not same_file(prev, f.size, f.mtime_ns, f.identity):
                return None
            return prev if missing.isdisjoint(prev.blobs) else None

        test = still_there
    reused: list[Reused] = []
    to_read: list[FileEntry] = []
    new = total = reused_bytes = 0
    count = len(files)
    if consume:
        files.reverse()  # taken from the end: the list lets go of each as it is planned
    for f in _taken(files) if consume else files:
        total += f.size
        prev = test(f)
        if prev is None:
            new += f.size
            to_read.append(f)
        elif reread:
            to_read.append(f)
        else:
            reused.append(prev if prev.category == f.category else (prev, f.category))
            reused_bytes += prev.size
    return ReusePlan(
        reused=reused,
        to_read=to_read,
        bytes_total=total,
        bytes_to_read=sum(f.size for f in to_read),
        bytes_new=new,
        files_total=count,
        bytes_reused=reused_bytes,
    )


def _in_turn(
    matched: list[SnapshotEntry | None], consume: bool
) -> Callable[[FileEntry], SnapshotEntry | None]:
    """A test that answers, file after file, what *matched* says for it (in order)."""
    if consume:
        pop = matched.pop
        return lambda _f: pop()
    answers = iter(matched)
    return lambda _f: next(answers)


def _taken(files: list[FileEntry]) -> Iterator[FileEntry]:
    """The entries of *files* (reversed), each popped as it is handed out."""
    pop = files.pop
    while files:
        yield pop()


def space_needed(plan: ReusePlan, chunk_size: int) -> int:
    """Bytes a backup needs at its destination: the new content (sealed, uncompressed:
    at most that), its index and pack headers, the snapshot, a margin."""
    chunks = sum(-(-f.size // chunk_size) for f in plan.to_read) if chunk_size else 0
    return (
        plan.bytes_new
        + SPACE_MARGIN
        + SPACE_PER_FILE * plan.files_total
        + (SPACE_PER_CHUNK * chunks)
    )


def check_space(store: Store | None, folder: Path, needed: int) -> None:
    """Refuse (exit 6) when *needed* bytes are not free at *folder*, saying what
    forgetting the oldest snapshots of *store* would free."""
    free = reported_free_space(folder if folder.exists() else folder.parent)
    if free is None or free >= needed:  # None: the file system does not say
        return
    message = _(
        "Not enough space at {dest}: this backup writes about {need}, {free} are free."
    ).format(dest=folder, need=formatting.size(needed), free=formatting.size(free))
    if store is not None:
        message += " " + _forget_advice(store, folder, needed - free)
    raise NotEnoughSpaceError(message)


def _forget_advice(store: Store, folder: Path, short: int) -> str:
    from therabak.store.errors import DamagedStoreError
    from therabak.store.prune import gains_of_forgetting_oldest

    try:
        gains = gains_of_forgetting_oldest(store, enough=short)
    except DamagedStoreError:
        return _("Run 'therabak check' on the store: a snapshot cannot be read.")
    if not gains:
        return _("The store holds no older backup to forget: use another (larger) medium.")
    last = gains[-1]
    keep = len(store.snapshots()) - last.count
    if last.bytes_freed >= short:
        text = ngettext(
            "Forgetting the oldest backup ({when}) would free about {size}: ",
            "Forgetting the {n} oldest backups (up to {when}) would free about {size}: ",
            last.count,
        )
    else:
        text = ngettext(
            "Forgetting the oldest backup ({when}) would free only about {size}; use another "
            "(larger) medium, or forget it: ",
            "Forgetting even the {n} oldest backups (up to {when}) would free only about "
            "{size}; use another (larger) medium, or forget them: ",
            last.count,
        )
    return text.format(
        n=last.count,
        when=formatting.local_time(last.oldest[-1].created),
        size=formatting.size(last.bytes_freed),
    ) + (f'therabak forget "{folder}" --keep-last {keep}, then therabak prune "{folder}".')


__all__ = [
    "SPACE_MARGIN",
    "SPACE_PER_CHUNK",
    "SPACE_PER_FILE",
    "ReusePlan",
    "check_space",
    "plan_reuse",
    "space_needed",
]
