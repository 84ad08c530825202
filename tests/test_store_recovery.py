"""A backup store's recovery code, with the real CLI (issue 18, the part for stores):

* the code opens the store's snapshots after the password was changed twice (the old
  passwords are refused), and once the code is removed it opens neither a snapshot
  written before the removal nor one written after;
* ``therabak recovery create|remove`` killed (SIGKILL) at every point it passes leaves a
  store that opens with the password and whose every snapshot reads back byte-exact,
  never a half-written or missing key file: killed before the new key file is put, exactly
  the old code opens and ``therabak check`` exits 0; killed after it (the old key file
  not yet deleted), the old and the new key file both open it, as after an interrupted
  password change (documented in ``Store.rewrite_slots``), and ``check`` exits 3 with one
  warning naming the superseded key file. The command run again finishes the change:
  one key file, exactly the new codes, ``check`` exits 0.
"""

from __future__ import annotations

import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest

from archive_support import json_lines
from conftest import IS_WINDOWS, Practice, run_cli
from restore_helpers import plaintext_tree, restore
from store_read_support import make_store_points
from store_support import PASSWORD, backup_data, objects, open_store, snapshot_tree
from therabak.crypto.recovery import RecoveryCode
from therabak.errors import ExitCode, TherabakError
from therabak.storage.local import LocalStorage
from therabak.store.core import Store
from therabak.store.keyfile import Unlock, parse_keyfile


def _code_file(path: Path, code: RecoveryCode) -> Path:
    path.write_text(code.display() + "\n", encoding="utf-8")
    return path


def _secret_file(path: Path, text: str) -> Path:
    path.write_text(text + "\n", encoding="utf-8")
    return path


def test_the_code_opens_a_store_after_two_password_changes_and_nothing_once_removed(
    practice: Practice, tmp_path: Path
):
    points = make_store_points(practice, tmp_path / "stick", count=1)
    root, pw0 = points.root, points.password_file
    code_file = tmp_path / "code.txt"
    r = run_cli(
        "recovery", "create", root, "--password-file", pw0, "--recovery-code-out", code_file
    )
    assert r.returncode == ExitCode.OK, r.stderr
    code = RecoveryCode.parse(code_file.read_text(encoding="utf-8"))
    assert code.display() not in r.stdout + r.stderr
    by_code = ["--recovery-code-file", str(code_file)]

    pw1 = _secret_file(tmp_path / "pw1.txt", "Erstes neues Passwort 1")
    pw2 = _secret_file(tmp_path / "pw2.txt", "Zweites neues Passwort 2")
    for old, new in ((pw0, pw1), (pw1, pw2)):
        r = run_cli("passwd", points.ref(0), "--password-file", old, "--new-password-file", new)
        assert r.returncode == ExitCode.OK, r.stderr
    assert len(objects(root, "keys/")) == 1

    # only the code: verify and restore --to, byte-exact
    r = run_cli("verify", points.ref(0), *by_code)
    assert r.returncode == ExitCode.OK, r.stderr
    target = tmp_path / "restored"
    r = restore(practice, points.ref(0), "--to", str(target), *by_code)
    assert r.returncode == ExitCode.OK, r.stderr
    assert plaintext_tree(target, practice.key) == points.expected(0)
    for old in (pw0, pw1):
        r = run_cli("verify", points.ref(0), "--password-file", old)
        assert r.returncode == ExitCode.CANNOT_UNLOCK, r.stderr
    assert run_cli("verify", points.ref(0), "--password-file", pw2).returncode == ExitCode.OK

    r = run_cli("recovery", "remove", root, "--password-file", pw2)
    assert r.returncode == ExitCode.OK, r.stderr
    store = open_store(root, pw2.read_text(encoding="utf-8").strip())
    after = backup_data(store, practice.data_dir, practice.key).snapshot
    refs = [points.ref(0), f"{root}@{after.snapshot_id[:12]}"]
    for ref in refs:
        r = run_cli("verify", ref, *by_code)
        assert r.returncode == ExitCode.CANNOT_UNLOCK, (ref, r.stderr)
        assert code.display() not in r.stdout + r.stderr
        assert run_cli("verify", ref, "--password-file", pw2).returncode == ExitCode.OK
    r = restore(practice, refs[1], "--to", str(tmp_path / "by-code"), *by_code)
    assert r.returncode == ExitCode.CANNOT_UNLOCK, r.stderr
    assert not (tmp_path / "by-code").exists()


# ---- kill -9 during recovery create / remove ---------------------------------------------------


@dataclass
class Base:
    practice: Practice
    root: Path
    password_file: Path
    old: RecoveryCode  # the store's code before the change
    trees: dict[str, dict[str, str]]  # snapshot id -> path -> SHA-256


@pytest.fixture(scope="module")
def base(demo_practice: Practice, tmp_path_factory) -> Base:
    """A store with a password, a recovery code and two snapshots."""
    top = tmp_path_factory.mktemp("recovery-kill")
    shutil.copytree(demo_practice.root, top / "practice", symlinks=True)
    p = Practice(
        top / "practice", top / "practice" / "Data", top / "practice" / "account.key", None
    )
    old = RecoveryCode.generate()
    points = make_store_points(p, top / "stick", count=2, code=old)
    store = open_store(points.root)
    trees = {s.snapshot_id: snapshot_tree(store, s) for s in points.snapshots}
    return Base(p, points.root, points.password_file, old, trees)


@pytest.fixture
def case(base: Base, tmp_path: Path) -> Base:
    shutil.copytree(base.root.parent, tmp_path / "stick")
    root = tmp_path / "stick" / base.root.name
    pw = shutil.copy(base.password_file, tmp_path / "password.txt")
    return Base(base.practice, root, Path(pw), base.old, dict(base.trees))


def opens_with(root: Path, code: RecoveryCode) -> bool:
    try:
        Store.open(LocalStorage(root), Unlock(recovery_code=code))
    except TherabakError:
        return False
    return True


def run_change(op: str, c: Base, new: RecoveryCode, failpoints: str = ""):
    args = ["recovery", op, c.root, "--password-file", c.password_file]
    if op == "create":
        args += ["--new-recovery-code-file", _code_file(c.root.parent.parent / "new.txt", new)]
    return run_cli(*args, env={"THERABAK_FAILPOINTS": failpoints or None})


# (operation, failpoint): every point `recovery create|remove` on a store passes
CASES = [
    ("create", "crash-at=recovery.prepared"),  # the new code is out, nothing written
    ("create", "crash-after-bytes=1"),  # before the new key file is put
    ("create", "crash-at=recovery.added"),  # the new key file put, the old one not deleted
    ("remove", "crash-after-bytes=1"),
    ("remove", "crash-at=recovery.added"),
]


@pytest.mark.slow
@pytest.mark.skipif(IS_WINDOWS, reason="SIGKILL semantics (the crash points kill the process)")
@pytest.mark.parametrize(("op", "failpoint"), CASES, ids=[f"{o}|{f}" for o, f in CASES])
def test_kill_during_recovery_change_leaves_the_old_or_the_new_codes(
    case: Base, op: str, failpoint: str
):
    new = RecoveryCode.generate()
    keys_before = objects(case.root, "keys/")
    r = run_change(op, case, new, failpoint)
    assert r.returncode == -signal.SIGKILL, (failpoint, r.returncode, r.stderr[-2000:])

    # every key file whole (a half-written one would not parse)
    for name in objects(case.root, "keys/"):
        parse_keyfile((case.root / name).read_bytes(), name)
    old_set = {"old"}
    new_set = {"new"} if op == "create" else set()
    opening = {n for n, c in (("old", case.old), ("new", new)) if opens_with(case.root, c)}
    keys_after = objects(case.root, "keys/")
    if keys_after == keys_before:  # nothing written: the old codes, exactly
        assert opening == old_set
    else:  # the new key file put (superseding the old), the old one not yet deleted
        assert len(keys_after) == 2 and set(keys_before) < set(keys_after)
        assert opening == old_set | new_set  # until the change is run again
    assert_whole(case, superseded=set(keys_before) if keys_after != keys_before else set())

    again = run_change(op, case, new)
    assert again.returncode == ExitCode.OK, again.stderr[-2000:]
    assert len(objects(case.root, "keys/")) == 1
    opening = {n for n, c in (("old", case.old), ("new", new)) if opens_with(case.root, c)}
    assert opening == new_set
    assert_whole(case)


def assert_whole(c: Base, *, superseded: set[str] = frozenset()) -> None:
    """Opens with the password; every snapshot reads back byte-exact; `therabak check
    --read-data` exits 0, or, after an interrupted change (both key files there), 3 with
    one warning, naming the *superseded* key file (no error)."""
    store = open_store(c.root, PASSWORD)
    assert {s.snapshot_id for s in store.snapshots()} == set(c.trees)
    for sid, tree in c.trees.items():
        assert snapshot_tree(store, sid) == tree, sid
    r = run_cli("check", c.root, "--read-data", "--password-file", c.password_file, "--json")
    out = r.stdout + r.stderr
    if not superseded:
        assert r.returncode == ExitCode.OK, out
        return
    assert r.returncode == ExitCode.WARNINGS, out
    problems = json_lines(r.stdout)[-1]["problems"]
    warnings = [p for p in problems if p["severity"] != "note"]
    assert len(warnings) == 1 and warnings[0]["severity"] == "warning", warnings
    assert warnings[0]["object"] in superseded, warnings
