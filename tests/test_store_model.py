"""A model-based test of the backup store (hypothesis stateful testing).

Random sequences of: changes to a Data folder (add, change, delete, rename, grow a file),
backups, forgetting a snapshot, prune, password changes, and any of these killed with -9
at a random point (run in a process of their own: ``tests/store_driver.py`` with a
failpoint). The model is the list of snapshots that must exist and, for each, the exact
plaintext of every file it holds. After every step:

* the store opens with the current password and holds exactly the model's snapshots;
* every snapshot restores (reads back) byte-exact;
* ``check --read-data`` finds no error.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from conftest import DEMO_SPEC, IS_WINDOWS, cli_env
from store_support import (
    PASSWORD,
    backup_data,
    create_store,
    open_store,
    plaintext_tree,
    snapshot_tree,
)
from therabak.practice.account import AccountKey
from therabak.practice.demo import create_demo
from therabak.practice.envelope import open_bytes, seal_bytes
from therabak.store.check import check
from therabak.store.problems import Severity
from therabak.store.prune import forget, plan_forget, prune

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(IS_WINDOWS, reason="SIGKILL semantics (the crash points kill the process)"),
]

DRIVER = Path(__file__).resolve().parent / "store_driver.py"
SMALL = dict(chunk_size=64 << 10, pack_size=1 << 20)
KILL_POINTS = {
    "backup": [
        "crash-at=store.pack",
        "crash-at=store.index",
        "crash-at=store.snapshot",
        "crash-after-bytes=1",
        "crash-after-bytes=700000",
    ],
    "forget": ["crash-at=forget.delete"],
    "prune": [
        "crash-at=prune.pack",
        "crash-at=prune.index",
        "crash-at=prune.index-deleted",
        "crash-at=prune.delete",
    ],
    "passwd": ["crash-at=passwd.added"],
}
_TEMPLATE: dict[str, Path] = {}


def template() -> Path:
    """One small demo practice per process, copied for every run of the machine."""
    if "root" not in _TEMPLATE:
        root = Path(tempfile.mkdtemp(prefix="store-model-template-"))
        create_demo(root / "practice", DEMO_SPEC)
        _TEMPLATE["root"] = root / "practice"
    return _TEMPLATE["root"]


class StoreModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="store-model-"))
        shutil.copytree(template(), self.tmp / "practice", symlinks=True)
        self.data = self.tmp / "practice" / "Data"
        self.key_path = self.tmp / "practice" / "account.key"
        self.key = AccountKey.load(self.key_path)
        self.root = self.tmp / "store"
        create_store(self.root, **SMALL)
        self.password = PASSWORD
        self.model: dict[str, dict[str, str]] = {}  # snapshot -> path -> SHA-256
        self.rng = random.Random(0)
        self.passwords = 0
        self.backups = 0

    def teardown(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- helpers ----------------------------------------------------------------------------

    def store(self):
        return open_store(self.root, self.password)

    def drive(self, op: str, failpoint: str, **extra) -> bool:
        """Run *op* in a process of its own with *failpoint*; True when it was killed."""
        args = {"op": op, "store": str(self.root), "password": self.password, **extra}
        if op == "backup":
            args.update(data=str(self.data), key=str(self.key_path))
        r = subprocess.run(
            [sys.executable, str(DRIVER), json.dumps(args)],
            env=cli_env({"THERABAK_FAILPOINTS": failpoint}),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode in (0, -signal.SIGKILL), r.stderr[-2000:]
        return r.returncode != 0

    def files(self) -> list[Path]:
        return sorted(p for p in self.data.rglob("*") if p.is_file() and p.name != ".lock")

    # ---- changes to Data --------------------------------------------------------------------

    @rule(
        kind=st.sampled_from(["add", "change", "delete", "rename", "grow"]),
        which=st.integers(0, 10_000),
        size=st.integers(0, 300_000),
    )
    def change_data(self, kind: str, which: int, size: int) -> None:
        files = self.files()
        path = files[which % len(files)]
        rng = random.Random(which * 7919 + size)
        if kind == "add":
            folder = self.data / "documents" / "model"
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"file-{which}-{size}.pdf"
            target.write_bytes(seal_bytes(self.key, rng.randbytes(size)))
        elif kind == "delete" and len(files) > 5:
            path.unlink()
        elif kind == "rename":
            path.rename(path.with_name("renamed-" + path.name))
        elif kind in ("change", "grow"):
            plain = open_bytes(self.key, path.read_bytes())
            if kind == "change":
                half = len(plain) // 2
                new = plain[:half] + rng.randbytes(50) + plain[half:]
            else:
                new = plain + bytes(size % 200_000 + 1)
            path.write_bytes(seal_bytes(self.key, new))

    # ---- store operations -------------------------------------------------------------------

    @rule()
    def backup(self) -> None:
        self.backups += 1  # one second apart: the order of snapshots is their order
        created = datetime(2026, 1, 1, 12, tzinfo=UTC) + timedelta(seconds=self.backups)
        out = backup_data(self.store(), self.data, self.key, created=created)
        self.model[out.snapshot.snapshot_id] = plaintext_tree(self.data, self.key)

    @rule(point=st.sampled_from(KILL_POINTS["backup"]))
    def backup_killed(self, point: str) -> None:
        before = set(self.model)
        self.drive("backup", point)
        for info in self.store().snapshots():
            if info.snapshot_id not in before:  # committed before the kill
                self.model[info.snapshot_id] = plaintext_tree(self.data, self.key)

    @precondition(lambda self: self.model)
    @rule(which=st.integers(0, 100), killed=st.booleans())
    def forget_one(self, which: int, killed: bool) -> None:
        sid = sorted(self.model)[which % len(self.model)]
        if killed:
            self.drive("forget", KILL_POINTS["forget"][0], ids=[sid])
        else:
            store = self.store()
            forget(store, plan_forget(store, ids=[sid]))
        del self.model[sid]  # deleted before the kill point

    @rule()
    def prune_store(self) -> None:
        prune(self.store())

    @rule(point=st.sampled_from(KILL_POINTS["prune"]))
    def prune_killed(self, point: str) -> None:
        self.drive("prune", point)

    @rule(killed=st.booleans())
    def change_password(self, killed: bool) -> None:
        self.passwords += 1
        new = f"Passwort Nummer {self.passwords}"
        if killed:
            self.drive("passwd", KILL_POINTS["passwd"][0], new=new)
            open_store(self.root, self.password)  # the old one still opens it...
        else:
            from archive_support import cheap_params

            self.store().change_password(new, params=cheap_params())
        self.password = new  # ...and the new one does

    # ---- after every step -------------------------------------------------------------------

    @invariant()
    def every_snapshot_restores_and_check_passes(self) -> None:
        store = self.store()
        assert {s.snapshot_id for s in store.snapshots()} == set(self.model)
        for sid, tree in self.model.items():
            assert snapshot_tree(store, sid) == tree, sid
        result = check(store, read_data=1.0)
        errors = [p for p in result.problems if p.severity is Severity.ERROR]
        assert errors == [], errors


TestStoreModel = StoreModel.TestCase
TestStoreModel.settings = settings(
    max_examples=int(os.environ.get("STORE_MODEL_EXAMPLES", "10")),
    stateful_step_count=int(os.environ.get("STORE_MODEL_STEPS", "15")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
