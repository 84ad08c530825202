"""The plan names the folder the current data is kept in, and the restore makes exactly
that folder; old before-restore folders and a backup the user chose not to keep are
removed only by an explicit call, and only when they are what they claim to be."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import Practice, run_cli
from restore_helpers import before_restore_dirs, practice_args, restore
from therabak.datafolder.locks import JobLock
from therabak.datafolder.names import before_restore_path, restore_lock_path
from therabak.errors import DamagedArchiveError, DataFolderError, DataInUseError
from therabak.jobkit import history
from therabak.jobs.removal import before_restore_folders, delete_backup, remove_before_restore
from therabak.jobs.restore import RestoreRequest, plan_restore
from therabak.practice.categories import Rules

pytest_plugins = ["restore_helpers"]


def _plan(p: Practice, point: Path, password_file: Path, **kw):
    return plan_restore(
        RestoreRequest(
            point=point,
            data_dir=p.data_dir,
            account_key_path=p.key_path,
            rules=Rules.load(),
            password=password_file.read_text("utf-8").strip(),
            **kw,
        )
    )


def test_the_restore_makes_the_folder_its_plan_named(practice, backups, password_file):
    """The app makes the plan, then starts the restore later (another second, another
    minute): the folder made is the one the plan showed."""
    plan = _plan(practice, backups.manual, password_file)
    planned = plan.keep_old_at
    assert planned is not None and planned.parent == practice.data_dir.parent
    # a name of a time that is certainly not now: the restore must use it, not the clock
    name = practice.data_dir.name + ".before-restore-2020-01-02_030405"
    r = restore(
        practice,
        backups.manual,
        "--before-restore-name",
        name,
        "--json",
        password_file=password_file,
    )
    assert r.returncode == 0, r.stderr
    final = json.loads(r.stdout.splitlines()[-1])
    assert final["before_restore"] == str(practice.data_dir.parent / name)
    assert final["before_restore_planned"] is None
    assert before_restore_dirs(practice) == [practice.data_dir.parent / name]


def test_a_name_taken_meanwhile_falls_back_and_says_the_real_one(practice, backups, password_file):
    name = practice.data_dir.name + ".before-restore-2020-01-02_030405"
    taken = practice.data_dir.parent / name
    taken.mkdir()  # e.g. a second restore started from the same plan
    r = restore(
        practice, backups.manual, "--before-restore-name", name, password_file=password_file
    )
    assert r.returncode == 0, r.stderr
    made = [d for d in before_restore_dirs(practice) if d != taken]
    assert len(made) == 1
    assert f"The previous data is kept in {made[0]}" in r.stdout
    assert f"not {name} as planned" in r.stdout


@pytest.mark.parametrize(
    "name", ["Other.before-restore-1", "Data.before-restore-", "../Data.before-restore-1"]
)
def test_a_name_that_is_not_a_before_restore_name_is_refused(practice, backups, name):
    r = restore(practice, backups.auto, "--before-restore-name", name)
    assert r.returncode == 2, r.stderr
    assert "must start with Data.before-restore-" in r.stderr
    assert before_restore_dirs(practice) == []


def test_old_before_restore_folders_are_listed_and_removed_one_by_one(practice, backups):
    for _ in range(2):
        assert restore(practice, backups.auto).returncode == 0
    kept = before_restore_folders(practice.data_dir, practice.key.id_hex)
    assert len(kept) == 2
    assert kept[0].point.created >= kept[1].point.created  # newest first
    assert all(k.size > 100_000 for k in kept)  # the size of the data folder
    remove_before_restore(kept[1].path, practice.data_dir)
    assert before_restore_dirs(practice) == [kept[0].path]
    # the listing of restore points no longer has it
    r = run_cli("list", "--no-media", "--json", *practice_args(practice))
    paths = [p["path"] for p in json.loads(r.stdout)["points"]]
    assert str(kept[1].path) not in paths and str(kept[0].path) in paths


def test_removing_refuses_what_is_not_a_before_restore_folder(practice, tmp_path):
    for wrong in (practice.data_dir, tmp_path / "Data.before-restore-x", practice.root):
        wrong.mkdir(exist_ok=True)
        with pytest.raises(DataFolderError):
            remove_before_restore(wrong, practice.data_dir)
    assert practice.data_dir.is_dir()
    link = practice.root / "Data.before-restore-link"
    os.symlink(practice.data_dir, link)
    with pytest.raises(DataFolderError):
        remove_before_restore(link, practice.data_dir)
    assert (practice.data_dir / "profiles").is_dir()


def test_removing_waits_for_a_running_restore(practice):
    old = before_restore_path(practice.data_dir)
    old.mkdir()
    with (
        JobLock(restore_lock_path(practice.data_dir), what="restore"),
        pytest.raises(DataInUseError),
    ):
        remove_before_restore(old, practice.data_dir)
    assert old.is_dir()
    remove_before_restore(old, practice.data_dir)
    assert not old.exists()


def test_a_backup_deleted_on_request_is_gone_with_its_volumes_and_forgotten(
    practice, tmp_path, password_file
):
    dest = tmp_path / "usb"
    r = run_cli(
        "backup",
        "--single-file",
        "--dest",
        dest,
        *practice_args(practice),
        "--password-file",
        password_file,
        "--volume-size",
        "1M",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    final = json.loads(r.stdout.splitlines()[-1])
    volumes = [Path(v) for v in final["volumes"]]
    assert len(volumes) > 1
    assert history.last_of("manual", practice.data_dir).path == final["archive"]
    not_ours = dest / "notes.therabak"
    not_ours.write_bytes(b"my own file")
    with pytest.raises(DamagedArchiveError):
        delete_backup(not_ours)
    assert not_ours.exists()
    removed = delete_backup(volumes[1])  # any volume names the set
    assert sorted(removed) == sorted(volumes)
    assert not any(v.exists() for v in volumes)
    assert history.last_of("manual", practice.data_dir) is None


def test_two_folders_of_the_same_second_are_ordered_by_their_number(practice):
    """Two restores in one second: Data.before-restore-<time> and then <time>-2."""
    stamp = "2026-03-02_103000"
    for name in (f"Data.before-restore-{stamp}-2", f"Data.before-restore-{stamp}"):
        (practice.root / name).mkdir()
    kept = before_restore_folders(practice.data_dir, None)
    assert [k.path.name for k in kept] == [
        f"Data.before-restore-{stamp}-2",
        f"Data.before-restore-{stamp}",
    ]
