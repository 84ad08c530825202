"""On a terminal, the password is asked for (hidden, twice for a new one) -- the path a
therapist at the keyboard takes. Driven through a real pseudo-terminal."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from cli_support import PASSWORD, one_archive
from therabak.archive.reader import ArchiveReader

pty = pytest.importorskip("pty")


class Terminal:
    """``python -m therabak ARGS`` with a pseudo-terminal as its controlling terminal."""

    def __init__(self, *args: str | Path) -> None:
        env = dict(os.environ, PYTHONIOENCODING="utf-8")
        argv = [sys.executable, "-m", "therabak", *map(str, args)]
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child
            try:
                os.execve(sys.executable, argv, env)
            finally:
                os._exit(127)
        self.output = b""

    def expect(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text.encode() not in self.output:
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} in {self.output[-300:]!r}")
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:  # the child closed the terminal
                raise AssertionError(f"ended without {text!r}: {self.output[-300:]!r}") from None
            if not chunk:
                raise AssertionError(f"ended without {text!r}: {self.output[-300:]!r}")
            self.output += chunk

    def send(self, line: str) -> None:
        os.write(self.fd, line.encode() + b"\r")

    def finish(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while True:
            try:
                chunk = os.read(self.fd, 4096)
                if not chunk:
                    break
                self.output += chunk
            except OSError:
                break
            if time.monotonic() > deadline:
                break
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        return os.waitstatus_to_exitcode(status)


def test_backup_asks_twice_without_echo_and_verify_asks_once(practice, tmp_path):
    dest = tmp_path / "usb"
    t = Terminal("backup", "--single-file", "--dest", dest, "--data-dir", practice.data_dir)
    t.expect("Backup password: ")
    t.send(PASSWORD)
    t.expect("Repeat the backup password: ")
    t.send(PASSWORD)
    assert t.finish() == 0, t.output[-500:]
    assert PASSWORD.encode() not in t.output  # hidden input: never echoed
    archive = one_archive(dest)
    with ArchiveReader.open(archive) as reader:
        assert reader.unlock(password=PASSWORD) == "password"

    t = Terminal("verify", archive)
    t.expect("Backup password: ")
    t.send(PASSWORD)
    assert t.finish() == 0
    assert b"intact" in t.output and PASSWORD.encode() not in t.output


def test_two_different_passwords_write_nothing(practice, tmp_path):
    dest = tmp_path / "usb"
    t = Terminal("backup", "--single-file", "--dest", dest, "--data-dir", practice.data_dir)
    t.expect("Backup password: ")
    t.send(PASSWORD)
    t.expect("Repeat the backup password: ")
    t.send(PASSWORD + "!")
    assert t.finish() == 2
    assert b"differ" in t.output
    assert not dest.exists()


def test_passwd_asks_for_the_current_password_once_and_the_new_one_twice(practice, tmp_path):
    pw = tmp_path / "pw.txt"
    pw.write_text(PASSWORD, encoding="utf-8")
    t = Terminal(
        "backup",
        "--single-file",
        "--dest",
        tmp_path / "usb",
        "--data-dir",
        practice.data_dir,
        "--password-file",
        pw,
    )
    assert t.finish() == 0
    archive = one_archive(tmp_path / "usb")
    t = Terminal("passwd", archive)
    t.expect("Current backup password: ")
    t.send(PASSWORD)
    t.expect("New backup password: ")
    t.send("ganz neu")
    t.expect("Repeat the new backup password: ")
    t.send("ganz neu")
    assert t.finish() == 0, t.output[-300:]
    assert b"ganz neu" not in t.output and PASSWORD.encode() not in t.output
    with ArchiveReader.open(archive) as reader:
        assert reader.unlock(password="ganz neu") == "password"
