"""Jobs that meet: two restores, a restore and a backup (manual, folder, automatic) in
either order, an automatic backup during a manual one. Two automatic runs at once are in
test_auto.py.

The first job is started for real and frozen (SIGSTOP) in the middle of its work, so
the second one meets it there whatever the timing; then it is let go. Locks make the
second wait or refuse clearly (exit 7, one line naming the other job), and nothing is
corrupted: the first job finishes, every backup verifies and holds exactly one state
of the data, and ``Data`` is exactly the old or the restored state.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archive_support import archives_in, partials_in, verify_file
from cli_support import frozen, single_line, wait_for_event
from conftest import IS_WINDOWS, Practice, run_cli, start_cli
from restore_helpers import (
    change_data,
    folder_backup_problems,
    leftovers,
    plaintext_tree,
    practice_args,
    restore,
    subset,
    tree_state,
)
from therabak.archive.reader import ArchiveReader
from therabak.datafolder.manifest import MANIFEST_NAME

pytest_plugins = ["restore_helpers"]  # its fixtures: backups, other_account, ...
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(IS_WINDOWS, reason="SIGSTOP freezes the first job"),
]

CORE = ("profiles/", "sessions/", "therapists/", "finances/")
SLOW = {"THERABAK_FAILPOINTS": "delay-ms=40"}


def start_restore(p: Practice, point: Path, *extra: str):
    """A restore with --json, slowed down, stopped once it is staging."""
    proc = start_cli(
        "restore",
        point,
        "--yes",
        "--json",
        *practice_args(p),
        *extra,
        env={**SLOW, "THERABAK_MEDIA_ROOTS": ""},
    )
    wait_for_event(proc, "progress")  # staging, lock held
    return proc


READERS = {  # a job that reads Data: (arguments after the practice's, phase it is in)
    "backup": (["backup", "--single-file", "--no-password", "--dest"], "writing"),
    "store-backup": (["backup", "--no-password", "--dest"], "writing"),
    "folder-backup": (["folder-backup", "--dest"], "copying"),
    "auto": (["auto", "--force"], "writing"),
}


def reader_args(job: str, p: Practice, dest: Path) -> list:
    args, _ = READERS[job]
    return [*args, dest] if args[-1] == "--dest" else list(args)


def start_reader(job: str, p: Practice, dest: Path):
    proc = start_cli(*reader_args(job, p, dest), "--json", *practice_args(p), env=SLOW)
    wait_for_event(proc, "phase", name=READERS[job][1])
    wait_for_event(proc, "progress")
    return proc


def finish(proc, timeout: float = 120) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        proc.kill()
    return proc.returncode, out, err


def produced(job: str, p: Practice, dest: Path) -> list[Path]:
    """The finished backups: archives, folder backups, or (auto) the snapshot objects of
    the automatic backups' store."""
    folder = p.root / "TheraPsy-Auto-Backups" if job == "auto" else dest
    if job in ("auto", "store-backup"):
        folder = folder / "TheraPsy-Backups"
    if not folder.exists():
        return []
    if job == "folder-backup":
        return [f for f in folder.iterdir() if f.is_dir() and not f.name.endswith(".partial")]
    if job in ("auto", "store-backup"):
        snapshots = folder / "snapshots"
        return sorted(snapshots.iterdir()) if snapshots.exists() else []
    return archives_in(folder)


def backup_state(job: str, p: Practice, made: Path) -> dict[str, str]:
    """What a finished backup holds: path -> SHA-256 of the plaintext (read back)."""
    if job == "folder-backup":
        assert folder_backup_problems(made) == []
        return {k: v[1] for k, v in plaintext_tree(made, p.key, skip=(MANIFEST_NAME,)).items()}
    if job in ("auto", "store-backup"):
        from store_support import snapshot_tree
        from therabak.storage.local import LocalStorage
        from therabak.store.check import check
        from therabak.store.core import Store
        from therabak.store.keyfile import Unlock

        store = Store.open(LocalStorage(made.parent.parent), Unlock(account=p.key))  # or none
        assert check(store, read_data=1.0).exit_code == 0
        return snapshot_tree(store, made.name)
    assert verify_file(made, account=p.key) == []
    with ArchiveReader.open(made) as reader:
        reader.unlock(account=p.key)
        return {e.path: e.sha256 for e in reader.read_index().entries}


# ---- restore x restore --------------------------------------------------------------------------


def test_two_restores_at_once(practice: Practice, demo_practice: Practice, backups) -> None:
    change_data(practice)
    old_plain = plaintext_tree(practice.data_dir, practice.key)
    original = plaintext_tree(demo_practice.data_dir, practice.key)
    new_plain = {**subset(old_plain, CORE, inside=False), **subset(original, CORE, inside=True)}
    first = start_restore(practice, backups.auto)
    try:
        with frozen(first):
            second = restore(practice, backups.auto)
            assert second.returncode == 7, second.stderr
            assert "Another restore is running" in single_line(second.stderr)
    finally:
        code, _, err = finish(first)
    assert code == 0, err
    assert plaintext_tree(practice.data_dir, practice.key) == new_plain
    assert leftovers(practice.root) == []


# ---- restore x a job that reads Data ------------------------------------------------------------


@pytest.mark.parametrize("job", list(READERS))
def test_restore_while_a_backup_reads_the_data(
    practice: Practice, backups, tmp_path: Path, job: str
) -> None:
    """The backup must hold one state of the data: a restore may not swap Data under it."""
    change_data(practice)
    before = tree_state(practice.data_dir)
    plain = {k: v[1] for k, v in plaintext_tree(practice.data_dir, practice.key).items()}
    dest = tmp_path / "usb"
    first = start_reader(job, practice, dest)
    try:
        with frozen(first):
            second = restore(practice, backups.auto)
            assert second.returncode == 7, (second.returncode, second.stderr)
            line = single_line(second.stderr)
            assert "backup" in line and str(first.pid) in line
            assert tree_state(practice.data_dir) == before
    finally:
        code, _, err = finish(first)
    assert code == 0, err
    [made] = produced(job, practice, dest)
    held = backup_state(job, practice, made)
    assert held == {k: v for k, v in plain.items() if k in held}  # the old state, whole
    assert tree_state(practice.data_dir) == before
    assert leftovers(practice.root) == []
    # and once the backup is done, the restore goes ahead
    assert restore(practice, backups.auto).returncode == 0


@pytest.mark.parametrize("job", list(READERS))
def test_backup_while_a_restore_runs(practice: Practice, backups, tmp_path: Path, job: str) -> None:
    change_data(practice)
    dest = tmp_path / "usb"
    first = start_restore(practice, backups.auto)
    try:
        with frozen(first):
            second = run_cli(*reader_args(job, practice, dest), *practice_args(practice))
            assert second.returncode == 7, (second.returncode, second.stderr)
            assert "Traceback" not in second.stderr
            line = second.stderr.strip().splitlines()[-1]  # after --no-password's warning
            assert "restore" in line and str(first.pid) in line
            assert produced(job, practice, dest) == []
            assert not dest.exists() or partials_in(dest) == []
    finally:
        code, _, err = finish(first)
    assert code == 0, err
    assert leftovers(practice.root) == []
    again = run_cli(*reader_args(job, practice, dest), *practice_args(practice))
    assert again.returncode == 0, again.stderr


# ---- two jobs that only read Data ---------------------------------------------------------------


def test_auto_during_a_manual_backup(practice: Practice, tmp_path: Path) -> None:
    """Both only read Data: both run, both verify, each holds the whole data."""
    dest = tmp_path / "usb"
    first = start_reader("backup", practice, dest)
    try:
        with frozen(first):
            auto = run_cli("auto", "--json", *practice_args(practice))
            assert auto.returncode == 0, auto.stderr
            assert json.loads(auto.stdout.splitlines()[-1])["ran"] is True
    finally:
        code, _, err = finish(first)
    assert code == 0, err
    plain = {k: v[1] for k, v in plaintext_tree(practice.data_dir, practice.key).items()}
    for job in ("backup", "auto"):
        [made] = produced(job, practice, dest)
        held = backup_state(job, practice, made)
        assert held and held == {k: v for k, v in plain.items() if k in held}
    assert leftovers(practice.root) == []
