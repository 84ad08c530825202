"""Verify what one backup wrote: its new packs, read back from the device, and every
file's references.

Each pack the backup put is read whole after its pages were dropped from the cache (so
the bytes come from the stick, not from memory), its name checked against its sealed
header, and every blob in it authenticated and checked against its id. Then every file
of the snapshot is checked against the index: each piece of its content lies in some
pack and the pieces add up to its size. What this does not read: content earlier
backups wrote (reused files and deduplicated chunks); ``check --read-data`` reads that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from therabak import faults
from therabak.events import Damaged, Emit, Progress, ignore
from therabak.i18n import _
from therabak.storage.base import ObjectNotFoundError, StorageError
from therabak.store.blob import open_blob
from therabak.store.core import Store
from therabak.store.errors import DamagedStoreError
from therabak.store.pack import pack_id_for, pack_name, sealed_header_of
from therabak.store.snapshot import Snapshot


@dataclass
class VerifyResult:
    damaged: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    packs_read: int = 0
    bytes_read: int = 0
    files_checked: int = 0


def verify_written(
    store: Store,
    snapshot: Snapshot,
    pack_ids: list[str],
    *,
    emit: Emit = ignore,
    check_cancel: Callable[[], None] | None = None,
) -> VerifyResult:
    """Read back the packs *pack_ids* (what the backup that made *snapshot* put) and check
    every file of *snapshot* against the index. Damaged files are named (and emitted as
    :class:`~therabak.events.Damaged` events)."""
    result = VerifyResult()
    index = store.index()
    total = sum(index.packs[p].size for p in pack_ids if p in index.packs)
    bad: dict[bytes, str] = {}  # blob -> why, for blobs whose copy in a new pack failed
    done = 0
    for pack_id in pack_ids:
        if check_cancel is not None:
            check_cancel()
        name = pack_name(pack_id)
        record = index.packs.get(pack_id)
        store.storage.drop_cache(name)
        why = ""
        try:
            size = store.storage.size(name)
            if size is None:
                raise ObjectNotFoundError(_("{name} is missing").format(name=name))
            if pack_id_for(sealed_header_of(_tail(store, name, size), name)) != pack_id:
                why = _("{name}: its header is not what its name says").format(name=name)
        except (ObjectNotFoundError, StorageError, DamagedStoreError) as e:
            why = getattr(e, "message", str(e))
        # blob by blob (one chunk in memory), each authenticated and checked against its id
        for b in record.blobs if record is not None else ():
            if why:
                bad.setdefault(b.info.id, why)
                continue
            try:
                sealed = store.storage.get(name, b.offset, b.info.length)
                result.bytes_read += len(sealed)
                open_blob(store.keys, b.info, sealed, name)
            except (DamagedStoreError, StorageError) as e:
                bad.setdefault(b.info.id, getattr(e, "message", str(e)))
        done += record.size if record is not None else 0
        result.packs_read += 1
        emit(
            Progress(
                phase="verifying",
                bytes_done=done,
                bytes_total=total,
                files_done=result.packs_read,
                files_total=len(pack_ids),
            )
        )
    # a blob whose new copy failed may lie intact in an older pack (read from there)
    new = set(pack_ids)
    lost = {
        b: why
        for b, why in bad.items()
        if not any(loc.pack_id not in new for loc in index.locate(b))
    }
    for entry in snapshot.entries:
        faults.verify_delay()
        if check_cancel is not None:
            check_cancel()
        result.files_checked += 1
        why = next((lost[b] for b in entry.blobs if b in lost), "")
        if not why:
            lengths = [index.raw_length(b) for b in entry.blobs]
            if any(n is None for n in lengths):
                why = _("a piece of its content is in no pack of the store")
            elif sum(lengths) != entry.size:  # type: ignore[arg-type]
                why = _("its pieces do not add up to its size")
        if why:
            result.damaged.append((entry.path, why))
            emit(Damaged(path=entry.path, reason=why))
    return result


def _tail(store: Store, name: str, size: int) -> bytes:
    """The end of a pack that holds its sealed header (and trailer)."""
    from therabak.store.pack import TRAILER_SIZE, header_length

    trailer = store.storage.get(name, size - TRAILER_SIZE, TRAILER_SIZE)
    n = header_length(trailer, size, name)
    return store.storage.get(name, size - TRAILER_SIZE - n, n + TRAILER_SIZE)


__all__ = ["VerifyResult", "verify_written"]
