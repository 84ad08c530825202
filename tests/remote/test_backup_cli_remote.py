"""``therabak backup --dest URL|NAME`` and the commands that read a store off-site (``list
--in``, ``restore``/``verify``/``show``/``diff`` with ``STORE@ID``, ``passwd``), each in a
subprocess against the real test servers (moto's S3 server, OpenSSH's sshd, wsgidav)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from archive_support import json_lines
from conftest import Practice, run_cli
from store_support import PASSWORD, plaintext_tree, snapshot_tree
from therabak.destinations import resolve, store_storage
from therabak.errors import ExitCode
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


def two_backups(practice: Practice, url: str, pw: Path) -> list[dict]:
    first = summary(backup(practice, url, pw))
    (practice.data_dir / "audio" / "remote-new.opus").write_bytes(
        seal_bytes(practice.key, os.urandom(150_000))
    )
    return [first, summary(backup(practice, url, pw))]


@pytest.mark.parametrize("kind", ["s3", "sftp"])
def test_a_store_off_site_is_listed_restored_verified_shown_and_compared_by_url(
    kind: str, remote_place, practice: Practice, password_file: Path, tmp_path: Path
) -> None:
    place = remote_place(kind)
    want_first = plaintext_tree(practice.data_dir, practice.key)
    first, second = two_backups(practice, place.url, password_file)
    want_second = plaintext_tree(practice.data_dir, practice.key)
    store_url = first["store"]
    pw = ("--password-file", password_file)
    prac = ("--data-dir", practice.data_dir, "--account-key", practice.key_path)

    r = run_cli("list", "--in", place.url, "--no-media", "--json")
    assert r.returncode == 0, r.stderr
    points = [p for p in json.loads(r.stdout)["points"] if p["format"] == "store"]
    assert sorted(p["snapshot_id"] for p in points) == sorted(
        [first["snapshot"], second["snapshot"]]
    )
    assert {p["ref"] for p in points} == {
        f"{store_url}@{first['snapshot']}",
        f"{store_url}@{second['snapshot']}",
    }

    # restore the older one by its (short) id, the newer as @latest: byte-exact
    for ref, want in (
        (f"{place.url}@{first['snapshot'][:8]}", want_first),
        (f"{place.url}@latest", want_second),
    ):
        to = tmp_path / f"restored-{ref[-8:]}"
        r = run_cli("restore", ref, "--to", to, "--yes", *pw, *prac, "--json", timeout=300)
        assert r.returncode == 0, r.stderr
        assert plaintext_tree(to, practice.key) == want  # byte-exact (as plaintext)

    r = run_cli("verify", f"{place.url}@latest", *pw, "--json")
    assert r.returncode == 0, r.stderr
    r = run_cli("show", f"{place.url}@{first['snapshot'][:8]}", "--files", *pw, "--json")
    assert r.returncode == 0, r.stderr
    assert "audio/remote-new.opus" not in r.stdout
    r = run_cli(
        "diff",
        f"{place.url}@latest",
        "--against",
        f"{store_url}@{first['snapshot']}",
        *pw,
        "--json",
    )
    assert r.returncode == 3, r.stderr  # not identical: one file added
    assert "audio/remote-new.opus" in r.stdout
    # a wrong password: exit 4, nothing restored
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("falsch\n", encoding="utf-8")
    r = run_cli("verify", f"{place.url}@latest", "--password-file", wrong)
    assert r.returncode == ExitCode.CANNOT_UNLOCK, r.stderr
    assert "Traceback" not in r.stderr
