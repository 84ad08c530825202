"""``therabak backup --dest URL|NAME`` and the commands that read a store off-site (``list
--in``, ``restore``/``verify``/``show``/``diff`` with ``STORE@ID``, ``passwd``), each in a
subprocess against the real test servers (moto's S3 server, OpenSSH's sshd, wsgidav)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archive_support import json_lines
from conftest import Practice, cli_env, run_cli
from store_support import PASSWORD, CheapPassword, plaintext_tree, snapshot_tree
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


@pytest.mark.parametrize("kind", KINDS)
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


@pytest.mark.parametrize("kind", ["s3", "sftp"])
def test_passwd_and_a_recovery_code_on_a_store_off_site(
    kind: str, remote_place, practice: Practice, password_file: Path, tmp_path: Path
) -> None:
    place = remote_place(kind)
    made = summary(backup(practice, place.url, password_file))
    new_pw = tmp_path / "new.txt"
    new_pw.write_text("Ein neues Passwort 2026\n", encoding="utf-8")
    r = run_cli(
        "passwd",
        place.url,
        "--password-file",
        password_file,
        "--new-password-file",
        new_pw,
        "--json",
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["store"] == made["store"] and doc["snapshots"] == 1
    latest = f"{place.url}@latest"
    r = run_cli("verify", latest, "--password-file", password_file)
    assert r.returncode == ExitCode.CANNOT_UNLOCK, r.stderr  # the old one opens nothing
    assert run_cli("verify", latest, "--password-file", new_pw).returncode == 0

    code_file = tmp_path / "code.txt"
    r = run_cli(
        "recovery",
        "create",
        place.url,
        "--password-file",
        new_pw,
        "--recovery-code-out",
        code_file,
    )
    assert r.returncode == 0, r.stderr
    r = run_cli("verify", latest, "--recovery-code-file", code_file)
    assert r.returncode == 0, r.stderr
    store = Store.open(
        store_storage(resolve(place.url)), Unlock(password="Ein neues Passwort 2026")
    )
    assert store.has_recovery_code
    store.storage.close()
    r = run_cli("recovery", "remove", place.url, "--password-file", new_pw)
    assert r.returncode == 0, r.stderr
    r = run_cli("verify", latest, "--recovery-code-file", code_file)
    assert r.returncode == ExitCode.CANNOT_UNLOCK, r.stderr


def one_line(stderr: str) -> str:
    lines = [x for x in stderr.splitlines() if x.strip()]
    assert "Traceback" not in stderr, stderr
    return lines[-1] if lines else ""


def test_backups_to_s3_that_cannot_be_done_are_refused_each_with_its_exit_code(
    remote_place, practice: Practice, password_file: Path
) -> None:
    place = remote_place("s3")
    # --single-file: only to a folder (usage), before anything is read or sent
    r = run_cli(
        "backup",
        "--single-file",
        "--dest",
        place.url,
        "--data-dir",
        practice.data_dir,
        "--password-file",
        password_file,
    )
    assert r.returncode == ExitCode.USAGE, r.stderr
    assert "--single-file" in one_line(r.stderr)
    with place.storage() as s:
        assert list(s.list()) == []
    # an upload limit for a folder: it would do nothing there (usage)
    r = backup(
        practice,
        str(place.folder or practice.root / "stick"),
        password_file,
        "--limit-upload",
        "1M",
    )
    assert r.returncode == ExitCode.USAGE, r.stderr
    assert "off-site" in one_line(r.stderr)
    # wrong credentials: exit 8, the secret named nowhere
    wrong = "wrong-secret-Zx81!" + "q" * 20
    r = run_cli(
        "backup",
        "--dest",
        place.url,
        "--data-dir",
        practice.data_dir,
        "--password-file",
        password_file,
        env={"AWS_SECRET_ACCESS_KEY": wrong},
    )
    assert r.returncode == ExitCode.REMOTE_LOGIN, r.stderr
    assert wrong not in r.stderr + r.stdout and "therabak remote login" in one_line(r.stderr)
    # a bucket that is not there: exit 9, named
    r = backup(practice, "s3://there-is-no-such-bucket/praxis", password_file)
    assert r.returncode == ExitCode.REMOTE_MISSING, r.stderr
    assert "there-is-no-such-bucket" in one_line(r.stderr)
    with place.storage() as s:
        assert list(s.list()) == []  # nothing was made anywhere


def test_a_full_quota_and_retries_during_a_backup_to_s3(
    proxied_url, practice: Practice, password_file: Path
) -> None:
    url, proxy = proxied_url("s3")
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>XMinioStorageFull</Code>'
        b"<Message>full</Message></Error>"
    )
    proxy.inject(
        507, times=10_000, methods=("PUT",), body=body, headers={"Content-Type": "application/xml"}
    )
    r = backup(practice, url, password_file)
    assert r.returncode == ExitCode.NO_SPACE, r.stderr
    one_line(r.stderr)
    proxy.clear()
    before = proxy.counts.injected
    # throttled twice: the notices as `check` shows them, and the backup goes through
    proxy.inject(503, times=2, methods=("PUT",), headers={"Retry-After": "0"})
    r = run_cli(
        "backup",
        "--dest",
        url,
        "--data-dir",
        practice.data_dir,
        "--password-file",
        password_file,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert proxy.counts.injected - before == 2
    assert "try 2 of" in r.stderr and "try 3 of" in r.stderr, r.stderr
    store = open_url(url)
    assert len(store.snapshots()) == 1
    assert snapshot_tree(store, store.snapshots()[0].snapshot_id) == plaintext_tree(
        practice.data_dir, practice.key
    )
    store.storage.close()


def test_an_unknown_host_key_is_refused_with_the_trust_hint(
    remote_place, practice: Practice, password_file: Path
) -> None:
    place = remote_place("sftp")
    (Path(os.environ["THERABAK_CONFIG"]).parent / "known_hosts").unlink()
    r = backup(practice, place.url, password_file)
    assert r.returncode == ExitCode.HOST_KEY, r.stderr
    assert "therabak remote trust" in r.stderr
    one_line(r.stderr)
    assert place.folder is not None and list(place.folder.iterdir()) == []  # nothing written


def test_a_named_destination_is_backed_up_to_and_its_status_known(
    remote_place, practice: Practice, password_file: Path
) -> None:
    place = remote_place("webdav")
    r = run_cli("destination", "add", "Nextcloud", place.url)
    assert r.returncode == 0, r.stderr
    made = summary(backup(practice, "Nextcloud", password_file))
    assert made["store"] == place.url + "/TheraPsy-Backups"
    r = run_cli("status", "--data-dir", practice.data_dir, "--json")
    doc = json.loads(r.stdout)
    [dest] = [d for d in doc["destinations"] if d["name"] == "Nextcloud"]
    assert dest["last"] is not None and dest["last"]["where"] == made["store"]
    r = run_cli("verify", "Nextcloud@latest", "--password-file", password_file, "--json")
    assert r.returncode == 0, r.stderr
    assert json_lines(r.stdout)[-1]["snapshot_id"] == made["snapshot"]
    r = run_cli("list", "--in", "Nextcloud", "--no-media", "--json")
    assert r.returncode == 0, r.stderr
    assert [p["snapshot_id"] for p in json.loads(r.stdout)["points"] if p["format"] == "store"] == [
        made["snapshot"]
    ]


@pytest.mark.parametrize("kind", ["s3", "webdav"])
def test_a_second_backup_by_the_cli_with_nothing_changed_asks_a_handful_of_things(
    kind: str, proxied_url, practice: Practice, password_file: Path, record_property
) -> None:
    url, proxy = proxied_url(kind)
    summary(backup(practice, url, password_file))
    summary(backup(practice, url, password_file))
    before = len(proxy.counts.requests)
    third = summary(backup(practice, url, password_file))
    asked = proxy.counts.requests[before:]
    record_property(f"{kind} CLI no-change backup requests", len(asked))
    print(f"{kind}: a no-change `therabak backup` (a new process) made {len(asked)} requests")
    assert third["files_read"] == 0 and third["bytes_new"] == 0
    # the snapshots and index files come from this computer's copy, not the server
    assert not [r for r in asked if "/snapshots/" in r and r.startswith("GET")], asked
    assert len(asked) <= {"s3": 20, "webdav": 28}[kind], asked


def test_a_backup_killed_mid_upload_is_resumed_and_every_finished_point_restores(
    proxied_url, practice: Practice, password_file: Path, tmp_path: Path
) -> None:
    url, proxy = proxied_url("s3")
    # a store with packs of 1 MiB (the least), so that half of the upload is whole packs
    Store.create(
        store_storage(resolve(url)), CheapPassword(PASSWORD), chunk_size=64 << 10, pack_size=1 << 20
    ).storage.close()
    first = summary(backup(practice, url, password_file))
    want_first = plaintext_tree(practice.data_dir, practice.key)
    new_bytes = 12 * 1_000_000
    for i in range(12):
        (practice.data_dir / "audio" / f"remote-{i}.opus").write_bytes(
            seal_bytes(practice.key, os.urandom(1_000_000))
        )
    want_second = plaintext_tree(practice.data_dir, practice.key)
    start = proxy.counts.bytes_up
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "therabak",
            "backup",
            "--dest",
            url,
            "--data-dir",
            str(practice.data_dir),
            "--password-file",
            str(password_file),
            "--json",
            "--limit-upload",
            "3M",  # slow enough to be cut at half
        ],
        env=cli_env(None),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while proxy.counts.bytes_up - start < new_bytes // 2:
            assert child.poll() is None, "the backup ended before it was killed"
            assert time.monotonic() < deadline
            time.sleep(0.002)
        child.kill()  # as a power cut would: no cleanup
    finally:
        child.wait()
    cut_at = proxy.counts.bytes_up - start
    store = open_url(url)
    assert [s.snapshot_id for s in store.snapshots()] == [first["snapshot"]]  # nothing half
    store.storage.close()

    start = proxy.counts.bytes_up
    second = summary(backup(practice, url, password_file))
    sent = proxy.counts.bytes_up - start
    print(
        f"killed after {cut_at / new_bytes:.0%} of the new data; the resumed backup sent "
        f"{sent / new_bytes:.0%}"
    )
    assert 0.45 < cut_at / new_bytes < 0.65, cut_at
    assert sent < 0.65 * new_bytes, (cut_at, sent)  # the packs that had arrived were adopted
    prac = ("--data-dir", practice.data_dir, "--account-key", practice.key_path)
    for sid, want in ((first["snapshot"], want_first), (second["snapshot"], want_second)):
        to = tmp_path / f"restored-{sid[:8]}"
        r = run_cli(
            "restore",
            f"{url}@{sid}",
            "--to",
            to,
            "--yes",
            "--password-file",
            password_file,
            *prac,
            timeout=300,
        )
        assert r.returncode == 0, r.stderr
        assert plaintext_tree(to, practice.key) == want


def test_the_estimate_before_a_backup_reads_a_store_off_site(
    remote_place, practice: Practice, password_file: Path
) -> None:
    from therabak.archive.writer import Protection
    from therabak.jobs.store_estimate import estimate_backup
    from therabak.practice.categories import BackupKind, Rules

    place = remote_place("sftp")
    rules = Rules.load()

    def estimate():
        return estimate_backup(
            place.url,
            data_dir=practice.data_dir,
            account=practice.key,
            rules=rules,
            selection=rules.default_selection(BackupKind.MANUAL),
            protection=Protection(password=PASSWORD),
        )

    new = estimate()
    assert not new.exists and new.bytes_new == new.bytes_total > 0
    assert place.folder is not None and list(place.folder.iterdir()) == []  # changed nothing
    made = summary(backup(practice, place.url, password_file))
    (practice.data_dir / "audio" / "remote-new.opus").write_bytes(
        seal_bytes(practice.key, os.urandom(100_000))
    )
    again = estimate()
    assert again.exists and again.store == made["store"]
    assert again.files_reused == made["files"] and again.files_total == made["files"] + 1
    assert 100_000 <= again.bytes_new < 110_000  # only the new recording


def test_two_backups_started_together_make_one_store_off_site(
    remote_place, practice: Practice, password_file: Path
) -> None:
    place = remote_place("s3")
    argv = [
        sys.executable,
        "-m",
        "therabak",
        "backup",
        "--dest",
        place.url,
        "--data-dir",
        str(practice.data_dir),
        "--password-file",
        str(password_file),
        "--json",
    ]
    children = [
        subprocess.Popen(argv, env=cli_env(None), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    results = [c.communicate(timeout=300) for c in children]
    for c, (_out, err) in zip(children, results, strict=True):
        assert c.returncode == 0, err
    made = [json.loads(out.splitlines()[-1]) for out, _err in results]
    assert sorted(m["created_store"] for m in made) == [False, False, True]
    store = open_url(place.url)
    assert len(store.snapshots()) == 3
    assert len(list(store.storage.list("keys/"))) == 1  # one key: one store
    assert list(store.storage.list("locks/")) == []  # the creation lock is gone
    store.storage.close()


def test_a_creation_lock_another_computer_left_is_named_and_broken_only_on_request(
    remote_place, practice: Practice, password_file: Path
) -> None:
    from therabak.jobs.store_open import CREATING_OBJECT

    place = remote_place("sftp")
    with store_storage(resolve(place.url)) as storage:  # TheraPsy-Backups, no store yet
        left = {"host": "praxis-pc-2", "pid": 4242, "since": time.time() - 7200}
        storage.put_bytes(CREATING_OBJECT, json.dumps(left).encode())
    r = backup(practice, place.url, password_file)
    assert r.returncode == ExitCode.IN_USE, r.stderr
    assert "praxis-pc-2" in r.stderr and "--break-lock" in r.stderr
    one_line(r.stderr)
    with store_storage(resolve(place.url)) as storage:
        assert storage.size("config") is None  # no store was made
        assert storage.size(CREATING_OBJECT) is not None  # nor the lock removed
    made = summary(backup(practice, place.url, password_file, "--break-lock"))
    assert made["created_store"] is True
    store = open_url(place.url)
    assert store.storage.size(CREATING_OBJECT) is None
    assert len(store.snapshots()) == 1
    store.storage.close()


def test_a_place_off_site_without_a_store_is_said_so(remote_place, password_file: Path) -> None:
    place = remote_place("s3")
    r = run_cli("list", "--in", place.url, "--no-media", "--json")
    assert r.returncode == 0, r.stderr
    assert [p for p in json.loads(r.stdout)["points"] if p["format"] == "store"] == []
    r = run_cli("verify", f"{place.url}@latest", "--password-file", password_file)
    assert r.returncode == ExitCode.USAGE, r.stderr
    assert "There is no backup store in" in one_line(r.stderr)
    r = run_cli(
        "passwd", place.url, "--password-file", password_file, "--new-password-file", password_file
    )
    assert r.returncode == ExitCode.USAGE, r.stderr
    one_line(r.stderr)
