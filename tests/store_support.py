"""Helpers for the backup-store tests: make a store, back a practice's Data up into it the
way the backup does (scan, ``practice/source.py`` reads and decrypts, unchanged files
reused from the parent), and read every snapshot back.

This is how the tests write store backups through the library: real files, real
crypto (the benchmark, ``tests/bench/run.py``, uses the real CLI). The only shortcut is
cheap Argon2id parameters for password slots (still inside the reader's limits).
"""

from __future__ import annotations

import gc
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from archive_support import cheap_params
from therabak.crypto.protection import Protection
from therabak.crypto.slots import Slot
from therabak.jobs.store_request import StoreBackupRequest
from therabak.practice.account import AccountKey
from therabak.practice.categories import BackupKind, Rules
from therabak.practice.scan import scan
from therabak.practice.source import SourceChanged, read_plaintext
from therabak.storage.local import LocalStorage
from therabak.store.backup import BackupWriter, SnapshotMeta
from therabak.store.core import Store
from therabak.store.keyfile import Unlock
from therabak.store.snapshot import Snapshot, SnapshotKind

PASSWORD = "Praxis-Passwort für den Stick"


@dataclass
class CheapPassword:
    """Password slots with cheap (accepted) Argon2id parameters (+ an account slot)."""

    password: str = field(repr=False)
    account: AccountKey | None = None

    def slots(self, key: bytes) -> list[Slot]:
        slots = [Slot.password(key, self.password, cheap_params())]
        if self.account is not None:
            slots.append(Slot.account(key, self.account.key, self.account.key_id))
        return slots


@dataclass
class AccountOnly:
    account: AccountKey

    def slots(self, key: bytes) -> list[Slot]:
        return [Slot.account(key, self.account.key, self.account.key_id)]


def create_store(root: Path, password: str = PASSWORD, **kwargs) -> Store:
    return Store.create(LocalStorage(root), CheapPassword(password), **kwargs)


def open_store(root: Path, password: str = PASSWORD, **kwargs) -> Store:
    return Store.open(LocalStorage(root), Unlock(password=password), **kwargs)


def manual_store_request(
    data_dir: Path, account: AccountKey, dest: Path, password: str = PASSWORD
) -> StoreBackupRequest:
    """A manual backup of *data_dir* into the store at *dest* (the default categories),
    as the engine takes it; not remembered as a destination."""
    rules = Rules.load()
    return StoreBackupRequest(
        data_dir=data_dir,
        account=account,
        dest=str(dest),
        rules=rules,
        selection=rules.default_selection(BackupKind.MANUAL),
        protection=Protection(password=password),
        remember_destination=False,
    )


def identity_of(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}"


@dataclass
class BackupOutcome:
    snapshot: Snapshot
    read: list[str]  # files that were read
    reused: list[str]  # files taken from the parent unread
    writer: BackupWriter


def backup_data(
    store: Store,
    data_dir: Path,
    account: AccountKey,
    *,
    kind: BackupKind = BackupKind.MANUAL,
    rules: Rules | None = None,
    parent: Snapshot | None | str = "latest",
    reread: bool = False,
    created=None,
) -> BackupOutcome:
    """Back *data_dir* up into *store* as ``therabak backup`` will (part 2): scan with the
    rules, reuse what is unchanged since the parent, read the rest with source.py."""
    rules = rules or Rules.load()
    selection = rules.default_selection(kind)
    scanned = scan(data_dir, rules)
    files = scanned.selected_files(selection)
    if parent == "latest":
        parent = store.latest(kind=str(kind), account_key_id=account.id_hex)
    meta = SnapshotMeta(
        kind=SnapshotKind(str(kind)),
        categories=tuple(sorted(selection)),
        account_key_id=account.id_hex,
        created=created,
    )
    read, reused = [], []
    gc_was = gc.isenabled()
    gc.disable()  # as the backup job does while it stores files (no cycles worth collecting)
    try:
        return _backup_files(store, data_dir, account, files, parent, meta, reread, read, reused)
    finally:
        if gc_was:
            gc.enable()


def _backup_files(store, data_dir, account, files, parent, meta, reread, read, reused):
    with store.begin_backup(parent, meta) as writer:
        for f in files:
            path = data_dir / f.path
            st = path.stat()
            if not reread:
                prev = writer.unchanged(f.path, st.st_size, st.st_mtime_ns, identity_of(st))
                if prev is not None:
                    writer.reuse(prev, category=f.category)
                    reused.append(f.path)
                    continue
            for _attempt in range(3):
                fw = writer.add_file(
                    f.path, f.category, mtime_ns=st.st_mtime_ns, identity=identity_of(st)
                )
                try:
                    info = read_plaintext(path, f.path, account, fw.write)
                except SourceChanged:
                    fw.abort()
                    continue
                fw.finish(source_size=info.size, mtime_ns=info.mtime_ns, sealed=info.sealed)
                read.append(f.path)
                break
        snapshot = writer.commit()
    return BackupOutcome(snapshot, read, reused, writer)


def plaintext_tree(
    data_dir: Path, account: AccountKey, *, kind: BackupKind = BackupKind.MANUAL
) -> dict[str, str]:
    """path -> SHA-256 of the plaintext of every file a backup of *kind* takes."""
    rules = Rules.load()
    scanned = scan(data_dir, rules)
    out = {}
    for f in scanned.selected_files(rules.default_selection(kind)):
        h = hashlib.sha256()
        read_plaintext(data_dir / f.path, f.path, account, h.update)
        out[f.path] = h.hexdigest()
    return out


def snapshot_tree(store: Store, snapshot: Snapshot | str) -> dict[str, str]:
    """path -> SHA-256 of every file of a snapshot, read back (and checked) from the store."""
    if isinstance(snapshot, str):
        snapshot = store.load_snapshot(snapshot)
    out = {}
    for entry in snapshot.entries:
        h = hashlib.sha256()
        for chunk in store.open_file(entry):
            h.update(chunk)
        out[entry.path] = h.hexdigest()
    return out


def salvage_tree(store: Store, snapshot: Snapshot) -> tuple[dict[str, str], dict[str, str]]:
    """(intact files -> SHA-256, damaged files -> why) of a salvage read."""
    intact, damaged = {}, {}
    for entry, problem in store.salvage(snapshot):
        if problem is None:
            intact[entry.path] = entry.sha256
        else:
            damaged[entry.path] = problem
    return intact, damaged


def objects(root: Path, prefix: str = "") -> list[str]:
    return sorted(o.name for o in LocalStorage(root).list(prefix))


def object_path(root: Path, name: str) -> Path:
    return root.joinpath(*name.split("/"))


def names(items: Iterable) -> list[str]:
    return sorted(getattr(i, "name", str(i)) for i in items)
