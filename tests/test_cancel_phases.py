"""What a cancel means in each phase of a job, and that the words match what happened.

A backup cancelled while it writes leaves nothing (test_backup_crash.py). Cancelled
while its check after writing reads it back, the backup was already complete: it is
kept, reported as not verified (exit 3, ``verify_cancelled``), stays a restore point
and can be checked later. A restore cannot be cancelled between its two renames: the
cancel waits and the restore says what it did.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from archive_support import archives_in, json_lines, partials_in
from cli_support import pw_args, wait_for_event
from conftest import IS_WINDOWS, Practice, run_cli, start_cli
from therabak.jobkit import history

posix_only = pytest.mark.skipif(IS_WINDOWS, reason="POSIX signals")


def start_verified_backup(p: Practice, dest, tmp_path, failpoints: str) -> subprocess.Popen:
    opts, _, _ = pw_args(tmp_path)
    return start_cli(
        "backup",
        "--single-file",
        "--dest",
        dest,
        "--data-dir",
        p.data_dir,
        "--account-key",
        p.key_path,
        *opts,
        "--verify",
        "--json",
        env={"THERABAK_FAILPOINTS": failpoints},
    )


@posix_only
def test_cancel_during_the_check_keeps_the_complete_backup_and_says_so(practice, tmp_path):
    dest = tmp_path / "usb"
    proc = start_verified_backup(practice, dest, tmp_path, "verify-delay-ms=150")
    try:
        seen = wait_for_event(proc, "phase", name="verifying")
        seen += wait_for_event(proc, "progress")  # the check reads the backup back
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    events = seen + json_lines(out)
    final = events[-1]
    assert proc.returncode == 3, err
    assert final["event"] == "summary" and final["exit_code"] == 3
    assert final["verify_cancelled"] is True and final["verified"] is None
    warning = next(e for e in events if e["event"] == "warning")
    assert warning["code"] == "verify-cancelled"
    assert "complete but not verified" in warning["message"]
    (archive,) = archives_in(dest)
    assert str(archive) == final["archive"] and partials_in(dest) == []
    opts, _, _ = pw_args(tmp_path)
    check = run_cli("verify", archive, "--account-key", practice.key_path, *opts, "--json")
    assert check.returncode == 0, check.stderr  # complete and intact: only unchecked
    (record,) = [r for r in history.read_all() if r.kind == "manual"]
    assert record.path == str(archive) and record.verified is None
    listed = run_cli("list", "--in", dest, "--no-media", "--json")
    assert [p["path"] for p in json.loads(listed.stdout)["points"]] == [str(archive)]


@posix_only
def test_cancel_during_the_check_in_words(practice, tmp_path):
    """The text output says it plainly: written, not verified, how to check it later."""
    dest = tmp_path / "usb"
    opts, _, _ = pw_args(tmp_path)
    proc = start_cli(
        "backup",
        "--single-file",
        "--dest",
        dest,
        "--data-dir",
        practice.data_dir,
        "--account-key",
        practice.key_path,
        *opts,
        "--verify",
        env={"THERABAK_FAILPOINTS": "verify-delay-ms=150"},
    )
    try:
        # the text output has no events to wait for: wait until the archive is published
        start = time.monotonic()
        while not archives_in(dest):
            assert time.monotonic() - start < 60
            time.sleep(0.05)
        time.sleep(0.4)  # into the check
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 3, err
    assert "Backup written:" in out
    assert "NOT verified: the check was cancelled" in out and "therabak verify" in out
    assert "Interrupted" not in err and "Traceback" not in err


@posix_only
def test_a_restore_is_not_stopped_between_its_two_renames():
    """too_late_to_cancel: a SIGINT during the swap waits; the handler comes back after."""
    from therabak.datafolder.swap import too_late_to_cancel

    before = signal.getsignal(signal.SIGINT)
    with too_late_to_cancel():
        os.kill(os.getpid(), signal.SIGINT)  # would raise KeyboardInterrupt here
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    assert signal.getsignal(signal.SIGINT) is before
