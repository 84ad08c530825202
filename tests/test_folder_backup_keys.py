"""A folder backup is restored on its envelopes' word, not its manifest's (issue 13,
finding 5).

The manifest's ``account_key_id`` is a hint (it lets ``list`` say "another account"
quickly); every sealed file names the key it is sealed with, and each is checked against
this computer's account key before the swap. A file sealed with another key refuses the
restore (exit 4) with nothing changed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from conftest import Practice
from restore_helpers import (
    before_restore_dirs,
    change_data,
    leftovers,
    restore,
    tree_state,
)
from therabak.datafolder.manifest import MANIFEST_NAME
from therabak.practice.envelope import seal_bytes

pytest_plugins = ["restore_helpers"]  # its fixtures: backups, other_account, ...


@pytest.fixture
def unchanged(practice: Practice):
    change_data(practice)
    before = tree_state(practice.data_dir)
    parent_before = sorted(p.name for p in practice.root.iterdir())
    yield practice
    assert tree_state(practice.data_dir) == before
    assert sorted(p.name for p in practice.root.iterdir()) == parent_before
    assert leftovers(practice.root) == [] and before_restore_dirs(practice) == []


def _rewrite_manifest(folder: Path, change) -> None:
    path = folder / MANIFEST_NAME
    lines = path.read_text("utf-8").splitlines()
    head = json.loads(lines[0])
    files = [json.loads(line) for line in lines[1:] if line.strip()]
    change(head, files)
    path.write_text("\n".join(json.dumps(x) for x in [head, *files]) + "\n", "utf-8")


@pytest.mark.parametrize("how", ["replace Data", "into another folder"])
def test_another_accounts_folder_backup_with_a_forged_manifest(
    unchanged: Practice, other_account, tmp_path: Path, how: str
) -> None:
    forged = tmp_path / "usb" / other_account.folder.name
    shutil.copytree(other_account.folder, forged)

    def claim_ours(head: dict, files: list) -> None:
        head["account_key_id"] = unchanged.key.id_hex

    _rewrite_manifest(forged, claim_ours)
    target = tmp_path / "elsewhere"
    extra = ["--to", str(target)] if how == "into another folder" else []
    r = restore(unchanged, forged, *extra)
    assert r.returncode == 4, r.stderr
    assert "another account" in r.stderr and other_account.key.id_hex in r.stderr
    assert "Traceback" not in r.stderr and "Nothing was changed" in r.stderr
    assert not target.exists() and leftovers(tmp_path) == []


def test_one_foreign_file_in_this_accounts_folder_backup(
    unchanged: Practice, other_account, backups, tmp_path: Path
) -> None:
    """Every envelope is checked, not a sample: one file sealed with another key among
    many of ours (its manifest line made to agree) refuses the restore."""
    point = tmp_path / "usb" / backups.folder.name
    shutil.copytree(backups.folder, point)
    victim = sorted((point / "sessions").rglob("*.json"))[-1]
    foreign = seal_bytes(other_account.key, b'{"note": "not ours"}')
    victim.write_bytes(foreign)
    rel = victim.relative_to(point).as_posix()

    def agree(head: dict, files: list) -> None:
        for f in files:
            if f["p"] == rel:
                f["s"], f["h"] = len(foreign), hashlib.sha256(foreign).hexdigest()

    _rewrite_manifest(point, agree)
    r = restore(unchanged, point)
    assert r.returncode == 4, r.stderr
    assert rel in r.stderr and other_account.key.id_hex in r.stderr
