"""A data folder that is a symbolic link (issue 13, finding 2).

A practice whose ``Data`` was moved to a second disk and linked back is the user's own
choice: the link is resolved once, and the folder it points to is backed up, copied and
restored like any other. Links *inside* Data are still never followed (and reported).
A restore over a linked Data keeps the link, puts the restored data into the folder it
points to (the swap happens there, journaled) and carries over what a backup does not
hold (templates, settings, autocomplete data).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from archive_support import events_of, json_lines, the_summary, verify_file
from conftest import IS_WINDOWS, Practice, run_cli
from restore_helpers import (
    PASSWORD,
    folder_backup_problems,
    leftovers,
    plaintext_tree,
    subset,
    tree_state,
)
from therabak.archive.reader import ArchiveReader
from therabak.datafolder.manifest import MANIFEST_NAME

pytestmark = pytest.mark.skipif(IS_WINDOWS, reason="symbolic links need privileges on Windows")

#: What a manual backup leaves out and a restore must therefore carry over.
CARRIED = ("settings/session-templates/", "templates/", "autocomplete/", "backgrounds/", "icd10/")


def linked(p: Practice) -> tuple[Path, Path]:
    """Move Data to a "second disk" and link it back: (the link, the real folder)."""
    real = p.root.parent / "disk2" / "TheraPsy-Daten"
    real.parent.mkdir()
    shutil.move(p.data_dir, real)
    p.data_dir.symlink_to(real, target_is_directory=True)
    return p.data_dir, real


def args(p: Practice) -> list[str]:
    return ["--data-dir", str(p.data_dir), "--account-key", str(p.key_path)]


def entries(archive: Path, p: Practice) -> dict[str, str]:
    with ArchiveReader.open(archive) as reader:
        reader.unlock(account=p.key, password=PASSWORD)
        return {e.path: e.sha256 for e in reader.read_index().entries}


@pytest.fixture
def pw(tmp_path: Path) -> Path:
    path = tmp_path / "pw.txt"
    path.write_text(PASSWORD + "\n", encoding="utf-8")
    return path


def test_a_linked_data_folder_is_backed_up_whole(practice: Practice, tmp_path: Path, pw) -> None:
    link, real = linked(practice)
    expected = plaintext_tree(real, practice.key)
    r = run_cli(
        "backup",
        "--single-file",
        "--dest",
        tmp_path / "usb",
        "--password-file",
        pw,
        "--json",
        *args(practice),
    )
    assert r.returncode == 0, r.stderr
    summary = the_summary(json_lines(r.stdout))
    assert summary["files"] > 50 and summary["warnings"] == []
    [archive] = (tmp_path / "usb").glob("*.therabak")
    assert verify_file(archive, password=PASSWORD) == []
    stored = entries(archive, practice)
    manual = subset(expected, CARRIED, inside=False)
    assert stored == {rel: sha for rel, (_sealed, sha, _mtime) in manual.items()}
    assert link.is_symlink() and os.readlink(link) == str(real)


def test_preview_and_folder_backup_of_a_linked_data_folder(
    practice: Practice, tmp_path: Path
) -> None:
    _link, real = linked(practice)
    r = run_cli("preview", "--json", *args(practice))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    files = sum(1 for _ in real.rglob("*") if _.is_file())
    assert doc["total"]["files"] == files and doc["skipped"] == []
    f = run_cli("folder-backup", "--dest", tmp_path / "usb", "--json", *args(practice))
    assert f.returncode == 0, f.stderr
    [copy] = (tmp_path / "usb").iterdir()
    assert folder_backup_problems(copy) == []
    assert tree_state(copy, skip=(MANIFEST_NAME,)) == tree_state(real)


def test_links_inside_a_linked_data_folder_are_still_not_followed(
    practice: Practice, tmp_path: Path, pw
) -> None:
    _link, real = linked(practice)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.txt").write_text("not part of the practice")
    (real / "documents" / "K0001" / "linked-folder").symlink_to(outside)
    (real / "documents" / "K0001" / "linked-file.txt").symlink_to(outside / "secret.txt")
    r = run_cli(
        "backup",
        "--single-file",
        "--dest",
        tmp_path / "usb",
        "--password-file",
        pw,
        "--json",
        *args(practice),
    )
    assert r.returncode == 3, r.stderr  # a warning was printed: done with warnings
    lines = json_lines(r.stdout)
    warned = {w["path"] for w in events_of(lines, "warning")}
    assert {"documents/K0001/linked-folder", "documents/K0001/linked-file.txt"} <= warned
    [archive] = (tmp_path / "usb").glob("*.therabak")
    assert not any("linked-" in path for path in entries(archive, practice))


def test_restore_over_a_linked_data_keeps_the_link_and_carries_over(
    practice: Practice, tmp_path: Path, pw
) -> None:
    link, real = linked(practice)
    r = run_cli(
        "backup",
        "--single-file",
        "--dest",
        tmp_path / "usb",
        "--password-file",
        pw,
        *args(practice),
    )
    assert r.returncode == 0, r.stderr
    [archive] = (tmp_path / "usb").glob("*.therabak")
    original = plaintext_tree(real, practice.key)
    # later: a session lost, a template and the autocomplete data changed (not in backups)
    shutil.rmtree(real / "sessions" / "K0001")
    template = next(p for p in (real / "templates").rglob("*") if p.is_file())
    template.write_bytes(b"new template, made after the backup")
    autocomplete = next(p for p in (real / "autocomplete").rglob("*") if p.is_file())
    autocomplete.write_bytes(b"new autocomplete words")
    before = plaintext_tree(real, practice.key)

    s = run_cli(
        "restore", archive, "--yes", "--password-file", pw, "--json", *args(practice),
        env={"THERABAK_MEDIA_ROOTS": ""},
    )  # fmt: skip
    assert s.returncode == 0, s.stderr
    summary = the_summary(json_lines(s.stdout))
    assert link.is_symlink() and os.readlink(link) == str(real), "the link is kept"
    after = plaintext_tree(real, practice.key)
    assert subset(after, CARRIED, inside=False) == subset(original, CARRIED, inside=False)
    assert subset(after, CARRIED, inside=True) == subset(before, CARRIED, inside=True)
    assert summary["files_carried"] == len(subset(before, CARRIED, inside=True)) > 0
    # the previous data is kept beside the folder the link points to, as a restore point
    kept = Path(summary["before_restore"])
    assert kept.parent == real.parent and kept.name.startswith(real.name + ".before-restore-")
    assert plaintext_tree(kept, practice.key, skip=(MANIFEST_NAME,)) == before
    assert leftovers(real.parent) == [] and leftovers(link.parent) == []
    listed = run_cli("list", "--json", "--no-media", *args(practice))
    assert str(kept) in listed.stdout


def test_a_restore_over_a_linked_data_interrupted_mid_swap_is_completed(
    practice: Practice, tmp_path: Path, pw
) -> None:
    link, real = linked(practice)
    r = run_cli(
        "backup",
        "--single-file",
        "--dest",
        tmp_path / "usb",
        "--password-file",
        pw,
        *args(practice),
    )
    assert r.returncode == 0, r.stderr
    [archive] = (tmp_path / "usb").glob("*.therabak")
    original = plaintext_tree(real, practice.key)
    shutil.rmtree(real / "sessions" / "K0002")
    s = run_cli(
        "restore", archive, "--yes", "--password-file", pw, *args(practice),
        env={"THERABAK_MEDIA_ROOTS": "", "THERABAK_FAILPOINTS": "crash-at=restore.swap"},
    )  # fmt: skip
    assert s.returncode != 0
    assert not real.exists() and link.is_symlink()  # between the two renames
    st = run_cli("status", *args(practice))
    assert "interrupted restore was completed" in st.stderr, st.stderr
    assert link.is_symlink() and os.readlink(link) == str(real) and real.is_dir()
    assert plaintext_tree(real, practice.key) == original
    assert leftovers(real.parent) == []


def test_the_kept_folders_of_a_linked_data_are_listed_and_removed(practice: Practice) -> None:
    """A restore over a linked Data keeps the old data beside the folder the link leads
    to: the app's list of kept folders finds it there, and removing it on request works
    with the data folder named by its link (the merge of the removal of kept folders
    with the linked data root)."""
    from therabak.datafolder.names import before_restore_path
    from therabak.jobs.removal import before_restore_folders, remove_before_restore

    link, real = linked(practice)
    old = before_restore_path(real)
    (old / "sessions").mkdir(parents=True)
    (old / "sessions" / "notes.bin").write_bytes(b"x" * 1000)
    kept = before_restore_folders(link, None)
    assert [k.path for k in kept] == [old] and kept[0].size == 1000
    remove_before_restore(old, link)
    assert not old.exists()
    assert link.is_symlink() and (real / "profiles").is_dir()
