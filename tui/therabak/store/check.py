"""``check``: is the store whole? Structure always, content on request.

Structure (reads only small objects and the ends of packs): the config and the key files
(while opening), every index file, every pack's header against the index, every
snapshot, and that every piece of content a snapshot needs lies in a pack. With
``read_data`` (a share of the packs, 1.0 = all): those packs are read whole, their names
checked against their hashes, and every blob in them decrypted and checked against its
id. A damaged or missing piece of content is reported with the files (and snapshots) it
affects; a piece that is intact in another pack costs nothing (a warning).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field

from therabak.events import Damaged, Emit, Phase, Progress, ignore
from therabak.i18n import _, ngettext
from therabak.storage.base import ObjectNotFoundError, StorageError
from therabak.store.blob import open_blob
from therabak.store.core import Store, describe_affected
from therabak.store.errors import DamagedStoreError
from therabak.store.index import Location
from therabak.store.locks import read_locks
from therabak.store.pack import pack_id_for, pack_name, read_header, sealed_header_of
from therabak.store.problems import Affected, Problem, Severity, worst


@dataclass
class CheckResult:
    problems: list[Problem] = field(default_factory=list)
    snapshots: int = 0
    snapshots_ok: int = 0
    files: int = 0  # file entries over every snapshot
    packs: int = 0
    packs_read: int = 0
    blobs_read: int = 0
    bytes_read: int = 0
    duration_s: float = 0.0

    @property
    def exit_code(self) -> int:
        return {Severity.ERROR: 5, Severity.WARNING: 3}.get(worst(self.problems), 0)

    @property
    def affected(self) -> list[Affected]:
        return sorted(
            {a for p in self.problems for a in p.affected}, key=lambda a: (a.snapshot_id, a.path)
        )

    def to_dict(self) -> dict:
        return {
            "snapshots": self.snapshots,
            "snapshots_ok": self.snapshots_ok,
            "files": self.files,
            "packs": self.packs,
            "packs_read": self.packs_read,
            "blobs_read": self.blobs_read,
            "bytes_read": self.bytes_read,
            "problems": [p.to_dict() for p in self.problems],
            "damaged_files": [{"snapshot": a.snapshot_id, "path": a.path} for a in self.affected],
        }


def check(
    store: Store,
    *,
    read_data: float = 0.0,
    emit: Emit = ignore,
    seed: int | None = None,
) -> CheckResult:
    """Check *store*; *read_data* is the share of packs to read whole (0 to 1)."""
    start = time.monotonic()
    result = CheckResult(problems=list(store.problems))
    with store.lock(exclusive=False, what=_("check")):
        emit(Phase("checking", store.location))
        index = store.reload_index()
        result.problems += store.index_problems
        result.packs = len(index.packs)
        for name in sorted(store.superseded_index):
            result.problems.append(
                Problem(
                    Severity.NOTE,
                    name,
                    _("An index file that a newer one replaces: the next prune removes it."),
                )
            )
        for pack_id in sorted(store.unindexed):
            result.problems.append(
                Problem(
                    Severity.NOTE,
                    pack_name(pack_id),
                    _(
                        "A pack no index names (left by an interrupted backup or prune): the "
                        "next backup adopts it, or prune reclaims it."
                    ),
                )
            )
        _check_pack_headers(store, result)
        bad_blobs = _check_snapshots(store, result)
        if read_data > 0:
            bad_blobs |= _read_data(store, result, read_data, emit, random.Random(seed))
        if bad_blobs:
            _name_affected(store, result, bad_blobs, emit)
        _check_locks(store, result)
    result.duration_s = round(time.monotonic() - start, 3)
    return result


def _check_pack_headers(store: Store, result: CheckResult) -> None:
    index = store.index()
    for pack_id in sorted(store.missing_packs):
        result.problems.append(
            Problem(
                Severity.WARNING,
                pack_name(pack_id),
                _("The index names this pack, but it is missing."),
            )
        )
    for pack_id, record in sorted(index.packs.items()):
        if pack_id in store.unindexed:
            continue  # its header was read (and checked) when the index was loaded
        name = pack_name(pack_id)
        size = store.storage.size(name)
        try:
            blobs = read_header(store.storage, store.keys, name, size or 0)
        except (DamagedStoreError, StorageError) as e:
            result.problems.append(
                Problem(
                    Severity.WARNING,
                    name,
                    _(
                        "The pack's header cannot be read ({message}); the index still says "
                        "where its content lies."
                    ).format(message=getattr(e, "message", str(e))),
                )
            )
            continue
        if {(b.info, b.offset) for b in blobs} != {(b.info, b.offset) for b in record.blobs}:
            result.problems.append(
                Problem(
                    Severity.WARNING,
                    name,
                    _("The pack's header and the index disagree about its content."),
                )
            )


def _check_snapshots(store: Store, result: CheckResult) -> set[bytes]:
    """Every snapshot reads and every piece of content it needs lies in a pack; returns
    the ids of pieces that do not."""
    index = store.index()
    problems: list[Problem] = []
    infos = store.snapshots(problems)
    result.problems += problems
    result.snapshots = len(infos) + len(problems)
    missing: set[bytes] = set()
    snap = None
    for info in infos:
        snap = None  # one snapshot in memory at a time (100,000 files: ~45 MB each)
        try:
            snap = store.load_snapshot(info.snapshot_id)
        except DamagedStoreError as e:
            result.problems.append(
                Problem(
                    Severity.ERROR,
                    e.name or info.snapshot_id,
                    _(
                        "{message} The backup of {time} cannot be restored; the other "
                        "snapshots are not affected."
                    ).format(message=e.message, time=info.created.strftime("%Y-%m-%d %H:%M")),
                )
            )
            continue
        result.files += len(snap.entries)
        ok = True
        for entry in snap.entries:
            size = 0
            for b in entry.blobs:
                locs = index.locate(b) or store.header_index().locate(b)
                if not locs:
                    missing.add(b)
                    ok = False
                    break
                size += locs[0].info.raw_length
            else:
                if size != entry.size:
                    result.problems.append(
                        Problem(
                            Severity.ERROR,
                            snap.name,
                            _("{path}: its content and its size in the snapshot differ.").format(
                                path=entry.path
                            ),
                            [Affected(snap.snapshot_id, entry.path)],
                        )
                    )
                    ok = False
        result.snapshots_ok += ok
    return missing


def _read_data(
    store: Store, result: CheckResult, share: float, emit: Emit, rng: random.Random
) -> set[bytes]:
    """Read packs whole; returns the ids of blobs that have no intact copy among them
    (and whose other copies, if any, fail too)."""
    index = store.index()
    pack_ids = sorted(index.packs)
    n = len(pack_ids) if share >= 1 else min(len(pack_ids), math.ceil(len(pack_ids) * share))
    chosen = pack_ids if n == len(pack_ids) else sorted(rng.sample(pack_ids, n))
    total = sum(index.packs[p].size for p in chosen)
    emit(Phase("reading", store.location))
    damaged: dict[bytes, list[Location]] = {}
    intact: set[bytes] = set()
    done = 0
    for pack_id in chosen:
        name = pack_name(pack_id)
        record = index.packs[pack_id]
        try:
            data = store.storage.get(name)
        except (ObjectNotFoundError, StorageError) as e:
            data = b""
            result.problems.append(Problem(Severity.WARNING, name, getattr(e, "message", str(e))))
        if data:
            try:
                same = pack_id_for(sealed_header_of(data, name)) == pack_id
            except DamagedStoreError:
                same = False
            if not same:
                result.problems.append(
                    Problem(
                        Severity.WARNING,
                        name,
                        _(
                            "The pack's header is not what its name says (changed, or another "
                            "pack's)."
                        ),
                    )
                )
        for b in record.blobs:
            sealed = data[b.offset : b.offset + b.info.length]
            try:
                open_blob(store.keys, b.info, sealed, name)
            except DamagedStoreError:
                damaged.setdefault(b.info.id, []).append(Location(pack_id, b))
            else:
                intact.add(b.info.id)
            result.blobs_read += 1
        result.packs_read += 1
        result.bytes_read += len(data)
        done += record.size
        emit(
            Progress(
                phase="reading",
                bytes_done=done,
                bytes_total=total,
                files_done=result.packs_read,
                files_total=len(chosen),
            )
        )
        del data
    lost: set[bytes] = set()
    for blob_id, locs in damaged.items():
        where = ", ".join(sorted({pack_name(loc.pack_id) for loc in locs}))
        if blob_id in intact or _intact_elsewhere(store, blob_id, locs):
            result.problems.append(
                Problem(
                    Severity.WARNING,
                    where,
                    _("A damaged copy of content that is intact in another pack."),
                )
            )
        else:
            lost.add(blob_id)
    return lost


def _intact_elsewhere(store: Store, blob_id: bytes, bad: list[Location]) -> bool:
    seen = {(loc.pack_id, loc.blob.offset) for loc in bad}
    for source in (store.index(), store.header_index()):
        for loc in source.locate(blob_id):
            if (loc.pack_id, loc.blob.offset) in seen:
                continue
            seen.add((loc.pack_id, loc.blob.offset))
            try:
                sealed = store.storage.get(pack_name(loc.pack_id), loc.blob.offset, loc.info.length)
                open_blob(store.keys, loc.info, sealed, pack_name(loc.pack_id))
                return True
            except (DamagedStoreError, StorageError):
                continue
    return False


def _name_affected(store: Store, result: CheckResult, bad: set[bytes], emit: Emit) -> None:
    """One error per piece of lost content... grouped: one per pack (or "missing"), with
    every file of every snapshot that needs it."""
    index = store.index()
    by_place: dict[str, list[Affected]] = {}
    for info in store.snapshots():
        snap = None  # one snapshot in memory at a time
        try:
            snap = store.load_snapshot(info.snapshot_id)
        except DamagedStoreError:
            continue
        for entry in snap.entries:
            hit = next((b for b in entry.blobs if b in bad), None)
            if hit is None:
                continue
            locs = index.locate(hit)
            place = pack_name(locs[0].pack_id) if locs else _("(missing content)")
            by_place.setdefault(place, []).append(Affected(snap.snapshot_id, entry.path))
            emit(
                Damaged(
                    path=entry.path,
                    reason=_(
                        "in snapshot {id}: its content is damaged or missing ({place})"
                    ).format(id=snap.snapshot_id[:8], place=place),
                )
            )
    for place, affected in sorted(by_place.items()):
        result.problems.append(
            Problem(
                Severity.ERROR,
                place,
                ngettext(
                    "Content is damaged or missing: {n} file cannot be restored: {files}",
                    "Content is damaged or missing: {n} files cannot be restored: {files}",
                    len(affected),
                ).format(
                    n=len(affected),
                    files=describe_affected((a.snapshot_id, a.path) for a in affected),
                ),
                affected,
            )
        )


def _check_locks(store: Store, result: CheckResult) -> None:
    locks, bad = read_locks(store.storage, store.keys)
    for lock in locks:
        if lock.stale():
            result.problems.append(
                Problem(
                    Severity.NOTE,
                    lock.name,
                    _("A stale lock ({who}); remove it with --break-lock.").format(
                        who=lock.describe()
                    ),
                )
            )
    for name in bad:
        result.problems.append(
            Problem(
                Severity.NOTE, name, _("A lock that cannot be read; remove it with --break-lock.")
            )
        )
