"""``therabak status``: the reminder first, the last backups, automatic-backup health."""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path

from conftest import Practice, run_cli
from restore_helpers import (
    practice_args,
)
from therabak.datafolder.names import STAMP_FORMAT
from therabak.jobkit import history

pytest_plugins = ["restore_helpers"]  # its fixtures: backups, other_account, ...


def _status(p: Practice, *args: str):
    return run_cli("status", *practice_args(p), *args)


def _auto_copy(p: Practice, backups, age: timedelta) -> Path:
    folder = p.root / "TheraPsy-Auto-Backups"
    folder.mkdir(exist_ok=True)
    when = datetime.now().astimezone() - age
    dest = folder / f"TheraPsy-Auto-{when.strftime(STAMP_FORMAT)}.therabak"
    shutil.copy2(backups.auto, dest)
    return dest


def _record(kind: str, path: Path, age: timedelta, data_dir: Path) -> None:
    when = (datetime.now().astimezone() - age).isoformat(timespec="seconds")
    history.append(
        history.BackupRecord(
            kind=kind, path=str(path), created=when, verified=True, data_dir=str(data_dir)
        )
    )


def test_no_backup_yet_reminds_first(practice: Practice) -> None:
    r = _status(practice)
    assert r.returncode == 3
    assert r.stdout.splitlines()[0].startswith("REMINDER: No manual backup")
    doc = json.loads(_status(practice, "--json").stdout)
    assert doc["manual"] is None and doc["reminder"] and doc["auto_state"] == "never"


def test_fresh_backups_are_fine(practice: Practice, password_file: Path, tmp_path: Path) -> None:
    b = run_cli(
        "backup",
        "--single-file",
        "--dest",
        tmp_path / "usb",
        "--password-file",
        password_file,
        "--verify",
        *practice_args(practice),
    )
    assert b.returncode == 0, b.stderr
    assert run_cli("auto", *practice_args(practice)).returncode == 0
    f = run_cli("folder-backup", "--dest", tmp_path / "usb2", *practice_args(practice))
    assert f.returncode == 0
    r = _status(practice, "--json")
    assert r.returncode == 0, r.stdout
    doc = json.loads(r.stdout)
    assert doc["reminder"] is None and doc["auto_state"] == "ok"
    assert doc["manual"]["verified"] is True and doc["manual"]["where"].startswith(
        str(tmp_path / "usb")
    )
    assert doc["auto"]["verified"] is True and doc["folder"]["verified"] is True
    assert doc["manual"]["age_days"] < 1
    text = _status(practice)
    assert text.returncode == 0 and "REMINDER" not in text.stdout


def test_old_manual_backup_reminds(practice: Practice, backups) -> None:
    _record("manual", backups.manual, timedelta(days=20), practice.data_dir)
    _auto_copy(practice, backups, timedelta(hours=2))
    r = _status(practice)
    assert r.returncode == 3
    first = r.stdout.splitlines()[0]
    assert first.startswith("REMINDER: The last manual backup is 20 days old")


def test_reminder_days_come_from_the_settings(practice: Practice, backups) -> None:
    Path(os.environ["THERABAK_CONFIG"]).write_text("[reminder]\ndays = 30\n", encoding="utf-8")
    _record("manual", backups.manual, timedelta(days=20), practice.data_dir)
    _auto_copy(practice, backups, timedelta(hours=2))
    assert _status(practice).returncode == 0


def test_archives_in_remembered_destinations_count(
    practice: Practice, backups, tmp_path: Path
) -> None:
    usb = tmp_path / "usb"
    usb.mkdir()
    shutil.copy2(backups.manual, usb / backups.manual.name)  # made today, no history record
    Path(os.environ["THERABAK_CONFIG"]).write_text(
        f'[destinations]\nremembered = ["{usb.as_posix()}"]\n', encoding="utf-8"
    )
    _auto_copy(practice, backups, timedelta(hours=2))
    r = _status(practice, "--json")
    doc = json.loads(r.stdout)
    assert r.returncode == 0, doc
    assert doc["manual"]["where"] == str(usb / backups.manual.name)


def test_overdue_automatic_backups(practice: Practice, backups) -> None:
    _record("manual", backups.manual, timedelta(days=1), practice.data_dir)
    _auto_copy(practice, backups, timedelta(days=3))
    r = _status(practice, "--json")
    assert r.returncode == 3
    doc = json.loads(r.stdout)
    assert doc["reminder"] is None and doc["auto_state"] == "overdue"
    assert "overdue" in doc["warnings"][0]


def test_undo_hint_after_a_restore(practice: Practice, backups) -> None:
    r = run_cli(
        "restore", backups.auto, "--yes", *practice_args(practice), env={"THERABAK_MEDIA_ROOTS": ""}
    )
    assert r.returncode == 0, r.stderr
    s = _status(practice)
    assert "Undo possible:" in s.stdout and "Data.before-restore-" in s.stdout
    assert "Last restore:" in s.stdout
