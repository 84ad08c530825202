"""A printed warning means exit 3 (issue 13, finding 7).

``--help`` says 3 is "done with warnings": whenever backup, folder-backup, auto or restore
print a warning (a link left out included), they exit 3, and their JSON summary lists
every warning (message, path, code). The app's summary panel reads the same.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from archive_support import events_of, json_lines, the_summary
from conftest import IS_WINDOWS, Practice, run_cli
from restore_helpers import practice_args

pytest_plugins = ["restore_helpers"]  # its fixtures: backups, other_account, ...
pytestmark = pytest.mark.skipif(IS_WINDOWS, reason="symbolic links need privileges on Windows")

LINK = "sessions/K0001/verknuepft.json"


def plant_link(p: Practice, tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    outside.write_text("{}")
    (p.data_dir / LINK).symlink_to(outside)


def check(r, operation: str) -> dict:
    assert r.returncode == 3, (r.returncode, r.stderr)
    lines = json_lines(r.stdout)
    summary = the_summary(lines)
    assert summary["operation"] == operation and summary["exit_code"] == 3
    printed = events_of(lines, "warning")
    assert printed and summary["warnings"] == [
        {"message": w["message"], "path": w["path"], "code": w["code"]} for w in printed
    ]
    return summary


@pytest.mark.parametrize("job", ["backup", "folder-backup", "auto"])
def test_a_link_left_out_is_a_warning_and_exit_3(
    practice: Practice, tmp_path: Path, job: str
) -> None:
    plant_link(practice, tmp_path)
    args = {
        "backup": ["backup", "--single-file", "--no-password", "--dest", tmp_path / "usb"],
        "folder-backup": ["folder-backup", "--dest", tmp_path / "usb"],
        "auto": ["auto", "--force"],
    }[job]
    r = run_cli(*args, "--json", *practice_args(practice))
    summary = check(r, job)
    assert any(w["path"] == LINK and w["code"] == "skipped-special" for w in summary["warnings"])
    text = run_cli(*args, *practice_args(practice))
    assert text.returncode == 3, text.stderr
    assert "warning: Not " in text.stderr and LINK in text.stderr


def test_a_restore_that_warns_exits_3(practice: Practice, tmp_path: Path, backups) -> None:
    plant_link(practice, tmp_path)  # in the current data: cannot be carried over
    r = run_cli(
        "restore", backups.auto, "--yes", "--json", *practice_args(practice),
        env={"THERABAK_MEDIA_ROOTS": ""},
    )  # fmt: skip
    summary = check(r, "restore")
    assert any(w["path"] == LINK and w["code"] == "not-carried" for w in summary["warnings"])


def test_without_warnings_the_exit_code_stays_0(practice: Practice, tmp_path: Path) -> None:
    r = run_cli(
        "backup",
        "--single-file",
        "--no-password",
        "--dest",
        tmp_path / "usb",
        "--json",
        *practice_args(practice),
    )
    assert r.returncode == 0, r.stderr
    assert the_summary(json_lines(r.stdout))["warnings"] == []
