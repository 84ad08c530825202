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
    PASSWORD,
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
        ("unc", "\\\\server\\share\\evil.json"),
        ("backslashes", "sessions\\..\\..\\evil.json"),
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
        f"salvaged-{n}" for n in ("dotdot", "absolute", "drive", "unc", "backslashes", "inner")
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


# ---- salvage of damaged headers and of entries that moved -------------------------------------


def _manual_copy(backups, tmp_path: Path) -> tuple[Path, dict[str, int]]:
    """A copy of the manual backup, and the offsets of some header parts."""
    from therabak.archive.header import CHECKSUM_SIZE

    copy = tmp_path / backups.manual.name
    shutil.copy2(backups.manual, copy)
    with ArchiveReader.open(copy) as reader:
        h = reader.header
    return copy, {
        "creation time": 15,
        "padding": h.mac_offset + 200,
        "checksum": h.header_size - CHECKSUM_SIZE + 5,
        "MAC": h.mac_offset + 3,
    }


@pytest.mark.parametrize("where", ["creation time", "padding", "checksum", "MAC"])
def test_salvage_survives_a_damaged_header(
    unchanged: Practice, demo_practice: Practice, backups, tmp_path: Path, password_file, where
) -> None:
    """One flipped byte in the 4 KiB header (mostly padding) must not cost every file:
    a plain restore refuses (exit 5), a salvage opens the key slot (sealed on its own),
    reports the header and restores every file."""
    archive, offsets = _manual_copy(backups, tmp_path)
    flip_byte(archive, offsets[where])
    r = restore(unchanged, archive, password_file=password_file)
    assert r.returncode == 5 and "header" in r.stderr
    out = tmp_path / "salvaged"
    s = restore(unchanged, archive, "--salvage", "--to", str(out), password_file=password_file)
    assert s.returncode == 3, s.stderr
    assert "damaged: header: the header is damaged" in s.stdout
    with ArchiveReader.open(backups.manual) as reader:
        reader.unlock(password=PASSWORD)
        paths = {e.path for e in reader.read_index().entries}
    original = plaintext_tree(demo_practice.data_dir, demo_practice.key)
    got = plaintext_tree(out, demo_practice.key)
    assert set(got) == paths
    assert all(got[p][1] == original[p][1] for p in paths)


def test_salvage_with_a_destroyed_key_slot_refuses(
    unchanged: Practice, backups, tmp_path: Path, password_file
) -> None:
    archive, _ = _manual_copy(backups, tmp_path)
    with ArchiveReader.open(archive) as reader:
        slot_end = reader.header.mac_offset
    flip_byte(archive, slot_end - 10)  # inside the only slot's wrapped key
    out = tmp_path / "salvaged"
    s = restore(unchanged, archive, "--salvage", "--to", str(out), password_file=password_file)
    assert s.returncode == 5 and "none of its key slots opens" in s.stderr
    assert not out.exists()


def test_salvage_restores_entries_that_changed_places(
    unchanged: Practice, demo_practice: Practice, backups, tmp_path: Path
) -> None:
    """Two whole entries swapped: the index points at the wrong ones (verify and restore
    say so), but both files are intact, and salvage finds them where they are."""
    from archive_support import archive_layout

    archive = tmp_path / "swapped.therabak"
    data = backups.auto.read_bytes()
    with ArchiveReader.open(backups.auto) as reader:
        reader.unlock(account=unchanged.key)
        layout = archive_layout(data, reader.archive_key)
    (a, first), (b, second) = list(layout.entries.items())[3:5]
    archive.write_bytes(
        data[: first.start]
        + data[second.start : second.end]
        + data[first.start : first.end]
        + data[second.end :]
    )
    v = run_cli("verify", archive, *practice_args(unchanged))
    assert v.returncode == 5 and a in v.stdout and b in v.stdout
    assert restore(unchanged, archive).returncode == 5
    out = tmp_path / "salvaged"
    s = restore(unchanged, archive, "--salvage", "--to", str(out))
    assert s.returncode == 3, s.stderr
    assert a in s.stdout and b in s.stdout and "intact copy" in s.stdout
    original = plaintext_tree(demo_practice.data_dir, demo_practice.key)
    got = plaintext_tree(out, demo_practice.key)
    assert set(got) == set(layout.entries)
    assert all(got[p] == original[p] for p in got)


@pytest.mark.parametrize(
    "lie", ["huge size", "wrong size", "missing", "a folder", "NUL in the path", "leaves it"]
)
def test_folder_backup_whose_manifest_lies(
    unchanged: Practice, backups, tmp_path: Path, lie: str
) -> None:
    """A manifest line that the file cannot match is damage found before anything is
    planned: exit 5 (a declared 1 EiB asked for exabytes of space, exit 6); salvage
    restores everything else."""
    import json

    from therabak.datafolder.manifest import MANIFEST_NAME

    point = tmp_path / "usb" / backups.folder.name
    shutil.copytree(backups.folder, point)
    lines = (point / MANIFEST_NAME).read_text("utf-8").splitlines()
    n = next(i for i, line in enumerate(lines) if '"sessions/K0002/' in line)
    entry = json.loads(lines[n])
    if lie == "huge size":
        entry["s"] = 1 << 60
    elif lie == "wrong size":
        entry["s"] += 1
    elif lie == "missing":
        (point / entry["p"]).unlink()
    elif lie == "a folder":
        (point / entry["p"]).unlink()
        (point / entry["p"]).mkdir()
    elif lie == "NUL in the path":  # was a ValueError: exit 1, "internal error"
        entry["p"] = entry["p"].replace(".json", "\x00.json")
    else:
        entry["p"] = "../../" + entry["p"]
    lines[n] = json.dumps(entry)
    (point / MANIFEST_NAME).write_text("\n".join(lines) + "\n", "utf-8")
    r = restore(unchanged, point)
    assert r.returncode == 5, r.stderr
    assert "Traceback" not in r.stderr and "--salvage" in r.stderr
    shown = entry["p"].replace("\x00", "\\x00")
    assert shown in r.stderr or entry["p"] in r.stderr
    out = tmp_path / "salvaged"
    s = restore(unchanged, point, "--salvage", "--to", str(out))
    assert s.returncode == 3, s.stderr
    restored = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    listed = {json.loads(line)["p"] for line in lines[1:]}
    assert restored == listed - {entry["p"]}
