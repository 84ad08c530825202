"""Backups into a folder inside Data do not nest (issue 13, finding 4).

A destination inside the data folder (the backup's own, a remembered one, the automatic
backups' folder) keeps therabak's backups out of every scan: the backup, the preview and
what a restore carries over say so. The user's own files in such a folder are still
backed up. A folder backup into Data, or into a folder inside it, is refused before any
work (exit 2).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from archive_support import events_of, json_lines, the_summary, verify_file
from conftest import IS_WINDOWS, Practice, run_cli
from restore_helpers import practice_args, tree_state
from therabak.archive.reader import ArchiveReader


def stored_paths(archive: Path, p: Practice) -> set[str]:
    with ArchiveReader.open(archive) as reader:
        reader.unlock(account=p.key)
        return {e.path for e in reader.read_index().entries}


def test_backups_into_a_folder_inside_data_do_not_nest(practice: Practice) -> None:
    dest = practice.data_dir / "documents" / "Sicherungen"
    dest.mkdir()
    (dest / "Notiz zu den Sicherungen.txt").write_text("the user's own file")
    sizes = []
    for n in range(3):
        r = run_cli(
            "backup",
            "--single-file",
            "--dest",
            dest,
            "--no-password",
            "--json",
            *practice_args(practice),
        )
        assert r.returncode == 3, r.stderr  # done with a warning: the backups were left out
        summary = the_summary(json_lines(r.stdout))
        archive = Path(summary["archive"])
        sizes.append(archive.stat().st_size)
        assert verify_file(archive) == []
        inside = {p for p in stored_paths(archive, practice) if p.startswith("documents/Sich")}
        assert inside == {"documents/Sicherungen/Notiz zu den Sicherungen.txt"}
        left_out = summary["left_out"]
        assert len(left_out) == n and all(
            x["path"].startswith("documents/Sicherungen/TheraPsy-Backup-") for x in left_out
        )
        [warning] = [w for w in summary["warnings"] if w["code"] == "destination-inside-data"]
        assert "inside the data folder" in warning["message"]
        assert "inside the data folder" in events_of(json_lines(r.stdout), "warning")[0]["message"]
    assert max(sizes) - min(sizes) < 10_000, sizes  # was 2.4, 4.9 and 9.7 MB


def test_the_preview_leaves_out_the_backups_of_a_destination_inside_data(
    practice: Practice,
) -> None:
    dest = practice.data_dir / "documents" / "Sicherungen"
    before = json.loads(run_cli("preview", "--json", *practice_args(practice)).stdout)
    r = run_cli(
        "backup", "--single-file", "--dest", dest, "--no-password", *practice_args(practice)
    )
    assert r.returncode == 3, r.stderr
    doc = json.loads(run_cli("preview", "--json", *practice_args(practice)).stdout)
    assert doc["total"] == before["total"]  # the remembered destination's backup is left out
    [left] = doc["left_out"]
    assert left["path"].startswith("documents/Sicherungen/TheraPsy-Backup-")
    text = run_cli("preview", *practice_args(practice)).stdout
    assert "Left out" in text and "documents/Sicherungen" in text


def test_a_restore_keeps_the_backups_inside_data(practice: Practice, tmp_path: Path) -> None:
    dest = practice.data_dir / "documents" / "Sicherungen"
    r = run_cli(
        "backup",
        "--single-file",
        "--dest",
        dest,
        "--no-password",
        "--json",
        *practice_args(practice),
    )
    assert r.returncode == 3, r.stderr
    archive = Path(the_summary(json_lines(r.stdout))["archive"])
    s = run_cli(
        "restore", archive, "--yes", "--json", *practice_args(practice),
        env={"THERABAK_MEDIA_ROOTS": ""},
    )  # fmt: skip
    assert s.returncode == 0, s.stderr
    assert archive.is_file(), "the backup inside Data went away with the restore"
    assert verify_file(archive) == []


@pytest.mark.parametrize("where", ["Data", "a folder inside Data", "a link into Data"])
def test_a_folder_backup_into_data_is_refused_before_any_work(
    practice: Practice, tmp_path: Path, where: str
) -> None:
    if where == "Data":
        dest = practice.data_dir
    elif where == "a folder inside Data":
        dest = practice.data_dir / "documents" / "Kopien"
    else:
        if IS_WINDOWS:
            pytest.skip("symbolic links need privileges on Windows")
        dest = tmp_path / "usb"
        dest.symlink_to(practice.data_dir / "documents", target_is_directory=True)
    before = tree_state(practice.data_dir)
    r = run_cli("folder-backup", "--dest", dest, *practice_args(practice))
    assert r.returncode == 2, r.stderr
    assert "inside the data folder" in r.stderr and "Traceback" not in r.stderr
    assert tree_state(practice.data_dir) == before
    assert not os.path.lexists(practice.data_dir / "documents" / "Kopien")
