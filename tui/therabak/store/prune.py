"""Forget snapshots and prune the content no snapshot needs any more.

**forget** deletes snapshot objects (chosen by id, or by a retention policy:
``therabak/retention.py``, the rule automatic backups use). It frees no space by
itself: the content stays until prune.

**prune** (an exclusive lock; refused while a snapshot cannot be read or content a
snapshot needs is missing: ``check`` says which) works out which blobs the snapshots
use, then, crash-safe at every step:

1. packs that hold used and unused blobs, where the unused part is at least
   :data:`REPACK_UNUSED` of the pack, are **repacked**: their used blobs (checked:
   they must authenticate) are copied, still sealed, into new packs, which are put;
2. a new index listing every pack that stays (and the new ones) is put, naming the old
   index files it supersedes;
3. the old index files are deleted;
4. packs that hold nothing used, and the repacked ones, are deleted;
5. key files that a newer key file supersedes are deleted.

A kill after any step leaves a store where every snapshot reads back whole: content is
deleted only after a new index that does not need it was written; what a kill leaves
(new packs no index names, old index files, old packs) is adopted by the next backup or
reclaimed by the next prune.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from therabak import faults
from therabak.errors import ExitCode
from therabak.events import Emit, Phase, Progress, ignore
from therabak.i18n import _, ngettext
from therabak.retention import RetentionPolicy, kept
from therabak.storage.base import ObjectNotFoundError
from therabak.store.blob import open_blob
from therabak.store.core import Store, describe_affected
from therabak.store.errors import DamagedStoreError
from therabak.store.index import IndexFile, PackRecord
from therabak.store.keyfile import current_keyfiles
from therabak.store.pack import TRAILER_SIZE, PackBuilder, pack_name
from therabak.store.public import SnapshotInfo
from therabak.store.snapshot import Snapshot, snapshot_name

#: a partly used pack is repacked when at least this share of it is unused
REPACK_UNUSED = 0.20


# ---- forget -------------------------------------------------------------------------------------


@dataclass
class ForgetPlan:
    keep: list[SnapshotInfo]
    forget: list[SnapshotInfo]
    reasons: dict[str, list[str]] = field(default_factory=dict)  # kept id -> why


def plan_forget(
    store: Store, *, ids: Iterable[str] = (), policy: RetentionPolicy | None = None
) -> ForgetPlan:
    """Which snapshots go: the ones named (ids or unique prefixes), or those *policy*
    does not keep. A policy is applied to each practice's (account key) snapshots of each
    kind on their own; the newest of each such group is always kept."""
    infos = store.snapshots()
    if policy is None:
        wanted = {store.resolve(ref) for ref in ids}
        forget = [i for i in infos if i.snapshot_id in wanted]
        keep = [i for i in infos if i.snapshot_id not in wanted]
        return ForgetPlan(keep, forget)
    groups: dict[tuple[str, str], list[SnapshotInfo]] = {}
    for info in infos:
        try:
            account = store.load_snapshot(info.snapshot_id).account_key_id
        except DamagedStoreError:
            account = "?"  # a damaged snapshot is never forgotten by a policy: check it
        groups.setdefault((str(info.header.kind), account), []).append(info)
    reasons: dict[str, list[str]] = {}
    for (_kind, account), members in groups.items():
        newest_first = [(i.created, i.snapshot_id) for i in reversed(members)]
        if account == "?":
            reasons.update({sid: ["unreadable"] for _t, sid in newest_first})
            continue
        reasons.update(kept(newest_first, policy))
    keep = [i for i in infos if i.snapshot_id in reasons]
    forget = [i for i in infos if i.snapshot_id not in reasons]
    return ForgetPlan(keep, forget, reasons)


def forget(store: Store, plan: ForgetPlan, emit: Emit = ignore) -> list[str]:
    """Delete the snapshots *plan* forgets (exclusive lock). Returns their ids."""
    done = []
    with store.lock(exclusive=True, what=_("forget")):
        for info in plan.forget:
            emit(Phase("forgetting", info.snapshot_id))
            store.storage.delete(snapshot_name(info.snapshot_id))
            done.append(info.snapshot_id)
            faults.point("forget.delete")
    return done


# ---- prune --------------------------------------------------------------------------------------


@dataclass
class PrunePlan:
    snapshots: int = 0
    packs: int = 0
    bytes_total: int = 0  # every pack
    bytes_used: int = 0  # the sealed blobs snapshots need (one copy each)
    delete: list[str] = field(default_factory=list)  # packs with nothing used
    repack: list[str] = field(default_factory=list)  # partly used, over the threshold
    keep: list[str] = field(default_factory=list)
    bytes_deleted: int = 0  # sizes of the packs deleted (incl. repacked ones)
    bytes_repacked: int = 0  # used bytes copied into new packs
    bytes_unused_kept: int = 0  # unused bytes left in kept packs (below the threshold)
    old_index: list[str] = field(default_factory=list)
    old_keyfiles: list[str] = field(default_factory=list)
    chosen: dict[bytes, tuple[str, int]] = field(default_factory=dict, repr=False)

    @property
    def bytes_freed(self) -> int:
        """What the store shrinks by (roughly: new packs have headers of their own)."""
        return self.bytes_deleted - self.bytes_repacked

    def to_dict(self) -> dict:
        return {
            "snapshots": self.snapshots,
            "packs": self.packs,
            "bytes_total": self.bytes_total,
            "bytes_used": self.bytes_used,
            "packs_deleted": len(self.delete),
            "packs_repacked": len(self.repack),
            "packs_kept": len(self.keep),
            "bytes_freed": self.bytes_freed,
            "bytes_repacked": self.bytes_repacked,
            "bytes_unused_kept": self.bytes_unused_kept,
            "index_files_replaced": len(self.old_index),
            "key_files_removed": len(self.old_keyfiles),
        }


def _used_blobs(store: Store, skip: set[str]) -> tuple[set[bytes], int]:
    """The ids of every blob a snapshot not in *skip* needs, and the number of those
    snapshots (one snapshot in memory at a time). Refuses when a snapshot cannot be read."""
    problems: list = []
    infos = store.snapshots(problems)
    if problems:
        bad = problems[0]
        raise DamagedStoreError(
            _(
                "{name} cannot be read ({message}); prune would not know what it needs. "
                "Forget it first, or run check."
            ).format(name=bad.name, message=bad.message),
            name=bad.name,
        )
    used: set[bytes] = set()
    count = 0
    for info in infos:
        if info.snapshot_id in skip:
            continue
        try:
            snap: Snapshot = store.load_snapshot(info.snapshot_id)
        except DamagedStoreError as e:
            raise DamagedStoreError(
                _(
                    "{name} cannot be read ({message}); prune would not know what it needs. "
                    "Forget it first, or run check."
                ).format(name=e.name or info.snapshot_id, message=e.message),
                name=e.name,
            ) from None
        count += 1
        for entry in snap.entries:
            used.update(entry.blobs)
        del snap
    return used, count


def _files_needing(store: Store, blobs: set[bytes], skip: set[str]) -> list[tuple[str, str]]:
    """(snapshot id, path) of the files that need any of *blobs* (to name them)."""
    out = []
    for info in store.snapshots():
        if info.snapshot_id in skip:
            continue
        snap = store.load_snapshot(info.snapshot_id)
        out += [(snap.snapshot_id, e.path) for e in snap.entries if blobs.intersection(e.blobs)]
    return out


def plan_prune(store: Store, *, forget: Iterable[str] = ()) -> PrunePlan:
    """What prune would do, with the snapshots *forget* gone too (the answer to "how much
    would forgetting these free?"). Reads the index and every snapshot, changes nothing."""
    index = store.reload_index()
    skip = set(forget)
    used, count = _used_blobs(store, skip)
    missing = [b for b in used if b not in index]
    if missing:
        affected = _files_needing(store, set(missing), skip)
        raise DamagedStoreError(
            ngettext(
                "{n} piece of content that snapshots need is missing ({files}); prune "
                "changes nothing. Run check.",
                "{n} pieces of content that snapshots need are missing ({files}); prune "
                "changes nothing. Run check.",
                len(missing),
            ).format(n=len(missing), files=describe_affected(affected))
        )
    plan = _plan(index, used, count)
    plan.old_index = list(store.index_files)
    _current, old = current_keyfiles(store.keyfiles)
    plan.old_keyfiles = [kf.name for kf in old if kf.file_id != store.keyfile.file_id]
    return plan


def _plan(index, used: set[bytes], count: int) -> PrunePlan:
    """Which packs a prune deletes, repacks and keeps when the blobs *used* are needed."""
    plan = PrunePlan(snapshots=count, packs=len(index.packs))
    # per pack: the bytes of its used blobs, counting a blob held twice in one pack only
    used_in: dict[str, int] = {pack_id: 0 for pack_id in index.packs}
    for b in used:
        for loc in index.locate(b):
            used_in[loc.pack_id] += loc.info.length
    # one copy of each used blob: in the pack that is the most used
    chosen: dict[bytes, tuple[str, int]] = {}
    counted: dict[str, int] = {pack_id: 0 for pack_id in index.packs}
    for b in used:
        locs = index.locate(b)
        best = max(locs, key=lambda loc: used_in[loc.pack_id] / index.packs[loc.pack_id].size)
        chosen[b] = (best.pack_id, best.blob.offset)
        counted[best.pack_id] += best.info.length
    plan.chosen = chosen
    for pack_id, record in index.packs.items():
        plan.bytes_total += record.size
        used_bytes = counted[pack_id]
        plan.bytes_used += used_bytes
        unused = record.size - used_bytes
        if used_bytes == 0:
            plan.delete.append(pack_id)
            plan.bytes_deleted += record.size
        elif unused >= REPACK_UNUSED * record.size and unused > _overhead(record):
            plan.repack.append(pack_id)
            plan.bytes_deleted += record.size
            plan.bytes_repacked += used_bytes
        else:
            plan.keep.append(pack_id)
            plan.bytes_unused_kept += unused - _overhead(record)
    return plan


def _overhead(record: PackRecord) -> int:
    """The header and trailer of a pack: never unused content."""
    return record.size - sum(b.info.length for b in record.blobs) if record.blobs else TRAILER_SIZE


def freed_by_forgetting(store: Store, snapshot_ids: Iterable[str]) -> int:
    """Bytes a prune would free once *snapshot_ids* were forgotten (the backup asks this
    when the destination runs short, with the oldest points)."""
    return plan_prune(store, forget=snapshot_ids).bytes_freed


@dataclass
class ForgetGain:
    """What forgetting the *count* oldest snapshots (and pruning) would free."""

    count: int
    bytes_freed: int
    oldest: list[SnapshotInfo]  # those snapshots, oldest first


def gains_of_forgetting_oldest(
    store: Store, *, keep: int = 1, enough: int | None = None
) -> list[ForgetGain]:
    """For k = 1, 2, ... (keeping the *keep* newest snapshots): how much a prune would
    free once the k oldest snapshots were forgotten (the question a backup answers when
    the destination runs short), up to the first k that frees *enough*. Reads every
    snapshot once (one in memory at a time); a blob is freed by forgetting the k oldest
    when no newer snapshot needs it. Refuses, as prune does, when a snapshot cannot be
    read."""
    index = store.reload_index()
    infos = store.snapshots()
    last_use: dict[bytes, int] = {}  # blob -> the newest snapshot (position) that needs it
    for position, info in enumerate(infos):
        snap = store.load_snapshot(info.snapshot_id)
        for entry in snap.entries:
            for b in entry.blobs:
                last_use[b] = position
        del snap
    gains = []
    for k in range(1, len(infos) - keep + 1):
        used = {b for b, position in last_use.items() if position >= k and b in index}
        plan = _plan(index, used, len(infos) - k)
        gains.append(ForgetGain(k, plan.bytes_freed, infos[:k]))
        if enough is not None and plan.bytes_freed >= enough:
            break
    return gains


@dataclass
class PruneResult:
    plan: PrunePlan
    dry_run: bool
    new_packs: list[str] = field(default_factory=list)
    deleted_packs: int = 0
    deleted_index: int = 0
    deleted_keyfiles: int = 0

    def to_dict(self) -> dict:
        return {
            **self.plan.to_dict(),
            "dry_run": self.dry_run,
            "new_packs": len(self.new_packs),
            "deleted_packs": self.deleted_packs,
            "deleted_index_files": self.deleted_index,
            "deleted_key_files": self.deleted_keyfiles,
        }


#: The figures of a prune's summary (``PrunePlan.to_dict`` and ``PruneResult.to_dict``).
REPORT_COUNTS = (
    "snapshots",
    "packs",
    "bytes_total",
    "bytes_used",
    "packs_deleted",
    "packs_repacked",
    "packs_kept",
    "bytes_freed",
    "bytes_repacked",
    "bytes_unused_kept",
    "index_files_replaced",
    "key_files_removed",
    "new_packs",
    "deleted_packs",
    "deleted_index_files",
    "deleted_key_files",
)


@dataclass
class PruneReport:
    """What ``therabak prune`` did (its ``--json`` summary): the snapshots the policy
    forgot and the prune's figures, as the app reads them back (:meth:`from_json`)."""

    store: str
    forgotten: list[str] = field(default_factory=list)
    dry_run: bool = False
    counts: dict[str, int] = field(default_factory=dict)  # REPORT_COUNTS
    duration_s: float = 0.0

    @classmethod
    def of(
        cls, store: str, forgotten: list[str], result: PruneResult, duration_s: float
    ) -> PruneReport:
        figures = result.to_dict()
        return cls(
            store=store,
            forgotten=list(forgotten),
            dry_run=result.dry_run,
            counts={name: int(figures[name]) for name in REPORT_COUNTS},
            duration_s=duration_s,
        )

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.OK

    def count(self, name: str) -> int:
        return self.counts.get(name, 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "forgotten": list(self.forgotten),
            "dry_run": self.dry_run,
            **{name: self.count(name) for name in REPORT_COUNTS},
            "duration_s": self.duration_s,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PruneReport:
        return cls(
            store=str(data["store"]),
            forgotten=[str(i) for i in data.get("forgotten") or ()],
            dry_run=bool(data.get("dry_run", False)),
            counts={name: int(data.get(name) or 0) for name in REPORT_COUNTS},
            duration_s=float(data.get("duration_s", 0.0)),
        )


def prune(store: Store, *, dry_run: bool = False, emit: Emit = ignore) -> PruneResult:
    """Reclaim the space of content no snapshot needs (see the module docstring)."""
    with store.lock(exclusive=not dry_run, what=_("prune")):
        emit(Phase("planning", store.location))
        plan = plan_prune(store)
        result = PruneResult(plan, dry_run)
        if dry_run:
            return result
        index = store.index()
        # 1. repack
        new_records: dict[str, PackRecord] = {}
        if plan.repack:
            emit(Phase("repacking", store.location))
            result.new_packs = _repack(store, plan, new_records, emit)
        # 2. the new index: every pack that stays, and the new ones
        emit(Phase("indexing", store.location))
        staying = {pack_id: index.packs[pack_id] for pack_id in plan.keep}
        staying.update(new_records)
        holder = type(index)()
        for pack_id, record in staying.items():
            holder.add_pack(pack_id, record)
        old_ids = tuple(name.split("/", 1)[1] for name in plan.old_index)
        files = holder.files_for(list(staying)) or [IndexFile({})]
        written = set()
        for i, index_file in enumerate(files):
            if i == 0:
                index_file.supersedes = old_ids
            written.add(store.write_index(index_file))
            faults.point("prune.index")
        # 3. the old index files
        for name in plan.old_index:
            if name not in written:
                store.storage.delete(name)
                result.deleted_index += 1
        faults.point("prune.index-deleted")
        # 4. packs nothing needs any more
        emit(Phase("deleting", store.location))
        for pack_id in [*plan.delete, *plan.repack]:
            store.storage.delete(pack_name(pack_id))
            result.deleted_packs += 1
            faults.point("prune.delete")
        # 5. superseded key files
        for name in plan.old_keyfiles:
            store.storage.delete(name)
            result.deleted_keyfiles += 1
        # 6. what interrupted writes left in the storage's temporary folder (a pack a
        # killed backup was filling): with this lock held, no backup writes one now
        clean_temporary = getattr(store.storage, "clean_temporary", None)
        if clean_temporary is not None:
            clean_temporary()
        store.reload_index()
        return result


def _repack(
    store: Store, plan: PrunePlan, new_records: dict[str, PackRecord], emit: Emit
) -> list[str]:
    index = store.index()
    wanted: dict[str, list] = {pack_id: [] for pack_id in plan.repack}
    for blob_id, (pack_id, offset) in plan.chosen.items():
        if pack_id in wanted:
            loc = next(
                loc
                for loc in index.locate(blob_id)
                if (loc.pack_id, loc.blob.offset) == (pack_id, offset)
            )
            wanted[pack_id].append(loc.blob)
    builder = PackBuilder(store.keys, store.config.pack_size)
    new_ids: list[str] = []

    def flush() -> None:
        nonlocal builder
        if not len(builder):
            return
        pack = builder.finish()
        store.put(pack.name, pack.data)
        new_records[pack.pack_id] = PackRecord(pack.size, pack.blobs)
        new_ids.append(pack.pack_id)
        builder = PackBuilder(store.keys, store.config.pack_size)
        faults.point("prune.pack")

    for done, pack_id in enumerate(plan.repack, 1):
        name = pack_name(pack_id)
        try:
            data = store.storage.get(name)
        except ObjectNotFoundError:
            raise DamagedStoreError(
                _("{name} is missing; prune changes nothing. Run check.").format(name=name),
                name=name,
            ) from None
        for blob in sorted(wanted[pack_id], key=lambda b: b.offset):
            sealed = data[blob.offset : blob.offset + blob.info.length]
            open_blob(store.keys, blob.info, sealed, name)  # never copy damage
            builder.add(sealed, blob.info)
            if builder.full:
                flush()
        emit(
            Progress(
                phase="repacking",
                bytes_done=done,
                bytes_total=len(plan.repack),
                files_done=done,
                files_total=len(plan.repack),
            )
        )
        del data
    flush()
    return new_ids
