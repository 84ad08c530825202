"""A backup started in the app survives the app: the terminal goes away (the pty closes,
as when an SSH connection drops), the job finishes anyway, and a new app instance
re-attaches and shows its result."""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import sys
import termios
import time

import pytest

from app.apphelp import wait_for
from therabak.app.app import TherabakApp
from therabak.app.runner import JobRunner, JobState
from therabak.app.screens.progress import ProgressScreen
from therabak.crypto.slots import SlotType
from therabak.jobs.store_backup import StoreBackupResult
from therabak.storage.local import LocalStorage
from therabak.store.core import Store
from therabak.store.keyfile import Unlock

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pty")

ANSI = re.compile(
    rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>78]|\x1b\][^\x07]*\x07"
)


class Terminal:
    """The app in a pseudo-terminal of 80x24, fed keys, its screen read as text."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.pid, self.fd = os.forkpty()
        if self.pid == 0:  # the child: becomes the app
            try:
                os.execve(sys.executable, [sys.executable, *argv], env)
            finally:
                os._exit(127)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        self.output = b""

    def read(self, seconds: float = 0.1) -> None:
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                return
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                return
            if not data:
                return
            self.output += data

    def text(self) -> str:
        return ANSI.sub(b"", self.output).decode("utf-8", "replace")

    def wait_for(self, needle: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            assert time.monotonic() < deadline, f"{needle!r} never appeared on the screen"
            self.read(0.2)

    def keys(self, data: str) -> None:
        os.write(self.fd, data.encode())
        self.read(0.3)

    def hang_up(self) -> int:
        """Close the terminal like a dropped connection; returns the app's exit status."""
        os.close(self.fd)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return status
            time.sleep(0.05)
        os.kill(self.pid, signal.SIGKILL)  # the app ignored the hang-up: kill it
        return os.waitpid(self.pid, 0)[1]


def test_job_survives_the_terminal_and_a_new_app_reattaches(
    make_ctx, run_app, app_practice, usb, isolated_env
):
    hold = isolated_env / "hold"
    hold.touch()
    env = dict(os.environ)
    env.update(
        TERM="xterm-256color",
        COLORTERM="truecolor",
        PYTHONIOENCODING="utf-8",
        # the job waits before each file while the hold file exists: it cannot end
        # before the test has seen it outlive the app, however slow the terminal is
        THERABAK_FAILPOINTS=f"delay-ms=100,hold={hold}",
        TEXTUAL_ANIMATIONS="none",
    )
    term = Terminal(
        [
            "-m",
            "therabak.app",
            "--data-dir",
            str(app_practice.data_dir),
            "--account-key",
            str(app_practice.account_key),
        ],
        env,
    )
    term.wait_for("Backup and restore")
    term.keys("b")
    term.wait_for("Selected:")
    term.keys("n")
    term.wait_for("Step 2 of 2")
    term.keys(str(usb) + "\r")
    term.keys("Praxis-2026\r")
    term.keys("Praxis-2026\r")
    term.wait_for("Make a recovery code?")  # the first backup into a new store asks
    term.keys("\x1b")  # no code
    term.wait_for("Writing the backup")

    runner = JobRunner(isolated_env / "state" / "jobs")
    (job,) = runner.list_jobs()
    assert job.state is JobState.RUNNING
    term.hang_up()
    # the app is gone, the job is not
    assert runner.get(job.id).state is JobState.RUNNING
    time.sleep(0.5)
    assert runner.get(job.id).state is JobState.RUNNING
    hold.unlink()  # let it finish
    deadline = time.monotonic() + 120
    while runner.get(job.id).state is JobState.RUNNING:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    finished = runner.get(job.id)
    assert finished.state is JobState.DONE and finished.exit_code == 0
    store = finished.final.result(StoreBackupResult).store
    assert store == str(usb / "TheraPsy-Backups")
    opened = Store.open(LocalStorage(usb / "TheraPsy-Backups"), Unlock(password="Praxis-2026"))
    assert opened.unlocked_with is SlotType.PASSWORD and opened.snapshots()

    # a new app instance lists the job with its result and shows the summary
    app = TherabakApp(make_ctx())

    async def body(pilot):
        await pilot.pause()
        table = app.screen.query_one("#jobs")
        assert job.id in table.rows
        assert "done" in str(table.get_cell(job.id, "state"))
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: isinstance(app.screen, ProgressScreen) and app.screen.view.finished
        )
        summary = str(app.screen.query_one("#summary").render())
        assert "Backup finished." in summary and "TheraPsy-Backups" in summary

    run_app(app, body)
