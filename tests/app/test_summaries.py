"""The app's summary panel reads a job that warned right (issue 13, finding 7): the job
exits 3, the panel says some files need attention and lists each warning once.

The events are those of real CLI jobs (``--json``), read back as the app reads a job's
stream (``Event.from_json``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import IS_WINDOWS, Practice, run_cli
from restore_helpers import practice_args
from therabak.app.jobview import JobView
from therabak.app.runner import Job, JobRecord, JobState
from therabak.app.summaries import summary_text
from therabak.events import Event

pytest_plugins = ["restore_helpers"]  # its fixtures: backups, other_account, ...
pytestmark = pytest.mark.skipif(IS_WINDOWS, reason="symbolic links need privileges on Windows")

LINK = "sessions/K0001/verknuepft.json"


def panel(operation: str, stdout: str) -> str:
    view = JobView()
    view.apply([Event.from_json(json.loads(line)) for line in stdout.splitlines()], now=0)
    record = JobRecord(id="x", operation=operation, args=[], pid=0, started="")
    return str(summary_text(Job(record, JobState.DONE), view, str))


@pytest.fixture
def linked(practice: Practice, tmp_path: Path) -> Practice:
    (tmp_path / "outside.json").write_text("{}")
    (practice.data_dir / LINK).symlink_to(tmp_path / "outside.json")
    return practice


@pytest.mark.parametrize("operation", ["backup", "folder-backup"])
def test_a_backup_that_warned(linked: Practice, tmp_path: Path, operation: str) -> None:
    extra = ["--no-password"] if operation == "backup" else []
    r = run_cli(operation, "--dest", tmp_path / "usb", *extra, "--json", *practice_args(linked))
    assert r.returncode == 3, r.stderr
    text = panel(operation, r.stdout)
    assert "finished with warnings." in text.splitlines()[0]
    assert text.count(LINK) == 1 and "1 warning:" in text


def test_a_restore_that_warned_lists_each_warning_once(linked: Practice, backups) -> None:
    r = run_cli(
        "restore", backups.auto, "--yes", "--json", *practice_args(linked),
        env={"THERABAK_MEDIA_ROOTS": ""},
    )  # fmt: skip
    assert r.returncode == 3, r.stderr
    text = panel("restore", r.stdout)
    assert text.splitlines()[0] == "Restore finished with warnings."
    assert text.count(f"Not carried over into the restored data: {LINK}") == 1


@pytest.mark.skipif(IS_WINDOWS, reason="POSIX signals")
def test_a_backup_whose_check_was_cancelled_says_it_once(linked: Practice, tmp_path: Path) -> None:
    """The summary's list of warnings has the cancelled check too: the head says it, the
    list below keeps the other warnings (the merge of issue 13's lists with issue 14's
    kept backup)."""
    import signal

    from archive_support import json_lines
    from cli_support import wait_for_event
    from conftest import start_cli

    proc = start_cli(
        "backup", "--dest", tmp_path / "usb", "--no-password", "--verify", "--json",
        *practice_args(linked), env={"THERABAK_FAILPOINTS": "verify-delay-ms=150"},
    )  # fmt: skip
    try:
        seen = wait_for_event(proc, "phase", name="verifying")
        seen += wait_for_event(proc, "progress")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 3, err
    events = seen + json_lines(out)
    codes = [w["code"] for w in events[-1]["warnings"]]
    assert "verify-cancelled" in codes and len(codes) == 2  # the link and the check
    text = panel("backup", "\n".join(json.dumps(e) for e in events))
    assert text.splitlines()[0] == "Backup written; its check was cancelled, so it is NOT verified."
    assert "1 warning:" in text and text.count(LINK) == 1
    assert "complete but not verified" not in text


def _in_order(lines: list[str], expected: list[str]) -> bool:
    """Whether *expected* are consecutive lines of *lines*."""
    n = len(expected)
    return any(lines[i : i + n] == expected for i in range(len(lines) - n + 1))


def test_a_store_backup_is_summed_up_in_the_same_words_by_the_cli_and_the_app(
    practice: Practice, tmp_path: Path, monkeypatch, capsys
) -> None:
    """One wording for both fronts (presentation.store_backup_lines): the CLI's text
    output and the app's summary panel say what the backup did in the same sentences.
    The CLI runs in this process, a spy keeping the result the real job returned; the
    app reads a real job's JSON, as it reads every job."""
    from therabak import cli
    from therabak.jobs import store_backup
    from therabak.jobs.store_backup import StoreBackupResult
    from therabak.presentation import store_backup_lines

    usb = tmp_path / "usb"
    seen: list[StoreBackupResult] = []
    real = store_backup.run_store_backup

    def spy(req, emit):
        seen.append(real(req, emit=emit))
        return seen[-1]

    monkeypatch.setattr(store_backup, "run_store_backup", spy)
    args = ["--dest", str(usb), "--no-password", "--verify", *practice_args(practice)]
    assert cli.main(["backup", *args]) == 0
    said = [f"  {line.text}" for line in store_backup_lines(seen[0])]
    assert len(said) == 2 and "Verified:" in said[-1]  # the amounts, the check
    assert _in_order(capsys.readouterr().out.splitlines(), said)

    r = run_cli("backup", *args, "--json")  # the second: every file taken over unread
    assert r.returncode == 0, r.stderr
    final = Event.from_json(json.loads(r.stdout.splitlines()[-1]))
    said = [line.text for line in store_backup_lines(final.result(StoreBackupResult))]
    assert len(said) == 3 and "not read again" in said[1]
    text = panel("backup", r.stdout).splitlines()
    assert text[1] == f"Where: {final.extra['store']}"
    assert _in_order(text, said)


def test_a_single_file_backup_is_summed_up_in_the_same_words_by_the_cli_and_the_app(
    tmp_path: Path,
) -> None:
    """presentation.single_file_backup_lines for both fronts: a split, verified
    single-file backup's amounts, volumes (each named) and check, in the CLI's text
    and in the app's panel reading the same kind of job's JSON."""
    from therabak.jobs.backup import BackupResult
    from therabak.practice.demo import DemoSpec, create_demo
    from therabak.presentation import single_file_backup_lines

    spec = DemoSpec(clients=2, sessions_per_client=1, audio_files=1, audio_mb=5.0, seed=3)
    made = create_demo(tmp_path / "practice", spec)
    practice = Practice(tmp_path / "practice", made.data_dir, made.account_key, spec)

    args = ["--single-file", "--no-password", "--verify", "--volume-size", "2MB"]
    args += practice_args(practice)
    r = run_cli("backup", "--dest", tmp_path / "usb", *args, "--json")
    assert r.returncode == 0, r.stderr
    final = Event.from_json(json.loads(r.stdout.splitlines()[-1]))
    result = final.result(BackupResult)
    lines = single_file_backup_lines(result)
    assert len(result.volumes) > 1 and [v.name for v in result.volumes] == list(lines[1].items)
    said = [line.text for line in lines]
    assert len(said) == 3 and "took" in said[0] and "Split into" in said[1]
    assert said[2] == "Verified: every file was read back and checked."
    names = [f"    {v.name}" for v in result.volumes]
    shown = panel("backup", r.stdout).splitlines()
    assert _in_order(shown, [said[0], said[1], *names, said[2]])

    r = run_cli("backup", "--dest", tmp_path / "usb2", *args)
    assert r.returncode == 0, r.stderr
    names = [f"    {p.name}" for p in sorted((tmp_path / "usb2").iterdir())]
    assert len(names) == 3
    out = r.stdout.splitlines()
    amounts = f"  {said[0].split(' took ')[0]} took "  # another run: its own duration
    at = next(i for i, line in enumerate(out) if line.startswith(amounts))
    assert out[at + 1 : at + 6] == [f"  {said[1]}", *names, f"  {said[2]}"]
