"""Issue 13's name policy (finding 1) together with findings 2, 4 and 5.

A restore's name plan covers every file of the restored data, the backups kept inside
Data (carried over, never backed up) included, also over a Data that is a link; the
preview's Windows-name notes leave out what the scan leaves out; a folder backup stored
under escaped names is still checked envelope by envelope on restore.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from archive_support import json_lines, the_summary
from conftest import IS_WINDOWS, Practice, run_cli
from restore_helpers import practice_args, restore
from therabak.datafolder.manifest import MANIFEST_NAME
from therabak.practice.envelope import seal_bytes

pytest_plugins = ["restore_helpers"]  # its fixtures: other_account, ...
pytestmark = pytest.mark.skipif(
    IS_WINDOWS, reason="names Windows cannot hold, and symbolic links, need POSIX"
)

SHELF = "documents/Sicherungen 14:00"  # a destination inside Data, its name odd on Windows
TERMIN = "documents/K0001/Termin 14:00.txt"
WINDOWS = {"THERABAK_MEDIA_ROOTS": "", "THERABAK_FS_RULES": "windows"}


def escaped(path: str) -> str:
    return path.replace(":", "%3A")


def linked(p: Practice) -> tuple[Path, Path]:
    """Move Data to a "second disk" and link it back: (the link, the real folder)."""
    real = p.root.parent / "disk2" / "TheraPsy-Daten"
    real.parent.mkdir()
    shutil.move(p.data_dir, real)
    p.data_dir.symlink_to(real, target_is_directory=True)
    return p.data_dir, real


def backup_into_data(p: Practice) -> Path:
    """A Termin with a colon, a note of the user's in the shelf inside Data, and a backup
    into that shelf (exit 3: its backups are left out); returns the backup."""
    (p.data_dir / TERMIN).write_bytes(b"Termin um 14 Uhr")
    (p.data_dir / SHELF).mkdir()
    (p.data_dir / SHELF / "Notiz.txt").write_text("the user's own file")
    r = run_cli(
        "backup",
        "--single-file",
        "--dest",
        p.data_dir / SHELF,
        "--no-password",
        "--json",
        *practice_args(p),
    )
    assert r.returncode == 3, r.stderr
    return Path(the_summary(json_lines(r.stdout))["archive"])


def test_the_preview_notes_no_name_it_leaves_out(practice: Practice) -> None:
    archive = backup_into_data(practice)
    doc = json.loads(run_cli("preview", "--json", *practice_args(practice)).stdout)
    assert [x["path"] for x in doc["left_out"]] == [f"{SHELF}/{archive.name}"]
    [documents] = [n for n in doc["windows_names"] if n["category"] == "documents"]
    # the Termin and the note below the odd shelf; not the backup that is left out
    assert documents["files"] == 2
    assert sorted(documents["examples"]) == [TERMIN, f"{SHELF}/Notiz.txt"]


def test_a_windows_rules_restore_over_a_linked_data_moves_the_kept_backups_too(
    practice: Practice,
) -> None:
    """The kept backup is carried over into the same escaped shelf as the user's note
    (one folder, not two), the link stays, and the renamed files and the warning are
    both in the summary (exit 3)."""
    archive = backup_into_data(practice)
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    link, real = linked(practice)
    kept = f"{SHELF}/{archive.name}"

    r = restore(practice, link / SHELF / archive.name, "--json", env=WINDOWS)
    assert r.returncode == 3, r.stderr
    summary = the_summary(json_lines(r.stdout))
    renamed = {x["path"]: x["restored_as"] for x in summary["renamed"]}
    moved = (TERMIN, f"{SHELF}/Notiz.txt", kept)
    assert renamed == {p: escaped(p) for p in moved}
    assert "renamed" in {w["code"] for w in summary["warnings"]}
    assert summary["exit_code"] == 3

    assert link.is_symlink() and os.readlink(link) == str(real), "the link is kept"
    assert not (real / SHELF).exists()
    assert (real / escaped(TERMIN)).read_bytes() == b"Termin um 14 Uhr"
    assert (real / escaped(SHELF) / "Notiz.txt").read_text() == "the user's own file"
    assert hashlib.sha256((real / escaped(kept)).read_bytes()).hexdigest() == sha
    listing = json.loads((real / "therabak-renamed.json").read_text("ascii"))
    assert {x["path"] for x in listing["files"]} == set(moved)


def test_a_folder_backup_under_escaped_names_is_checked_envelope_by_envelope(
    practice: Practice, other_account, tmp_path: Path
) -> None:
    """The foreign envelope lies at its escaped name in the copy; the restore reads it
    there, checks its key id and refuses (exit 4), naming the file by its own name."""
    rel = "sessions/K0001/Termin 14:00.json"
    (practice.data_dir / rel).write_bytes(seal_bytes(practice.key, b'{"ours": true}'))
    f = run_cli(
        "folder-backup", "--dest", tmp_path / "usb", "--json", *practice_args(practice),
        env=WINDOWS,
    )  # fmt: skip
    assert f.returncode == 0, f.stderr
    [copy] = (tmp_path / "usb").iterdir()
    stored = copy / escaped(rel)
    assert stored.is_file() and not (copy / rel).exists()
    foreign = seal_bytes(other_account.key, b'{"note": "not ours"}')
    stored.write_bytes(foreign)
    lines = (copy / MANIFEST_NAME).read_text("utf-8").splitlines()
    files = [json.loads(line) for line in lines[1:]]
    [line] = [x for x in files if x["p"] == rel]
    assert line["d"] == escaped(rel)
    line["s"], line["h"] = len(foreign), hashlib.sha256(foreign).hexdigest()
    text = "\n".join([lines[0], *(json.dumps(x, ensure_ascii=False) for x in files)]) + "\n"
    (copy / MANIFEST_NAME).write_text(text, "utf-8")

    before = (practice.data_dir / rel).read_bytes()
    r = restore(practice, copy)
    assert r.returncode == 4, r.stderr
    assert rel in r.stderr and other_account.key.id_hex in r.stderr
    assert "Traceback" not in r.stderr
    assert (practice.data_dir / rel).read_bytes() == before
