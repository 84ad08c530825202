"""``therabak folder-backup``: an exact, verified copy of Data with a manifest."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

import pytest

from conftest import Practice, run_cli
from restore_helpers import practice_args, tree_state
from therabak.datafolder.manifest import MANIFEST_NAME, iter_manifest_files, read_manifest_header
from therabak.jobkit.cancel import CancelToken
from therabak.jobkit.history import read_all
from therabak.jobs.folder import FolderBackupRequest, run_folder_backup
from therabak.practice.categories import Rules

pytest_plugins = ["restore_helpers"]  # its fixtures: backups, other_account, ...


def test_copy_is_exact_and_the_manifest_matches(practice: Practice, tmp_path: Path) -> None:
    (practice.data_dir / ".lock").write_text("12345")  # the app's lock is never copied
    r = run_cli("folder-backup", "--dest", tmp_path / "usb", "--json", *practice_args(practice))
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert events[-1]["event"] == "summary" and events[-1]["verified"] is True
    assert any(e["event"] == "progress" for e in events)
    [folder] = (tmp_path / "usb").iterdir()
    data = tree_state(practice.data_dir, skip=(".lock",))
    assert tree_state(folder, skip=(MANIFEST_NAME,)) == data
    header = read_manifest_header(folder)
    assert header is not None and header.kind == "folder"
    assert header.account_key_id == practice.key.id_hex
    files = {f.path: f for f in iter_manifest_files(folder)}
    assert header.files == len(files) == sum(1 for v in data.values() if v[0] == "file")
    for rel, f in files.items():
        content = (practice.data_dir / rel).read_bytes()
        assert f.size == len(content)
        assert f.sha256 == hashlib.sha256(content).hexdigest()
        assert f.mtime_ns == (practice.data_dir / rel).stat().st_mtime_ns
    assert [rec.kind for rec in read_all()] == ["folder"]


class _ChangeOnce(CancelToken):
    """Appends to *path* once, at the first check for cancellation after its copy
    appeared in the copy's folder: right after the copy's first block, whichever
    thread copies it (the copy checks after each block, before it compares the
    source's size and time with those it had before)."""

    def __init__(self, path: Path, dest: Path) -> None:
        super().__init__()
        self.path, self.dest, self.calls, self.changed = path, dest, 0, False
        self._lock = threading.Lock()

    def check(self) -> None:
        with self._lock:
            self.calls += 1
            if not self.changed and any(self.dest.glob(f"*.partial/{self.path.name}")):
                self.changed = True
                with open(self.path, "ab") as f:
                    f.write(b"written by the practice app meanwhile\n")
                st = self.path.stat()
                os.utime(self.path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        super().check()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_file_that_changes_during_the_copy_is_copied_again(
    practice: Practice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: str
) -> None:
    monkeypatch.setenv("THERABAK_WORKERS", workers)
    first = "Notizen zur Einrichtung.txt"  # sorts first: copied first
    token = _ChangeOnce(practice.data_dir / first, tmp_path / "usb")
    result = run_folder_backup(
        FolderBackupRequest(
            data_dir=practice.data_dir,
            dest_dir=tmp_path / "usb",
            account_key_id=practice.key.id_hex,
            rules=Rules.load(),
        ),
        cancel=token,
    )
    assert token.changed
    assert result.recopied == [first] and result.unstable == [] and result.exit_code == 0
    copy = (result.folder / first).read_bytes()
    assert copy == (practice.data_dir / first).read_bytes()
    assert copy.endswith(b"meanwhile\n")
    [entry] = [f for f in iter_manifest_files(result.folder) if f.path == first]
    assert entry.sha256 == hashlib.sha256(copy).hexdigest()


def test_stale_partial_copies_are_removed_and_never_listed(
    practice: Practice, tmp_path: Path
) -> None:
    usb = tmp_path / "usb"
    stale = usb / "TheraPsy-Data-2026-01-01_000000.999999999.partial"
    (stale / "sessions").mkdir(parents=True)
    listing = run_cli(
        "list", "--json", "--in", usb, *practice_args(practice), env={"THERABAK_MEDIA_ROOTS": ""}
    )
    assert json.loads(listing.stdout)["points"] == []
    r = run_cli("folder-backup", "--dest", usb, *practice_args(practice))
    assert r.returncode == 0, r.stderr
    assert not stale.exists()


def test_missing_data_folder(tmp_path: Path) -> None:
    r = run_cli(
        "folder-backup",
        "--dest",
        tmp_path / "usb",
        "--data-dir",
        tmp_path / "nope",
        "--account-key",
        tmp_path / "nope.key",
    )
    assert r.returncode == 1 and "Data folder not found" in r.stderr
