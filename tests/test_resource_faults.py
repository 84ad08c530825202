"""Resource faults: the destination fills up, disappears (USB stick pulled) or is
read-only; a source file cannot be read (permission denied); the disk fills up while a
restore stages. Each time: one clear line, a distinct exit code (6 no space, 1 for a
destination that failed, 3 with the unreadable file reported), no partial file left
where it could be seen, and the data untouched.

Real small file systems (tmpfs, mounted by the test: root on Linux; skipped elsewhere)
and a real unprivileged user (``setpriv`` to nobody; skipped when that is not possible,
e.g. when the virtual environment is private to root) are used where they can be, the
fault-injection variable always. A destination that turns read-only while a job writes
cannot be made here (remounting a tmpfs read-only with a file open for writing fails
with EBUSY), so read-only is tested from the start.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from archive_support import archives_in, partials_in, verify_file
from cli_support import frozen, single_line, small_filesystem, wait_for_event
from conftest import IS_WINDOWS, Practice, run_cli, start_cli
from restore_helpers import (
    before_restore_dirs,
    change_data,
    leftovers,
    practice_args,
    restore,
    tree_state,
)
from therabak.archive.reader import ArchiveReader

pytest_plugins = ["restore_helpers"]  # its fixtures: backups, other_account, ...
posix_only = pytest.mark.skipif(IS_WINDOWS, reason="mounts, signals and users of POSIX")

JOBS = {  # a job that writes to a destination, and how to run it
    "backup": ["backup", "--single-file", "--no-password", "--dest"],
    "folder-backup": ["folder-backup", "--dest"],
}


def last_line(stderr: str) -> str:
    """The error line (a backup without a password warns on the line before)."""
    assert "Traceback" not in stderr
    return stderr.strip().splitlines()[-1]


def nothing_visible(dest: Path) -> None:
    if dest.exists():
        assert [p.name for p in dest.iterdir() if p.name != "filler"] == []


def fill_up(proc, folder: Path) -> None:
    """While *proc* is frozen, fill the file system of *folder* (a small one) to the last
    byte with ``folder/filler``; the process then runs on into a full disk."""
    with frozen(proc), contextlib.suppress(OSError), open(folder / "filler", "wb") as f:
        while True:
            f.write(b"\0" * 65536)
            f.flush()


def finish(proc, timeout: float = 120) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        proc.kill()
    return proc.returncode, out, err


# ---- destination full ---------------------------------------------------------------------------


@pytest.mark.parametrize("job", list(JOBS))
@pytest.mark.parametrize("after", [100, 300_000, 1_500_000])
def test_destination_full_by_fault_injection(practice: Practice, tmp_path: Path, job, after):
    before = tree_state(practice.data_dir)
    dest = tmp_path / "usb"
    r = run_cli(
        *JOBS[job],
        dest,
        *practice_args(practice),
        env={"THERABAK_FAILPOINTS": f"enospc-after={after}"},
    )
    assert r.returncode == 6, (r.returncode, r.stderr)
    assert "full" in last_line(r.stderr)
    nothing_visible(dest)
    assert tree_state(practice.data_dir) == before


@posix_only
@pytest.mark.parametrize("job", list(JOBS))
def test_destination_fills_up_while_writing(practice: Practice, tmp_path: Path, job):
    """The free-space check passes, then something else fills the stick."""
    before = tree_state(practice.data_dir)
    with small_filesystem(tmp_path / "stick", "12m") as stick:
        proc = start_cli(
            *JOBS[job],
            stick,
            "--json",
            *practice_args(practice),
            env={"THERABAK_FAILPOINTS": "delay-ms=30"},
        )
        try:
            wait_for_event(proc, "progress")
            fill_up(proc, stick)
        finally:
            code, _, err = finish(proc)
        assert code == 6, (code, err)
        assert "full" in last_line(err)
        nothing_visible(stick)
    assert tree_state(practice.data_dir) == before


# ---- destination removed ------------------------------------------------------------------------


@posix_only
@pytest.mark.parametrize("job", list(JOBS))
@pytest.mark.parametrize("how", ["stick pulled", "folder deleted"])
def test_destination_removed_while_writing(practice: Practice, tmp_path: Path, job, how):
    """The stick is pulled (its file system unmounted under the job: lazily, as the open
    file keeps it) or the folder deleted: the job ends with one clear line and exit 1,
    leaves nothing, and the data is untouched."""
    before = tree_state(practice.data_dir)
    with contextlib.ExitStack() as stack:
        if how == "stick pulled":
            dest = stack.enter_context(small_filesystem(tmp_path / "stick", "64m"))
        else:
            dest = tmp_path / "usb"
            dest.mkdir()
        proc = start_cli(
            *JOBS[job],
            dest,
            "--json",
            *practice_args(practice),
            env={"THERABAK_FAILPOINTS": "delay-ms=30"},
        )
        try:
            wait_for_event(proc, "progress")
            with frozen(proc):
                if how == "stick pulled":
                    subprocess.run(["umount", "-l", str(dest)], check=True)
                else:
                    shutil.rmtree(dest)
        finally:
            code, _, err = finish(proc)
        assert code == 1, (code, err)
        line = last_line(err)
        assert "disappeared" in line and "drive removed" in line, line
        nothing_visible(dest)
    assert tree_state(practice.data_dir) == before


# ---- read-only destination ----------------------------------------------------------------------


@posix_only
@pytest.mark.parametrize("job", list(JOBS))
def test_read_only_destination(practice: Practice, tmp_path: Path, job) -> None:
    """As root, permissions do not stop a write: a file system mounted read-only does."""
    before = tree_state(practice.data_dir)
    with small_filesystem(tmp_path / "stick", "16m") as stick:
        r = subprocess.run(["mount", "-o", "remount,ro", str(stick)], capture_output=True)
        if r.returncode != 0:
            pytest.skip("cannot remount read-only here")
        r = run_cli(*JOBS[job], stick, *practice_args(practice))
        assert r.returncode == 1, (r.returncode, r.stderr)
        assert "not writable" in last_line(r.stderr)
        assert list(stick.iterdir()) == []
    assert tree_state(practice.data_dir) == before


# ---- permission denied on a source file ---------------------------------------------------------

RETRY_QUICKLY = "[retry]\nattempts = 2\ninitial_delay_s = 0.05\nmax_delay_s = 0.1\n"


class Denied:
    """Source files that cannot be opened, two ways: the fault-injection variable (as a
    file another program holds locked on Windows; runs everywhere), or for real, the job
    running as the unprivileged user nobody with the file at mode 000 (as root nothing is
    denied; needs root, setpriv and an installation nobody can read, else skipped)."""

    def __init__(self, how: str, practice: Practice, world: Path, env: dict[str, str]) -> None:
        self.how, self.practice, self.world, self.env = how, practice, world, env
        self.denied: list[str] = []

    def deny(self, rel: str) -> None:
        self.denied.append(rel)
        if self.how == "unprivileged user":
            os.chmod(self.practice.data_dir / rel, 0)

    def run(self, *args) -> subprocess.CompletedProcess[str]:
        if self.how == "failpoint":
            spec = ",".join(f"denied={rel}" for rel in self.denied[-1:])
            return run_cli(*args, env={**self.env, "THERABAK_FAILPOINTS": spec})
        full = dict(os.environ, PYTHONIOENCODING="utf-8", **self.env)
        return subprocess.run(
            [
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                sys.executable,
                "-m",
                "therabak",
                *map(str, args),
            ],
            env=full,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )


@pytest.fixture(params=["failpoint", "unprivileged user"])
def denied(request, practice: Practice, tmp_path: Path, isolated_env: Path):
    if request.param == "failpoint":
        (isolated_env / "settings.toml").write_text(RETRY_QUICKLY)
        (tmp_path / "usb").mkdir()
        yield Denied("failpoint", practice, tmp_path, {"THERABAK_MEDIA_ROOTS": ""})
        return
    if IS_WINDOWS or os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run a job as an unprivileged user")
    world = Path(tempfile.mkdtemp(prefix="therabak-nobody-", dir="/tmp"))
    try:
        os.chmod(world, 0o755)
        shutil.copytree(practice.root, world / "practice", symlinks=True)
        for name in ("env", "usb"):
            (world / name).mkdir()
        for folder, dirs, files in os.walk(world):
            for name in [folder, *(os.path.join(folder, n) for n in dirs + files)]:
                os.chown(name, 65534, 65534)
        p = Practice(
            world / "practice",
            world / "practice" / "Data",
            world / "practice" / "account.key",
            practice.spec,
        )
        (world / "env" / "settings.toml").write_text(RETRY_QUICKLY)
        env = {
            "THERABAK_CONFIG": str(world / "env" / "settings.toml"),
            "THERABAK_STATE_DIR": str(world / "env" / "state"),
            "THERABAK_MEDIA_ROOTS": "",
            **{
                f"XDG_{n}_HOME": str(world / "env" / n.lower())
                for n in ("CACHE", "CONFIG", "DATA", "STATE")
            },
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        d = Denied("unprivileged user", p, world, env)
        probe = d.run("--version")
        if probe.returncode != 0:  # e.g. CI's virtual environment is private to root
            pytest.skip(f"therabak does not run as nobody here: {probe.stderr.strip()[-80:]}")
        yield d
    finally:
        shutil.rmtree(world, ignore_errors=True)


@pytest.mark.parametrize("job", list(JOBS))
def test_source_file_permission_denied(denied: Denied, job) -> None:
    """The file cannot be read: tried again, then left out and reported (exit 3); every
    other file is in the backup, which verifies."""
    rel = "sessions/K0002/2026-06-14-02.json"
    denied.deny(rel)
    p = denied.practice
    before = tree_state(p.data_dir)
    r = denied.run(*JOBS[job], denied.world / "usb", "--json", *practice_args(p))
    assert r.returncode == 3, (r.returncode, r.stderr)
    summary = [line for line in r.stdout.splitlines() if '"summary"' in line][-1]
    assert rel in summary and "denied" in summary
    [made] = list((denied.world / "usb").iterdir())
    if job == "backup":
        assert verify_file(made) == []
        with ArchiveReader.open(made) as reader:
            reader.unlock()
            stored = {e.path for e in reader.read_index().entries}
        assert rel not in stored and len(stored) > 40
    else:
        assert not (made / rel).exists() and (made / "sessions/K0002").is_dir()
    assert tree_state(p.data_dir) == before


def test_restore_that_cannot_read_a_file_it_must_keep(denied: Denied, backups) -> None:
    """Restoring an automatic backup keeps the audio and documents from the current data;
    one of them cannot be read: refused with one line naming it, Data untouched."""
    p = denied.practice
    kept = "audio/K0001/2026-01-27-01.opus"
    denied.deny(kept)
    point = denied.world / "auto.therabak"
    shutil.copy2(backups.auto, point)
    os.chmod(point, 0o644)
    before = tree_state(p.data_dir)
    r = denied.run("restore", point, "--yes", *practice_args(p))
    assert r.returncode == 1, (r.returncode, r.stderr)
    line = single_line(r.stderr)
    assert kept in line and "ermission denied" in line
    assert tree_state(p.data_dir) == before
    assert leftovers(p.root) == [] and before_restore_dirs(p) == []


# ---- restore: the disk fills up while staging ---------------------------------------------------


@posix_only
def test_disk_fills_up_while_a_restore_stages(practice: Practice, backups, tmp_path: Path):
    with small_filesystem(tmp_path / "disk", "24m") as disk:
        shutil.copytree(practice.root, disk / "practice", symlinks=True)
        p = Practice(
            disk / "practice",
            disk / "practice" / "Data",
            disk / "practice" / "account.key",
            practice.spec,
        )
        change_data(p)
        before = tree_state(p.data_dir)
        proc = start_cli(
            "restore",
            backups.auto,
            "--yes",
            "--json",
            *practice_args(p),
            env={"THERABAK_FAILPOINTS": "delay-ms=30", "THERABAK_MEDIA_ROOTS": ""},
        )
        try:
            wait_for_event(proc, "progress")
            fill_up(proc, disk)
        finally:
            code, _, err = finish(proc)
        assert code == 6, (code, err)
        assert "full" in single_line(err)
        assert tree_state(p.data_dir) == before
        assert leftovers(p.root) == [] and before_restore_dirs(p) == []
        (disk / "filler").unlink()
        assert restore(p, backups.auto).returncode == 0
        assert archives_in(disk) == [] and partials_in(disk) == []
