"""``therabak backup --dest URL|NAME`` and the commands that read a store off-site (``list
--in``, ``restore``/``verify``/``show``/``diff`` with ``STORE@ID``, ``passwd``), each in a
subprocess against the real test servers (moto's S3 server, OpenSSH's sshd, wsgidav)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from archive_support import json_lines
from conftest import Practice, run_cli
from store_support import PASSWORD, plaintext_tree, snapshot_tree
from therabak.destinations import resolve, store_storage
from therabak.practice.envelope import seal_bytes
from therabak.store.core import Store
from therabak.store.keyfile import Unlock

KINDS = ["s3", "sftp", "webdav"]


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    pw = tmp_path / "pw.txt"
    pw.write_text(PASSWORD + "\n", encoding="utf-8")
    return pw


def backup(practice: Practice, dest: str, pw: Path, *args: str):
    return run_cli(
        "backup",
        "--dest",
        dest,
        "--data-dir",
        practice.data_dir,
        "--password-file",
        pw,
        "--json",
        *args,
        timeout=300,
    )


def summary(r) -> dict:
    assert r.returncode == 0, r.stderr
    return json_lines(r.stdout)[-1]


def open_url(url: str) -> Store:
    return Store.open(store_storage(resolve(url)), Unlock(password=PASSWORD))


@pytest.mark.parametrize("kind", KINDS)
def test_a_backup_to_a_url_makes_the_store_then_writes_only_what_is_new(
    kind: str, remote_place, practice: Practice, password_file: Path
) -> None:
    place = remote_place(kind)
    first = summary(backup(practice, place.url, password_file))
    assert first["store"] == place.url + "/TheraPsy-Backups"
    assert first["created_store"] is True and first["files"] > 0
    (practice.data_dir / "audio" / "remote-new.opus").write_bytes(
        seal_bytes(practice.key, os.urandom(200_000))
    )
    second = summary(backup(practice, place.url, password_file))
    assert second["created_store"] is False and second["store"] == first["store"]
    assert second["files"] == first["files"] + 1
    assert second["files_read"] == 1  # only the new recording was read
    store = open_url(place.url)
    snaps = store.snapshots()
    assert [s.snapshot_id for s in snaps] == [first["snapshot"], second["snapshot"]]
    assert snapshot_tree(store, second["snapshot"]) == plaintext_tree(
        practice.data_dir, practice.key
    )
    store.storage.close()
