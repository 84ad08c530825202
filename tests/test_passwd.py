"""``therabak passwd``: a new password rewrites the header region only, crash-safely
(archive/FORMAT.md section 5a)."""

from __future__ import annotations

import shutil
import signal
import stat
import subprocess
from pathlib import Path

import pytest

from archive_support import CheapPassword, build_archive, flip, sha256_file
from cli_support import PASSWORD, backup, one_archive, pw_args, single_line, small_filesystem
from conftest import IS_WINDOWS, record_figure, run_cli
from therabak.archive.header import parse_header
from therabak.archive.reader import ArchiveReader
from therabak.archive.rekey import journal_path, recover_journal
from therabak.archive.writer import Protection
from therabak.errors import DamagedArchiveError, WrongPasswordError
from therabak.jobs.passwd import change_password
from therabak.practice.account import AccountKey

NEW = "Neues Passwort für 2026, länger und besser"


@pytest.fixture
def archive(practice, tmp_path) -> Path:
    """A manual backup of the demo practice, protected by PASSWORD (made by the CLI)."""
    opts, _, _ = pw_args(tmp_path)
    assert backup(practice, tmp_path / "usb", *opts).returncode == 0
    return one_archive(tmp_path / "usb")


def _files(tmp_path: Path) -> tuple[Path, Path]:
    old, new = tmp_path / "old.txt", tmp_path / "new.txt"
    old.write_text(PASSWORD + "\n", encoding="utf-8")
    new.write_text(NEW + "\n", encoding="utf-8")
    return old, new


def _passwd(archive: Path, old: Path, new: Path, env=None):
    return run_cli("passwd", archive, "--password-file", old, "--new-password-file", new, env=env)


def _opens_with(archive: Path, password: str) -> bool:
    with ArchiveReader.open(archive) as reader:
        try:
            reader.unlock(password=password)
        except WrongPasswordError:
            return False
        reader.read_index()
        return True


def _header_size(archive: Path) -> int:
    with ArchiveReader.open(archive) as reader:
        return reader.header.header_size


def test_passwd_changes_the_password_and_nothing_else(archive, tmp_path, practice):
    old, new = _files(tmp_path)
    h = _header_size(archive)
    before_data = sha256_file(archive, start=h)
    before_size = archive.stat().st_size
    with ArchiveReader.open(archive) as reader:
        before = reader.header

    r = _passwd(archive, old, new)
    assert r.returncode == 0, r.stderr
    assert "Password changed" in r.stdout and "Copies" in r.stdout

    assert sha256_file(archive, start=h) == before_data  # not one data byte changed
    assert archive.stat().st_size == before_size
    if not IS_WINDOWS:
        assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert not journal_path(archive).exists()
    with ArchiveReader.open(archive) as reader:
        after = reader.header
    assert after.fixed == before.fixed and after.archive_id == before.archive_id
    assert after.slots[0].body != before.slots[0].body

    r = run_cli("verify", archive, "--password-file", old)
    assert r.returncode == 4 and "Wrong password" in single_line(r.stderr)
    assert run_cli("verify", archive, "--password-file", new).returncode == 0
    r = run_cli("diff", archive, "--password-file", new, "--data-dir", practice.data_dir)
    assert r.returncode == 0, r.stdout


def test_passwd_with_both_passwords_on_stdin(archive, tmp_path):
    r = run_cli(
        "passwd",
        archive,
        "--password-stdin",
        "--new-password-stdin",
        "--json",
        input=f"{PASSWORD}\n{NEW}\n",
    )
    assert r.returncode == 0, r.stderr
    import json

    assert json.loads(r.stdout) == {"archive": str(archive), "changed": True, "slots": ["password"]}
    assert NEW not in r.stdout + r.stderr and PASSWORD not in r.stdout + r.stderr
    assert _opens_with(archive, NEW) and not _opens_with(archive, PASSWORD)


def test_wrong_old_password_changes_nothing(archive, tmp_path):
    _, new = _files(tmp_path)
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("falsch", encoding="utf-8")
    before = sha256_file(archive)
    r = _passwd(archive, wrong, new)
    assert r.returncode == 4 and "Wrong password" in single_line(r.stderr)
    assert sha256_file(archive) == before and not journal_path(archive).exists()


@pytest.mark.parametrize(
    "args, stdin, code, message",
    [
        ([], None, 2, "no terminal"),
        (["--password-env", "OLD"], None, 2, "no terminal"),  # the new one is missing
        (["--password-env", "OLD", "--new-password-env", "EMPTY"], None, 2, "empty"),
        (["--password-stdin", "--new-password-stdin"], "only one line\n", 2, "empty"),
    ],
)
def test_passwd_usage_errors(archive, args, stdin, code, message):
    before = sha256_file(archive)
    r = run_cli("passwd", archive, *args, env={"OLD": PASSWORD, "EMPTY": ""}, input=stdin)
    assert r.returncode == code
    assert message in single_line(r.stderr).lower()
    assert sha256_file(archive) == before


def test_passwd_refuses_archives_without_a_password(practice, tmp_path):
    old, new = _files(tmp_path)
    assert backup(practice, tmp_path / "usb", "--no-password").returncode == 0
    unprotected = one_archive(tmp_path / "usb")
    r = _passwd(unprotected, old, new)
    assert r.returncode == 2 and "no password" in single_line(r.stderr)
    account = AccountKey.generate()
    acc = build_archive(
        tmp_path / "acc.therabak",
        {"a": b"1"},
        kind="auto",
        protection=Protection(account_key=account.key, account_key_id=account.key_id),
    )
    r = _passwd(acc.path, old, new)
    assert r.returncode == 2 and "no password" in single_line(r.stderr)


def test_passwd_keeps_the_account_slot(tmp_path):
    account = AccountKey.generate()

    class PasswordAndAccount(CheapPassword):
        def slots(self, archive_key):
            return CheapPassword.slots(self, archive_key) + Protection(
                account_key=account.key, account_key_id=account.key_id
            ).slots(archive_key)

    built = build_archive(
        tmp_path / "both.therabak", {"a": b"content"}, protection=PasswordAndAccount(password="alt")
    )
    result = change_password(built.path, "alt", "neu")
    assert result.slots == ["password", "account"]
    with ArchiveReader.open(built.path) as reader:
        assert reader.unlock(account=account) == "account"
        assert reader.read_entry(reader.read_index().entries[0]) == b"content"
    assert _opens_with(built.path, "neu") and not _opens_with(built.path, "alt")


def test_passwd_on_a_damaged_header_refuses(archive, tmp_path):
    old, new = _files(tmp_path)
    flip(archive, 100)
    r = _passwd(archive, old, new)
    assert r.returncode == 5 and "header" in single_line(r.stderr)
    assert not journal_path(archive).exists()


# ---- crashes ------------------------------------------------------------------------------------


posix_only = pytest.mark.skipif(IS_WINDOWS, reason="kill -9 via the crash failpoint")


@posix_only
def test_kill_9_after_the_journal_keeps_the_old_password(archive, tmp_path, record_property):
    old, new = _files(tmp_path)
    before = sha256_file(archive)
    r = _passwd(archive, old, new, env={"THERABAK_FAILPOINTS": "crash-at=passwd.journal"})
    assert r.returncode == -signal.SIGKILL
    journal = journal_path(archive)
    assert journal.exists()
    if not IS_WINDOWS:
        assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    assert sha256_file(archive) == before  # the archive was not touched yet
    assert _opens_with(archive, PASSWORD) and not _opens_with(archive, NEW)
    assert run_cli("verify", archive, "--password-file", old).returncode == 0
    assert journal.exists()  # an intact header in place: the journal is only ignored
    # running passwd again works and clears the leftover journal
    assert _passwd(archive, old, new).returncode == 0
    assert not journal.exists() and _opens_with(archive, NEW)
    record_figure(record_property, "kill points survived", 1)


@posix_only
def test_kill_9_in_the_middle_of_the_rewrite_is_finished_on_open(
    archive, tmp_path, record_property
):
    old, new = _files(tmp_path)
    h = _header_size(archive)
    data_before = sha256_file(archive, start=h)
    r = _passwd(archive, old, new, env={"THERABAK_FAILPOINTS": "crash-at=passwd.write"})
    assert r.returncode == -signal.SIGKILL
    assert journal_path(archive).exists()
    with pytest.raises(DamagedArchiveError):  # really torn: new slots, old checksum
        parse_header(archive.read_bytes()[:h])
    # the next open (any command) finishes the change from the journal
    r = run_cli("verify", archive, "--password-file", new)
    assert r.returncode == 0, r.stderr
    assert not journal_path(archive).exists()
    parse_header(archive.read_bytes()[:h])
    assert sha256_file(archive, start=h) == data_before
    assert not _opens_with(archive, PASSWORD)
    record_figure(record_property, "kill points survived", 1)


@posix_only
def test_a_torn_header_on_a_read_only_medium_is_read_through_the_journal(archive, tmp_path):
    old, new = _files(tmp_path)
    r = _passwd(archive, old, new, env={"THERABAK_FAILPOINTS": "crash-at=passwd.write"})
    assert r.returncode == -signal.SIGKILL
    with small_filesystem(tmp_path / "ro", "16m") as ro:
        shutil.copy2(archive, ro / archive.name)
        shutil.copy2(journal_path(archive), ro / journal_path(archive).name)
        remount = subprocess.run(["mount", "-o", "remount,ro", str(ro)], capture_output=True)
        if remount.returncode != 0:
            pytest.skip("cannot remount read-only")
        copy = ro / archive.name
        r = run_cli("verify", copy, "--password-file", new)
        assert r.returncode == 0, r.stderr
        assert journal_path(copy).exists()  # nothing could be written, nothing was lost
        with pytest.raises(DamagedArchiveError):
            parse_header(copy.read_bytes()[: _header_size(archive)])


def test_journal_that_does_not_apply_is_ignored(tmp_path):
    a = build_archive(tmp_path / "a.therabak", {"a": b"1"}, protection=CheapPassword(password="pw"))
    b = build_archive(tmp_path / "b.therabak", {"b": b"2"}, protection=CheapPassword(password="pw"))
    journal = journal_path(a.path)
    h = 4096
    # a torn journal (crash while writing it): ignored, the archive opens as it is
    journal.write_bytes(b.bytes[:h][:-100])
    assert recover_journal(a.path) is None and _opens_with(a.path, "pw")
    # the journal of another archive, and the header in place torn: damage, not a "fix"
    journal.write_bytes(b.bytes[:h])
    flip(a.path, h - 40)
    assert recover_journal(a.path) is None
    with pytest.raises(DamagedArchiveError):
        ArchiveReader.open(a.path)
    assert journal.read_bytes() == b.bytes[:h]  # left for a human to look at


def test_journal_equal_to_the_header_in_place_is_harmless(tmp_path):
    built = build_archive(
        tmp_path / "a.therabak", {"a": b"1"}, protection=CheapPassword(password="pw")
    )
    journal_path(built.path).write_bytes(built.bytes[:4096])
    before = sha256_file(built.path)
    assert _opens_with(built.path, "pw")
    assert sha256_file(built.path) == before
