"""A folder backup on several threads (``THERABAK_WORKERS``, jobs/folder_copy.py): files are
copied, and read back by the device check, several at once; the job's events (warnings,
retries, progress, summary) are the same, in the same order, as with one thread.

The kill, corruption and busy-practice suites run again with ``THERABAK_WORKERS=2`` in CI
(``.ci/run``); these tests hold the parallel paths themselves."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from archive_support import events_of, json_lines, the_summary
from cli_support import frozen, wait_for_event
from conftest import IS_WINDOWS, Practice, run_cli, start_cli
from restore_helpers import practice_args, tree_state
from therabak import faults
from therabak.datafolder.manifest import MANIFEST_NAME
from therabak.jobkit.workers import ENV, READ_WORKERS, read_workers
from therabak.jobs.folder import FolderBackupRequest, run_folder_backup
from therabak.practice.categories import Rules

pytest_plugins = ["restore_helpers"]


def _request(practice: Practice, dest: Path) -> FolderBackupRequest:
    return FolderBackupRequest(
        data_dir=practice.data_dir,
        dest_dir=dest,
        account_key_id=practice.key.id_hex,
        rules=Rules.load(),
    )


def _meet_in_pairs(monkeypatch: pytest.MonkeyPatch, name: str) -> list[str]:
    """Replace ``faults.<name>`` (called before each file on the thread that handles it)
    by a barrier the first two calls pass only together: with one thread the second call
    never comes while the first waits, and the barrier breaks after 10 s."""
    barrier = threading.Barrier(2, timeout=10)
    met: list[str] = []
    lock = threading.Lock()

    def meet() -> None:
        with lock:
            first_two = len(met) < 2
            met.append(threading.current_thread().name)
        if first_two:
            barrier.wait()

    monkeypatch.setattr(faults, name, meet)
    return met


@pytest.mark.parametrize("hook", ["source_delay", "verify_delay"])
def test_two_workers_copy_and_check_two_files_at_once(
    practice: Practice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hook: str
) -> None:
    monkeypatch.setenv(ENV, "2")
    met = _meet_in_pairs(monkeypatch, hook)
    result = run_folder_backup(_request(practice, tmp_path / "usb"))
    assert result.exit_code == 0 and result.verified is True
    assert len(set(met[:2])) == 2  # two threads, neither of them the job's own
    assert threading.current_thread().name not in met[:2]
    data = tree_state(practice.data_dir)
    assert tree_state(result.folder, skip=(MANIFEST_NAME,)) == data


def test_the_check_reads_on_four_threads_unless_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    assert read_workers() == READ_WORKERS == 4  # whatever the cores: it waits on the device
    for forced in ("1", "2", "7"):
        monkeypatch.setenv(ENV, forced)
        assert read_workers() == int(forced)


def _events(practice: Practice, dest: Path, workers: str, failpoints: str) -> list[dict]:
    r = run_cli(
        "folder-backup",
        "--dest",
        dest,
        "--json",
        *practice_args(practice),
        env={ENV: workers, "THERABAK_FAILPOINTS": failpoints},
    )
    assert r.returncode == 3, r.stderr  # the locked files: warnings
    return json_lines(r.stdout)


def test_the_same_events_in_the_same_order_with_one_and_two_workers(
    practice: Practice, tmp_path: Path
) -> None:
    """Files held locked (permission denied on every attempt: retried, then skipped) far
    apart in the files' order: with two workers the warnings, phases and summary are
    those of one worker, in the same order, and the progress never goes back."""
    files = sorted(
        p.relative_to(practice.data_dir).as_posix()
        for p in practice.data_dir.rglob("*")
        if p.is_file()
    )
    text = files[1].split("/", 1)[1].rsplit(".", 1)[0]  # K0001/2026-...: audio and notes
    locked = [rel for rel in files if text in rel]
    assert len(locked) >= 2 and files.index(locked[-1]) - files.index(locked[0]) > 10
    spec = f"denied={text},created=2026-03-02T10:30:00+01:00"
    runs = {w: _events(practice, tmp_path / f"usb{w}", w, spec) for w in ("1", "2")}
    shown = {}
    for w, lines in runs.items():
        assert [e["path"] for e in events_of(lines, "warning")] == locked
        progress = [e for e in events_of(lines, "progress") if e["phase"] == "copying"]
        done = [(e["files_done"], e["bytes_done"]) for e in progress]
        summary = the_summary(lines)
        assert done == sorted(done) and done[-1] == (len(files), summary["bytes"])
        assert [s["path"] for s in summary["skipped"]] == locked
        assert summary["files"] == len(files) - len(locked) and summary["verified"] is True
        where = str(tmp_path / f"usb{w}")
        shown[w] = [
            json.loads(json.dumps(e).replace(where, "DEST"))
            for e in lines
            if e["event"] != "progress"
        ]
        for e in shown[w]:
            e.pop("duration_s", None)
    assert shown["1"] == shown["2"]


@pytest.mark.skipif(IS_WINDOWS, reason="the folder is deleted while the job holds files in it")
@pytest.mark.parametrize("workers", ["1", "2"])
def test_the_folder_deleted_during_the_check_is_said_so(
    practice: Practice, tmp_path: Path, workers: str
) -> None:
    """The destination disappears while the copy is read back (the stick pulled, the
    folder deleted): the job says so and ends with exit 1, as during the copying, not
    that the medium may be failing (exit 5)."""
    before = tree_state(practice.data_dir)
    dest = tmp_path / "usb"
    dest.mkdir()
    proc = start_cli(
        "folder-backup",
        "--dest",
        dest,
        "--json",
        *practice_args(practice),
        env={ENV: workers, "THERABAK_FAILPOINTS": "verify-delay-ms=30"},
    )
    try:
        wait_for_event(proc, "phase", name="verifying")
        with frozen(proc):
            shutil.rmtree(dest)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 1, (proc.returncode, err)
    line = err.strip().splitlines()[-1]
    assert "disappeared" in line and "drive removed" in line, line
    assert not dest.exists()
    assert tree_state(practice.data_dir) == before
