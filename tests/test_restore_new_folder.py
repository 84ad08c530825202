"""Restore onto a new computer where not even the folder that holds Data exists yet."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Practice, run_cli

PASSWORD = "Neuer-Laptop-2026"


def test_restore_creates_the_folder_that_holds_data(practice: Practice, tmp_path: Path) -> None:
    dest = tmp_path / "usb"
    made = run_cli(
        "backup",
        "--single-file",
        "--dest",
        dest,
        "--data-dir",
        practice.data_dir,
        "--account-key",
        practice.key_path,
        "--password-stdin",
        "--json",
        input=PASSWORD + "\n",
    )
    assert made.returncode == 0, made.stderr
    archive = json.loads(made.stdout.splitlines()[-1])["archive"]
    root = tmp_path / "new-laptop" / "AppData" / "TheraPsy"  # none of it exists yet
    data, key = root / "Data", root / "account.key"
    r = run_cli(
        "restore",
        archive,
        "--yes",
        "--password-stdin",
        "--data-dir",
        data,
        "--account-key",
        key,
        input=PASSWORD + "\n",
    )
    assert r.returncode == 3, r.stderr  # done, with a warning: a new account key
    assert data.is_dir() and key.is_file()
    same = run_cli(
        "diff",
        archive,
        "--data-dir",
        data,
        "--account-key",
        key,
        "--json",
        "--password-stdin",
        input=PASSWORD + "\n",
    )
    assert json.loads(same.stdout)["identical"], same.stdout
