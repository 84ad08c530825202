"""Unit tests of the pieces under a restore: the swap journal and its recovery, the job
lock, the practice app's lock, and safe file creation below a root."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import IS_WINDOWS, Practice, run_cli
from restore_helpers import (
    leftovers,
    practice_args,
    tree_state,
)
from store_read_support import make_store_points
from store_support import PASSWORD
from therabak.datafolder.filecopy import FdWriter, UnsafePath, copy_file, create_under, open_under
from therabak.datafolder.locks import JobLock, LockBusy, practice_lock_state
from therabak.datafolder.manifest import MANIFEST_NAME
from therabak.datafolder.names import journal_path, restore_lock_path
from therabak.datafolder.swap import SwapRecoveryError, recover, swap_in
from therabak.errors import Cancelled, DataInUseError
from therabak.jobkit.cancel import CancelToken
from therabak.jobs.restore import RestoreRequest, run_restore, stage
from therabak.practice.categories import Rules
from therabak.practice.envelope import EnvelopeWriter

pytest_plugins = ["restore_helpers"]  # its fixtures: backups, other_account, ...


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _layout(tmp_path: Path, *, data: bool, staging: bool, old: bool) -> dict[str, Path]:
    root = tmp_path / "p"
    root.mkdir()
    paths = {
        "data": root / "Data",
        "staging": root / f"Data.restore-x.{_dead_pid()}.partial",
        "old": root / "Data.before-restore-2026-01-01_000000",
    }
    for name, present in (("data", data), ("staging", staging), ("old", old)):
        if present:
            paths[name].mkdir()
            (paths[name] / "which.txt").write_text(name)
    journal = {
        "v": 1,
        "data": str(paths["data"]),
        "staging": str(paths["staging"]),
        "old": str(paths["old"]),
        "manifest": {"format": "therabak-before-restore", "version": 1, "kind": "before-restore"},
    }
    journal_path(paths["data"]).write_text(json.dumps(journal))
    return paths


def _which(path: Path) -> str:
    return (path / "which.txt").read_text()


def test_recover_completes_between_the_renames(tmp_path: Path) -> None:
    p = _layout(tmp_path, data=False, staging=True, old=True)
    done = recover(p["data"])
    assert done is not None and done.action == "completed"
    assert _which(p["data"]) == "staging" and _which(p["old"]) == "old"
    assert (p["old"] / MANIFEST_NAME).is_file()
    assert not journal_path(p["data"]).exists() and not p["staging"].exists()


def test_recover_finishes_the_bookkeeping_after_both_renames(tmp_path: Path) -> None:
    p = _layout(tmp_path, data=True, staging=False, old=True)
    assert recover(p["data"]).action == "completed"
    assert (p["old"] / MANIFEST_NAME).is_file() and not journal_path(p["data"]).exists()


def test_recover_rolls_back_before_the_first_rename(tmp_path: Path) -> None:
    p = _layout(tmp_path, data=True, staging=True, old=False)
    assert recover(p["data"]).action == "rolled-back"
    assert _which(p["data"]) == "data" and not p["staging"].exists()


def test_recover_puts_the_old_data_back_when_the_new_vanished(tmp_path: Path) -> None:
    p = _layout(tmp_path, data=False, staging=False, old=True)
    assert recover(p["data"]).action == "rolled-back"
    assert _which(p["data"]) == "old"


def test_recover_refuses_to_guess(tmp_path: Path) -> None:
    p = _layout(tmp_path, data=True, staging=True, old=True)  # Data re-created meanwhile
    with pytest.raises(SwapRecoveryError):
        recover(p["data"])
    assert [_which(p[k]) for k in ("data", "staging", "old")] == ["data", "staging", "old"]
    journal_path(p["data"]).write_text("{torn")
    with pytest.raises(SwapRecoveryError):
        recover(p["data"])


def test_recover_leaves_a_running_restore_alone(tmp_path: Path) -> None:
    p = _layout(tmp_path, data=False, staging=True, old=True)
    restore_lock_path(p["data"]).write_text(json.dumps({"pid": os.getpid()}))
    assert recover(p["data"]) is None
    assert not p["data"].exists() and p["staging"].exists()


def test_recover_removes_stale_staging_only(tmp_path: Path) -> None:
    root = tmp_path / "p"
    (root / "Data").mkdir(parents=True)
    dead = root / f"Data.restore-2026-01-01_000000.{_dead_pid()}.partial"
    live = root / f"Data.restore-2026-01-01_000000.{os.getpid()}.partial"
    dead.mkdir()
    live.mkdir()
    assert recover(root / "Data").action == "cleaned"
    assert not dead.exists() and live.exists()


def test_the_cli_recovers_before_any_command(practice: Practice) -> None:
    staging = practice.root / f"Data.restore-x.{_dead_pid()}.partial"
    old = practice.root / "Data.before-restore-2026-01-01_000000"
    practice.data_dir.rename(old)
    (staging / "sessions").mkdir(parents=True)
    (staging / "sessions" / "restored.json").write_text("{}")
    journal_path(practice.data_dir).write_text(
        json.dumps(
            {
                "v": 1,
                "data": str(practice.data_dir),
                "staging": str(staging),
                "old": str(old),
                "manifest": {},
            }
        )
    )
    r = run_cli("preview", *practice_args(practice))  # a command of another module
    assert r.returncode == 0, r.stderr
    assert "interrupted restore was completed" in r.stderr
    assert (practice.data_dir / "sessions" / "restored.json").exists()
    assert leftovers(practice.root) == []


def test_second_rename_failing_puts_the_old_data_back(tmp_path: Path) -> None:
    data = tmp_path / "Data"
    data.mkdir()
    (data / "keep.txt").write_text("old")
    with pytest.raises(DataInUseError):
        swap_in(data, tmp_path / "missing-staging", tmp_path / "Data.before-restore-x", {})
    assert (data / "keep.txt").read_text() == "old"
    assert not journal_path(data).exists()
    assert not (tmp_path / "Data.before-restore-x").exists()


def test_job_lock(tmp_path: Path) -> None:
    path = tmp_path / "job.lock"
    with JobLock(path) as lock:
        assert lock.held and json.loads(path.read_text())["pid"] == os.getpid()
        with pytest.raises(LockBusy):
            JobLock(path).acquire()
    assert not path.exists()
    path.write_text(json.dumps({"pid": _dead_pid(), "started": "then"}))
    lock = JobLock(path).acquire()
    assert lock.broke_stale is not None
    lock.release()
    path.write_text("")  # an owner still writing its lock: held for a while
    with pytest.raises(LockBusy):
        JobLock(path).acquire()
    old = time.time() - 3600
    os.utime(path, (old, old))  # ... but not forever
    JobLock(path).acquire().release()


def test_practice_lock_states(tmp_path: Path) -> None:
    assert not practice_lock_state(tmp_path).present
    (tmp_path / ".lock").write_text(f"{os.getpid()}\n")
    assert practice_lock_state(tmp_path).in_use
    (tmp_path / ".lock").write_text(f"pid={_dead_pid()}")
    state = practice_lock_state(tmp_path)
    assert state.present and not state.in_use
    (tmp_path / ".lock").write_text("")
    assert practice_lock_state(tmp_path).in_use  # cannot tell: assume running


def test_safe_creation_below_a_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    fd, path = create_under(root, "a/b/c.txt")
    os.close(fd)
    assert path == root / "a" / "b" / "c.txt"
    for bad in ("../x.txt", "/abs.txt", "a/../../x.txt", "a\\..\\..\\x.txt", "C:x.txt"):
        with pytest.raises(UnsafePath.__mro__[1]):  # DamagedArchiveError
            create_under(root, bad)
    for foreign in ("a\\b.txt", "NUL.txt", "Termin 14:00.txt"):  # names only Windows cannot hold
        if IS_WINDOWS:  # refused there all the same: "x:y" would be a data stream
            with pytest.raises(UnsafePath):
                create_under(root, foreign)
        else:
            fd, path = create_under(root, foreign)
            os.close(fd)
            assert path.name == foreign and path.parent == root
    with pytest.raises(UnsafePath):
        create_under(root, "a/b/c.txt")  # never overwrite
    if hasattr(os, "symlink"):
        os.symlink(outside, root / "link")
        with pytest.raises(UnsafePath):
            create_under(root, "link/evil.txt")
        os.symlink(outside / "target.txt", root / "dangling.txt")
        with pytest.raises(UnsafePath):
            create_under(root, "dangling.txt")
        (outside / "secret.txt").write_text("secret")
        with pytest.raises(UnsafePath):
            open_under(root, "link/secret.txt")
        assert list(outside.iterdir()) == [outside / "secret.txt"]


class _CancelAfterFirstFile(CancelToken):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def check(self) -> None:
        self.calls += 1
        if self.calls > 3:
            self.cancel()
        super().check()


def test_cancel_changes_nothing(practice: Practice, backups) -> None:
    before = tree_state(practice.data_dir)
    token = _CancelAfterFirstFile()
    with pytest.raises(Cancelled):
        run_restore(
            RestoreRequest(
                point=backups.auto,
                data_dir=practice.data_dir,
                account_key_path=practice.key_path,
                rules=Rules.load(),
            ),
            cancel=token,
        )
    assert token.calls > 3
    assert tree_state(practice.data_dir) == before
    assert leftovers(practice.root) == []
    assert sorted(p.name for p in practice.root.iterdir()) == ["Data", "account.key"]


def test_confirmation_can_decline(practice: Practice, backups) -> None:
    before = tree_state(practice.data_dir)
    seen = []
    with pytest.raises(Cancelled):
        run_restore(
            RestoreRequest(
                point=backups.auto,
                data_dir=practice.data_dir,
                account_key_path=practice.key_path,
                rules=Rules.load(),
            ),
            confirm=lambda plan: seen.append(plan) or False,
        )
    assert seen[0].mode == "replace" and seen[0].keep_old_at is not None
    assert tree_state(practice.data_dir) == before
    assert leftovers(practice.root) == []


class _FlippingEnvelopeWriter(EnvelopeWriter):
    """A broken sealer: one byte of its output flipped in the third file it seals."""

    files = 0

    def __init__(self, out, key, header=None) -> None:
        type(self).files += 1
        if type(self).files == 3:
            real = out

            class Flip:
                def write(self, data) -> int:
                    data = bytearray(data)
                    if len(data) > 40:  # a sealed chunk, not the header
                        data[len(data) // 2] ^= 0x01
                    return real.write(bytes(data))

            out = Flip()
        super().__init__(out, key, header)


class _ShortFdWriter(FdWriter):
    """A broken write path: the third file written loses its last byte (but counts it)."""

    files = 0

    def __init__(self, fd, budget=None) -> None:
        super().__init__(fd, budget)
        type(self).files += 1
        self.broken = type(self).files == 3
        self.dropped = False

    def write(self, data) -> int:
        if self.broken and not self.dropped and len(data) > 1:
            self.dropped = True
            os.write(self.fd, bytes(data)[:-1])
            self.size += len(data)
            return len(data)
        return super().write(data)


def _short_copy(src, dst_root, rel, **kwargs):
    """A broken copy: the carried-over file comes out one byte short."""
    got = copy_file(src, dst_root, rel, **kwargs)
    if got.size:
        os.truncate(dst_root / rel, got.size - 1)
    return got


BREAKS = {
    "sealer-flips-a-byte": ("EnvelopeWriter", _FlippingEnvelopeWriter),
    "write-loses-a-byte": ("FdWriter", _ShortFdWriter),
    "carry-over-loses-a-byte": ("copy_file", _short_copy),
}


@pytest.mark.parametrize("broken", BREAKS)
def test_a_staged_file_that_does_not_check_out_stops_the_restore(
    practice: Practice, backups, monkeypatch, broken: str
) -> None:
    """Every staged file is checked as it is written (no read-back pass): a sealer whose
    output has a flipped byte, a write path that loses a byte, a carried-over copy one
    byte short each stop the restore, naming the file, with Data untouched."""
    from therabak.errors import DataFolderError
    from therabak.events import Damaged

    name, broken_part = BREAKS[broken]
    if isinstance(broken_part, type):
        broken_part.files = 0
    monkeypatch.setattr(stage, name, broken_part)
    before = tree_state(practice.data_dir)
    damaged = []

    def emit(event) -> None:
        if isinstance(event, Damaged):
            damaged.append(event)

    with pytest.raises(DataFolderError, match="does not check out") as e:
        run_restore(
            RestoreRequest(
                point=backups.auto,
                data_dir=practice.data_dir,
                account_key_path=practice.key_path,
                rules=Rules.load(),
            ),
            emit=emit,
        )
    assert len(damaged) == 1 and damaged[0].path in str(e.value)
    assert tree_state(practice.data_dir) == before
    assert leftovers(practice.root) == []


def test_a_broken_sealer_stops_a_restore_from_a_store_on_two_threads(
    practice: Practice, tmp_path: Path, monkeypatch
) -> None:
    """The same check on the parallel path (a store point, two workers)."""
    from therabak.errors import DataFolderError

    points = make_store_points(practice, tmp_path / "stick", count=1)
    monkeypatch.setenv("THERABAK_WORKERS", "2")
    _FlippingEnvelopeWriter.files = 0
    monkeypatch.setattr(stage, "EnvelopeWriter", _FlippingEnvelopeWriter)
    before = tree_state(practice.data_dir)
    with pytest.raises(DataFolderError, match="does not check out"):
        run_restore(
            RestoreRequest(
                point=points.ref(0),
                data_dir=practice.data_dir,
                account_key_path=practice.key_path,
                rules=Rules.load(),
                password=PASSWORD,
            ),
        )
    assert tree_state(practice.data_dir) == before
    assert leftovers(practice.root) == []


def test_reading_marks_and_the_restore_lock(tmp_path: Path) -> None:
    """A backup marks that it reads Data; a restore refuses while a live mark exists, a
    backup refuses while a live restore lock exists; dead processes' marks are removed."""
    from therabak.datafolder.locks import DataReading, check_no_readers, live_readers
    from therabak.datafolder.names import restore_lock_path

    data = tmp_path / "Data"
    data.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".Data.therabak-reading-{dead.pid}-0123abcd.lock"
    stale.write_text(json.dumps({"pid": dead.pid, "started": "yesterday", "what": "backup"}))
    assert live_readers(data) == [] and not stale.exists()
    check_no_readers(data)

    with DataReading(data, "folder backup") as mark:
        assert mark.path is not None and mark.path.parent == tmp_path
        [owner] = live_readers(data)
        assert owner.pid == os.getpid() and owner.what == "folder backup"
        with pytest.raises(DataInUseError, match="folder backup of .* is running"):
            check_no_readers(data)
        with DataReading(data):  # any number of readers at once
            assert len(live_readers(data)) == 2
    assert live_readers(data) == []

    lock = restore_lock_path(data)
    lock.write_text(json.dumps({"pid": os.getpid(), "started": "now", "what": "restore"}))
    with pytest.raises(DataInUseError, match="restore of .* is running"):
        DataReading(data).acquire()
    assert live_readers(data) == []  # the refused reader left no mark
    lock.write_text(json.dumps({"pid": dead.pid, "started": "then", "what": "restore"}))
    with DataReading(data):  # a dead restore's lock does not count
        pass


def test_impossible_process_ids_are_not_running(practice: Practice) -> None:
    """A lock file or leftover name with an id no process can have (damaged, crafted)
    counts as a dead process: no crash (it was an OverflowError, exit 1, on every command
    that looked at it)."""
    from therabak.processes import pid_alive

    for pid in (0, -1, 2**31, 2**40, 10**20):
        assert pid_alive(pid) is False
    assert pid_alive(os.getpid()) is True
    (practice.root / "Data.restore-2026-01-01_000000.99999999999999999999.partial").mkdir()
    (practice.data_dir / ".lock").write_text("9999999999")
    r = run_cli("status", *practice_args(practice))
    assert r.returncode in (0, 3) and "Internal error" not in r.stderr, r.stderr
    assert leftovers(practice.root) == []


@pytest.mark.parametrize(
    "change",
    [
        {"staging": None},  # keys missing or of the wrong type: was a KeyError / TypeError
        {"staging": 5},
        {"old": ["a"]},
        {"staging": "OUTSIDE"},  # a folder that is not a restore's: never moved
        {"old": "OUTSIDE"},
        {"staging": "OTHER"},
    ],
)
def test_a_journal_naming_other_folders_is_refused_and_nothing_moves(
    tmp_path: Path, change: dict
) -> None:
    paths = _layout(tmp_path, data=False, staging=False, old=False)
    other = paths["data"].parent / "Dokumente"
    outside = tmp_path / "elsewhere"
    for folder in (other, outside):
        folder.mkdir()
        (folder / "which.txt").write_text(folder.name)
    journal = json.loads(journal_path(paths["data"]).read_text())
    for field, value in change.items():
        if value is None:
            del journal[field]
        else:
            names = {"OUTSIDE": str(outside), "OTHER": str(other)}
            journal[field] = names.get(value, value) if isinstance(value, str) else value
    journal_path(paths["data"]).write_text(json.dumps(journal))
    with pytest.raises(SwapRecoveryError, match="journal"):
        recover(paths["data"])
    assert _which(other) == "Dokumente" and _which(outside) == "elsewhere"
    assert not paths["data"].exists()
