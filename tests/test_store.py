"""The backup store through its library API: backups that write only what is new, files
not read again, interrupted backups adopted, forget and prune, check, salvage, the
password, locks, errors. Real files, real crypto (tests/store_support.py drives backups
the way the backup job will)."""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

from conftest import Practice
from store_support import (
    PASSWORD,
    AccountOnly,
    CheapPassword,
    backup_data,
    create_store,
    object_path,
    objects,
    open_store,
    plaintext_tree,
    salvage_tree,
    snapshot_tree,
)
from therabak.errors import ExitCode, OtherAccountError, WrongPasswordError
from therabak.practice.account import AccountKey
from therabak.practice.categories import BackupKind
from therabak.practice.envelope import open_bytes, seal_bytes
from therabak.retention import RetentionPolicy
from therabak.storage.local import LocalStorage
from therabak.store.backup import SnapshotMeta
from therabak.store.check import check
from therabak.store.core import Store
from therabak.store.errors import (
    DamagedFileError,
    DamagedStoreError,
    NotAStoreError,
    StoreError,
    StoreFullError,
    StoreLockedError,
)
from therabak.store.keyfile import Unlock
from therabak.store.problems import Severity
from therabak.store.prune import forget, freed_by_forgetting, plan_forget, prune
from therabak.store.snapshot import SnapshotKind

SMALL = dict(chunk_size=64 << 10, pack_size=1 << 20)  # many chunks and packs from little data


def meta(**kw) -> SnapshotMeta:
    return SnapshotMeta(kind=SnapshotKind.MANUAL, categories=("other",), **kw)


def test_first_backup_reads_back_byte_exact(practice: Practice, tmp_path: Path):
    store = create_store(tmp_path / "store")
    out = backup_data(store, practice.data_dir, practice.key)
    assert out.reused == [] and len(out.read) == len(out.snapshot.entries) > 40
    assert snapshot_tree(store, out.snapshot) == plaintext_tree(practice.data_dir, practice.key)
    again = open_store(tmp_path / "store")
    [info] = again.snapshots()
    assert info.snapshot_id == out.snapshot.snapshot_id
    assert info.header.size == sum(e.size for e in out.snapshot.entries)
    assert snapshot_tree(again, info.snapshot_id) == snapshot_tree(store, out.snapshot)


def test_second_backup_reads_nothing_and_writes_no_content(practice: Practice, tmp_path: Path):
    store = create_store(tmp_path / "store")
    first = backup_data(store, practice.data_dir, practice.key)
    packs = objects(tmp_path / "store", "packs/")
    second = backup_data(store, practice.data_dir, practice.key)
    assert second.read == [] and len(second.reused) == len(first.read)
    assert second.writer.stats.bytes_read == 0 and second.writer.stats.packs == 0
    assert objects(tmp_path / "store", "packs/") == packs
    assert snapshot_tree(store, second.snapshot) == snapshot_tree(store, first.snapshot)


def test_an_unchanged_file_is_not_read_at_all(practice: Practice, tmp_path: Path, monkeypatch):
    """Unreadable now (access denied), but unchanged since the parent: taken as it was."""
    from therabak import faults

    store = create_store(tmp_path / "store")
    backup_data(store, practice.data_dir, practice.key)
    victim = sorted(practice.data_dir.glob("sessions/*/*"))[0]
    monkeypatch.setenv("THERABAK_FAILPOINTS", f"denied={victim.name}")
    faults.reload()
    try:
        with pytest.raises(PermissionError):  # the failpoint works: a read would fail
            backup_data(store, practice.data_dir, practice.key, reread=True)
        second = backup_data(store, practice.data_dir, practice.key)
    finally:
        monkeypatch.delenv("THERABAK_FAILPOINTS")
        faults.reload()
    assert victim.relative_to(practice.data_dir).as_posix() in second.reused


def test_changed_files_are_read_again_and_only_new_content_written(
    practice: Practice, tmp_path: Path
):
    store = create_store(tmp_path / "store")
    backup_data(store, practice.data_dir, practice.key)
    key = practice.key
    note = sorted(practice.data_dir.glob("sessions/*/*.json"))[0]
    note.write_bytes(seal_bytes(key, open_bytes(key, note.read_bytes()) + b" "))
    copy = practice.data_dir / "documents" / "copy-of-audio.opus"
    audio = sorted(practice.data_dir.glob("audio/*/*"))[0]
    shutil.copy(audio, copy)  # same content, another file: nothing new to store
    out = backup_data(store, practice.data_dir, practice.key)
    rel = lambda p: p.relative_to(practice.data_dir).as_posix()  # noqa: E731
    assert sorted(out.read) == sorted([rel(note), rel(copy)])
    assert out.writer.stats.bytes_new == out.writer.stats.bytes_read - copy_size(key, copy)
    assert snapshot_tree(store, out.snapshot) == plaintext_tree(practice.data_dir, key)


def copy_size(key: AccountKey, path: Path) -> int:
    return len(open_bytes(key, path.read_bytes()))


def test_reread_reads_everything_but_stores_nothing_new(practice: Practice, tmp_path: Path):
    store = create_store(tmp_path / "store")
    backup_data(store, practice.data_dir, practice.key)
    out = backup_data(store, practice.data_dir, practice.key, reread=True)
    assert out.reused == [] and out.writer.stats.bytes_new == 0


def test_failed_attempt_never_reaches_the_snapshot(tmp_path: Path):
    store = create_store(tmp_path / "store", **SMALL)
    with store.begin_backup(None, meta()) as w:
        f = w.add_file("a.txt", "other", mtime_ns=1)
        f.write(b"half of a torn read")
        f.abort()
        f = w.add_file("a.txt", "other", mtime_ns=1)
        f.write(b"the whole file")
        f.finish()
        snap = w.commit()
    [entry] = snap.entries
    assert store.read_file(entry) == b"the whole file"


def test_an_aborted_attempt_has_no_chunk_still_being_packed(tmp_path: Path, monkeypatch):
    """A file's later chunks are identified and packed on the backup's chunk thread: when
    an attempt is aborted, nothing of it is still being packed afterwards."""
    import therabak.store.backup as backup_module

    real = backup_module.blob_id_of

    def slow(keys, chunk):
        time.sleep(0.05)  # the chunk thread lags behind the reader
        return real(keys, chunk)

    monkeypatch.setattr(backup_module, "blob_id_of", slow)
    store = create_store(tmp_path / "store", **SMALL)
    with store.begin_backup(None, meta()) as w:
        f = w.add_file("torn.bin", "other", mtime_ns=1)
        f.write(os.urandom(6 * (64 << 10)))  # the first chunk here, five on the chunk thread
        f.abort()
        packed = w.stats.blobs_new
        time.sleep(0.4)
        assert w.stats.blobs_new == packed == 6
        f = w.add_file("whole.bin", "other", mtime_ns=1)
        data = os.urandom(5 * (64 << 10) + 7)
        f.write(data)
        f.finish()
        snap = w.commit()
    [entry] = snap.entries
    assert len(entry.blobs) == 6 and store.read_file(entry) == data


def test_abort_leaves_no_snapshot_and_the_next_backup_adopts_the_packs(tmp_path: Path):
    root = tmp_path / "store"
    store = create_store(root, **SMALL)
    data = os.urandom(3 << 20)  # three packs of 1 MiB are put before the abort
    w = store.begin_backup(None, meta())
    f = w.add_file("big.bin", "other", mtime_ns=1)
    f.write(data)
    w.abort()
    assert objects(root, "snapshots/") == [] and objects(root, "index/") == []
    left = objects(root, "packs/")
    assert len(left) >= 2
    assert check(open_store(root)).exit_code == 0  # notes only: leftovers
    store = open_store(root)
    with store.begin_backup(None, meta()) as w:
        f = w.add_file("big.bin", "other", mtime_ns=1)
        f.write(data)
        f.finish()
        snap = w.commit()
    assert w.stats.bytes_new < len(data) // 2  # what the first run packed was adopted
    assert set(left) <= set(objects(root, "packs/"))
    assert store.read_file(snap.entries[0]) == data
    result = check(open_store(root), read_data=1.0)
    assert [p for p in result.problems if p.severity is not Severity.NOTE] == []
    assert not any("no index names" in p.message for p in result.problems)  # indexed now


def test_a_large_file_streams_with_bounded_memory(tmp_path: Path):
    store = create_store(tmp_path / "store")  # 1 MiB chunks, 16 MiB packs
    block = os.urandom(1 << 20)
    total = 96
    tracemalloc.start()
    try:
        with store.begin_backup(None, meta()) as w:
            f = w.add_file("audio/long.opus", "audio", mtime_ns=1)
            for i in range(total):
                f.write(block[i:] + block[:i])
            f.finish()
            snap = w.commit()
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 48 << 20, peak  # two packs and a few chunks, not the 96 MiB file
    [entry] = snap.entries
    assert entry.size == total << 20 and len(entry.blobs) == total
    tracemalloc.start()
    try:
        size = sum(len(c) for c in store.open_file(entry))
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size == total << 20 and peak < 8 << 20


def test_files_from_several_threads(tmp_path: Path):
    store = create_store(tmp_path / "store", **SMALL)
    contents = {f"f{i}.bin": os.urandom(150_000) + b"shared tail" * 20_000 for i in range(12)}
    with store.begin_backup(None, meta()) as w:

        def one(name: str) -> None:
            f = w.add_file(name, "other", mtime_ns=1)
            data = contents[name]
            for i in range(0, len(data), 70_000):
                f.write(data[i : i + 70_000])
            f.finish()

        threads = [threading.Thread(target=one, args=(n,)) for n in contents]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        snap = w.commit()
    got = {e.path: store.read_file(e) for e in snap.entries}
    assert got == contents
    assert check(open_store(tmp_path / "store"), read_data=1.0).exit_code == 0


def test_names_that_are_not_unicode_round_trip(tmp_path: Path):
    name = "other/Notiz-\udcfc-\udce4.txt"  # the bytes 0xFC 0xE4 of a Latin-1 name
    store = create_store(tmp_path / "store")
    with store.begin_backup(None, meta()) as w:
        f = w.add_file(name, "other", mtime_ns=1)
        f.write(b"x")
        f.finish()
        snap = w.commit()
    [entry] = open_store(tmp_path / "store").load_snapshot(snap.snapshot_id).entries
    assert entry.path == name
    assert entry.path.encode("utf-8", "surrogateescape") == b"other/Notiz-\xfc-\xe4.txt"


def test_a_path_a_reader_would_refuse_is_refused_when_written(tmp_path: Path):
    store = create_store(tmp_path / "store")
    with store.begin_backup(None, meta()) as w, pytest.raises(StoreError):
        w.add_file("../outside", "other", mtime_ns=1)


# ---- forget and prune ---------------------------------------------------------------------------


def three_backups(practice: Practice, root: Path, **kw):
    store = create_store(root, **kw)
    outs = [backup_data(store, practice.data_dir, practice.key)]
    key = practice.key
    for i in range(2):
        audio = practice.data_dir / "audio" / f"new-{i}.opus"
        audio.parent.mkdir(exist_ok=True)
        audio.write_bytes(seal_bytes(key, os.urandom(700_000)))
        gone = sorted(practice.data_dir.glob("audio/*/*.opus"))[0]
        gone.unlink()
        outs.append(backup_data(store, practice.data_dir, key))
    return store, outs


def test_forget_by_id_and_prune_frees_space_keeps_the_rest(practice: Practice, tmp_path: Path):
    root = tmp_path / "store"
    store, outs = three_backups(practice, root, **SMALL)
    kept = {o.snapshot.snapshot_id: snapshot_tree(store, o.snapshot) for o in outs[1:]}
    estimate = freed_by_forgetting(store, [outs[0].snapshot.snapshot_id])
    before = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    plan = plan_forget(store, ids=[outs[0].snapshot.snapshot_id[:10]])
    assert [i.snapshot_id for i in plan.forget] == [outs[0].snapshot.snapshot_id]
    forget(store, plan)
    result = prune(store)
    after = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    assert result.plan.bytes_freed == estimate > 500_000
    assert before - after >= estimate - 100_000  # new packs and the index cost a little
    store = open_store(root)
    assert {s.snapshot_id for s in store.snapshots()} == set(kept)
    for sid, tree in kept.items():
        assert snapshot_tree(store, sid) == tree
    assert check(store, read_data=1.0).exit_code == 0


def test_prune_repacks_partly_used_packs(practice: Practice, tmp_path: Path):
    root = tmp_path / "store"
    store = create_store(root, **SMALL)
    with store.begin_backup(None, meta()) as w:  # one pack: 10 files of 90 KiB
        for i in range(10):
            f = w.add_file(f"f{i}", "other", mtime_ns=1)
            f.write(os.urandom(90 << 10))
            f.finish()
        first = w.commit()
    with store.begin_backup(first, meta()) as w:  # keeps 3 of them
        for e in first.entries[:3]:
            w.reuse(e)
        second = w.commit()
    forget(store, plan_forget(store, ids=[first.snapshot_id]))
    result = prune(store)
    assert result.plan.repack and result.new_packs
    assert snapshot_tree(store, second.snapshot_id) == {e.path: e.sha256 for e in second.entries}
    assert check(open_store(root), read_data=1.0).exit_code == 0


def test_forget_by_policy_keeps_the_newest_of_each_kind(practice: Practice, tmp_path: Path):
    from datetime import datetime, timedelta

    store = create_store(tmp_path / "store")
    start = datetime(2026, 1, 1, 12).astimezone()
    for day in range(6):
        backup_data(store, practice.data_dir, practice.key, created=start + timedelta(days=day))
    backup_data(
        store,
        practice.data_dir,
        practice.key,
        kind=BackupKind.AUTOMATIC,
        created=start - timedelta(days=30),
    )
    plan = plan_forget(store, policy=RetentionPolicy(last=2))
    kept_times = sorted(i.created for i in plan.keep)
    assert kept_times == [
        start - timedelta(days=30),
        start + timedelta(days=4),
        start + timedelta(days=5),
    ]
    assert len(plan.forget) == 4


def test_prune_refuses_while_a_snapshot_is_damaged(practice: Practice, tmp_path: Path):
    root = tmp_path / "store"
    store, outs = three_backups(practice, root)
    victim = object_path(root, outs[1].snapshot.name)
    victim.write_bytes(victim.read_bytes()[:-10])
    packs = objects(root, "packs/")
    with pytest.raises(DamagedStoreError, match="prune would not know"):
        prune(open_store(root))
    assert objects(root, "packs/") == packs


def test_prune_removes_superseded_key_files(tmp_path: Path):
    root = tmp_path / "store"
    store = create_store(root)
    old = store.keyfile
    store.change_password("neu")
    object_path(root, old.name).write_bytes(old.to_bytes(store.keys))  # replayed
    reopened = open_store(root, "neu")
    assert any(p.name == old.name for p in reopened.problems)
    assert check(reopened).exit_code == 3
    prune(reopened)
    assert objects(root, "keys/") == [reopened.keyfile.name]
    with pytest.raises(WrongPasswordError):
        open_store(root)


# ---- the password, unlocking, errors ------------------------------------------------------------


def test_change_password_keeps_other_slots(tmp_path: Path):
    account = AccountKey.generate()
    root = tmp_path / "store"
    Store.create(LocalStorage(root), CheapPassword(PASSWORD, account))
    store = Store.open(LocalStorage(root), Unlock(password=PASSWORD))
    store.change_password("ein neues Passwort")
    assert (
        Store.open(LocalStorage(root), Unlock(password="ein neues Passwort")).keys.master
        == store.keys.master
    )
    assert Store.open(LocalStorage(root), Unlock(account=account)).keys.master == store.keys.master
    with pytest.raises(WrongPasswordError):
        Store.open(LocalStorage(root), Unlock(password=PASSWORD))
    assert len(objects(root, "keys/")) == 1


def test_account_key_store(tmp_path: Path):
    account = AccountKey.generate()
    root = tmp_path / "store"
    Store.create(LocalStorage(root), AccountOnly(account))
    Store.open(LocalStorage(root), Unlock(account=account))
    with pytest.raises(OtherAccountError) as e:
        Store.open(LocalStorage(root), Unlock(account=AccountKey.generate()))
    assert e.value.exit_code == ExitCode.CANNOT_UNLOCK


def test_not_a_store_and_damaged_config(tmp_path: Path):
    with pytest.raises(NotAStoreError):
        open_store(tmp_path / "nothing")
    root = tmp_path / "store"
    create_store(root)
    (root / "config").write_bytes(b"x" * 107)
    with pytest.raises(DamagedStoreError) as e:
        open_store(root)
    assert e.value.exit_code == ExitCode.DAMAGED


def test_create_refuses_over_a_store_and_over_a_store_without_config(practice, tmp_path: Path):
    root = tmp_path / "store"
    store = create_store(root)
    backup_data(store, practice.data_dir, practice.key)
    with pytest.raises(StoreError, match="already"):
        create_store(root)
    (root / "config").unlink()
    with pytest.raises(DamagedStoreError, match="without its config"):
        create_store(root)


def test_create_removes_what_an_interrupted_create_left(tmp_path: Path):
    root = tmp_path / "store"
    create_store(root)
    (root / "config").unlink()  # as if killed between the key file and the config
    store = create_store(root)
    assert objects(root) == sorted(["config", store.keyfile.name])


def test_full_disk_is_exit_6_and_commits_nothing(tmp_path: Path, monkeypatch):
    from therabak import faults

    root = tmp_path / "store"
    store = create_store(root, **SMALL)
    monkeypatch.setenv("THERABAK_FAILPOINTS", "enospc-after=1500000")
    faults.reload()
    try:
        with pytest.raises(StoreFullError) as e, store.begin_backup(None, meta()) as w:
            f = w.add_file("big", "other", mtime_ns=1)
            f.write(os.urandom(4 << 20))
            f.finish()
            w.commit()
    finally:
        monkeypatch.delenv("THERABAK_FAILPOINTS")
        faults.reload()
    assert e.value.exit_code == ExitCode.NO_SPACE
    assert objects(root, "snapshots/") == [] and objects(root, "locks/") == []


# ---- locks --------------------------------------------------------------------------------------


def test_an_exclusive_lock_blocks_a_backup_and_a_backup_blocks_prune(tmp_path: Path):
    store = create_store(tmp_path / "store")
    with store.lock(exclusive=True, what="prune"), pytest.raises(StoreLockedError) as e:
        store.begin_backup(None, meta())
    assert e.value.exit_code == ExitCode.IN_USE and "prune" in str(e.value)
    w = store.begin_backup(None, meta())
    try:
        with pytest.raises(StoreLockedError):
            prune(open_store(tmp_path / "store"))
        check(open_store(tmp_path / "store"))  # shared with shared: fine
    finally:
        w.abort()
    assert objects(tmp_path / "store", "locks/") == []


def test_a_lock_of_a_dead_process_is_stale_and_ignored(tmp_path: Path):
    import subprocess
    import sys

    from therabak.store.locks import StoreLock, break_locks, read_locks

    root = tmp_path / "store"
    store = create_store(root)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    lock = StoreLock(store.storage, store.keys, exclusive=True, what="prune")
    lock._info = type(lock._info)(
        **{**lock._info.__dict__, "pid": int(dead.stdout), "identity": ""}
    )
    lock.storage.put_bytes(
        lock.name,
        __import__("therabak.store.locks", fromlist=["x"]).encode_lock(store.keys, lock._info),
    )
    backup = store.begin_backup(None, meta())  # not blocked
    backup.abort()
    locks, _bad = read_locks(store.storage, store.keys)
    assert [lk.stale() for lk in locks] == [True]
    assert any(p.name == lock.name for p in check(store).problems)
    assert break_locks(store.storage, store.keys) == [lock.name]


# ---- check and salvage --------------------------------------------------------------------------


def test_a_damaged_pack_names_the_files_and_snapshots_and_the_rest_salvages(
    practice: Practice, tmp_path: Path
):
    root = tmp_path / "store"
    store, outs = three_backups(practice, root, **SMALL)
    audio = next(e for e in outs[2].snapshot.entries if e.path.startswith("audio/new-1"))
    loc = store.index().locate(audio.blobs[0])[0]
    path = object_path(root, f"packs/{loc.pack_id[:2]}/{loc.pack_id}")
    data = bytearray(path.read_bytes())
    data[loc.blob.offset + 40] ^= 1
    path.write_bytes(bytes(data))
    store = open_store(root)
    assert check(store).exit_code == 0  # structure alone cannot see it
    result = check(store, read_data=1.0)
    assert result.exit_code == 5
    hit = {(a.snapshot_id, a.path) for a in result.affected}
    assert (outs[2].snapshot.snapshot_id, audio.path) in hit
    same_pack = {
        e.path
        for e in outs[2].snapshot.entries
        if any(loc.pack_id in {x.pack_id for x in store.index().locate(b)} for b in e.blobs)
    }
    intact, damaged = salvage_tree(store, outs[2].snapshot)
    assert audio.path in damaged and set(damaged) <= same_pack
    assert len(intact) == len(outs[2].snapshot.entries) - len(damaged)
    with pytest.raises(DamagedFileError) as e:
        store.read_file(audio)
    assert audio.path in str(e.value)


class _SnapshotWatch(LocalStorage):
    """A local folder that notes how much memory is traced when the snapshot is put (or,
    written as it was encoded, published under its name)."""

    traced_at_snapshot: int | None = None

    def _put(self, name, source, size, *, durable):
        if name.startswith("snapshots/"):
            self.traced_at_snapshot = tracemalloc.get_traced_memory()[0]
        super()._put(name, source, size, durable=durable)

    def _deferred(self, final):
        if final.parent.name == "snapshots":
            self.traced_at_snapshot = tracemalloc.get_traced_memory()[0]
        super()._deferred(final)


def test_no_pack_buffer_is_alive_when_the_snapshot_is_encoded(tmp_path: Path):
    """Issue 17 (peak RSS < 150 MB): the commit, when the most else is alive (every
    entry, the index, the snapshot's encoding), holds none of the pack-sized buffers
    (16 MiB each) the packs were built in; they went once the last pack was put."""
    storage = _SnapshotWatch(tmp_path / "store")
    store = Store.create(storage, CheapPassword(PASSWORD))  # 1 MiB chunks, 16 MiB packs
    block = os.urandom(1 << 20)
    tracemalloc.start()
    try:
        with store.begin_backup(None, meta()) as w:
            f = w.add_file("audio/long.opus", "audio", mtime_ns=1)
            for i in range(40):  # two full packs and a third one begun
                f.write(block[i:] + block[:i])
            f.finish()
            w.commit()
    finally:
        tracemalloc.stop()
    assert w.stats.packs == 3
    assert storage.traced_at_snapshot is not None
    assert storage.traced_at_snapshot < 8 << 20, storage.traced_at_snapshot


class _SlowPacks(LocalStorage):
    """A folder whose pack puts take a while (a slow stick); notes the buffers (the
    objects, by identity) the packs were built in. Packs are built in memory and put
    whole, as into a remote storage (no ``open_deferred``)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.buffers: list[object] = []

    def open_deferred(self):
        return None

    def _put(self, name, source, size, *, durable):
        if name.startswith("packs/"):
            buffer = source._view.obj
            if not any(b is buffer for b in self.buffers):
                self.buffers.append(buffer)
            time.sleep(0.03)
        super()._put(name, source, size, durable=durable)


def test_packs_are_filled_in_at_most_one_buffer_more_than_puts_in_flight(tmp_path: Path):
    """Peak memory: two threads fill packs (a file's first chunk on the caller's, later
    ones on the chunk thread). While one pack is put and the next waits for it, the other
    thread waits for a buffer too, instead of making a third (16 MiB each by default)."""
    storage = _SlowPacks(tmp_path / "store")
    store = Store.create(storage, CheapPassword(PASSWORD), chunk_size=64 << 10, pack_size=1 << 20)
    written: dict[str, bytes] = {}
    with store.begin_backup(None, meta()) as w:
        big = w.add_file("audio/long.opus", "audio", mtime_ns=1)
        long = []
        for i in range(160):
            piece = os.urandom(64 << 10)
            big.write(piece)  # identified and packed on the chunk thread
            long.append(piece)
            note = os.urandom(60 << 10)
            f = w.add_file(f"sessions/n{i}.json", "sessions", mtime_ns=1)
            f.write(note)  # packed on this thread
            f.finish()
            written[f"sessions/n{i}.json"] = note
        big.finish()
        written["audio/long.opus"] = b"".join(long)
        snapshot = w.commit()
    assert w.stats.packs >= 15
    assert 1 <= len(storage.buffers) <= storage.puts_in_flight + 1, len(storage.buffers)
    reopened = open_store(tmp_path / "store")
    for path, data in written.items():
        entry = next(e for e in snapshot.entries if e.path == path)
        assert b"".join(reopened.open_file(entry)) == data


def test_a_backup_made_in_its_parents_second_is_newer_than_it(practice: Practice, tmp_path: Path):
    """Times are whole seconds: two backups in one second (quick ones, off-site too) would
    tie, and "latest", the next parent and retention would pick either. A snapshot is made
    one second after its parent when the clock says no later, so the one made last is the
    newest, in the listing and as @latest."""
    from datetime import datetime, timedelta

    from therabak.points.stores import StoreRef, list_store, resolve

    store = create_store(tmp_path / "store")
    now = datetime(2026, 12, 7, 14, 0, 0).astimezone()
    made = []
    for _ in range(4):  # one clock second for all, then a clock set back an hour
        made.append(backup_data(store, practice.data_dir, practice.key, created=now).snapshot)
    made.append(
        backup_data(
            store, practice.data_dir, practice.key, created=now - timedelta(hours=1)
        ).snapshot
    )
    assert [s.created for s in made] == [now + timedelta(seconds=i) for i in range(5)]
    listed = [s.snapshot_id for s in open_store(tmp_path / "store").snapshots()]
    assert listed == [s.snapshot_id for s in made]
    assert open_store(tmp_path / "store").latest().snapshot_id == made[-1].snapshot_id
    ref = StoreRef(str(tmp_path / "store"), "latest")
    assert resolve(ref, list_store(tmp_path / "store")) == made[-1].snapshot_id


def test_a_local_put_of_bytes_writes_them_without_a_copy(tmp_path: Path):
    """Peak memory at the commit: a snapshot's bytes (~10 MB for 100,000 files) are
    written from where they are, not copied first (``io.BytesIO`` copies bytes it shares
    once its buffer is asked for)."""
    storage = LocalStorage(tmp_path / "store")
    data = os.urandom(8 << 20)
    name = f"snapshots/{hashlib.sha256(data).hexdigest()}"
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        storage.put_bytes(name, data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak - before < 1 << 20, peak - before
    assert storage.get(name) == data
