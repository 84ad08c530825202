"""Every refusal of ``therabak restore``: its exit code, a clear message, and the data
folder byte-for-byte unchanged with nothing left behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import Practice, run_cli
from restore_helpers import (
    Crafted,
    before_restore_dirs,
    change_data,
    craft_archive,
    flip_byte,
    leftovers,
    plaintext_tree,
    practice_args,
    restore,
    tree_state,
)
from therabak.archive.reader import ArchiveReader
from therabak.practice.envelope import seal_bytes

pytest_plugins = ["restore_helpers"]  # its fixtures: backups, other_account, ...


@pytest.fixture
def unchanged(practice: Practice):
    """Asserts, after the test body, that Data is byte-for-byte as before and clean."""
    change_data(practice)  # a state that differs from every backup
    before = tree_state(practice.data_dir)
    parent_before = sorted(p.name for p in practice.root.iterdir())
    yield practice
    assert tree_state(practice.data_dir) == before
    assert sorted(p.name for p in practice.root.iterdir()) == parent_before
    assert leftovers(practice.root) == []
    assert before_restore_dirs(practice) == []


def _damaged_copy(src: Path, dest: Path, key, *, where: str) -> tuple[Path, str]:
    shutil.copy2(src, dest)
    with ArchiveReader.open(dest) as reader:
        reader.unlock(account=key)
        index = reader.read_index()
        index_offset, _ = reader.index_location()
    victim = next(e for e in index.entries if e.path.startswith("sessions/K0002/"))
    offset = victim.offset + victim.length - 20 if where == "entry" else index_offset + 30
    flip_byte(dest, offset)
    return dest, victim.path


def test_wrong_password(unchanged: Practice, backups, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not the password\n")
    r = restore(unchanged, backups.manual, password_file=wrong)
    assert r.returncode == 4
    assert "Wrong password" in r.stderr


def test_no_password_and_no_terminal_is_a_usage_error(unchanged: Practice, backups) -> None:
    r = restore(unchanged, backups.manual)
    assert r.returncode == 2 and "password" in r.stderr


def test_no_yes_and_no_terminal(unchanged: Practice, backups) -> None:
    r = run_cli("restore", backups.auto, *practice_args(unchanged))
    assert r.returncode == 2 and "--yes" in r.stderr


def test_other_accounts_automatic_backup(unchanged: Practice, other_account) -> None:
    r = restore(unchanged, other_account.auto)
    assert r.returncode == 4
    assert "another account" in r.stderr
    assert other_account.key.id_hex in r.stderr and unchanged.key.id_hex in r.stderr


def test_other_accounts_folder_backup(unchanged: Practice, other_account) -> None:
    r = restore(unchanged, other_account.folder)
    assert r.returncode == 4
    assert "folder backup belongs to another account" in r.stderr
    assert other_account.key.id_hex in r.stderr


def test_damaged_entry(unchanged: Practice, backups, tmp_path: Path) -> None:
    archive, victim = _damaged_copy(
        backups.auto, tmp_path / "damaged.therabak", unchanged.key, where="entry"
    )
    r = restore(unchanged, archive)
    assert r.returncode == 5
    assert victim in r.stderr and "--salvage" in r.stderr


def test_damaged_index(unchanged: Practice, backups, tmp_path: Path) -> None:
    archive, _ = _damaged_copy(
        backups.auto, tmp_path / "damaged.therabak", unchanged.key, where="index"
    )
    r = restore(unchanged, archive)
    assert r.returncode == 5 and "index" in r.stderr


def test_not_a_backup(unchanged: Practice, tmp_path: Path) -> None:
    bogus = tmp_path / "holiday.therabak"
    bogus.write_bytes(b"\xff\xd8\xff\xe0 a photo, not a backup" * 10)
    r = restore(unchanged, bogus)
    assert r.returncode == 5 and "not a therabak backup" in r.stderr


def test_practice_app_running(unchanged: Practice, backups) -> None:
    lock = unchanged.data_dir / ".lock"
    lock.write_text(str(os.getpid()))  # this test process: certainly alive
    try:
        r = restore(unchanged, backups.auto)
        assert r.returncode == 7
        assert "TheraPsy is running" in r.stderr and "--force" in r.stderr
    finally:
        lock.unlink()


def test_lock_without_a_process_id_counts_as_running(unchanged: Practice, backups) -> None:
    lock = unchanged.data_dir / ".lock"
    lock.write_text("locked")
    try:
        assert restore(unchanged, backups.auto).returncode == 7
    finally:
        lock.unlink()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_practice_lock_and_force_are_not_refusals(practice: Practice, backups) -> None:
    lock = practice.data_dir / ".lock"
    lock.write_text(str(_dead_pid()))
    assert restore(practice, backups.auto).returncode == 0
    lock = practice.data_dir / ".lock"
    lock.write_text(str(os.getpid()))
    assert restore(practice, backups.auto).returncode == 7
    assert restore(practice, backups.auto, "--force").returncode == 0


def test_another_restore_running(unchanged: Practice, backups) -> None:
    lock = unchanged.root / ".Data.therabak-restore.lock"
    lock.write_text(f'{{"pid": {os.getpid()}, "started": "now"}}')
    try:
        r = restore(unchanged, backups.auto)
        assert r.returncode == 7 and "Another restore is running" in r.stderr
    finally:
        lock.unlink()


def test_disk_full_while_staging(unchanged: Practice, backups) -> None:
    r = restore(unchanged, backups.auto, env={"THERABAK_FAILPOINTS": "enospc-after=3000"})
    assert r.returncode == 6 and "full" in r.stderr


def test_not_enough_space_up_front(practice: Practice, backups, tmp_path: Path) -> None:
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs")
    mnt = tmp_path / "small"
    mnt.mkdir()
    if (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True
        ).returncode
        != 0
    ):
        pytest.skip("cannot mount a tmpfs here")
    try:
        shutil.copytree(practice.root, mnt / "practice", symlinks=True)
        small = Practice(
            mnt / "practice",
            mnt / "practice" / "Data",
            mnt / "practice" / "account.key",
            practice.spec,
        )
        before = tree_state(small.data_dir)
        r = restore(small, backups.auto)
        assert r.returncode == 6, r.stderr
        assert "Not enough space" in r.stderr
        assert tree_state(small.data_dir) == before
        assert leftovers(small.root) == [] and before_restore_dirs(small) == []
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_hostile_paths_are_refused_and_nothing_is_written_outside(
    unchanged: Practice, tmp_path: Path
) -> None:
    key = unchanged.key
    outside_before = sorted(p.name for p in tmp_path.iterdir())
    for name, bad in (
        ("dotdot", "../../evil.json"),
        ("absolute", "/tmp/evil.json"),
        ("drive", "C:/evil.json"),
        ("device", "sessions/CON.json"),
        ("colon", "sessions/a:b.json"),
        ("inner", "sessions/../../evil.json"),
    ):
        archive = craft_archive(
            tmp_path / "crafted" / f"{name}.therabak",
            key,
            [Crafted("sessions/K0001/ok.json", seal_bytes(key, b"ok")), Crafted(bad, b"evil")],
        )
        r = restore(unchanged, archive)
        assert r.returncode == 5, (name, r.stderr)
        assert "Refusing" in r.stderr
        salvage = restore(
            unchanged, archive, "--salvage", "--to", str(tmp_path / f"salvaged-{name}")
        )
        assert salvage.returncode == 3, (name, salvage.stderr)
        got = sorted(
            p.relative_to(tmp_path / f"salvaged-{name}").as_posix()
            for p in (tmp_path / f"salvaged-{name}").rglob("*")
            if p.is_file()
        )
        assert got == ["sessions/K0001/ok.json"]
    assert not Path("/tmp/evil.json").exists()
    assert not any(p.name == "evil.json" for p in tmp_path.rglob("*"))
    new = sorted(p.name for p in tmp_path.iterdir())
    assert set(new) - set(outside_before) <= {"crafted"} | {
        f"salvaged-{n}" for n in ("dotdot", "absolute", "drive", "device", "colon", "inner")
    }


def test_raw_entries_of_another_account(unchanged: Practice, other_account, tmp_path: Path) -> None:
    key = unchanged.key
    foreign = seal_bytes(other_account.key, b"sealed elsewhere")
    archive = craft_archive(
        tmp_path / "raw.therabak",
        key,
        [
            Crafted("sessions/K0003/2026-01-01-01.json", seal_bytes(key, b"fine")),
            Crafted(
                "sessions/K0003/2026-01-02-02.json",
                foreign,
                raw=True,
                key_id=other_account.key.id_hex,
            ),
        ],
    )
    r = restore(unchanged, archive)
    assert r.returncode == 4
    assert other_account.key.id_hex in r.stderr and "--salvage" in r.stderr


def test_raw_entries_of_this_account_restore_as_they_are(
    practice: Practice, tmp_path: Path
) -> None:
    key = practice.key
    sealed = seal_bytes(key, b"could not be decrypted at backup time")
    archive = craft_archive(
        tmp_path / "raw.therabak",
        key,
        [Crafted("sessions/K0003/raw.json", sealed, raw=True, key_id=key.id_hex)],
    )
    assert restore(practice, archive).returncode == 0
    assert (practice.data_dir / "sessions/K0003/raw.json").read_bytes() == sealed


def test_unknown_category(unchanged: Practice, backups) -> None:
    r = restore(unchanged, backups.auto, "--include", "no-such-thing")
    assert r.returncode == 2 and "no-such-thing" in r.stderr


def test_category_the_backup_does_not_hold(unchanged: Practice, backups) -> None:
    r = restore(unchanged, backups.auto, "--include", "audio")
    assert r.returncode == 2 and "none of the chosen categories" in r.stderr


def test_missing_account_key_with_existing_data(
    unchanged: Practice, backups, tmp_path: Path
) -> None:
    r = run_cli(
        "restore",
        backups.auto,
        "--yes",
        "--data-dir",
        unchanged.data_dir,
        "--account-key",
        tmp_path / "nowhere.key",
    )
    assert r.returncode == 4 and "original account key" in r.stderr


def test_salvage_restores_every_intact_file(
    practice: Practice, demo_practice: Practice, backups, tmp_path: Path
) -> None:
    archive, victim = _damaged_copy(
        backups.auto, tmp_path / "damaged.therabak", practice.key, where="entry"
    )
    change_data(practice)
    current_victim = (practice.data_dir / victim).read_bytes()
    r = restore(practice, archive, "--salvage")
    assert r.returncode == 3, r.stderr
    assert victim in r.stdout
    original = plaintext_tree(demo_practice.data_dir, practice.key)
    now = plaintext_tree(practice.data_dir, practice.key)
    for path, value in original.items():
        if path.startswith(("profiles/", "sessions/", "therapists/", "finances/")) and (
            path != victim
        ):
            assert now[path] == value, path
    # The damaged file keeps its current version rather than disappearing.
    assert (practice.data_dir / victim).read_bytes() == current_victim


def test_salvage_with_a_damaged_index(
    practice: Practice, demo_practice: Practice, backups, tmp_path: Path
) -> None:
    archive, _ = _damaged_copy(
        backups.auto, tmp_path / "damaged.therabak", practice.key, where="index"
    )
    change_data(practice)
    r = restore(practice, archive, "--salvage")
    assert r.returncode == 3, r.stderr
    original = plaintext_tree(demo_practice.data_dir, practice.key)
    now = plaintext_tree(practice.data_dir, practice.key)
    core = [
        p for p in original if p.startswith(("profiles/", "sessions/", "therapists/", "finances/"))
    ]
    # Rebuilt from the entries themselves: contents are back (mtimes too: they are in the
    # entry metadata).
    assert all(now[p] == original[p] for p in core)
