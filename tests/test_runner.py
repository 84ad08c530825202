"""app/runner.py: jobs as their own processes, their logs, state, following and cancel."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from therabak.app.runner import JobRunner, JobState, _final_event
from therabak.archive.reader import ArchiveReader
from therabak.events import FileOutcome, Phase, Progress, Retry, Summary
from therabak.jobs.backup import BackupResult

POSIX = sys.platform != "win32"


def wait_until(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


@pytest.fixture
def runner(isolated_env: Path) -> JobRunner:
    return JobRunner(isolated_env / "state" / "jobs")


def backup_args(practice, dest: Path) -> list[str]:
    return [
        "--single-file",
        "--dest",
        str(dest),
        "--data-dir",
        str(practice.data_dir),
        "--account-key",
        str(practice.key_path),
    ]


def test_a_job_runs_to_its_summary_and_the_password_stays_secret(runner, practice, tmp_path):
    dest = tmp_path / "dest"
    password = "correct horse battery staple"
    job = runner.start(
        "backup",
        backup_args(practice, dest),
        password=password,
        data_dir=practice.data_dir,
        title="Backup to dest",
        target=dest,
    )
    batches = list(runner.follow(job))
    events = [e for b in batches for e in b]
    assert isinstance(events[0], Phase)
    assert isinstance(events[-1], Summary) and events[-1].exit_code == 0
    done = runner.get(job.id)
    assert done.state is JobState.DONE and done.exit_code == 0
    # the password unlocks the archive ...
    archive = events[-1].result(BackupResult).archive
    with ArchiveReader.open(archive) as reader:
        assert reader.unlock(password=password) == "password"
    # ... and appears in no file the job left behind, nor in its command line
    for path in runner.root.iterdir():
        assert password.encode() not in path.read_bytes(), path
    assert "--password-stdin" not in done.record.args
    record = json.loads((runner.root / f"{job.id}.json").read_text())
    assert record["pid"] == job.record.pid and record["data_dir"] == str(practice.data_dir)
    if POSIX:
        assert (runner.root / f"{job.id}.jsonl").stat().st_mode & 0o077 == 0


def test_the_job_is_in_a_session_of_its_own(runner, practice, tmp_path, monkeypatch):
    if not POSIX:
        pytest.skip("sessions are POSIX")
    monkeypatch.setenv("THERABAK_FAILPOINTS", "delay-ms=30")
    job = runner.start("backup", backup_args(practice, tmp_path / "d"), password="pw")
    try:
        assert os.getsid(job.record.pid) == job.record.pid != os.getsid(0)
    finally:
        runner.cancel(job, force=True)
        list(runner.follow(job))


def test_list_jobs_reports_running_then_finished(runner, practice, tmp_path):
    job = runner.start(
        "backup",
        backup_args(practice, tmp_path / "d"),
        password="pw",
        env={"THERABAK_FAILPOINTS": "delay-ms=20"},
    )
    jobs = runner.list_jobs()
    assert [j.id for j in jobs] == [job.id] and jobs[0].state is JobState.RUNNING
    list(runner.follow(job))
    assert runner.list_jobs()[0].state is JobState.DONE


def test_a_job_whose_process_dies_is_reported_as_died(runner, practice, tmp_path):
    if not POSIX:
        pytest.skip("SIGKILL is POSIX")
    job = runner.start(
        "backup",
        backup_args(practice, tmp_path / "d"),
        password="pw",
        env={"THERABAK_FAILPOINTS": "delay-ms=50"},
    )
    wait_until(lambda: (runner.root / f"{job.id}.jsonl").stat().st_size > 0)
    os.kill(job.record.pid, signal.SIGKILL)
    list(runner.follow(job))  # ends although no final event comes
    assert runner.get(job.id).state is JobState.DIED
    # a fresh runner (another app instance) that did not start it sees the same
    assert JobRunner(runner.root).get(job.id).state is JobState.DIED


def test_cancel_stops_the_job_and_leaves_no_partial_file(runner, practice, tmp_path):
    dest = tmp_path / "dest"
    job = runner.start(
        "backup",
        backup_args(practice, dest),
        password="pw",
        env={"THERABAK_FAILPOINTS": "delay-ms=100"},
    )
    seen: list = []
    for batch in runner.follow(job):
        seen.extend(batch)
        if any(isinstance(e, Progress) and e.files_done >= 2 for e in batch):
            break
    assert runner.cancel(job)
    list(runner.follow(job))
    final = runner.get(job.id)
    assert final.state is JobState.CANCELLED
    assert final.exit_code == 130
    assert list(dest.iterdir()) == []
    assert not runner.cancel(final)  # nothing left to cancel


def test_follow_replays_from_the_start_and_can_be_stopped(runner, practice, tmp_path):
    job = runner.start(
        "backup",
        backup_args(practice, tmp_path / "d"),
        password="pw",
        env={"THERABAK_FAILPOINTS": "transient=0.3,transient-times=1,seed=t"},
    )
    first = [e for b in runner.follow(job) for e in b]
    again = [e for b in runner.follow(runner.get(job.id)) for e in b]
    assert [e.to_json() for e in again] == [e.to_json() for e in first]
    assert any(isinstance(e, Retry) for e in first)
    assert any(isinstance(e, FileOutcome) and e.outcome == "recovered" for e in first)
    # a reader told to stop stops even while the job runs
    slow = runner.start(
        "backup",
        backup_args(practice, tmp_path / "e"),
        password="pw",
        env={"THERABAK_FAILPOINTS": "delay-ms=50"},
    )
    stop = threading.Event()
    stop.set()
    assert list(runner.follow(slow, stop)) == []
    runner.cancel(slow)
    list(runner.follow(slow))


def test_a_usage_error_ends_in_a_failed_job(runner, tmp_path):
    job = runner.start(
        "backup", ["--dest", str(tmp_path), "--data-dir", str(tmp_path / "missing")], password="pw"
    )
    events = [e for b in runner.follow(job) for e in b]
    assert events[-1].type == "error"
    assert runner.get(job.id).state is JobState.FAILED
    assert "Data folder not found" in runner.stderr_text(runner.get(job.id))


def test_final_event_is_found_behind_a_long_summary(tmp_path):
    log = tmp_path / "x.jsonl"
    big = Summary(
        operation="backup",
        exit_code=3,
        duration_s=1.0,
        extra={"raw": [f"sessions/K{i:05d}/note.json" for i in range(20000)]},
    )
    log.write_text(Phase("writing").to_line() + "\n" + big.to_line() + "\n")
    final = _final_event(log)
    assert isinstance(final, Summary) and len(final.extra["raw"]) == 20000
    log.write_text(Phase("writing").to_line() + "\n" + big.to_line()[:5000])  # torn
    assert _final_event(log) is None


def test_seen_and_prune(runner, practice, tmp_path):
    jobs = [
        runner.start(
            "backup",
            ["--dest", str(tmp_path), "--data-dir", str(tmp_path / "missing")],
            password="pw",
        )
        for _ in range(3)
    ]
    for job in jobs:
        list(runner.follow(job))
        runner.mark_seen(runner.get(job.id))
    assert all(j.record.seen for j in runner.list_jobs())
    runner.prune(keep=1)
    assert len(runner.list_jobs()) == 1


@pytest.mark.parametrize(
    "record",
    [
        None,
        [],
        {"id": "x"},  # fields missing
        {"id": "x", "operation": "backup", "args": [], "pid": 2**40, "started": "2026-01-01"},
        {"id": "x", "operation": "backup", "args": [], "pid": "12", "started": "2026-01-01"},
        {"id": 5, "operation": "backup", "args": [], "pid": 12, "started": "2026-01-01"},
        {"id": "x", "operation": "backup", "args": [1], "pid": 12, "started": "2026-01-01"},
        {"id": "x", "operation": "backup", "args": [], "pid": 12, "started": "yesterday"},
    ],
)
def test_a_damaged_job_record_is_skipped_not_a_crash(tmp_path: Path, record) -> None:
    """The app lists its jobs from these files: one damaged (or with an impossible pid,
    which was an OverflowError) must not take the job list down."""
    runner = JobRunner(tmp_path / "jobs")
    runner.root.mkdir()
    (runner.root / "20260101-000000-abcdef.json").write_text(json.dumps(record))
    good = {
        "id": "ok",
        "operation": "verify",
        "args": [],
        "pid": 2**31 - 1,
        "started": "2026-01-01T00:00:00+00:00",
    }
    (runner.root / "ok.json").write_text(json.dumps(good))
    jobs = runner.list_jobs()
    assert [j.id for j in jobs if j.id != "x"] == ["ok"]
    assert all(j.state is JobState.DIED for j in jobs)
