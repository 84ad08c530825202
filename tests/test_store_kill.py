"""kill -9 at every step of everything that writes a backup store: create, backup,
forget, prune, password change.

Each case runs the operation in a process of its own (``tests/store_driver.py``) whose
``THERABAK_FAILPOINTS`` make it kill itself (SIGKILL: no cleanup, no finally) at a named
point or once N bytes were put. After every kill:

* every snapshot in the store reads back byte-exact (the ones from before as they were,
  a new one as the data was), and no snapshot that should stay is gone;
* ``check --read-data`` finds no error (leftovers are notes; an interrupted password
  change leaves a warning);
* the store opens (with the old or the new password after a password change);
* the same operation run again succeeds, and leaves a store that checks clean.

Every case is one "kill points survived" in the figures printed at the end of the run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import IS_WINDOWS, Practice, cli_env, record_figure
from store_support import (
    PASSWORD,
    backup_data,
    create_store,
    objects,
    open_store,
    plaintext_tree,
    snapshot_tree,
)
from therabak.practice.envelope import seal_bytes
from therabak.store.check import check
from therabak.store.problems import Severity
from therabak.store.prune import plan_prune

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(IS_WINDOWS, reason="SIGKILL semantics (the crash points kill the process)"),
]

DRIVER = Path(__file__).resolve().parent / "store_driver.py"
SMALL = dict(chunk_size=64 << 10, pack_size=1 << 20)
NEW_PASSWORD = "das neue Passwort"


def drive(args: dict, failpoints: str = "") -> subprocess.CompletedProcess:
    env = {"THERABAK_FAILPOINTS": failpoints or None}
    return subprocess.run(
        [sys.executable, str(DRIVER), json.dumps(args)],
        env=cli_env(env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def killed(r: subprocess.CompletedProcess) -> bool:
    return r.returncode == -signal.SIGKILL


@dataclass
class Base:
    practice: Practice
    store: Path
    trees: dict[str, dict[str, str]]  # every snapshot -> path -> SHA-256
    oldest: str


@pytest.fixture(scope="module")
def base(demo_practice: Practice, tmp_path_factory) -> Base:
    """A store with two backups (the second after files were deleted and added, so that
    forgetting the first leaves packs unused and packs partly used: prune deletes and
    repacks), and Data changed since (so a new backup writes new packs)."""
    root = tmp_path_factory.mktemp("kill-store")
    shutil.copytree(demo_practice.root, root / "practice", symlinks=True)
    p = Practice(
        root / "practice", root / "practice" / "Data", root / "practice" / "account.key", None
    )
    store = create_store(root / "store", **SMALL)
    key = p.key
    old_scan = p.data_dir / "documents" / "old-scan.pdf"  # fills packs of its own
    old_scan.write_bytes(seal_bytes(key, os.urandom(2_500_000)))
    first = backup_data(store, p.data_dir, key).snapshot
    old_scan.unlink()
    for audio in sorted(p.data_dir.glob("audio/*/*"))[:2]:
        audio.unlink()
    (p.data_dir / "audio" / "later.opus").write_bytes(seal_bytes(key, os.urandom(600_000)))
    second = backup_data(store, p.data_dir, key).snapshot
    (p.data_dir / "documents" / "new.pdf").write_bytes(seal_bytes(key, os.urandom(1_600_000)))
    for note in sorted(p.data_dir.glob("sessions/*/*"))[:3]:
        note.write_bytes(seal_bytes(key, os.urandom(300)))
    trees = {s.snapshot_id: snapshot_tree(store, s) for s in (first, second)}
    return Base(p, root / "store", trees, first.snapshot_id)


@pytest.fixture
def case(base: Base, tmp_path: Path) -> Base:
    shutil.copytree(base.store, tmp_path / "store")
    return Base(base.practice, tmp_path / "store", dict(base.trees), base.oldest)


def args_for(op: str, c: Base) -> dict:
    p = c.practice
    args = {"op": op, "store": str(c.store), "password": PASSWORD}
    if op == "backup":
        args.update(data=str(p.data_dir), key=str(p.key_path))
    elif op == "forget":
        args["ids"] = [c.oldest]
    elif op == "passwd":
        args["new"] = NEW_PASSWORD
    return args


def assert_whole(c: Base, *, password: str, may_lose: set[str] = frozenset()) -> None:
    """Every snapshot reads back exactly; none is lost but those in *may_lose*; check
    --read-data finds no error."""
    store = open_store(c.store, password)
    present = {s.snapshot_id for s in store.snapshots()}
    assert set(c.trees) - may_lose <= present
    data_tree = None
    for sid in present:
        if sid in c.trees:
            assert snapshot_tree(store, sid) == c.trees[sid], sid
        else:  # a backup that committed before the kill
            data_tree = data_tree or plaintext_tree(c.practice.data_dir, c.practice.key)
            assert snapshot_tree(store, sid) == data_tree
    result = check(store, read_data=1.0)
    errors = [p for p in result.problems if p.severity is Severity.ERROR]
    assert errors == [], errors


# (operation, failpoint); "bytes:N": killed once N bytes were put (before that object)
CASES = [
    ("backup", "crash-at=store.pack"),  # after the first new pack
    ("backup", "crash-at=store.index"),  # packs and the index, no snapshot
    ("backup", "crash-at=store.snapshot"),  # committed, nothing after
    ("backup", "crash-after-bytes=1"),  # before the first pack
    ("backup", "crash-after-bytes=1200000"),  # between packs
    ("forget", "crash-at=forget.delete"),
    ("prune", "crash-at=prune.pack"),  # a repacked pack put
    ("prune", "crash-at=prune.index"),  # the new index put, the old ones still there
    ("prune", "crash-at=prune.index-deleted"),  # old index files gone, old packs not
    ("prune", "crash-at=prune.delete"),  # the first pack deleted
    ("passwd", "crash-at=passwd.added"),  # the new key file put, the old one not deleted
]


@pytest.mark.parametrize(("op", "failpoint"), CASES, ids=[f"{o}|{f}" for o, f in CASES])
def test_kill_store(case: Base, record_property, op: str, failpoint: str):
    if op == "prune":  # prune after forgetting the first backup: deletes and repacks
        r = drive(args_for("forget", case))
        assert r.returncode == 0, r.stderr
        del case.trees[case.oldest]
        plan = plan_prune(open_store(case.store))
        assert plan.delete and plan.repack  # the kill points below are all reached
    r = drive(args_for(op, case), failpoint)
    assert killed(r), (failpoint, r.returncode, r.stderr[-2000:])

    may_lose = {case.oldest} if op == "forget" else set()
    password = PASSWORD
    if op == "passwd":  # both key files are there: either password opens it
        assert len(objects(case.store, "keys/")) == 2
        open_store(case.store, NEW_PASSWORD)
    assert_whole(case, password=password, may_lose=may_lose)

    again = drive(args_for(op, case))
    assert again.returncode == 0, again.stderr[-2000:]
    if op == "passwd":
        password = NEW_PASSWORD
    if op == "forget":
        case.trees.pop(case.oldest, None)
    assert_whole(case, password=password)
    store = open_store(case.store, password)
    if op == "prune":
        result = check(store, read_data=1.0)
        assert [p for p in result.problems if p.severity is not Severity.NOTE] == []
    record_figure(record_property, "kill points survived", 1)


def test_kill_while_creating(tmp_path: Path, record_property):
    """Killed between the key file and the config: no store yet; creating again works."""
    args = {"op": "create", "store": str(tmp_path / "store"), "password": PASSWORD}
    r = drive(args, "crash-at=store.create")
    assert killed(r)
    assert objects(tmp_path / "store", "keys/") and not (tmp_path / "store" / "config").exists()
    again = drive(args)
    assert again.returncode == 0, again.stderr
    assert len(objects(tmp_path / "store", "keys/")) == 1
    open_store(tmp_path / "store")
    record_figure(record_property, "kill points survived", 1)


def test_prune_after_an_interrupted_prune_reclaims_everything(case: Base):
    """The leftovers of a kill (new packs no index names, old index files, old packs) are
    gone after the next prune, and nothing a snapshot needs went with them."""
    assert drive(args_for("forget", case)).returncode == 0
    del case.trees[case.oldest]
    assert killed(drive(args_for("prune", case), "crash-at=prune.index"))
    store = open_store(case.store)
    assert store.index() and store.superseded_index
    again = drive(args_for("prune", case))
    assert again.returncode == 0
    assert json.loads(again.stdout)["deleted_index_files"] >= 1
    assert_whole(case, password=PASSWORD)
    problems = check(open_store(case.store)).problems
    # only the dead prune's lock is left: stale, ignored, removed on request (--break-lock)
    assert [p.name.split("/")[0] for p in problems] == ["locks"]
