"""Helpers for the CLI tests: run a backup, hand over the password, check the results."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from archive_support import archives_in, partials_in
from conftest import Practice, run_cli

PASSWORD = "Korrekt Pferd Batterie Heftklammer 93 äöü"


def backup(p: Practice, dest: Path, *args, env=None, input=None):
    """``therabak backup --single-file --dest DEST --data-dir <practice> ARGS`` in a
    subprocess: one archive (the tests that use this look at it)."""
    return run_cli(
        "backup",
        "--single-file",
        "--dest",
        dest,
        "--data-dir",
        p.data_dir,
        *args,
        env=env,
        input=input,
    )


def store_backup(p: Practice, dest: Path, *args, env=None, input=None):
    """``therabak backup --dest DEST --data-dir <practice> ARGS``: a backup into the
    store ``DEST/TheraPsy-Backups``."""
    return run_cli("backup", "--dest", dest, "--data-dir", p.data_dir, *args, env=env, input=input)


def pw_args(tmp_path: Path, how: str = "file") -> tuple[list[str], dict, str | None]:
    """(options, env, stdin) that hand PASSWORD to the CLI the *how* way."""
    if how == "file":
        f = tmp_path / "pw.txt"
        f.write_text(PASSWORD + "\n", encoding="utf-8")
        return ["--password-file", str(f)], {}, None
    if how == "env":
        return ["--password-env", "BACKUP_PW"], {"BACKUP_PW": PASSWORD}, None
    return ["--password-stdin"], {}, PASSWORD + "\n"


def wait_for_event(
    proc: subprocess.Popen, kind: str, *, count: int = 1, name: str | None = None
) -> list[dict]:
    """Read a ``--json`` child's lines until *count* events of *kind* (and, for phases,
    called *name*) arrived; returns every event read so far."""
    seen: list[dict] = []
    matching = 0
    for line in proc.stdout:
        event = json.loads(line)
        seen.append(event)
        if event.get("event") == kind and (name is None or event.get("name") == name):
            matching += 1
            if matching >= count:
                return seen
    raise AssertionError(f"the job ended before {count} {kind} event(s): {seen[-3:]}")


@contextlib.contextmanager
def frozen(proc: subprocess.Popen):
    """Stop *proc* (SIGSTOP) for the duration of the block, so that what runs meanwhile
    meets it mid-job whatever the timing; SIGCONT afterwards."""
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        yield proc
    finally:
        os.kill(proc.pid, signal.SIGCONT)


def one_archive(dest: Path) -> Path:
    """The single finished archive in *dest* (and no partial file beside it)."""
    found = archives_in(dest)
    assert len(found) == 1, found
    assert partials_in(dest) == []
    return found[0]


def single_line(stderr: str) -> str:
    """The one line a failing command prints (no traceback, no second line)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@contextlib.contextmanager
def small_filesystem(where: Path, size: str):
    """A real, small file system (tmpfs) at *where*; skips when mounting is not allowed."""
    where.mkdir()
    try:
        r = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)],
            capture_output=True,
            text=True,
        )
    except OSError as e:
        pytest.skip(f"cannot mount a tmpfs here: {e}")
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)
