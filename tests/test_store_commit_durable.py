"""The commit of a backup into a local store: the snapshot is written to a temporary file
as it is encoded (never whole in memory); its bytes are on the device (fsync) before it
gets its name, because its name is the commit: a power loss right after the rename must
not leave a snapshot named over bytes that never reached the disk."""

from __future__ import annotations

import os
from pathlib import Path

from store_support import create_store, open_store
from therabak.storage import local
from therabak.store.backup import SnapshotMeta
from therabak.store.snapshot import SnapshotKind, snapshot_name


def _fd_path(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return f"fd {fd}"


def test_a_snapshot_s_bytes_are_durable_before_it_gets_its_name(tmp_path: Path, monkeypatch):
    store = create_store(tmp_path / "store")
    events: list[tuple[str, str]] = []
    real_fsync, real_move = os.fsync, local.LocalStorage._move_no_replace

    def fsync(fd: int) -> None:
        events.append(("fsync", _fd_path(fd)))
        real_fsync(fd)

    def move(self, tmp: Path, final: Path, name: str) -> None:
        events.append(("named", str(tmp), name))
        real_move(self, tmp, final, name)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(local.LocalStorage, "_move_no_replace", move)
    meta = SnapshotMeta(kind=SnapshotKind.MANUAL, categories=("sessions",))
    with store.begin_backup(None, meta) as w:
        for i in range(50):
            f = w.add_file(f"sessions/S {i:03d}.json", "sessions", mtime_ns=i, identity=f"1:{i}")
            f.write(os.urandom(100))
            f.finish()
        snapshot = w.commit()
    name = snapshot_name(snapshot.snapshot_id)
    named = [i for i, e in enumerate(events) if e[0] == "named" and e[2] == name]
    assert len(named) == 1, events
    tmp = events[named[0]][1]
    synced = [i for i, e in enumerate(events) if e[0] == "fsync" and e[1] == tmp]
    assert synced and synced[0] < named[0], events
    assert open_store(tmp_path / "store").load_snapshot(snapshot.snapshot_id).entries == (
        snapshot.entries
    )
