"""Helpers for the tests of everything that reads a backup store's points (list, show,
verify, diff, passwd, restore, the app): a store with several snapshots of a practice
that changes between them, and what Data held at each one (the oracle of a restore).

The snapshots are written with the library (``store_support.backup_data``: scan, read
with source.py, unchanged files reused), as ``therabak backup --dest`` writes them;
small chunks and packs, so that a practice of a few MB spans several packs.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import Practice
from restore_helpers import plaintext_tree
from store_support import PASSWORD, CheapPassword, backup_data
from therabak.crypto.recovery import RecoveryCode
from therabak.crypto.slots import Slot
from therabak.practice.account import AccountKey
from therabak.practice.envelope import seal_bytes
from therabak.storage.local import LocalStorage
from therabak.store.core import Store
from therabak.store.keyfile import Unlock
from therabak.store.snapshot import Snapshot

START = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
SMALL = {"chunk_size": 64 << 10, "pack_size": 1 << 20}


@dataclass
class WithRecovery:
    """Password slot (cheap Argon2id) plus a recovery-code slot."""

    password: str = field(repr=False)
    code: RecoveryCode = field(repr=False)

    def slots(self, key: bytes) -> list[Slot]:
        return CheapPassword(self.password).slots(key) + [Slot.recovery(key, self.code)]


@dataclass
class StorePoints:
    dest: Path  # the destination folder (holds TheraPsy-Backups)
    root: Path  # the store folder
    snapshots: list[Snapshot]  # oldest first
    trees: list[dict[str, tuple]]  # plaintext_tree of Data at each snapshot
    password_file: Path
    code: RecoveryCode | None = None

    def ref(self, i: int, digits: int = 12) -> str:
        return f"{self.root}@{self.snapshots[i].snapshot_id[:digits]}"

    def expected(self, i: int) -> dict[str, tuple]:
        """What a restore of snapshot *i* into an empty folder must hold."""
        paths = {e.path for e in self.snapshots[i].entries}
        return {p: v for p, v in self.trees[i].items() if p in paths}

    def open(self) -> Store:
        return Store.open(LocalStorage(self.root), Unlock(password=PASSWORD))


def change_between(practice: Practice, step: int) -> None:
    """What happens in a practice between two backups: a new recording, a note changed,
    a document removed (a different one each step)."""
    key = practice.key
    data = practice.data_dir
    (data / "audio" / f"new-{step}.opus").write_bytes(seal_bytes(key, os.urandom(300_000)))
    notes = sorted((data / "sessions").rglob("*.json"))
    notes[step].write_bytes(seal_bytes(key, f'{{"changed": {step}}}'.encode()))
    docs = sorted(p for p in (data / "documents").rglob("*") if p.is_file())
    docs[step].unlink()


def make_store_points(
    practice: Practice,
    dest: Path,
    *,
    count: int = 3,
    protection=None,
    code: RecoveryCode | None = None,
) -> StorePoints:
    """A store in ``dest/TheraPsy-Backups`` with *count* manual backups of *practice*,
    the practice changing between them."""
    root = dest / "TheraPsy-Backups"
    if protection is None:
        protection = WithRecovery(PASSWORD, code) if code else CheapPassword(PASSWORD)
    store = Store.create(LocalStorage(root), protection, **SMALL)
    snaps, trees = [], []
    for i in range(count):
        if i:
            change_between(practice, i)
        out = backup_data(store, practice.data_dir, practice.key, created=START + timedelta(i))
        snaps.append(out.snapshot)
        trees.append(plaintext_tree(practice.data_dir, practice.key))
    pw = dest.parent / f"{dest.name}-password.txt"
    pw.write_text(PASSWORD + "\n", encoding="utf-8")
    return StorePoints(dest, root, snaps, trees, pw, code)


def files_in_pack(store: Store, snapshot: Snapshot, pack_id: str) -> set[str]:
    """The files of *snapshot* with at least one chunk in the pack *pack_id* (and in no
    other copy): exactly what damage to that pack costs."""
    index = store.index()
    lost = set()
    for e in snapshot.entries:
        for blob in e.blobs:
            if {loc.pack_id for loc in index.locate(blob)} == {pack_id}:
                lost.add(e.path)
    return lost


def pack_path(root: Path, pack_id: str) -> Path:
    return root / "packs" / pack_id[:2] / pack_id


def a_pack_of(store: Store, snapshot: Snapshot, path: str) -> str:
    """The pack holding the first chunk of *path* in *snapshot*."""
    entry = next(e for e in snapshot.entries if e.path == path)
    return store.index().locate(entry.blobs[0])[0].pack_id


def copy_store(points: StorePoints, dest: Path) -> StorePoints:
    """A copy of the whole destination (to damage without touching the original)."""
    shutil.copytree(points.dest, dest)
    return StorePoints(
        dest,
        dest / "TheraPsy-Backups",
        points.snapshots,
        points.trees,
        points.password_file,
        points.code,
    )


def account_store(data_dir: Path, account: AccountKey, dest: Path, *, manual: bool = False) -> Path:
    """A store locked with an account key only (as automatic backups are), one snapshot
    of the core categories of *data_dir* (*manual*: of everything a manual backup
    takes); returns the store folder."""
    from store_support import AccountOnly
    from therabak.practice.categories import BackupKind

    root = dest / "TheraPsy-Backups"
    store = Store.create(LocalStorage(root), AccountOnly(account), **SMALL)
    kind = BackupKind.MANUAL if manual else BackupKind.AUTOMATIC
    backup_data(store, data_dir, account, kind=kind, created=START)
    return root
