"""app/chain_process.py: the backups of a chain after the first start in a process of their
own, when the one before them has ended, even when the app that started the chain is gone
(killed: a dropped SSH connection); a cancel stops the chain, a failure does not, the stop
file does; the password reaches each job and no file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from test_runner import backup_args  # a single-file backup of the practice to a folder
from therabak.app.chain_process import ChainHandle, ChainStart, prune_chains, start_chain_process
from therabak.app.runner import JobRunner, JobState
from therabak.archive.reader import ArchiveReader
from therabak.jobs.backup import BackupResult

PASSWORD = "Kette-aus-zwei-Sicherungen"
SLOW = {"THERABAK_FAILPOINTS": "delay-ms=150"}  # the first job lasts a few seconds


def step(practice, dest: Path) -> ChainStart:
    return ChainStart("backup", backup_args(practice, dest), str(practice.data_dir), "", None, "")


@pytest.fixture
def runner(isolated_env: Path) -> JobRunner:
    return JobRunner(isolated_env / "state" / "jobs")


def wait_chain_ended(handle: ChainHandle, runner: JobRunner, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = handle.state()
        if state is not None and state.ended and not any(j.running for j in runner.list_jobs()):
            return
        time.sleep(0.1)
    raise AssertionError("the chain did not end in time")


def jobs_by_dest(runner: JobRunner) -> dict[str, object]:
    return {j.record.args[j.record.args.index("--dest") + 1]: j for j in runner.list_jobs()}


def opens_with_password(job) -> bool:
    archive = job.final.result(BackupResult).archive
    with ArchiveReader.open(archive) as reader:
        return reader.unlock(password=PASSWORD) == "password"


def no_secret_left(runner: JobRunner) -> None:
    for path in runner.root.iterdir():
        assert PASSWORD.encode() not in path.read_bytes(), path


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL of the starter is POSIX")
def test_the_second_backup_runs_though_the_process_that_started_the_chain_was_killed(
    runner, practice, tmp_path
):
    """The app's part played by a process that starts the first backup, hands the second
    over and is killed at once with its whole process group (what a dropped SSH
    connection does to a terminal's processes; SIGKILL: no cleanup of its own)."""
    first, second = tmp_path / "stick", tmp_path / "offsite"
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        from pathlib import Path
        from therabak.app.chain_process import ChainStart, start_chain_process
        from therabak.app.runner import JobRunner
        runner = JobRunner(Path({str(runner.root)!r}))
        password = sys.stdin.readline().rstrip("\\n")
        job = runner.start("backup", {backup_args(practice, first)!r}, password=password,
                           env={SLOW!r})
        start_chain_process(runner, job, [ChainStart("backup", {backup_args(practice, second)!r},
                            "", "", None, "")], password=password, recovery_code=None)
        os.killpg(0, signal.SIGKILL)
        """
    )
    starter = subprocess.run(
        [sys.executable, "-c", script],
        input=PASSWORD + "\n",
        text=True,
        capture_output=True,
        start_new_session=True,
    )
    assert starter.returncode == -signal.SIGKILL, starter.stderr
    chain = next(runner.root.glob("*.chain"))
    handle = ChainHandle(runner.root, chain.name.removesuffix(".chain"))
    wait_chain_ended(handle, runner)
    jobs = jobs_by_dest(runner)
    assert sorted(jobs) == sorted([str(first), str(second)])
    stick, offsite = jobs[str(first)], jobs[str(second)]
    assert stick.state is JobState.DONE and offsite.state is JobState.DONE
    assert handle.state().jobs == [offsite.id]
    # one after the other: the second started once the first had written its summary
    assert os.path.getmtime(stick.log) <= Path(runner.root / f"{offsite.id}.json").stat().st_mtime
    assert opens_with_password(stick) and opens_with_password(offsite)
    no_secret_left(runner)


def test_a_cancelled_backup_stops_the_chain(runner, practice, tmp_path):
    job = runner.start(
        "backup", backup_args(practice, tmp_path / "stick"), password=PASSWORD, env=SLOW
    )
    handle = start_chain_process(
        runner,
        job,
        [step(practice, tmp_path / "offsite")],
        password=PASSWORD,
        recovery_code=None,
    )
    time.sleep(0.5)
    assert runner.cancel(job)
    wait_chain_ended(handle, runner)
    assert runner.get(job.id).state is JobState.CANCELLED
    assert handle.state().jobs == []
    assert list(jobs_by_dest(runner)) == [str(tmp_path / "stick")]
    assert handle.started(0) is False
    no_secret_left(runner)


def test_the_stop_file_keeps_the_waiting_backup_from_starting(runner, practice, tmp_path):
    job = runner.start(
        "backup", backup_args(practice, tmp_path / "stick"), password=PASSWORD, env=SLOW
    )
    handle = start_chain_process(
        runner, job, [step(practice, tmp_path / "offsite")], password=PASSWORD, recovery_code=None
    )
    assert handle.started(0) is None  # still to come
    handle.stop()
    wait_chain_ended(handle, runner)
    assert runner.get(job.id).state is JobState.DONE  # the running one went on
    assert handle.state().jobs == [] and handle.started(0) is False


def test_a_failed_backup_does_not_stop_the_next(runner, practice, tmp_path):
    """The stick is the problem (here: a destination that is a file): the off-site copy
    matters most then."""
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the stick's folder should be")
    job = runner.start("backup", backup_args(practice, blocked), password=PASSWORD)
    handle = start_chain_process(
        runner, job, [step(practice, tmp_path / "offsite")], password=PASSWORD, recovery_code=None
    )
    wait_chain_ended(handle, runner)
    jobs = jobs_by_dest(runner)
    assert jobs[str(blocked)].state is JobState.FAILED
    assert jobs[str(tmp_path / "offsite")].state is JobState.DONE
    assert opens_with_password(jobs[str(tmp_path / "offsite")])
    state = json.loads(handle.state_path.read_text())
    assert state["ended"] is True and PASSWORD not in handle.state_path.read_text()
    # its files stay while one of its jobs is on record, and go with the last of them
    prune_chains(runner.root)
    assert handle.state_path.exists()
    for job in runner.list_jobs():
        runner.forget(job)
        prune_chains(runner.root)
        assert handle.state_path.exists() == bool(runner.list_jobs())
    assert not any(p.name.startswith(handle.id) for p in runner.root.iterdir())
