"""What an archive path on the command line may be, and empty new files (issue 13,
finding 8).

An archive path must be a regular file (or the first volume's): a FIFO, a device or a
socket is refused at once (exit 2, one line), never opened for a read that waits
forever. A plain file in Data that is empty and new (created so, not an envelope the
app has just truncated to rewrite it) is backed up as empty, at once and without retries.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from archive_support import events_of, json_lines, the_summary
from cli_support import single_line
from conftest import IS_WINDOWS, Practice, run_cli
from restore_helpers import practice_args
from therabak.archive.reader import ArchiveReader

posix_only = pytest.mark.skipif(IS_WINDOWS, reason="FIFOs and /dev are POSIX")

COMMANDS = {  # command: arguments after the archive path
    "verify": ["--password-env", "PW"],
    "show": [],
    "diff": ["--password-env", "PW"],
    "passwd": ["--password-env", "PW", "--new-password-env", "PW"],
    "restore": ["--yes", "--password-env", "PW"],
}


@posix_only
@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("kind", ["FIFO", "device"])
def test_an_archive_path_that_is_not_a_regular_file(
    practice: Practice, tmp_path: Path, command: str, kind: str
) -> None:
    if kind == "FIFO":
        path = tmp_path / "x.therabak"
        os.mkfifo(path)
    else:
        path = Path("/dev/zero")  # endless: reading it as a backup would never end
    practice_options = practice_args(practice) if command != "passwd" else []
    r = run_cli(
        command, path, *COMMANDS[command], *practice_options,
        env={"PW": "x", "THERABAK_MEDIA_ROOTS": ""}, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2, (r.returncode, r.stderr)
    line = single_line(r.stderr)
    assert "not a regular file" in line and str(path) in line


@posix_only
def test_a_later_volume_that_is_a_fifo_does_not_hang(tmp_path: Path) -> None:
    first = tmp_path / "S.therabak"
    first.write_bytes(b"\0" * 100)
    os.mkfifo(tmp_path / "S.therabak.002")
    r = run_cli("show", first, "--header-only", timeout=60)
    assert r.returncode in (2, 5), r.stderr
    assert "Traceback" not in r.stderr


def test_an_empty_new_file_is_backed_up_at_once(practice: Practice, tmp_path: Path) -> None:
    rel = "documents/K0001/Neue leere Notiz.txt"
    (practice.data_dir / rel).write_bytes(b"")  # created empty just now
    r = run_cli(
        "backup",
        "--single-file",
        "--dest",
        tmp_path / "usb",
        "--no-password",
        "--json",
        *practice_args(practice),
    )
    assert r.returncode == 0, r.stderr
    lines = json_lines(r.stdout)
    assert events_of(lines, "retry") == []
    assert the_summary(lines)["retried"] == []
    [archive] = (tmp_path / "usb").glob("*.therabak")
    with ArchiveReader.open(archive) as reader:
        reader.unlock()
        [entry] = [e for e in reader.read_index().entries if e.path == rel]
    assert entry.size == 0 and entry.sha256 == hashlib.sha256(b"").hexdigest()
