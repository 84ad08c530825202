"""Corruption matrix for the backup store: every kind of object x every kind of damage.

Objects: a pack (a blob's bytes, its sealed header, its trailer), a snapshot (public
header, sealed body), an index file, a key file (a slot, its checksum), the config.
Damage: flip a byte, truncate, delete, swap two objects of the kind, replay an old one
(an object a prune, forget or password change removed, put back).

For every case:

* **detected**: opening refuses (exit 5) or ``check --read-data`` reports a problem that
  names the object (exit 5 when content is lost, 3 when nothing is, 0 for leftovers
  only: a replayed pack is a leftover);
* **named**: when content is lost, check names exactly the files (and snapshots) that
  lost it;
* **the rest salvaged**: a salvage read of every snapshot restores every other file
  byte-exact (with the config damaged: opened for salvage). When the only key file's slot
  is damaged, the store key is lost and nothing can be read (as an archive whose header
  slots are gone).

Deleting a snapshot is what ``forget`` does: it cannot be told from a wanted deletion
(FORMAT.md, threat model). That case checks the rest restores and is counted apart.
The figures "corruption cases detected" / "tried" include these store cases.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import Practice, record_figure
from store_support import (
    PASSWORD,
    backup_data,
    create_store,
    object_path,
    objects,
    open_store,
    snapshot_tree,
)
from therabak.errors import TherabakError
from therabak.practice.envelope import seal_bytes
from therabak.storage.local import LocalStorage
from therabak.store.check import check
from therabak.store.core import Store
from therabak.store.errors import DamagedStoreError
from therabak.store.pack import TRAILER_SIZE
from therabak.store.problems import Severity
from therabak.store.prune import forget, plan_forget, prune

pytestmark = pytest.mark.slow

SMALL = dict(chunk_size=64 << 10, pack_size=1 << 20)
NEW_PASSWORD = "nach der Änderung"


@dataclass
class Base:
    root: Path  # the store, after forget + prune + a password change
    practice: Practice
    trees: dict[str, dict[str, str]]  # snapshot -> path -> SHA-256
    entries: dict[str, dict[str, tuple[bytes, ...]]]  # snapshot -> path -> blobs
    old: dict[str, bytes]  # objects removed by prune / forget / passwd: name -> bytes
    victim_pack: str  # a pack that both snapshots use


@pytest.fixture(scope="module")
def base(demo_practice: Practice, tmp_path_factory) -> Base:
    root = tmp_path_factory.mktemp("corrupt")
    shutil.copytree(demo_practice.root, root / "practice", symlinks=True)
    p = Practice(
        root / "practice", root / "practice" / "Data", root / "practice" / "account.key", None
    )
    key = p.key
    store_dir = root / "store"
    store = create_store(store_dir, **SMALL)
    old_scan = p.data_dir / "documents" / "old-scan.pdf"
    old_scan.write_bytes(seal_bytes(key, os.urandom(2_500_000)))
    first = backup_data(store, p.data_dir, key).snapshot
    old_scan.unlink()
    (p.data_dir / "audio" / "later.opus").write_bytes(seal_bytes(key, os.urandom(900_000)))
    second = backup_data(store, p.data_dir, key).snapshot
    (p.data_dir / "documents" / "new.pdf").write_bytes(seal_bytes(key, os.urandom(500_000)))
    third = backup_data(store, p.data_dir, key).snapshot
    before = {name: object_path(store_dir, name).read_bytes() for name in objects(store_dir)}
    forget(store, plan_forget(store, ids=[first.snapshot_id]))
    prune(store)
    store = open_store(store_dir)
    (p.data_dir / "documents" / "newer.pdf").write_bytes(seal_bytes(key, os.urandom(200_000)))
    fourth = backup_data(store, p.data_dir, key).snapshot  # a second index file
    store.change_password(NEW_PASSWORD)
    after = set(objects(store_dir))
    old = {name: data for name, data in before.items() if name not in after}
    assert any(n.startswith("packs/") for n in old) and any(n.startswith("index/") for n in old)
    assert any(n.startswith("keys/") for n in old) and first.name in old
    store = open_store(store_dir, NEW_PASSWORD)
    shared = set(second.blob_ids()) & set(third.blob_ids())
    counts = {}
    for b in shared:
        for loc in store.index().locate(b):
            counts[loc.pack_id] = counts.get(loc.pack_id, 0) + 1
    victim = max(counts, key=counts.get)
    snaps = (second, third, fourth)
    return Base(
        store_dir,
        p,
        {s.snapshot_id: snapshot_tree(store, s) for s in snaps},
        {s.snapshot_id: {e.path: e.blobs for e in s.entries} for s in snaps},
        old,
        f"packs/{victim[:2]}/{victim}",
    )


# ---- the damage ---------------------------------------------------------------------------------


def names_of(root: Path, prefix: str) -> list[str]:
    return objects(root, prefix)


def pick(base: Base, root: Path, kind: str) -> str:
    if kind == "pack":
        return base.victim_pack
    if kind == "snapshot":
        return sorted(names_of(root, "snapshots/"))[0]
    if kind == "index":
        return sorted(names_of(root, "index/"))[0]
    if kind == "key file":
        return names_of(root, "keys/")[0]
    return "config"


def region_range(base: Base, root: Path, region: str, name: str) -> tuple[int, int]:
    data = object_path(root, name).read_bytes()
    n = len(data)
    if region == "blob":
        store = open_store(root, NEW_PASSWORD)
        pack_id = name.rsplit("/", 1)[1]
        first = store.index().packs[pack_id].blobs[0]
        return first.offset, first.offset + first.info.length
    if region == "pack header":
        hl = int.from_bytes(data[-TRAILER_SIZE:-4], "big")
        return n - TRAILER_SIZE - hl, n - TRAILER_SIZE
    if region == "pack trailer":
        return n - TRAILER_SIZE, n
    if region == "snapshot header":
        return 0, int.from_bytes(data[10:12], "big")
    if region == "snapshot body":
        return int.from_bytes(data[10:12], "big"), n
    if region == "key slot":
        return 60, n - 64
    if region == "key checksum":
        return n - 32, n
    return 0, n  # the whole object


def flip(base, root, name, start, end) -> None:
    path = object_path(root, name)
    data = bytearray(path.read_bytes())
    data[(start + end) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def truncate(base, root, name, start, end) -> None:
    path = object_path(root, name)
    path.write_bytes(path.read_bytes()[: (start + end) // 2])


def delete(base, root, name, start, end) -> None:
    object_path(root, name).unlink()


def swap(base, root, name, start, end) -> None:
    prefix = name.split("/")[0] + "/"
    other = next(n for n in names_of(root, prefix) if n != name)
    a, b = object_path(root, name), object_path(root, other)
    da, db = a.read_bytes(), b.read_bytes()
    a.write_bytes(db)
    b.write_bytes(da)


def replay(base, root, name, start, end) -> None:
    prefix = name.split("/")[0] + "/" if "/" in name else name
    olds = sorted(n for n in base.old if n.startswith(prefix))
    if name == "config":  # there is no old config: another store's
        other = create_store(root.parent / "other-store")
        object_path(root, "config").write_bytes(
            object_path(other.storage.root, "config").read_bytes()
        )
        return
    old = olds[0]
    path = object_path(root, old)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base.old[old])


MUTATIONS: dict[str, Callable] = {
    "flip": flip,
    "truncate": truncate,
    "delete": delete,
    "swap two": swap,
    "replay an old one": replay,
}

REGIONS = {
    "pack": ["blob", "pack header", "pack trailer"],
    "snapshot": ["snapshot header", "snapshot body"],
    "index": ["index"],
    "key file": ["key slot", "key checksum"],
    "config": ["config"],
}
WHOLE = {"delete", "swap two", "replay an old one"}  # concern the whole object
#: damage that leaves what a kill can leave too: seen, reported as a note (exit 0)
LEFTOVERS = {
    ("pack", "replay an old one"),  # a pack no index names: adopted or reclaimed
    ("index", "delete"),  # its packs are no longer indexed: their headers stand in
    ("index", "replay an old one"),  # superseded by the index that replaced it
}


def cases():
    out = []
    for kind, regions in REGIONS.items():
        for mutation in MUTATIONS:
            if mutation in WHOLE:
                if mutation == "swap two" and kind in ("key file", "config"):
                    continue  # one of each
                out.append((kind, kind if len(regions) > 1 else regions[0], mutation))
            elif mutation == "truncate":
                out.append((kind, regions[0] if kind != "snapshot" else "snapshot body", mutation))
            else:
                out.extend((kind, r, mutation) for r in regions)
    return out


CASES = cases()


# ---- what must happen ---------------------------------------------------------------------------


def lost_files(
    base: Base, root: Path, kind: str, region: str, mutation: str
) -> set[tuple[str, str]] | None:
    """(snapshot, path) that must be named as lost; None: the store key is lost."""
    if kind == "key file" and (
        mutation in ("truncate", "delete") or (mutation == "flip" and region == "key slot")
    ):
        return None
    if kind == "snapshot" and mutation in ("flip", "truncate"):
        return set()  # the whole snapshot is lost: named as such, not file by file
    if kind != "pack" or mutation in ("swap two", "replay an old one"):
        return set()
    store = open_store(root, NEW_PASSWORD)
    pack_id = base.victim_pack.rsplit("/", 1)[1]
    record = store.index().packs[pack_id]
    if mutation == "delete":
        gone = {b.info.id for b in record.blobs}
    elif mutation == "truncate":  # cut in the middle of the first blob
        cut = record.blobs[0].offset + record.blobs[0].info.length // 2
        gone = {b.info.id for b in record.blobs if b.offset + b.info.length > cut}
    elif region == "blob":
        gone = {record.blobs[0].info.id}
    else:
        gone = set()  # header or trailer: the index still knows every blob
    gone = {b for b in gone if all(loc.pack_id == pack_id for loc in store.index().locate(b))}
    return {
        (sid, path)
        for sid, files in base.entries.items()
        for path, blobs in files.items()
        if gone & set(blobs)
    }


@pytest.mark.parametrize(
    ("kind", "region", "mutation"), CASES, ids=[f"{k}|{r}|{m}" for k, r, m in CASES]
)
def test_store_corruption(base: Base, tmp_path: Path, record_property, kind, region, mutation):
    root = tmp_path / "store"
    shutil.copytree(base.root, root)
    name = pick(base, root, kind)
    expected_lost = lost_files(base, root, kind, region, mutation)
    start, end = region_range(base, root, region, name)
    MUTATIONS[mutation](base, root, name, start, end)
    undetectable = kind == "snapshot" and mutation == "delete"  # = forget

    # detected: opening refuses, or check names the object
    detected = False
    try:
        store = Store.open(LocalStorage(root), unlock())
    except TherabakError as e:
        assert e.exit_code == 5, (e.exit_code, str(e))
        detected = True
        store = None
    if store is not None:
        result = check(store, read_data=1.0)
        concerned = [p for p in result.problems if p.name != "(missing content)"]
        detected = bool(result.problems) and result.exit_code in (0, 3, 5)
        if (kind, mutation) in LEFTOVERS:  # nothing is wrong, but it is seen
            assert any(p.severity is Severity.NOTE for p in result.problems)
        elif not undetectable:
            assert result.exit_code in (3, 5), result.problems
            assert concerned or result.affected
        if expected_lost:
            assert result.exit_code == 5
            assert {(a.snapshot_id, a.path) for a in result.affected} == expected_lost
    if not undetectable:
        record_figure(record_property, "corruption cases tried", 1)
        record_figure(record_property, "corruption cases detected", int(detected))
        assert detected
    else:
        record_figure(record_property, "corruption cases undetectable by design", 1)

    # the rest salvaged
    if expected_lost is None:
        with pytest.raises(DamagedStoreError):
            Store.open(LocalStorage(root), unlock(), salvage=True)
        return
    store = Store.open(LocalStorage(root), unlock(), salvage=True)
    restored = {}
    for obj in objects(root, "snapshots/"):
        try:
            snap = store.load_snapshot(obj.split("/")[1], salvage=True)
        except DamagedStoreError:
            continue
        if snap.snapshot_id not in base.trees:
            continue  # a replayed old snapshot: its content was pruned
        for entry, problem in store.salvage(snap):
            if problem is None:
                restored[(snap.snapshot_id, entry.path)] = entry.sha256
                assert entry.sha256 == base.trees[snap.snapshot_id][entry.path]
    lost_snapshots = set()
    if kind == "snapshot" and mutation in ("flip", "truncate", "delete"):
        lost_snapshots = {name.split("/")[1]}
    wanted = {
        (sid, path)
        for sid, tree in base.trees.items()
        if sid not in lost_snapshots
        for path in tree
    } - expected_lost
    assert set(restored) == wanted
    record_figure(record_property, "corruption cases handled completely", 1)


def unlock():
    from therabak.store.keyfile import Unlock

    return Unlock(password=NEW_PASSWORD)


def test_replayed_old_key_file_opens_with_the_old_password_and_is_reported(base, tmp_path):
    root = tmp_path / "store"
    shutil.copytree(base.root, root)
    replay(base, root, "keys/", 0, 0)
    store = open_store(root, PASSWORD)  # the old password works again ...
    assert any("replaces" in p.message for p in store.problems)  # ... and it is said
    assert check(store).exit_code == 3
