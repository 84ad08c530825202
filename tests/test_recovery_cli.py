"""``therabak recovery create|remove``, ``backup --recovery-code`` and the recovery code
options of every command that opens a backup (real CLI in subprocesses)."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from archive_support import json_lines, sha256_file
from cli_support import PASSWORD, backup, one_archive, single_line
from conftest import IS_WINDOWS, cli_env, run_cli
from therabak.app.runner import JobRunner, JobState
from therabak.archive.reader import ArchiveReader
from therabak.archive.rekey import journal_path
from therabak.crypto.recovery import RecoveryCode
from therabak.errors import ExitCode

SECOND = "Zweites Passwort, Dezember"
THIRD = "Drittes Passwort: Frühling 2027"
GROUPS_LINE = re.compile(r"^\s*([0-9A-Z]{4}(?:-[0-9A-Z]{4}){3})\s*$", re.M)


def secret_file(tmp_path: Path, name: str, text: str) -> Path:
    f = tmp_path / "secrets" / name
    f.parent.mkdir(exist_ok=True)
    f.write_text(text + "\n", encoding="utf-8")
    return f


@pytest.fixture
def pw(tmp_path) -> Path:
    return secret_file(tmp_path, "pw.txt", PASSWORD)


@pytest.fixture
def with_code(practice, tmp_path, pw) -> tuple[Path, RecoveryCode]:
    """A manual backup with a password and a recovery code (made by therabak, written to
    a file), and that code."""
    code_file = tmp_path / "secrets" / "code.txt"
    r = backup(practice, tmp_path / "usb", "--password-file", pw, "--recovery-code-out", code_file)
    assert r.returncode == 0, r.stderr
    assert "recovery code is in" in r.stdout
    if not IS_WINDOWS:
        assert stat.S_IMODE(code_file.stat().st_mode) == 0o600
    code = RecoveryCode.parse(code_file.read_text("utf-8"))
    assert code.display() not in r.stdout + r.stderr
    return one_archive(tmp_path / "usb"), code


def opens(archive: Path, *, password: str | None = None, code: RecoveryCode | None = None):
    with ArchiveReader.open(archive) as reader:
        try:
            reader.unlock(password=password, recovery_code=code)
        except Exception:
            return False
        reader.read_index()
        return True


def header_bytes(archive: Path) -> int:
    with ArchiveReader.open(archive) as reader:
        return reader.header.header_size


def verify_with(archive: Path, code: RecoveryCode, how: str = "env"):
    if how == "env":
        return run_cli("verify", archive, "--recovery-code-env", "RC", env={"RC": code.display()})
    return run_cli("verify", archive, "--recovery-code-stdin", input=code.display() + "\n")


def test_the_code_opens_after_the_password_was_changed_twice(with_code, tmp_path, pw, practice):
    archive, code = with_code
    second = secret_file(tmp_path, "2.txt", SECOND)
    third = secret_file(tmp_path, "3.txt", THIRD)
    r = run_cli("passwd", archive, "--password-file", pw, "--new-password-file", second)
    assert r.returncode == 0, r.stderr
    r = run_cli("passwd", archive, "--password-file", second, "--new-password-file", third)
    assert r.returncode == 0, r.stderr
    assert not opens(archive, password=PASSWORD) and opens(archive, password=THIRD)
    with ArchiveReader.open(archive) as reader:
        assert [s.type.label for s in reader.header.slots] == ["password", "recovery"]
    for how in ("env", "stdin"):
        r = verify_with(archive, code, how)
        assert r.returncode == 0, r.stderr
    typed = " ".join(code.groups()).lower()  # as a person types it
    r = run_cli(
        "diff", archive, "--recovery-code-env", "RC", "--data-dir", practice.data_dir,
        env={"RC": typed},
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    # the password is forgotten: the code opens the backup and sets a new one, and stays
    r = run_cli(
        "passwd", archive, "--recovery-code-stdin", "--new-password-stdin", "--json",
        input=f"{code.display()}\n{SECOND}\n",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["slots"] == ["password", "recovery"]
    assert opens(archive, password=SECOND) and opens(archive, code=code)
    # and the restore on a new computer, with the code alone
    new_home = tmp_path / "new-computer"
    new_home.mkdir()
    r = run_cli(
        "restore", archive, "--yes", "--recovery-code-env", "RC",
        "--data-dir", new_home / "Data", "--account-key", new_home / "account.key",
        env={"RC": code.display()},
    )  # fmt: skip
    assert r.returncode == 3, r.stderr  # done, with a warning: a new account key
    assert "new account key" in r.stderr.lower()
    assert (new_home / "Data").is_dir() and (new_home / "account.key").is_file()


def test_show_and_list_say_that_a_backup_has_a_code(with_code, tmp_path):
    archive, _code = with_code
    r = run_cli("show", archive, "--header-only", "--json")
    header = json.loads(r.stdout)["header"]
    assert header["protection"] == "password" and header["recovery_code"] is True
    r = run_cli("show", archive, "--header-only")
    assert "password + recovery code" in r.stdout
    r = run_cli("list", "--in", archive.parent, "--no-media", "--json")
    [point] = json.loads(r.stdout)["points"]
    assert point["recovery_code"] is True


def test_a_removed_code_is_refused_with_exit_4(with_code, pw):
    archive, code = with_code
    h = header_bytes(archive)
    data = sha256_file(archive, start=h)
    r = run_cli("recovery", "remove", archive, "--password-file", pw)
    assert r.returncode == 0, r.stderr
    assert "Recovery code removed" in r.stdout
    assert sha256_file(archive, start=h) == data
    r = verify_with(archive, code)
    assert r.returncode == ExitCode.CANNOT_UNLOCK
    assert "has no recovery code" in single_line(r.stderr)
    assert run_cli("verify", archive, "--password-file", pw).returncode == 0
    # removing again changes nothing and says so
    before = sha256_file(archive)
    r = run_cli("recovery", "remove", archive, "--password-file", pw, "--json")
    assert r.returncode == 0 and json_lines(r.stdout)[0]["removed"] is False
    assert sha256_file(archive) == before


def test_a_wrong_code_and_a_typo_are_refused_differently(with_code):
    archive, code = with_code
    before = sha256_file(archive)
    r = verify_with(archive, RecoveryCode.generate())
    assert r.returncode == ExitCode.CANNOT_UNLOCK
    assert "does not open this backup" in single_line(r.stderr)
    s = code.compact()
    typo = s[:9] + ("X" if s[9] != "X" else "Y") + s[10:]
    r = run_cli("verify", archive, "--recovery-code-env", "RC", "--json", env={"RC": typo})
    assert r.returncode == ExitCode.CANNOT_UNLOCK
    assert "typo in group 3" in single_line(r.stderr)
    assert json.loads(r.stdout)["exit_code"] == 4
    assert typo not in r.stdout + r.stderr and code.display() not in r.stdout + r.stderr
    assert sha256_file(archive) == before


def test_a_typo_is_refused_before_any_key_derivation(with_code, monkeypatch, capsys):
    """In-process: with a typo neither the archive is opened nor any KDF runs."""
    from therabak import cli
    from therabak.archive import reader as reader_module
    from therabak.crypto import stream
    from therabak.crypto.kdf import Argon2Params

    archive, code = with_code
    calls: dict[str, int] = {}

    def count(owner, name):
        real = getattr(owner, name)

        def spy(*args, **kwargs):
            calls[name] = calls.get(name, 0) + 1
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, name, spy)

    count(RecoveryCode, "wrap_key")
    count(Argon2Params, "derive")
    count(stream, "hkdf_extract")
    count(reader_module.ArchiveReader, "open")
    s = code.compact()
    for typo in (s[:20] + s[21] + s[20] + s[22:], s[:-4], s[:5] + "U" + s[6:]):
        monkeypatch.setenv("RC", typo)
        assert cli.main(["verify", str(archive), "--recovery-code-env", "RC"]) == 4
    assert calls == {}
    err = capsys.readouterr().err
    assert err.count("\n") == 3 and "typo" in err and "needs 32" in err
    # the same spies see the work when the code is right
    monkeypatch.setenv("RC", code.display())
    assert cli.main(["verify", str(archive), "--recovery-code-env", "RC"]) == 0
    assert calls["wrap_key"] == 1 and calls["open"] == 1 and "derive" not in calls


def test_replacing_the_code_rewrites_the_recovery_slot_only(with_code, pw, tmp_path):
    archive, old = with_code
    with ArchiveReader.open(archive) as reader:
        before = reader.header
    h = header_bytes(archive)
    data = sha256_file(archive, start=h)
    new_file = tmp_path / "secrets" / "new.txt"
    # opened with the old code (the password may be forgotten)
    r = run_cli(
        "recovery", "create", archive, "--recovery-code-env", "RC",
        "--recovery-code-out", new_file, "--json", env={"RC": old.display()},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    [summary] = json_lines(r.stdout)
    assert summary["event"] == "summary" and summary["operation"] == "recovery-create"
    assert {k: summary[k] for k in ("archive", "recovery_code", "replaced", "slots")} == {
        "archive": str(archive),
        "recovery_code": True,
        "replaced": True,
        "slots": ["password", "recovery"],
    }
    assert summary["code_file"] == str(new_file)
    new = RecoveryCode.parse(new_file.read_text("utf-8"))
    assert new.display() not in r.stdout + r.stderr
    assert sha256_file(archive, start=h) == data
    with ArchiveReader.open(archive) as reader:
        after = reader.header
    assert after.fixed == before.fixed
    assert after.slots[0] == before.slots[0]  # the password slot, byte for byte
    assert after.slots[1] != before.slots[1]
    assert not opens(archive, code=old) and opens(archive, code=new)
    assert opens(archive, password=PASSWORD)
    assert not journal_path(archive).exists()


def test_json_without_a_file_or_a_given_code_is_refused(with_code, pw, tmp_path):
    archive, _code = with_code
    before = sha256_file(archive)
    r = run_cli("recovery", "create", archive, "--password-file", pw, "--json")
    assert r.returncode == ExitCode.USAGE and "never printed" in single_line(r.stderr)
    r = run_cli("recovery", "create", archive, "--password-file", pw)  # no terminal here
    assert r.returncode == ExitCode.USAGE and "only on a terminal" in single_line(r.stderr)
    taken = tmp_path / "taken.txt"
    taken.write_text("keep me", encoding="utf-8")
    r = run_cli("recovery", "create", archive, "--password-file", pw, "--recovery-code-out", taken)
    assert r.returncode == ExitCode.USAGE and "exists already" in single_line(r.stderr)
    assert taken.read_text("utf-8") == "keep me"
    wrong = secret_file(tmp_path, "wrong.txt", "falsch")
    out = tmp_path / "never.txt"
    r = run_cli("recovery", "create", archive, "--password-file", wrong, "--recovery-code-out", out)
    assert r.returncode == ExitCode.CANNOT_UNLOCK and not out.exists()
    assert sha256_file(archive) == before


def test_the_apps_way_the_caller_makes_the_code_and_hands_it_over_on_stdin(
    practice, tmp_path, isolated_env
):
    code = RecoveryCode.generate()
    usb = tmp_path / "usb"
    r = backup(
        practice, usb, "--password-stdin", "--recovery-code-stdin", "--json",
        input=f"{PASSWORD}\n{code.display()}\n",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    summary = [e for e in json_lines(r.stdout) if e["event"] == "summary"][0]
    assert summary["recovery_code"] is True
    assert code.compact() not in r.stdout + r.stderr
    archive = one_archive(usb)
    assert opens(archive, code=code)
    # a new code by a job the runner starts, as the app will: password, then new code
    newer = RecoveryCode.generate()
    runner = JobRunner(isolated_env / "state" / "jobs")
    job = runner.start(
        "recovery", ["create", str(archive)], password=PASSWORD, new_recovery_code=newer
    )
    for _batch in runner.follow(job):
        pass
    assert runner.get(job.id).state is JobState.DONE
    assert opens(archive, code=newer) and not opens(archive, code=code)
    for f in runner.root.iterdir():
        assert newer.compact().encode() not in f.read_bytes()
    # and a verify job opened with the code
    job = runner.start("verify", [str(archive)], recovery_code=newer)
    for _batch in runner.follow(job):
        pass
    assert runner.get(job.id).state is JobState.DONE


@pytest.mark.parametrize(
    "args, code",
    [
        (["--no-password", "--recovery-code-out", "x.txt"], ExitCode.USAGE),
        (["--password-env", "PW", "--recovery-code", "--json"], ExitCode.USAGE),
        (["--password-env", "PW", "--recovery-code"], ExitCode.USAGE),  # no terminal
        (["--password-env", "PW", "--recovery-code-env", "BAD"], ExitCode.USAGE),  # a typo
    ],
)
def test_backup_refuses_a_code_nobody_would_see_before_any_work(practice, tmp_path, args, code):
    r = backup(practice, tmp_path / "usb", *args, env={"PW": PASSWORD, "BAD": "ABCD-" * 8})
    assert r.returncode == code, r.stderr
    single_line(r.stderr)
    assert not (tmp_path / "usb").exists() or not list((tmp_path / "usb").iterdir())


def test_codes_only_for_backups_with_a_password(practice, tmp_path, pw):
    assert backup(practice, tmp_path / "usb", "--no-password").returncode == 0
    archive = one_archive(tmp_path / "usb")
    r = run_cli(
        "recovery", "create", archive, "--password-file", pw,
        "--recovery-code-out", tmp_path / "c.txt",
    )  # fmt: skip
    assert r.returncode == ExitCode.USAGE and "unprotected" in single_line(r.stderr)
    assert not (tmp_path / "c.txt").exists()
    # remove takes the password only (the code alone could lock everyone out)
    r = run_cli("recovery", "remove", archive, "--recovery-code-env", "RC")
    assert r.returncode == ExitCode.USAGE


def test_a_split_backup_gets_its_code_in_the_first_volume(practice, tmp_path, pw):
    code = RecoveryCode.generate()
    r = backup(
        practice, tmp_path / "usb", "--password-file", pw, "--volume-size", "1M",
        "--recovery-code-env", "RC", env={"RC": code.display()},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    first = one_archive(tmp_path / "usb")
    later = sorted((tmp_path / "usb").glob("*.therabak.0*"))
    assert later, "the test needs a split backup"
    assert verify_with(later[-1], code).returncode == 0
    newer = RecoveryCode.generate()
    r = run_cli(
        "recovery", "create", later[0], "--password-file", pw,
        "--new-recovery-code-env", "RC", env={"RC": newer.display()},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "saved" in r.stdout and newer.compact() not in r.stdout
    assert verify_with(first, newer).returncode == 0
    assert verify_with(first, code).returncode == ExitCode.CANNOT_UNLOCK


# ---- on a terminal: the new code is shown once ----------------------------------------------


def on_terminal(*args, env=None, timeout: float = 120) -> tuple[int, str, str]:
    """Run the CLI with its standard output on a pseudo-terminal; (exit code, what the
    terminal showed, stderr)."""
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "therabak", *map(str, args)],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
        env=cli_env(env),
    )
    os.close(slave)
    shown = b""
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        shown += data
    os.close(master)
    err = proc.stderr.read().decode("utf-8", "replace")
    proc.stderr.close()
    return proc.wait(timeout=timeout), shown.decode("utf-8", "replace"), err


@pytest.mark.skipif(IS_WINDOWS, reason="a POSIX pseudo-terminal")
def test_on_a_terminal_the_new_code_is_shown_once_and_opens_the_backup(practice, tmp_path, pw):
    rc, shown, err = on_terminal(
        "backup", "--single-file", "--dest", tmp_path / "usb", "--data-dir", practice.data_dir,
        "--password-file", pw, "--recovery-code",
    )  # fmt: skip
    assert rc == 0, err
    lines = GROUPS_LINE.findall(shown)
    assert len(lines) == 2, shown
    made = RecoveryCode.parse("-".join(lines))
    archive = one_archive(tmp_path / "usb")
    assert opens(archive, code=made)
    assert "shown only this once" in shown
    rc, shown, err = on_terminal("recovery", "create", archive, "--password-file", pw)
    assert rc == 0, err
    replaced = RecoveryCode.parse("-".join(GROUPS_LINE.findall(shown)))
    assert replaced != made
    assert opens(archive, code=replaced) and not opens(archive, code=made)
    assert shown.index("shown only this once") < shown.index("saved in the backup")
