"""What a store backup writes: the files it takes over from its parent unread and those
it reads, the space that needs at the destination, and the refusal when it is short."""

from __future__ import annotations

from collections.abc import Callable
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


@dataclass
class ReusePlan:
    """Which files a backup takes over from its parent unread, and which it reads."""

    reused: list[tuple[FileEntry, SnapshotEntry]]
    to_read: list[FileEntry]
    bytes_total: int  # every file, as the scan saw it
    bytes_to_read: int  # the files to read
    bytes_new: int  # an estimate of the content the store does not hold yet
    files_total: int

    @property
    def bytes_reused(self) -> int:
        return sum(e.size for _f, e in self.reused)


def plan_reuse(
    files: list[FileEntry],
    parent: Snapshot | None,
    index: BlobIndex,
    *,
    reread: bool = False,
    unchanged: Callable[[FileEntry], SnapshotEntry | None] | None = None,
    unchanged_all: Callable[[list[FileEntry]], list[SnapshotEntry | None]] | None = None,
) -> ReusePlan:
    """Compare the scan with *parent*: a file whose size, mtime and identity match and
    whose content *index* still holds is reused; the others are read. *unchanged* (the
    backup writer's own test, under its lock) overrides the test on *index*, and
    *unchanged_all* (the same for every file at once, in order) overrides both. With
    *reread*, every file is read, but only the changed ones count as new."""
    test = unchanged
    if test is None and unchanged_all is None:
        # the parent's files by path: only for this test (the writer has its own)
        before = {e.path: e for e in parent.entries} if parent is not None else {}
        # the parent's blobs the index lacks, as one set (not a lookup per file and blob)
        missing = index.missing(parent.blob_ids()) if parent is not None else set()

        def still_there(f: FileEntry) -> SnapshotEntry | None:
            prev = before.get(f.path)
            if prev is None or not same_file(prev, f.size, f.mtime_ns, f.identity):
                return None
            return prev if missing.isdisjoint(prev.blobs) else None

        test = still_there
    reused: list[tuple[FileEntry, SnapshotEntry]] = []
    to_read: list[FileEntry] = []
    new = 0
    if unchanged_all is not None:
        matched = unchanged_all(files)
    else:
        assert test is not None
        matched = [test(f) for f in files]
    for f, prev in zip(files, matched, strict=True):
        if prev is None:
            new += f.size
            to_read.append(f)
        elif reread:
            to_read.append(f)
        else:
            reused.append((f, prev))
    return ReusePlan(
        reused=reused,
        to_read=to_read,
        bytes_total=sum(f.size for f in files),
        bytes_to_read=sum(f.size for f in to_read),
        bytes_new=new,
        files_total=len(files),
    )


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
