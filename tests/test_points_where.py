"""Folder backups are found wherever they are: in the folder a folder backup went to
(remembered like a manual backup's), in a folder searched before (remembered in the
settings), and when the folder named is the folder backup itself."""

from __future__ import annotations

import json

from conftest import run_cli
from restore_helpers import practice_args
from therabak.settings import Settings

pytest_plugins = ["restore_helpers"]


def _listed(practice, *extra) -> dict[str, dict]:
    r = run_cli("list", "--no-media", "--json", *practice_args(practice), *extra)
    assert r.returncode == 0, r.stderr
    return {p["path"]: p for p in json.loads(r.stdout)["points"]}


def test_a_folder_backup_is_listed_from_where_it_went(practice, tmp_path):
    dest = tmp_path / "nas"
    r = run_cli("folder-backup", "--dest", dest, *practice_args(practice), "--json")
    assert r.returncode == 0, r.stderr
    folder = json.loads(r.stdout.splitlines()[-1])["folder"]
    assert Settings.load().remembered_destinations == [str(dest)]
    point = _listed(practice)[folder]
    assert point["kind"] == "folder" and point["found_in"] == "remembered"


def test_a_folder_searched_before_is_searched_again(practice, backups, tmp_path):
    settings = Settings.load()
    assert settings.remember_searched(backups.folder.parent)
    assert not settings.remember_searched(backups.folder.parent)  # once
    settings.save()
    assert Settings.load().searched_folders == [str(backups.folder.parent)]
    point = _listed(practice)[str(backups.folder)]
    assert point["found_in"] == "searched"


def test_the_folder_named_may_be_the_folder_backup_itself(practice, backups):
    listed = _listed(practice, "--in", backups.folder)
    assert listed[str(backups.folder)]["kind"] == "folder"
