"""``therabak check|forget|prune URL``: the store commands on a store off-site (S3, SFTP,
WebDAV on the test servers), by URL or by a destination's name, and a lock left there by
another computer: named (host, since when), never presumed dead, removed only with
``--break-lock``."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from archive_support import json_lines
from conftest import Practice, run_cli
from store_support import PASSWORD, CheapPassword, backup_data, plaintext_tree, snapshot_tree
from therabak.destinations import resolve, store_storage
from therabak.errors import ExitCode
from therabak.practice.envelope import seal_bytes
from therabak.store.core import Store
from therabak.store.keyfile import Unlock
from therabak.store.locks import LockInfo, encode_lock, read_locks

KINDS = ["s3", "sftp", "webdav"]


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    pw = tmp_path / "pw.txt"
    pw.write_text(PASSWORD + "\n", encoding="utf-8")
    return pw


def _two_backups(store: Store, practice: Practice) -> list:
    start = datetime(2026, 2, 1, 9, tzinfo=UTC)
    first = backup_data(store, practice.data_dir, practice.key, created=start)
    (practice.data_dir / "audio" / "remote-1.opus").write_bytes(
        seal_bytes(practice.key, os.urandom(300_000))
    )
    second = backup_data(store, practice.data_dir, practice.key, created=start + timedelta(days=1))
    return [first.snapshot, second.snapshot]


@pytest.mark.parametrize("kind", KINDS)
def test_check_forget_prune_by_url(
    kind: str, remote_place, practice: Practice, password_file: Path
) -> None:
    place = remote_place(kind)
    # the store in TheraPsy-Backups below the URL, as a backup to a destination makes it
    store = Store.create(
        store_storage(resolve(place.url)),
        CheapPassword(PASSWORD),
        chunk_size=64 << 10,
        pack_size=1 << 20,
    )
    snaps = _two_backups(store, practice)
    pw = ("--password-file", password_file)
    r = run_cli("check", place.url, "--read-data", *pw, "--json")
    assert r.returncode == 0, r.stderr
    summary = json_lines(r.stdout)[-1]
    assert summary["snapshots"] == 2 and summary["packs_read"] == summary["packs"] > 0
    assert summary["store"] == place.url + "/TheraPsy-Backups"
    r = run_cli("forget", place.url, "--keep-last", "1", *pw)
    assert r.returncode == 0, r.stderr
    assert "1 snapshot forgotten" in r.stdout
    r = run_cli("prune", place.url, *pw, "--json")
    assert r.returncode == 0, r.stderr
    again = Store.open(store_storage(resolve(place.url)), Unlock(password=PASSWORD))
    assert [s.snapshot_id for s in again.snapshots()] == [snaps[1].snapshot_id]
    assert snapshot_tree(again, snaps[1].snapshot_id) == plaintext_tree(
        practice.data_dir, practice.key
    )
    assert run_cli("check", place.url, "--read-data", *pw).returncode == 0


def test_a_destination_name_and_a_store_at_the_url_itself(
    remote_place, practice: Practice, password_file: Path
) -> None:
    place = remote_place("webdav")
    store = Store.create(place.storage(), CheapPassword(PASSWORD))  # the URL is the store
    backup_data(store, practice.data_dir, practice.key)
    assert run_cli("destination", "add", "Nextcloud", place.url).returncode == 0
    r = run_cli("check", "Nextcloud", "--password-file", password_file, "--json")
    assert r.returncode == 0, r.stderr
    assert json_lines(r.stdout)[-1]["store"] == place.url


def test_no_store_there_is_said(remote_place, password_file: Path) -> None:
    place = remote_place("s3")
    r = run_cli("check", place.url, "--password-file", password_file)
    assert r.returncode != 0
    assert "no backup store" in r.stderr and "Traceback" not in r.stderr


def _foreign_lock(store: Store, *, exclusive: bool, age_s: float) -> str:
    """A lock as another computer's job leaves it (refreshed *age_s* ago)."""
    then = time.time() - age_s
    name = "locks/" + os.urandom(16).hex()
    info = LockInfo(
        name=name,
        host="praxis-laptop",
        pid=4242,
        user="anna",
        what="backup",
        exclusive=exclusive,
        created=then - 600,
        refreshed=then,
    )
    store.storage.put_bytes(name, encode_lock(store.keys, info))
    return name


@pytest.mark.parametrize("kind", ["s3", "sftp"])
def test_a_lock_of_another_computer_is_named_and_broken_only_on_request(
    kind: str, remote_place, practice: Practice, password_file: Path
) -> None:
    place = remote_place(kind)
    store = Store.create(place.storage(), CheapPassword(PASSWORD))
    backup_data(store, practice.data_dir, practice.key)
    pw = ("--password-file", password_file)
    # alive (refreshed a minute ago): prune gives way, naming who holds it
    name = _foreign_lock(store, exclusive=False, age_s=60)
    r = run_cli("prune", place.url, *pw)
    assert r.returncode == ExitCode.IN_USE
    assert "praxis-laptop" in r.stderr and "anna" in r.stderr and "since" in r.stderr
    store.storage.delete(name)
    # stale (not renewed for two hours): still refused, and said so; never presumed dead
    name = _foreign_lock(store, exclusive=False, age_s=7200)
    r = run_cli("prune", place.url, *pw)
    assert r.returncode == ExitCode.IN_USE
    line = r.stderr.strip()
    assert "another computer" in line and "praxis-laptop" in line
    assert "not been renewed since" in line and "--break-lock" in line
    assert [lk.name for lk in read_locks(store.storage, store.keys)[0]] == [name]
    r = run_cli("prune", place.url, *pw, "--break-lock", "--json")
    assert r.returncode == 0, r.stderr
    assert read_locks(store.storage, store.keys)[0] == []
    doc = json_lines(r.stdout)[-1]
    assert doc["operation"] == "prune"


def test_a_backup_is_not_blocked_by_another_computers_backup(
    remote_place, practice: Practice
) -> None:
    """Shared locks do not conflict: two computers back up to one store at once."""
    place = remote_place("webdav")
    store = Store.create(place.storage(), CheapPassword(PASSWORD))
    _foreign_lock(store, exclusive=False, age_s=7200)
    out = backup_data(store, practice.data_dir, practice.key)
    assert out.snapshot.entries
    assert json.dumps(len(read_locks(store.storage, store.keys)[0])) == "1"
