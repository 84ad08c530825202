"""A backup that cannot finish never leaves something that looks like a backup: no space,
disk full mid-write, Ctrl+C, kill -9, crashes at every named point."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

import pytest

from archive_support import archives_in, events_of, json_lines, partials_in
from cli_support import (
    backup,
    one_archive,
    pw_args,
    single_line,
    small_filesystem,
    wait_for_event,
)
from conftest import IS_WINDOWS, Practice, start_cli
from therabak.practice.demo import DemoSpec, create_demo

posix_only = pytest.mark.skipif(IS_WINDOWS, reason="POSIX signals and mounts")


def start_backup(p: Practice, dest: Path, tmp_path: Path, failpoints: str) -> subprocess.Popen:
    """A backup subprocess with --json on a pipe (read it with wait_for_event)."""
    opts, _, _ = pw_args(tmp_path)
    return start_cli(
        "backup",
        "--single-file",
        "--dest",
        dest,
        "--data-dir",
        p.data_dir,
        *opts,
        "--json",
        env={"THERABAK_FAILPOINTS": failpoints},
    )


def finish(proc: subprocess.Popen, timeout: float = 60) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def assert_nothing_left(dest: Path) -> None:
    assert archives_in(dest) == []
    assert partials_in(dest) == []


# ---- space --------------------------------------------------------------------------------------


@posix_only
def test_not_enough_free_space_is_refused_before_writing(practice, tmp_path):
    with small_filesystem(tmp_path / "stick", "2m") as stick:
        opts, _, _ = pw_args(tmp_path)
        r = backup(practice, stick, *opts)
        assert r.returncode == 6, r.stderr
        assert "Not enough space" in single_line(r.stderr)
        assert list(stick.iterdir()) == []


@pytest.fixture
def two_chunk_practice(tmp_path) -> Practice:
    """Audio files of 2 MiB (two envelope chunks each), so a write fails mid-file."""
    spec = DemoSpec(
        clients=2, sessions_per_client=2, audio_files=3, audio_mb=6, documents_per_client=1
    )
    result = create_demo(tmp_path / "big", spec)
    return Practice(tmp_path / "big", result.data_dir, result.account_key, spec)


@pytest.mark.parametrize("after", [100, 4096 + 50, 3 << 20, 5 << 20])
def test_disk_full_mid_write(two_chunk_practice, tmp_path, after):
    """ENOSPC while writing: exit 6, one clear line, no .partial, and a write error is not
    mistaken for a source file that failed to decrypt (no retries, no raw, no skip)."""
    dest = tmp_path / "usb"
    opts, _, _ = pw_args(tmp_path)
    r = backup(
        two_chunk_practice,
        dest,
        *opts,
        "--json",
        env={"THERABAK_FAILPOINTS": f"enospc-after={after}"},
    )
    assert r.returncode == 6, r.stdout[-500:] + r.stderr
    assert "is full" in single_line(r.stderr)
    lines = json_lines(r.stdout)
    assert events_of(lines, "retry") == [] and events_of(lines, "file_outcome") == []
    assert events_of(lines, "error")[-1]["exit_code"] == 6
    assert_nothing_left(dest)


def test_a_file_system_that_holds_almost_nothing_is_refused(two_chunk_practice, tmp_path):
    """A file system that refuses files before the smallest volume size (EFBIG at 500 kB):
    exit 6, one line, nothing left. (A refusal at a useful size splits the backup into
    volumes instead: tests/test_volumes_cli.py.)"""
    dest = tmp_path / "usb"
    opts, _, _ = pw_args(tmp_path)
    r = backup(two_chunk_practice, dest, *opts, env={"THERABAK_FAILPOINTS": "efbig-at=500000"})
    assert r.returncode == 6
    assert "cannot hold a file larger than 500.0 kB" in single_line(r.stderr)
    assert_nothing_left(dest)


@posix_only
def test_real_disk_full_while_writing(practice, tmp_path):
    """The free-space check passes, then something else fills the stick: the real ENOSPC
    (raised when the buffered archive is flushed) ends the backup cleanly."""
    with small_filesystem(tmp_path / "stick", "8m") as stick:
        proc = start_backup(practice, stick, tmp_path, "delay-ms=20")
        try:
            wait_for_event(proc, "progress")
            with contextlib.suppress(OSError), open(stick / "filler", "wb") as f:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
        finally:
            code, out, err = finish(proc)
        assert code == 6, err
        assert "is full" in single_line(err)
        assert [p.name for p in stick.iterdir()] == ["filler"]


# ---- interruptions ------------------------------------------------------------------------------


@posix_only
@pytest.mark.parametrize(
    "started", ["as usual", pytest.param("with SIGINT ignored", marks=posix_only)]
)
def test_ctrl_c_stops_quickly_and_leaves_nothing(practice, tmp_path, started):
    """Also when therabak inherits SIGINT ignored (a shell without job control starts
    background commands so): the app's cancel of a job is a SIGINT too."""
    dest = tmp_path / "usb"
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if started != "as usual" else None
    try:
        proc = start_backup(practice, dest, tmp_path, "delay-ms=200")  # ~12 s of work
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    try:
        wait_for_event(proc, "progress", count=2)
        assert partials_in(dest)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=5)
    finally:
        proc.kill()
        out, err = proc.communicate()
    assert code == 130
    assert "Interrupted" in single_line(err)
    assert json_lines(out)[-1]["event"] == "error" and json_lines(out)[-1]["exit_code"] == 130
    assert_nothing_left(dest)


@posix_only
def test_kill_9_leaves_no_backup_and_the_next_run_cleans_up(practice, tmp_path):
    dest = tmp_path / "usb"
    proc = start_backup(practice, dest, tmp_path, "delay-ms=100")
    try:
        wait_for_event(proc, "progress", count=2)
        proc.kill()
        proc.wait(timeout=10)
    finally:
        proc.kill()
        proc.communicate()
    assert archives_in(dest) == []
    stale = partials_in(dest)
    assert len(stale) == 1 and f".{proc.pid}.partial" in stale[0].name
    opts, _, _ = pw_args(tmp_path)
    r = backup(practice, dest, *opts)
    assert r.returncode == 0, r.stderr
    assert not stale[0].exists()
    one_archive(dest)


def test_a_partial_of_a_live_process_is_left_alone(practice, tmp_path):
    dest = tmp_path / "usb"
    dest.mkdir()
    live = dest / f"TheraPsy-Backup-2026-01-01_000000.therabak.{os.getpid()}.partial"
    live.write_bytes(b"someone is writing this")
    other = dest / "TheraPsy-Backup-2026-01-01_000000.therabak.notes.partial"
    other.write_bytes(b"not ours")
    opts, _, _ = pw_args(tmp_path)
    assert backup(practice, dest, *opts).returncode == 0
    assert live.exists() and other.exists()
