"""The app's summary panel reads a job that warned right (issue 13, finding 7): the job
exits 3, the panel says some files need attention and lists each warning once.

The events are those of real CLI jobs (``--json``), read back as the app reads a job's
stream (``events.from_dict``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import IS_WINDOWS, Practice, run_cli
from restore_helpers import practice_args
from therabak.app.jobview import JobView
from therabak.app.summaries import summary_text
from therabak.events import from_dict
from therabak.jobs.runner import Job, JobRecord, JobState

pytest_plugins = ["restore_helpers"]  # its fixtures: backups, other_account, ...
pytestmark = pytest.mark.skipif(IS_WINDOWS, reason="symbolic links need privileges on Windows")

LINK = "sessions/K0001/verknuepft.json"


def panel(operation: str, stdout: str) -> str:
    view = JobView()
    view.apply([from_dict(json.loads(line)) for line in stdout.splitlines()], now=0)
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
