"""Cleanup never follows a link (issue 13, finding 3).

What a job that died leaves behind (``<name>.<pid>.partial`` archives and volumes, folder
backups being copied, a restore's ``Data.restore-….partial`` staging folder, the
reservation of a final name) is recognised by its name, its type and its owner (``lstat``),
and removed by the one sweeper (``therabak.datafolder.partials``). A link found at such a name is
removed as a link: its target is never chmod-ed, entered or emptied. Only what was really
removed is reported, so a later command does not say it again.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from conftest import IS_WINDOWS, Practice, run_cli
from restore_helpers import practice_args
from therabak.datafolder import partials
from therabak.datafolder.partials import LeftoverKind

pytestmark = pytest.mark.skipif(IS_WINDOWS, reason="symbolic links need privileges on Windows")

DEAD = 999_999_999  # a process id no system gives out


def victim(tmp_path: Path) -> tuple[Path, dict]:
    """A folder someone cares about (mode 0755, a file in it): what a link points to."""
    folder = tmp_path / "victim"
    folder.mkdir()
    folder.chmod(0o755)
    (folder / "wichtig.txt").write_text("keep me")
    (folder / "wichtig.txt").chmod(0o644)
    return folder, state(folder)


def state(folder: Path) -> dict:
    return {
        p.name: (stat.S_IMODE(p.lstat().st_mode), p.read_bytes() if p.is_file() else None)
        for p in [folder, *folder.iterdir()]
    }


def test_a_link_at_a_stale_staging_name_is_removed_as_a_link(
    practice: Practice, tmp_path: Path
) -> None:
    target, before = victim(tmp_path)
    planted = practice.root / f"Data.restore-2026-01-01_000000.{DEAD}.partial"
    planted.symlink_to(target, target_is_directory=True)
    r = run_cli("status", *practice_args(practice))
    assert "Leftovers of an interrupted restore were removed" in r.stderr, r.stderr
    assert not os.path.lexists(planted)
    assert state(target) == before, "the link's target was changed"
    again = run_cli("status", *practice_args(practice))
    assert "Leftovers" not in again.stderr, "said again although nothing was removed"


def test_a_link_at_a_stale_archive_partial_is_removed_as_a_link(
    practice: Practice, tmp_path: Path
) -> None:
    target, before = victim(tmp_path)
    usb = tmp_path / "usb"
    usb.mkdir()
    planted = usb / f"TheraPsy-Backup-2026-01-01_000000.therabak.{DEAD}.partial"
    planted.symlink_to(target / "wichtig.txt")
    volume = usb / f"TheraPsy-Backup-2026-01-01_000000.therabak.002.{DEAD}.partial"
    volume.symlink_to(target, target_is_directory=True)
    r = run_cli("backup", "--single-file", "--dest", usb, "--no-password", *practice_args(practice))
    assert r.returncode == 0, r.stderr
    assert not os.path.lexists(planted) and not os.path.lexists(volume)
    assert state(target) == before


def test_a_link_at_a_stale_folder_backup_partial_is_removed_as_a_link(
    practice: Practice, tmp_path: Path
) -> None:
    target, before = victim(tmp_path)
    usb = tmp_path / "usb"
    usb.mkdir()
    planted = usb / f"TheraPsy-Data-2026-01-01_000000.{DEAD}.partial"
    planted.symlink_to(target, target_is_directory=True)
    r = run_cli("folder-backup", "--dest", usb, *practice_args(practice))
    assert r.returncode == 0, r.stderr
    assert not os.path.lexists(planted)
    assert state(target) == before


def test_a_link_inside_a_stale_folder_is_removed_not_followed(tmp_path: Path) -> None:
    target, before = victim(tmp_path)
    stale = tmp_path / "usb" / f"TheraPsy-Data-2026-01-01_000000.{DEAD}.partial"
    (stale / "sessions").mkdir(parents=True)
    (stale / "sessions" / "link").symlink_to(target, target_is_directory=True)
    (stale / "sessions").chmod(0o500)  # read-only: the sweeper must make it writable
    removed = partials.sweep(stale.parent, belongs=lambda name: True, kind=LeftoverKind.FOLDER)
    assert removed == [stale] and not os.path.lexists(stale)
    assert state(target) == before


def test_leftovers_are_recognised_by_type(tmp_path: Path) -> None:
    """A folder where an archive's partial file would be, or a file where a staging
    folder would be, is not what a job of ours leaves: left alone, and not reported."""
    folder = tmp_path / "usb"
    folder.mkdir()
    odd_dir = folder / f"TheraPsy-Backup-2026-01-01_000000.therabak.{DEAD}.partial"
    (odd_dir / "inside").mkdir(parents=True)
    real = folder / f"TheraPsy-Backup-2026-01-02_000000.therabak.{DEAD}.partial"
    real.write_bytes(b"half an archive")
    assert partials.sweep(folder, belongs=lambda n: True, kind=LeftoverKind.FILE) == [real]
    assert (odd_dir / "inside").is_dir() and not real.exists()
    odd_file = folder / f"Data.restore-2026-01-01_000000.{DEAD}.partial"
    odd_file.write_bytes(b"not a folder")
    assert partials.sweep(folder, belongs=lambda n: True, kind=LeftoverKind.FOLDER) == [odd_dir]
    assert odd_file.exists()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs chown")
def test_leftovers_of_another_user_are_left_alone(tmp_path: Path) -> None:
    folder = tmp_path / "usb"
    folder.mkdir()
    theirs = folder / f"TheraPsy-Backup-2026-01-01_000000.therabak.{DEAD}.partial"
    theirs.write_bytes(b"another user's backup")
    os.chown(theirs, 65534, 65534)
    link = folder / f"TheraPsy-Backup-2026-01-02_000000.therabak.{DEAD}.partial"
    link.symlink_to(theirs)
    os.lchown(link, 65534, 65534)
    assert partials.sweep(folder, belongs=lambda n: True, kind=LeftoverKind.FILE) == []
    assert theirs.exists() and link.is_symlink()


def test_a_live_process_keeps_its_leftovers(tmp_path: Path) -> None:
    folder = tmp_path / "usb"
    folder.mkdir()
    mine = folder / f"TheraPsy-Backup-2026-01-01_000000.therabak.{os.getpid()}.partial"
    mine.write_bytes(b"being written")
    assert partials.sweep(folder, belongs=lambda n: True, kind=LeftoverKind.FILE) == []
    assert mine.exists()


def test_partial_names_round_trip() -> None:
    name = partials.partial_name("TheraPsy-Backup-2026-01-01_000000.therabak.002", 4242)
    assert name == "TheraPsy-Backup-2026-01-01_000000.therabak.002.4242.partial"
    assert partials.parse_partial(name) == (
        "TheraPsy-Backup-2026-01-01_000000.therabak.002",
        4242,
    )
    for not_ours in ("x.partial", "x.notes.partial", "x.12.partial.txt", ".12.partial"):
        assert partials.parse_partial(not_ours) is None
    # an impossible process id is a dead process's
    assert partials.parse_partial("x.99999999999999999999.partial") == ("x", 99999999999999999999)
