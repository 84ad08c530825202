"""A store backup after one that was cut off (issue 17: its peak memory): the job reads
the store's index once (not once to open the store and again for the backup) and the
header of each pack the cut-off backup left once (adopted), then indexes those packs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import therabak.store.core as store_core
import therabak.store.loaded_index as loaded_index
from conftest import Practice
from store_support import (
    create_store,
    manual_store_request,
    objects,
    open_store,
    plaintext_tree,
    snapshot_tree,
)
from therabak.errors import ExitCode
from therabak.jobs.store_backup import run_store_backup
from therabak.store.backup import SnapshotMeta
from therabak.store.snapshot import SnapshotKind

SMALL = dict(chunk_size=64 << 10, pack_size=1 << 20)  # many packs from little data


def test_a_resumed_backup_reads_the_index_once_and_each_left_pack_header_once(
    practice: Practice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "store"
    store = create_store(dest, **SMALL)
    # a backup cut off after some packs were put: no index file, no snapshot
    writer = store.begin_backup(None, SnapshotMeta(kind=SnapshotKind.MANUAL, categories=("other",)))
    f = writer.add_file("cut.bin", "other", mtime_ns=1)
    f.write(os.urandom(3 << 20))
    writer.abort()
    left = objects(dest, "packs/")
    assert len(left) >= 2 and objects(dest, "index/") == []

    index_loads: list[str] = []
    headers_read: list[str] = []
    real_load, real_header = store_core.load_index, loaded_index.read_header

    def load_index(storage, keys):
        index_loads.append("load")
        return real_load(storage, keys)

    def read_header(storage, keys, name, size):
        headers_read.append(name)
        return real_header(storage, keys, name, size)

    monkeypatch.setattr(store_core, "load_index", load_index)
    monkeypatch.setattr(loaded_index, "read_header", read_header)
    result = run_store_backup(manual_store_request(practice.data_dir, practice.key, dest))
    assert result.exit_code is ExitCode.OK
    assert index_loads == ["load"]  # once per backup, not per step
    assert sorted(headers_read) == left  # each left pack's header once, none twice
    # the left packs are in the backup's index file now: the next reads no header
    headers_read.clear()
    reopened = open_store(dest)
    reopened.index()
    assert headers_read == []
    assert snapshot_tree(reopened, result.snapshot) == plaintext_tree(
        practice.data_dir, practice.key
    )
