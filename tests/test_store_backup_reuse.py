"""A second store backup's fixed cost (issue 16, "second backup, nothing changed"): the
parent's blobs are checked against the index once as a set, not per file and call, and
the scan of Data runs behind the key's derivation and the reading of the parent, with
the same errors, in the same order, and cancel still ends it. Real files, real crypto."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

import therabak.jobs.backup_scan as backup_scan
import therabak.jobs.store_open as store_open
from conftest import Practice
from store_support import (
    PASSWORD,
    backup_data,
    create_store,
    manual_store_request,
    object_path,
    open_store,
    plaintext_tree,
    snapshot_tree,
)
from therabak.errors import Cancelled, DataFolderError, WrongPasswordError
from therabak.jobkit.cancel import CancelToken
from therabak.jobs.store_backup import run_store_backup
from therabak.store.backup import SnapshotMeta
from therabak.store.errors import DamagedStoreError
from therabak.store.pack import pack_name
from therabak.store.snapshot import SnapshotKind


def _scan_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "backup-scan"]


def test_a_file_whose_content_left_the_store_is_read_again_the_rest_reused(
    practice: Practice, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    store = create_store(root)
    backup_data(store, practice.data_dir, practice.key)
    extra = practice.data_dir / "documents" / "only-in-the-second.bin"
    extra.parent.mkdir(exist_ok=True)
    extra.write_bytes(os.urandom(200_000))
    second = backup_data(store, practice.data_dir, practice.key)
    rel = "documents/only-in-the-second.bin"
    assert second.read == [rel] and len(second.writer.new_packs) == 1
    # the pack that holds the new file's content is lost
    object_path(root, pack_name(second.writer.new_packs[0])).unlink()

    reopened = open_store(root)
    third = backup_data(reopened, practice.data_dir, practice.key)
    assert third.read == [rel]  # read again: its content is not in the store any more
    assert sorted(third.reused) == sorted(second.reused)  # the others are taken over
    assert snapshot_tree(reopened, third.snapshot) == plaintext_tree(
        practice.data_dir, practice.key
    )


def test_the_writer_refuses_to_reuse_what_the_index_lacks_until_it_is_written_again(
    practice: Practice, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    store = create_store(root)
    backup_data(store, practice.data_dir, practice.key)
    extra = practice.data_dir / "documents" / "lost.bin"
    extra.parent.mkdir(exist_ok=True)
    content = os.urandom(150_000)
    extra.write_bytes(content)
    second = backup_data(store, practice.data_dir, practice.key)
    object_path(root, pack_name(second.writer.new_packs[0])).unlink()

    reopened = open_store(root)
    parent = reopened.latest()
    assert parent is not None
    entries = {e.path: e for e in parent.entries}
    lost, kept = (
        entries["documents/lost.bin"],
        next(e for e in parent.entries if e is not entries["documents/lost.bin"]),
    )
    meta = SnapshotMeta(kind=SnapshotKind.MANUAL, categories=("other",))
    with reopened.begin_backup(parent, meta) as writer:
        same = lambda e: writer.unchanged(e.path, e.source_size, e.mtime_ns, e.identity)  # noqa: E731
        assert same(kept) is kept
        assert same(lost) is None
        with pytest.raises(DamagedStoreError):
            writer.reuse(lost)
        # the same content read again under another name: now the store holds it
        f = writer.add_file("documents/again.bin", "other", mtime_ns=1)
        f.write(content)
        f.finish(source_size=len(content))
        assert same(lost) is lost
        writer.reuse(lost)
        writer.reuse(kept)
        snapshot = writer.commit()
    assert reopened.read_file(next(e for e in snapshot.entries if e.path == lost.path)) == content


def _request(practice: Practice, dest: Path, password: str = PASSWORD, data_dir=None):
    return manual_store_request(data_dir or practice.data_dir, practice.key, dest, password)


def test_the_scan_runs_while_the_store_is_opened(
    practice: Practice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "dest"
    run_store_backup(_request(practice, dest))  # the store exists, with a parent
    seen: dict[str, object] = {}
    real_scan, real_open = backup_scan.scan, store_open.Store.open
    scanning, opening_ = threading.Event(), threading.Event()

    # each waits for the other to have begun: one after the other, one of them would not
    def scan(*a, **kw):
        scanning.set()
        seen["scan thread"] = threading.current_thread().name
        seen["opening while scanning"] = opening_.wait(10)
        return real_scan(*a, **kw)

    def opening(*a, **kw):
        opening_.set()
        seen["scanning while opening"] = scanning.wait(10)
        return real_open(*a, **kw)

    monkeypatch.setattr(backup_scan, "scan", scan)
    monkeypatch.setattr(store_open.Store, "open", opening)
    result = run_store_backup(_request(practice, dest))
    assert seen == {
        "scan thread": "backup-scan",
        "opening while scanning": True,
        "scanning while opening": True,
    }
    assert result.files_reused == result.files and result.files_read == 0
    assert _scan_threads() == []


def test_a_wrong_password_comes_before_a_missing_data_folder_and_no_scan_outlives_it(
    practice: Practice, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    run_store_backup(_request(practice, dest))
    gone = tmp_path / "not-there" / "Data"
    gone.parent.mkdir()
    with pytest.raises(WrongPasswordError):
        run_store_backup(_request(practice, dest, "not the password", data_dir=gone))
    assert _scan_threads() == []
    with pytest.raises(DataFolderError):  # the scan's error, raised on the job's thread
        run_store_backup(_request(practice, dest, data_dir=gone))
    assert _scan_threads() == []


def test_a_cancel_while_the_store_opens_ends_the_backup_without_a_snapshot(
    practice: Practice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "dest"
    run_store_backup(_request(practice, dest))
    before = sorted((dest / "TheraPsy-Backups" / "snapshots").iterdir())
    token = CancelToken()
    real_open = store_open.Store.open

    def opening(*a, **kw):
        token.cancel()
        time.sleep(0.05)
        return real_open(*a, **kw)

    monkeypatch.setattr(store_open.Store, "open", opening)
    with pytest.raises(Cancelled):
        run_store_backup(_request(practice, dest), cancel=token)
    assert sorted((dest / "TheraPsy-Backups" / "snapshots").iterdir()) == before
    assert _scan_threads() == []


def _lost_file_store(practice: Practice, tmp_path: Path) -> Path:
    """A store of two backups whose second added documents/lost.bin, and that file's
    pack deleted since: its content is no longer in the store."""
    root = tmp_path / "store"
    store = create_store(root)
    backup_data(store, practice.data_dir, practice.key)
    extra = practice.data_dir / "documents" / "lost.bin"
    extra.parent.mkdir(exist_ok=True)
    extra.write_bytes(os.urandom(150_000))
    second = backup_data(store, practice.data_dir, practice.key)
    object_path(root, pack_name(second.writer.new_packs[0])).unlink()
    return root


def test_reuse_all_takes_every_entry_or_none(practice: Practice, tmp_path: Path) -> None:
    root = _lost_file_store(practice, tmp_path)

    reopened = open_store(root)
    parent = reopened.latest()
    assert parent is not None
    lost = next(e for e in parent.entries if e.path == "documents/lost.bin")
    kept = [e for e in parent.entries if e is not lost]
    meta = SnapshotMeta(kind=SnapshotKind.MANUAL, categories=("other",))
    with reopened.begin_backup(parent, meta) as writer:
        with pytest.raises(DamagedStoreError, match="lost.bin"):
            writer.reuse_all([*((e, e.category) for e in kept), (lost, lost.category)])
        assert writer.stats.files == 0 and writer.stats.files_reused == 0  # none of them
        moved = next(e for e in kept if e.category != "other")
        again = next(e for e in kept if e is not moved)
        writer.reuse_all([(e, "other" if e is moved else e.category) for e in kept])
        writer.reuse_all([(again, again.category)])  # again: replaces, counts once
        assert writer.stats.files == len(kept)
        assert writer.stats.bytes_in == sum(e.size for e in kept)
        snapshot = writer.commit()
    got = {e.path: e for e in snapshot.entries}
    assert sorted(got) == sorted(e.path for e in kept)
    assert got[moved.path].category == "other" and got[moved.path].blobs == moved.blobs
    assert got[again.path] is again  # the parent's entry itself: no copy in memory


def test_a_local_stores_listings_are_read_while_the_key_is_derived(
    practice: Practice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import therabak.store.public as public

    dest = tmp_path / "dest"
    run_store_backup(_request(practice, dest))
    seen: dict[str, object] = {}
    real_warm, real_open = public.warm, store_open.Store.open
    warming, opening_, warmed = threading.Event(), threading.Event(), threading.Event()
    gets: list[str] = []

    def warm(storage, stop):
        warming.set()
        seen["opening while warming"] = opening_.wait(10)
        real_get = storage.get

        def get(name, *a):
            if threading.current_thread().name == "store-warm":  # not the opening's reads
                gets.append(name)
            return real_get(name, *a)

        storage.get = get
        try:
            return real_warm(storage, stop)
        finally:
            del storage.get
            warmed.set()

    def opening(*a, **kw):
        opening_.set()
        seen["warming while opening"] = warming.wait(10)
        try:
            return real_open(*a, **kw)
        finally:  # on a slow machine the key may be ready first: the warm-up is let finish
            warmed.wait(10)

    monkeypatch.setattr(public, "warm", warm)
    monkeypatch.setattr(store_open.Store, "open", opening)
    result = run_store_backup(_request(practice, dest))
    assert seen == {"opening while warming": True, "warming while opening": True}
    # the first backup's header, then that (newest) snapshot whole, then the index files
    assert gets[0].startswith("snapshots/") and gets[1] == gets[0]
    assert gets[2:] and all(name.startswith("index/") for name in gets[2:])
    assert result.files_reused == result.files
    assert [t for t in threading.enumerate() if t.name == "store-warm"] == []


def test_warming_reads_headers_until_told_to_stop_and_never_raises(tmp_path: Path) -> None:
    from therabak.storage.local import LocalStorage
    from therabak.store.public import warm

    root = tmp_path / "store"
    for i in range(3):
        (root / "snapshots").mkdir(parents=True, exist_ok=True)
        (root / "snapshots" / f"{i:064x}").write_bytes(b"not a snapshot at all")
    storage = LocalStorage(root)
    gets: list[str] = []
    real_get = storage.get
    storage.get = lambda name, *a: gets.append(name) or real_get(name, *a)  # type: ignore[method-assign]
    warm(storage, lambda: False)
    assert len(gets) == 3
    gets.clear()
    warm(storage, lambda: len(gets) >= 1)  # stops between objects
    assert len(gets) == 1
    (root / "snapshots" / f"{0:064x}").unlink()
    storage.list = lambda prefix="": iter([type("O", (), {"name": "snapshots/gone"})()])  # type: ignore[method-assign]
    warm(storage, lambda: False)  # a missing object: no error (the real read meets it)


def test_unchanged_all_decides_each_file_as_unchanged_does(
    practice: Practice, tmp_path: Path
) -> None:
    """The writer's test for a whole scan at once gives, file by file, what its test for
    one file gives: changed size, mtime or identity, an identity one side does not know,
    a file not in the parent, a file whose content left the store."""
    from therabak.practice.scan import FileEntry

    root = _lost_file_store(practice, tmp_path)
    reopened = open_store(root)
    parent = reopened.latest()
    assert parent is not None
    files: list[FileEntry] = []
    for n, e in enumerate(parent.entries):
        dev, _sep, ino = e.identity.partition(":")
        size, mtime, ino_n, dev_n = e.source_size, e.mtime_ns, int(ino or 0), int(dev or 0)
        match n % 6 if e.path != "documents/lost.bin" else 0:
            case 1:
                size += 1
            case 2:
                mtime += 1
            case 3:
                ino_n += 1  # another file under the same name
            case 4:
                ino_n = 0  # identity not known here: size and mtime decide
        files.append(FileEntry(e.path, e.category, size, mtime, ino_n, dev_n))
    files.append(FileEntry("documents/not-in-the-parent.bin", "other", 1, 1, 5, 5))
    meta = SnapshotMeta(kind=SnapshotKind.MANUAL, categories=("other",))
    with reopened.begin_backup(parent, meta) as writer:
        one_by_one = [writer.unchanged(f.path, f.size, f.mtime_ns, f.identity) for f in files]
        at_once = writer.unchanged_all(files)
        writer.abort()
    assert [id(e) if e is not None else None for e in at_once] == [
        id(e) if e is not None else None for e in one_by_one
    ]
    kinds = {n % 6: [] for n in range(6)}
    for n, e in enumerate(at_once[:-1]):
        kinds[n % 6].append(e is not None)
    assert any(kinds[0]) and not any(kinds[1]) and not any(kinds[2]) and not any(kinds[3])
    assert any(kinds[4]) and at_once[-1] is None
    lost = next(i for i, f in enumerate(files) if f.path == "documents/lost.bin")
    assert at_once[lost] is None and one_by_one[lost] is None


_SCAN_FIRST = """
import sys, threading
seen = {}
start = threading.Thread.start
def recording_start(self):
    if self.name == "backup-scan":
        seen["store loaded"] = "therabak.store.core" in sys.modules
    return start(self)
threading.Thread.start = recording_start
from therabak.cli import main
code = main(sys.argv[1:])
print("store loaded when the scan started:", seen.get("store loaded"))
sys.exit(code)
"""


def test_the_scan_starts_before_the_store_s_modules_are_loaded(
    practice: Practice, tmp_path: Path
) -> None:
    """With the page cache dropped, importing the store's modules took 70-100 ms that the
    scan of Data waited for: it starts first (a second backup, into a store that exists)."""
    import subprocess
    import sys

    from conftest import cli_env

    pw = tmp_path / "pw.txt"
    pw.write_text(PASSWORD, encoding="utf-8")
    args = ["backup", "--dest", str(tmp_path / "dest"), "--data-dir", str(practice.data_dir)]
    args += ["--account-key", str(practice.key_path), "--password-file", str(pw)]
    for _run in range(2):  # the first makes the store, the second is the one that counts
        proc = subprocess.run(
            [sys.executable, "-c", _SCAN_FIRST, *args],
            env=cli_env(None),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "store loaded when the scan started: False"
