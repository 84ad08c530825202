"""Read-ahead of Data's small files (practice/read_ahead.py): which files are announced,
when, and that a backup announces each small file before it reads it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import therabak.jobs.file_storer as file_storer
import therabak.practice.read_ahead as read_ahead
from conftest import Practice
from store_support import manual_store_request, open_store, plaintext_tree, snapshot_tree
from therabak.errors import ExitCode
from therabak.jobs.store_backup import run_store_backup
from therabak.practice.read_ahead import ReadAhead
from therabak.practice.scan import FileEntry


def entries(*sizes: int) -> list[FileEntry]:
    return [FileEntry(f"f{i}", "other", size, 0) for i, size in enumerate(sizes)]


def test_the_next_small_files_are_announced_in_order_within_the_window() -> None:
    hinted: list[str] = []
    files = entries(*([10] * 10))
    ahead = ReadAhead("/root", files, files_ahead=3, hint=hinted.append)
    ahead.reached(0)
    assert hinted == [os.path.join("/root", f"f{i}") for i in (1, 2, 3)]
    ahead.reached(1)  # one more comes into the window, none twice
    assert [Path(p).name for p in hinted] == ["f1", "f2", "f3", "f4"]
    ahead.reached(8)  # a jump: what was passed is never announced
    assert [Path(p).name for p in hinted] == ["f1", "f2", "f3", "f4", "f9"]
    ahead.reached(9)
    assert len(hinted) == 5


def test_large_and_empty_files_are_not_announced_and_bytes_bound_the_window() -> None:
    hinted: list[str] = []
    files = entries(0, 40, 5000, 40, 40, 40, 40)
    ahead = ReadAhead("r", files, files_ahead=10, bytes_ahead=100, largest=1000, hint=hinted.append)
    ahead.reached(0)
    # f2 is large (its own reads are sequential); f1 and f3 fit in 100 bytes, f4 not yet
    assert [Path(p).name for p in hinted] == ["f1", "f3"]
    ahead.reached(1)  # f1's bytes left the window: room for f4
    assert [Path(p).name for p in hinted] == ["f1", "f3", "f4"]
    ahead.reached(4)
    assert [Path(p).name for p in hinted] == ["f1", "f3", "f4", "f5", "f6"]


def test_the_system_hint_ignores_a_missing_file_and_reads_nothing_itself(tmp_path: Path) -> None:
    if not read_ahead.can_read_ahead():
        pytest.skip("no posix_fadvise here: nothing is announced")
    read_ahead._will_need(str(tmp_path / "gone"))  # no error: the read says it later
    f = tmp_path / "note.json"
    f.write_bytes(b"x" * 100)
    read_ahead._will_need(str(f))
    assert f.read_bytes() == b"x" * 100


def test_a_backup_announces_each_small_file_before_it_reads_it(
    practice: Practice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not read_ahead.can_read_ahead():
        pytest.skip("no posix_fadvise here: nothing is announced")
    log: list[tuple[str, str]] = []
    real_hint, real_read = read_ahead._will_need, file_storer.read_plaintext

    def hint(path: str) -> None:
        log.append(("hint", os.path.relpath(path, practice.data_dir).replace(os.sep, "/")))
        real_hint(path)

    def read(path, rel, *args, **kwargs):
        log.append(("read", rel))
        return real_read(path, rel, *args, **kwargs)

    monkeypatch.setattr(read_ahead, "_will_need", hint)
    monkeypatch.setattr(file_storer, "read_plaintext", read)
    dest = tmp_path / "stick"
    result = run_store_backup(manual_store_request(practice.data_dir, practice.key, dest))
    assert result.exit_code is ExitCode.OK
    reads = [rel for what, rel in log if what == "read"]
    assert len(reads) >= 10
    first_hint = {}
    for i, (what, rel) in enumerate(log):
        if what == "hint":
            assert rel not in first_hint, f"{rel} announced twice"
            first_hint[rel] = i
    sizes = {rel: (practice.data_dir / rel).stat().st_size for rel in reads}
    for i, (what, rel) in enumerate(log):
        if what != "read" or rel == reads[0]:
            continue
        if 0 < sizes[rel] <= read_ahead.LARGEST:
            assert first_hint.get(rel, len(log)) < i, f"{rel} read before it was announced"
        else:
            assert rel not in first_hint
    # and what was stored is what Data holds
    store = open_store(dest / "TheraPsy-Backups")
    assert snapshot_tree(store, result.snapshot) == plaintext_tree(practice.data_dir, practice.key)


def test_a_store_backup_lets_each_scan_entry_go_once_it_is_stored(
    practice: Practice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Peak memory: the store backup gives its list of files to read up, and the storer
    takes each entry out as it begins it, so the scan's entries do not stay to the end."""
    seen: dict[str, list] = {}
    held: list[int] = []
    real_store_all, real_attempt = file_storer.FileStorer.store_all, file_storer.FileStorer._attempt

    def store_all(self, files, **kw):
        seen["files"] = files
        return real_store_all(self, files, **kw)

    def attempt(self, entry, attempt, error):
        held.append(sum(f is not None for f in seen["files"]))
        return real_attempt(self, entry, attempt, error)

    monkeypatch.setattr(file_storer.FileStorer, "store_all", store_all)
    monkeypatch.setattr(file_storer.FileStorer, "_attempt", attempt)
    dest = tmp_path / "stick"
    result = run_store_backup(manual_store_request(practice.data_dir, practice.key, dest))
    assert result.exit_code is ExitCode.OK
    n = len(held)
    assert n >= 10
    assert held == list(range(n - 1, -1, -1))  # one fewer held at each file begun
    store = open_store(dest / "TheraPsy-Backups")
    assert snapshot_tree(store, result.snapshot) == plaintext_tree(practice.data_dir, practice.key)
