"""A backup's scan lists the next folders on a few threads (``scan(read_ahead=True)``:
on a cold cache each stat waits for the disk, several at once take a fraction of the
time). What it finds, skips, leaves out and notes, and in which order, is exactly what
the plain walk gives; a scan stopped half-way leaves no thread and no open folder. The
threads start only once the walk is found to wait for the disk."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

import therabak.practice.scan as scan_mod
from therabak.fsrules import WINDOWS
from therabak.practice.categories import Rules
from therabak.practice.scan import LeaveOut, ScanResult, scan


@pytest.fixture(autouse=True)
def ahead_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The read-ahead starts after the first folder (as on a cold cache), unless a test
    says otherwise."""
    monkeypatch.setattr(scan_mod, "AHEAD_AFTER_S", 0.0)
    monkeypatch.setattr(scan_mod, "AHEAD_SLOW_ENTRY_S", 0.0)


def _tree(root: Path) -> Path:
    data = root / "Data"
    for i in range(90):  # more folders than are ever read ahead
        folder = data / "sessions" / f"K{i:04d}"
        folder.mkdir(parents=True)
        for j in range(3):
            (folder / f"2026-01-{j + 1:02d}.json").write_bytes(b"x" * (i + j))
    deep = data / "documents" / "a" / "b" / "c"
    deep.mkdir(parents=True)
    (deep / "brief.pdf").write_bytes(b"pdf")
    (data / "documents" / "CON.txt").write_bytes(b"a name Windows cannot hold")
    (data / "documents" / "x.txt").write_bytes(b"1")
    (data / "documents" / "X.TXT").write_bytes(b"2")  # taken for x.txt on Windows
    (data / "backups-inside").mkdir()
    (data / "backups-inside" / "old.therabak").write_bytes(b"old")
    (data / "stray.bin").write_bytes(b"s")
    if sys.platform != "win32":
        os.symlink(deep / "brief.pdf", data / "documents" / "link-to-file")
        os.symlink(deep, data / "documents" / "link-to-folder")
        os.mkfifo(data / "documents" / "a-fifo")
    return data


def _facts(result: ScanResult) -> tuple:
    return (
        [(f.path, f.category, f.size, f.mtime_ns, f.ino, f.dev) for f in result.files],
        list(result.skipped),
        [(f.path, f.category, f.size) for f in result.left_out],
        {k: (t.files, t.bytes) for k, t in result.totals.items()},
        {k: (n.files, n.examples) for k, n in result.name_notes.items()},
    )


@pytest.mark.parametrize("threads,ahead", [(8, 64), (2, 3), (1, 1)])
def test_a_scan_read_ahead_finds_and_orders_exactly_as_the_plain_walk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int, ahead: int
) -> None:
    monkeypatch.setattr(scan_mod, "AHEAD_THREADS", threads)
    monkeypatch.setattr(scan_mod, "AHEAD_FOLDERS", ahead)
    data = _tree(tmp_path)
    rules = Rules.load()
    leave = LeaveOut(frozenset({""}), lambda name, is_dir: name == "backups-inside")
    for kw in ({"names": WINDOWS, "leave_out": leave}, {}, {"keep_files": False}):
        plain = scan(data, rules, **kw)
        ahead_result = scan(data, rules, read_ahead=True, **kw)
        assert _facts(ahead_result) == _facts(plain), kw
        if "names" in kw:  # the tree has all there is to find
            assert len(plain.files) > 270 and plain.left_out and plain.name_notes
            assert plain.skipped or sys.platform == "win32"


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts descriptors in /proc")
def test_a_scan_stopped_half_way_leaves_no_thread_and_no_open_folder(tmp_path: Path) -> None:
    data = _tree(tmp_path)
    rules = Rules.load()
    scan(data, rules, read_ahead=True)  # the pool's imports and first threads are made
    fds = len(os.listdir("/proc/self/fd"))
    seen = []

    def on_folder(files: int, size: int) -> None:
        seen.append(files)
        if len(seen) == 5:
            raise KeyboardInterrupt  # as a cancel does, through the scan

    with pytest.raises(KeyboardInterrupt):
        scan(data, rules, read_ahead=True, on_folder=on_folder)
    assert [t for t in threading.enumerate() if t.name.startswith("scan-ahead")] == []
    assert len(os.listdir("/proc/self/fd")) == fds


def test_a_listing_that_breaks_off_fails_the_same_with_and_without_read_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _tree(tmp_path)
    rules = Rules.load()
    real = scan_mod._list_folder

    class BreaksOff:  # the folder K0042 can be opened, but reading it fails part-way
        def __init__(self, listing) -> None:
            self.listing = listing

        def __enter__(self):
            it = self.listing.__enter__()

            def entries():
                for n, entry in enumerate(it):
                    if n == 2:
                        raise OSError(5, "Input/output error")
                    yield entry

            return entries()

        def __exit__(self, *exc: object) -> None:
            self.listing.__exit__(*exc)

    def listing(folder: str):
        got = real(folder)
        return BreaksOff(got) if folder.endswith("K0042") else got

    monkeypatch.setattr(scan_mod, "_list_folder", listing)
    errors = []
    for ahead in (False, True):
        with pytest.raises(OSError) as e:
            scan(data, rules, read_ahead=ahead)
        errors.append((e.value.errno, e.value.strerror))
    assert errors == [(5, "Input/output error")] * 2


def _ahead_threads_seen(monkeypatch: pytest.MonkeyPatch, *, slow_s: float) -> set[str]:
    """Scan (with read-ahead) where every folder takes *slow_s* to list: the names of
    the threads that listed folders ahead."""
    seen: set[str] = set()
    real_list, real_ahead = scan_mod._list_folder, scan_mod._list_and_stat

    def slow_list(folder: str):
        time.sleep(slow_s)
        return real_list(folder)

    def listed_ahead(folder: str):
        seen.add(threading.current_thread().name)
        return real_ahead(folder)

    monkeypatch.setattr(scan_mod, "_list_folder", slow_list)
    monkeypatch.setattr(scan_mod, "_list_and_stat", listed_ahead)
    return seen


def test_the_read_ahead_starts_when_the_walk_waits_for_the_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scan_mod, "AHEAD_AFTER_S", 0.01)
    monkeypatch.setattr(scan_mod, "AHEAD_SLOW_ENTRY_S", 100e-6)
    data = _tree(tmp_path)
    rules = Rules.load()
    plain = scan(data, rules)
    seen = _ahead_threads_seen(monkeypatch, slow_s=0.005)  # 5 ms a folder of 3 files
    ahead_result = scan(data, rules, read_ahead=True)
    assert seen and all(name.startswith("scan-ahead") for name in seen)
    assert _facts(ahead_result) == _facts(plain)


def test_a_walk_answered_at_once_starts_no_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scan_mod, "AHEAD_AFTER_S", 0.01)
    monkeypatch.setattr(scan_mod, "AHEAD_SLOW_ENTRY_S", 0.5)  # no listing is that slow
    data = _tree(tmp_path)
    rules = Rules.load()
    plain = scan(data, rules)
    seen = _ahead_threads_seen(monkeypatch, slow_s=0.001)
    ahead_result = scan(data, rules, read_ahead=True)
    assert seen == set()
    assert _facts(ahead_result) == _facts(plain)
