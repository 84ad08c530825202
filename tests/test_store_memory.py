"""What a store backup holds per file, measured with tracemalloc on a few thousand files
(issue 16: peak RSS under 150 MB for 100,000 files). Bounds on bytes, not on time: a
change that brings back a wide snapshot entry (a hex string per hash, a tuple per file's
content references) or a commit that holds the snapshot's body several times over fails."""

from __future__ import annotations

import gc
import os
import sys
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

from store_support import create_store, open_store
from therabak.store.backup import SnapshotMeta
from therabak.store.keys import STORE_ID_SIZE, StoreKeys
from therabak.store.snapshot import (
    SnapshotEntry,
    SnapshotHeader,
    SnapshotKind,
    encode_snapshot,
    snapshot_name,
)
from therabak.store.snapshot_read import parse_snapshot

FILES = 5000
#: what a parsed entry of the files below holds (the entry, its path, hash, content
#: reference, mtime; the list's slot): 408 bytes measured with the compact entry, 504
#: with the former one (hex hash, 1-tuple of the reference)
PER_ENTRY = 440


def _entries(n: int) -> list[SnapshotEntry]:
    return [
        SnapshotEntry(
            path=f"sessions/K{i % 500:04d}/Sitzung {i:05d}.json",
            category="sessions",
            size=1000 + i,
            mtime_ns=1_765_000_000_000_000_000 + i,
            sha256=os.urandom(32).hex(),
            blobs=(os.urandom(32),),
            source_size=1000 + i,
        )
        for i in range(n)
    ]


def _encode(keys: StoreKeys, entries: list[SnapshotEntry]) -> tuple[str, bytes | bytearray]:
    header = SnapshotHeader(
        store_id=keys.store_id,
        created=datetime(2026, 12, 7, 17, 0, tzinfo=UTC),
        kind=SnapshotKind.MANUAL,
        categories=("sessions",),
        size=sum(e.size for e in entries),
        added=0,
    )
    return encode_snapshot(
        keys, header, entries, host="h", account_key_id="", parent=None, program="t", skipped=[]
    )


def _traced(fn):
    """(what *fn* returned, bytes it left allocated, its peak above the start)."""
    gc.collect()
    tracemalloc.start()
    try:
        before, _peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        result = fn()
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, after - before, peak - before


def test_a_parsed_parent_holds_a_few_hundred_bytes_per_file():
    keys = StoreKeys(store_id=os.urandom(STORE_ID_SIZE), master=os.urandom(32))
    entries = _entries(FILES)
    sid, data = _encode(keys, entries)
    data = bytes(data)
    snapshot, held, _peak = _traced(lambda: parse_snapshot(keys, data, snapshot_name(sid)))
    assert snapshot.entries == entries
    assert held / FILES < PER_ENTRY, held / FILES


def test_a_parent_is_parsed_without_its_whole_body_in_memory():
    # 40,000 files: ~2.9 MB sealed, ~8 MB of text decompressed. The body is decompressed
    # and parsed piece by piece: the peak above what the entries hold is the opened
    # (still compressed) body, the set of paths seen and a piece or two; with the body
    # decompressed whole it was its bytes, then its text, beside the entries (+9.5 MB)
    keys = StoreKeys(store_id=os.urandom(STORE_ID_SIZE), master=os.urandom(32))
    entries = _entries(40_000)
    sid, data = _encode(keys, entries)
    data = bytes(data)
    snapshot, held, peak = _traced(lambda: parse_snapshot(keys, data, snapshot_name(sid)))
    assert snapshot.entries == entries
    assert peak - held < len(data) + (3 << 20), (peak - held, len(data))


def test_the_new_snapshot_is_in_memory_once_while_it_is_encoded():
    # 40,000 files: ~2.9 MB of snapshot, incompressible hashes: the body, its compressed
    # form, the sealed form and the joined snapshot were four copies; now zstd's output is
    # sealed as it comes into the one buffer (plus a batch of JSON, zstd's own state)
    keys = StoreKeys(store_id=os.urandom(STORE_ID_SIZE), master=os.urandom(32))
    entries = _entries(40_000)
    (sid, data), _held, peak = _traced(lambda: _encode(keys, entries))
    assert len(data) > 2 << 20
    assert peak < len(data) * 1.25 + (1 << 20), (peak, len(data))
    assert parse_snapshot(keys, bytes(data), snapshot_name(sid)).entries == entries


def test_the_writer_holds_compact_entries_for_the_files_it_wrote(tmp_path: Path):
    store = create_store(tmp_path / "store")
    meta = SnapshotMeta(kind=SnapshotKind.MANUAL, categories=("sessions",))
    with store.begin_backup(None, meta) as w:
        # the first file makes the pack buffer: measured from the second on
        first = w.add_file("sessions/first.json", "sessions", mtime_ns=1)
        first.write(b"{}")
        first.finish()

        def add_files():
            for i in range(FILES):
                f = w.add_file(f"sessions/K{i % 500:04d}/S {i:05d}.json", "sessions", mtime_ns=i)
                f.write(os.urandom(64))
                f.finish()

        _none, held, _peak = _traced(add_files)
        held_entries = list(w._entries.values())
        w.commit()
    assert len(held_entries) == FILES + 1
    assert all(type(e.digest) is bytes and len(e.digest) == 32 for e in held_entries)
    assert all(type(e.refs) is bytes and len(e.refs) == 32 for e in held_entries)
    # per file: its entry, path, hash, reference (shared with the index), the writer's
    # dict slot, the index's record of the blob, 64 bytes of content in the open pack:
    # 635 bytes measured, 730 with the former entry
    assert held / FILES < 680, held / FILES


def test_the_parent_s_references_and_the_index_share_their_ids(tmp_path: Path):
    root = tmp_path / "store"
    store = create_store(root)
    meta = SnapshotMeta(kind=SnapshotKind.MANUAL, categories=("sessions",))
    with store.begin_backup(None, meta) as w:
        for i in range(2000):
            f = w.add_file(f"sessions/S {i:04d}.json", "sessions", mtime_ns=i)
            f.write(os.urandom(64))
            f.finish()
        w.commit()
    again = open_store(root)
    [info] = again.snapshots()
    parent = again.load_snapshot(info.snapshot_id)
    with again.begin_backup(parent, meta) as w:
        ids = {id(b) for b in w._index.blob_ids()}
        assert len(ids) == 2000
        # each id once in memory: the index keeps the parent entry's object
        assert all(id(e.refs) in ids for e in parent.entries)
        # and its dict no larger than a fresh one (putting each id back doubled it)
        where = w._index._where
        assert sys.getsizeof(where) <= sys.getsizeof(dict(where)), sys.getsizeof(where)
        assert all(w._index.locate(e.refs) for e in parent.entries)
        w.abort()


def test_check_holds_one_snapshot_at_a_time(tmp_path: Path):
    from therabak.store.check import CheckResult, _check_snapshots, check

    store = create_store(tmp_path / "store")
    meta = SnapshotMeta(kind=SnapshotKind.MANUAL, categories=("sessions",))
    for n in range(3):  # three snapshots of 3,000 files each, none shared
        with store.begin_backup(None, meta) as w:
            for i in range(3000):
                f = w.add_file(
                    f"sessions/K{i % 300:03d}/S {n} {i:04d}.json", "sessions", mtime_ns=i
                )
                f.write(os.urandom(16))
                f.finish()
            w.commit()
    store = open_store(tmp_path / "store")
    [first, *_rest] = store.snapshots()
    store.index()  # loaded before: what check adds is measured
    _snap, one_held, one_peak = _traced(lambda: store.load_snapshot(first.snapshot_id))
    del _snap
    result = CheckResult()
    _missing, _held, peak = _traced(lambda: _check_snapshots(store, result))
    assert result.snapshots_ok == 3 and not result.problems
    assert check(store).snapshots_ok == 3
    # one snapshot's parse (and its entries); with the last one held while the next was
    # read, the entries of another snapshot more
    assert peak < one_peak + 0.5 * one_held, (peak, one_peak, one_held)


def test_a_restore_holds_a_small_item_per_file_of_a_snapshot(tmp_path: Path):
    from therabak.jobs.restore.sources import StoreSource
    from therabak.points.point import PointKind, RestorePoint

    root = tmp_path / "store"
    store = create_store(root)
    meta = SnapshotMeta(kind=SnapshotKind.MANUAL, categories=("sessions",))
    with store.begin_backup(None, meta) as w:
        for i in range(FILES):
            f = w.add_file(
                f"sessions/K{i % 500:04d}/S {i:05d}.json", "sessions", mtime_ns=i, identity=f"9:{i}"
            )
            f.write(os.urandom(16))
            f.finish()
        snap = w.commit()
    store = open_store(root)
    snap = store.load_snapshot(snap.snapshot_id)
    assert all(e.identity for e in snap.entries)
    store.index()
    point = RestorePoint(root, PointKind.MANUAL, snapshot_id=snap.snapshot_id)
    source, held, _peak = _traced(lambda: StoreSource(point, store, snap))
    by_path = {e.path: e for e in snap.entries}
    assert len(source.items) == FILES
    assert not any(e.identity for e in snap.entries)  # a restore compares none: let go
    assert all(i.sha256 == by_path[i.path].sha256 for i in source.items)
    # per file: the item (slots; the snapshot's hash bytes, not a hex string), the list's
    # slot, the index's dict built anew with the snapshot's ids: 168 bytes measured;
    # 300 with an item's dict and a hex hash each
    assert held / FILES < 200, held / FILES


def test_the_files_a_restore_wrote_are_one_int_each(tmp_path: Path):
    from therabak.datafolder.written_tree import WrittenFiles

    paths = [f"sessions/K{i % 500:04d}/S {i:05d}.json" for i in range(FILES)]
    written, held, _peak = _traced(lambda: _record_all(WrittenFiles(), paths))
    (tmp_path / "empty").mkdir()
    assert written.unexpected_entries(tmp_path / "empty") == sorted(paths)  # gone, all
    # per file: the dict's slot and one int of device, inode and size: 73 bytes measured;
    # 149 with a tuple of three ints
    assert held / FILES < 120, held / FILES


def _record_all(written, paths):
    """Each path recorded with a stat result of its own, made here as the restore's
    ``os.fstat`` makes one per file (device, inode, size as a real file system gives)."""
    for i, p in enumerate(paths):
        written.add(p, os.stat_result((0o100600, 40_000_000 + i, 66306, 1, 0, 0, 900 + i, 0, 0, 0)))
    return written


def test_a_single_file_backup_s_index_is_compressed_as_it_is_encoded():
    # 40,000 files: ~8 MB of index text; the joined entries, the document and its bytes
    # were three copies of it at the end of every single-file backup
    from therabak.archive.index import ArchiveIndex, IndexEntry

    index = ArchiveIndex(
        [
            IndexEntry(
                f"sessions/K{i % 500:04d}/Sitzung {i:05d}.json",
                "sessions",
                1000 + i,
                1_765_000_000_000_000_000 + i,
                os.urandom(32).hex(),
                4096 + 2000 * i,
                1100 + i,
                sealed=True,
            )
            for i in range(40_000)
        ]
    )
    packed, _held, peak = _traced(lambda: index.compressed(3))
    text_size = len(index.to_bytes())
    assert text_size > 6 << 20
    assert peak < 2 * len(packed) + (2 << 20), (peak, len(packed), text_size)
    assert not hasattr(index.entries[0], "__dict__")  # an entry per file: slots


def test_the_plan_lets_the_scan_s_entries_go_and_holds_no_pair_per_file():
    from therabak.jobs.store_plan import plan_reuse
    from therabak.practice.scan import FileEntry
    from therabak.store.index import BlobIndex

    parent = _entries(FILES)
    by_path = {e.path: e for e in parent}
    files = [FileEntry(e.path, e.category, e.size, e.mtime_ns) for e in parent]
    files[7] = FileEntry(files[7].path, "documents", files[7].size, files[7].mtime_ns)
    files[9] = FileEntry(files[9].path, "sessions", files[9].size + 1, files[9].mtime_ns)
    probe = files[3]
    plan, held, _peak = _traced(
        lambda: plan_reuse(
            files,
            None,
            BlobIndex(),
            unchanged=lambda f: by_path[f.path] if f.size == by_path[f.path].size else None,
            consume=True,
        )
    )
    assert files == [] and sys.getrefcount(probe) == 2  # the scan's entries let go
    pairs = dict((e.path, c) for e, c in plan.reused_pairs())
    assert len(pairs) == FILES - 1 and pairs[parent[7].path] == "documents"
    assert [f.path for f in plan.to_read] == [parent[9].path]
    assert sum(1 for r in plan.reused if r is by_path.get(getattr(r, "path", ""))) == FILES - 2
    assert plan.bytes_reused == sum(e.size for e in parent) - parent[9].size
    assert plan.bytes_total == sum(e.size for e in parent) + 1 and plan.files_total == FILES
    # per file: the list's slot (the parent's entry itself, no pair): 8 bytes measured;
    # 72 with a (scan entry, parent entry) pair each
    assert held / FILES < 20, held / FILES


def test_the_parent_s_missing_blobs_are_found_without_a_set_of_every_blob():
    from therabak.store.index import BlobIndex, PackRecord

    entries = _entries(40_000)
    entries[5] = SnapshotEntry(
        path="audio/long.wav",
        category="audio",
        size=3 << 20,
        mtime_ns=1,
        sha256=os.urandom(32).hex(),
        blobs=tuple(os.urandom(32) for _ in range(3)),
    )
    index = BlobIndex()
    held_ids = [e.refs for e in entries[10:]] + [entries[5].blobs[1]]
    index.add_pack("ab" * 32, PackRecord(0, b""), ids=held_ids)
    missing, _held, peak = _traced(lambda: index.missing_of(entries))
    expected = {e.refs for e in entries[:10] if e is not entries[5]}
    assert missing == expected | {entries[5].blobs[0], entries[5].blobs[2]}
    # a set of 11 ids, not one of 40,000 (2 MB) first
    assert peak < 64 << 10, peak


def _parent_store(tmp_path: Path, files: int):
    """A store with one snapshot of *files* small files, opened anew; its latest snapshot
    read as a backup's parent (with its body)."""
    root = tmp_path / "store"
    store = create_store(root)
    meta = SnapshotMeta(kind=SnapshotKind.MANUAL, categories=("sessions",))
    with store.begin_backup(None, meta) as w:
        for i in range(files):
            f = w.add_file(
                f"sessions/K{i % 500:04d}/S {i:05d}.json", "sessions", mtime_ns=i, identity=f"9:{i}"
            )
            f.write(i.to_bytes(4, "big"))
            f.finish()
        w.commit()
    store = open_store(root)
    return store, store.latest(keep_body=True), meta


def test_a_parent_s_duplicate_check_keeps_no_set_of_its_paths():
    # the paths of a body come in ascending order (every writer sorts them): a path
    # given twice is refused without a set of every path (40,000 paths: ~2.6 MB more at
    # the peak of the parse, the set's table and the strings' hashes)
    keys = StoreKeys(store_id=os.urandom(STORE_ID_SIZE), master=os.urandom(32))
    entries = sorted(_entries(40_000), key=lambda e: e.path)
    sid, data = _encode(keys, entries)
    data = bytes(data)
    snapshot, held, peak = _traced(lambda: parse_snapshot(keys, data, snapshot_name(sid)))
    assert snapshot.entries == entries
    assert peak - held < len(data) + (1 << 20), (peak - held, len(data))


def test_a_path_twice_is_refused_in_a_body_in_any_order():
    # without the set of every path while the paths ascend: a body in another order is
    # read as well, and a path given twice is refused wherever it comes
    import pytest

    from therabak.store.errors import DamagedStoreError

    keys = StoreKeys(store_id=os.urandom(STORE_ID_SIZE), master=os.urandom(32))
    entries = sorted(_entries(50), key=lambda e: e.path)
    shuffled = [*entries[10:], *entries[:10]]
    sid, data = _encode(keys, shuffled)
    assert parse_snapshot(keys, bytes(data), snapshot_name(sid)).entries == shuffled
    for twice in ([*entries, entries[3]], [*entries[:20], entries[30], *entries[20:]]):
        sid, data = _encode(keys, twice)
        with pytest.raises(DamagedStoreError, match="the same path twice"):
            parse_snapshot(keys, bytes(data), snapshot_name(sid))


def test_the_writer_s_dicts_of_files_go_before_the_snapshot_is_encoded(tmp_path: Path, monkeypatch):
    # the encoding of the new snapshot is the peak of the commit: the writer's dicts of
    # the files (the parent's by path, the new snapshot's; for 113,000 files 3.7 MB
    # each) are emptied before it, not held through it
    import therabak.store.backup as backup_module

    store, parent, meta = _parent_store(tmp_path, 2000)
    assert parent is not None and parent.body is not None
    w = store.begin_backup(parent, meta)
    w.reuse_all((e, e.category) for e in parent.entries[1:])
    f = w.add_file("sessions/new.json", "sessions", mtime_ns=1)
    f.write(b"{}")
    f.finish()
    seen: list[tuple[int, int, int]] = []
    real = backup_module.stream_snapshot

    def encode(keys, header, entries, *args, **kwargs):
        seen.append((len(w._entries), len(w._parent_entries), len(entries)))
        return real(keys, header, entries, *args, **kwargs)

    monkeypatch.setattr(backup_module, "stream_snapshot", encode)
    snapshot = w.commit()
    assert seen == [(0, 0, 2000)]
    assert snapshot.entries[:-1] == parent.entries[1:]  # sessions/K... before sessions/new
    assert store.load_snapshot(snapshot.snapshot_id).entries == snapshot.entries


def test_the_body_plan_walks_the_parent_without_a_dict_of_its_entries(tmp_path: Path):
    store, parent, _meta = _parent_store(tmp_path, 40_000)
    assert parent is not None and parent.body is not None
    own = parent.entries
    changed = [*own[:100], _copy_of(own[100]), *own[101:]]
    plan, _held, peak = _traced(lambda: parent.body.plan(changed))
    assert len(plan) == 3 and plan[1] is changed[100]
    # two spans and the entry (a dict of every entry's place: 4 MB)
    assert peak < 64 << 10, peak


def _copy_of(entry: SnapshotEntry) -> SnapshotEntry:
    return SnapshotEntry(
        path=entry.path,
        category=entry.category,
        size=entry.size,
        mtime_ns=entry.mtime_ns,
        sha256=entry.digest,
        blobs=entry.refs,
        identity=entry.identity,
        source_size=entry.source_size,
    )


def test_a_folder_backup_s_manifest_is_encoded_in_batches(tmp_path: Path):
    # 20,000 files: ~2.6 MB of manifest; the list of lines, the joined text, the text
    # with its last newline and its bytes were four copies of it at the end of a backup
    from therabak.datafolder.manifest import (
        MANIFEST_NAME,
        ManifestFile,
        folder_manifest,
        iter_manifest_files,
    )

    files = [
        ManifestFile(
            f"sessions/K{i % 500:04d}/Sitzung {i:05d}.json",
            1000 + i,
            1_765_000_000_000_000_000 + i,
            os.urandom(32).hex(),
        )
        for i in range(20_000)
    ]
    assert not hasattr(files[0], "__dict__")  # one per file copied: slots
    created = datetime(2026, 12, 7, 17, 0, tzinfo=UTC)
    manifest, _held, peak = _traced(
        lambda: folder_manifest(
            created=created, account_key_id="", data_dir=Path("/d"), files=files
        )
    )
    (tmp_path / MANIFEST_NAME).write_bytes(manifest)
    assert list(iter_manifest_files(tmp_path)) == files
    assert manifest.count(b"\n") == 20_001 and manifest.endswith(b"\n")
    assert peak < 1.2 * len(manifest) + (512 << 10), (peak, len(manifest))


def test_a_folder_backup_lets_the_scan_s_entries_go_before_it_copies(tmp_path: Path, monkeypatch):
    import therabak.jobs.folder as folder
    from therabak.practice.categories import Rules

    data = tmp_path / "Data"
    (data / "sessions").mkdir(parents=True)
    for i in range(50):
        (data / "sessions" / f"S{i:02d}.json").write_bytes(b"%d" % i)
    probes = []
    real_scan, real_copy = folder.scan, folder.copy_files

    def scan(*args, **kwargs):
        result = real_scan(*args, **kwargs)
        probes.append(result.files[7])
        return result

    refcounts = []

    def copy_files(*args, **kwargs):
        refcounts.append(sys.getrefcount(probes[0]))
        return real_copy(*args, **kwargs)

    monkeypatch.setattr(folder, "scan", scan)
    monkeypatch.setattr(folder, "copy_files", copy_files)
    result = folder.run_folder_backup(
        folder.FolderBackupRequest(
            data_dir=data, dest_dir=tmp_path / "usb", account_key_id="", rules=Rules.load()
        )
    )
    assert result.files == 50 and result.exit_code == 0
    assert refcounts == [2]  # only this test's (and getrefcount's): the lists let it go


def test_the_commit_writes_the_snapshot_as_it_is_made(tmp_path: Path):
    # into a local store the snapshot is written as it is encoded, never whole in
    # memory, and the parent's body is copied in pieces of 256 KiB: what the commit of a
    # second backup of 40,000 files adds at its peak is 1.5 MB measured, not the
    # snapshot's ~2.9 MB and 1 MiB pieces (5.8 MB with both)
    store, parent, meta = _parent_store(tmp_path, 40_000)
    assert parent is not None and parent.body is not None
    w = store.begin_backup(parent, meta)
    w.reuse_all((e, e.category) for e in parent.entries)
    snapshot, _held, peak = _traced(w.commit)
    size = store.storage.size(snapshot_name(snapshot.snapshot_id))
    assert size > 2 << 20
    assert open_store(tmp_path / "store").load_snapshot(snapshot.snapshot_id).entries == (
        parent.entries
    )
    assert peak < 0.7 * size, (peak, size)
