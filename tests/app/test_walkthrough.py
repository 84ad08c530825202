"""A new user's walk through the app in a real terminal: therabak-tui runs in a
pseudo-terminal of 80x24, keys are typed as bytes, and what the terminal shows is read
back through a terminal emulator (pyte), as a person would see it.

The walk: a backup to a stick; a restore of it into another folder; a restore of it
over the data (which changed meanwhile); the undo of that restore (the before-restore
folder restored). Every step is left with Esc and entered again before it goes on. At
the end the app is still running (and quits cleanly with q), and the files are right:
the other folder holds the backup's data, and after the undo the data folder holds the
changed data again, as it was before the restore.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import sys
import termios
import time

import pytest

from restore_helpers import plaintext_tree
from therabak.practice.account import AccountKey

pyte = pytest.importorskip("pyte")

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pty"),
    pytest.mark.slow,
]

COLUMNS, LINES = 80, 24
PASSWORD = "Korrekt Pferd Batterie 26"
ESC, ENTER, TAB, DOWN = "\x1b", "\r", "\t", "\x1b[B"
CTRL_S = "\x13"
WAIT = 120.0  # seconds for one thing to appear (a loaded CI machine)


def _split_keys(data: str) -> list[str]:
    parts: list[str] = []
    text = ""
    i = 0
    while i < len(data):
        special = next((k for k in (DOWN, ENTER, TAB, CTRL_S, ESC) if data.startswith(k, i)), None)
        if special is None:
            text += data[i]
            i += 1
            continue
        if text:
            parts.append(text)
            text = ""
        parts.append(special)
        i += len(special)
    if text:
        parts.append(text)
    return parts


class Terminal:
    """therabak-tui in a pseudo-terminal; its output fed to a pyte screen."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.screen = pyte.Screen(COLUMNS, LINES)
        self.stream = pyte.ByteStream(self.screen)
        self.pid, self.fd = os.forkpty()
        if self.pid == 0:  # the child: becomes the app
            try:
                os.execve(sys.executable, [sys.executable, *argv], env)
            finally:
                os._exit(127)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
        self.log: list[str] = []

    def pump(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                return
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                return
            if not data:
                return
            self.stream.feed(data)

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.screen.display)

    def wait_for(self, *needles: str, timeout: float = WAIT) -> str:
        """Read until every needle is on the screen at once; returns the screen."""
        deadline = time.monotonic() + timeout
        while True:
            self.pump(0.1)
            text = self.text()
            if all(n in text for n in needles):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"never on the screen together: {needles!r}\n--- the screen:\n{text}\n"
                    "--- the steps:\n" + "\n".join(self.log)
                )

    def keys(self, data: str, note: str = "") -> None:
        """Type *data*; text and each special key (Enter, Tab, Esc, arrows, ctrl+s) are
        sent as separate writes, as a person types them (a burst of text with an Enter
        in it would arrive as one chunk)."""
        self.log.append(note or repr(data))
        for part in _split_keys(data):
            os.write(self.fd, part.encode())
            # a lone Esc is told from an escape sequence by a pause: give it one
            self.pump(0.4 if part == ESC else 0.15)

    def alive(self) -> bool:
        pid, _status = os.waitpid(self.pid, os.WNOHANG)
        return pid == 0

    def wait_exit(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.pump(0.1)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        raise AssertionError("the app did not quit:\n" + self.text())

    def close(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        try:
            os.close(self.fd)
        except OSError:
            pass


def _back_and_again(term: Terminal, here: str, back_to: str, again: str) -> None:
    """Esc back to *back_to*, then *again* (keys) into *here* once more."""
    term.keys(ESC, f"Esc from {here!r}")
    term.wait_for(back_to)
    term.keys(again, f"again into {here!r}")
    term.wait_for(here)


def _unlock(term: Terminal) -> None:
    term.wait_for("protected by a password")
    term.keys(PASSWORD + ENTER, "the password")


def _restore_point(term: Terminal, row: int, *, password: bool) -> None:
    """From home: r, the point in *row* (0: the newest), unlocked; step 2 is shown.
    Every step is entered twice (Esc in between)."""
    term.keys("r", "r: restore")
    term.wait_for("Step 1 of 3", "Enter: use the highlighted backup")
    term.keys(DOWN * row + ENTER, f"the point in row {row}")
    if password:
        _unlock(term)
    term.wait_for("Step 2 of 3")
    term.keys(ESC, "Esc: back to the points")
    term.wait_for("Step 1 of 3")
    term.keys(ENTER, "the same point again")
    if password:
        _unlock(term)
    term.wait_for("Step 2 of 3")


def _plan_and_restore(term: Terminal, into_keys: str = "") -> str:
    """Step 2 to the plan (entered twice) and the restore; returns the summary screen."""
    term.keys(into_keys or "n", "on to the plan")
    term.wait_for("Step 3 of 3", "Restore now")
    _back_and_again(term, "Step 3 of 3", "Step 2 of 3", "n")
    term.keys(CTRL_S, "ctrl+s: restore now")
    text = term.wait_for("Restore finished.")
    term.keys(ESC, "Esc: home")
    term.wait_for("Backup and restore for TheraPsy")
    return text


def test_a_new_user_backs_up_restores_and_undoes_in_a_real_terminal(
    app_practice, home, usb, isolated_env
):
    data = app_practice.data_dir
    key = AccountKey.load(app_practice.account_key)
    original = plaintext_tree(data, key)
    env = dict(os.environ)
    env.update(
        HOME=str(home),
        TERM="xterm-256color",
        COLORTERM="truecolor",
        PYTHONIOENCODING="utf-8",
        TEXTUAL_ANIMATIONS="none",
        THERABAK_MEDIA_ROOTS=str(usb),  # the "USB stick"
        LANG="C.UTF-8",
    )
    term = Terminal(
        [
            "-m",
            "therabak.app",
            "--data-dir",
            str(data),
            "--account-key",
            str(app_practice.account_key),
        ],
        env,
    )
    try:
        term.wait_for("Backup and restore for TheraPsy", "No manual backup yet")

        # 1. a backup to the stick, each step left and entered again
        term.keys("b", "b: backup")
        term.wait_for("Step 1 of 2", "Selected:")
        _back_and_again(term, "Step 1 of 2", "Backup and restore for TheraPsy", "b")
        term.wait_for("Selected:")
        term.keys("n", "n: step 2")
        term.wait_for("Step 2 of 2")
        _back_and_again(term, "Step 2 of 2", "Step 1 of 2", "n")
        term.keys(TAB + TAB + ENTER, "the stick from the quick picks")  # dest -> Browse -> picks
        term.wait_for("Free there")
        term.keys(PASSWORD + ENTER + PASSWORD, "the password twice")
        term.wait_for("Passwords match")
        term.keys(ENTER, "Enter: start the backup")
        term.wait_for("Make a recovery code?")  # the first backup into a new store asks
        term.keys(ENTER, "Enter: make one (the recommended answer has the focus)")
        term.wait_for("Your recovery code", "Written down: start")
        term.keys(ENTER, "Enter: written down, start")
        text = term.wait_for("Backup finished.")
        assert "Verified" in text
        term.keys(ESC, "Esc: home")
        term.wait_for("Backup and restore for TheraPsy")
        (store,) = usb.glob("TheraPsy-Backups")  # every backup to the stick goes into its store

        # 2. restore it into another folder
        target = home / "restored"
        _restore_point(term, 0, password=True)
        term.keys(TAB + DOWN + ENTER, "Tab to where: into another folder")
        term.wait_for("Folder")
        term.keys(str(target), "the folder to restore into")
        text = _plan_and_restore(term, ENTER)
        assert "Restored into: ~/restored" in text

        # 3. the data changes; restore the backup over it
        lost = sorted((data / "sessions").rglob("*.json"))[0]
        lost.unlink()
        changed = plaintext_tree(data, key)
        _restore_point(term, 0, password=True)
        text = _plan_and_restore(term)
        assert "To undo this restore" in text
        (before,) = data.parent.glob("Data.before-restore-*")

        # 4. undo it: the before-restore folder is the newest point
        term.keys("r", "r: restore (undo)")
        term.wait_for("Step 1 of 3", "before restore")
        term.keys(ESC, "Esc: home")
        term.wait_for("Backup and restore for TheraPsy")
        _restore_point(term, 0, password=False)
        _plan_and_restore(term)

        # the app is alive, on its home screen, and quits cleanly
        assert term.alive()
        term.wait_for("Backup and restore for TheraPsy", "Kept from before restores")
        term.keys("q", "q: quit")
        assert term.wait_exit() == 0
    finally:
        term.close()

    # the files: the other folder holds the backup's data, and after the undo the data
    # folder is as it was changed, before the restore over it
    restored = plaintext_tree(target, key)
    backed_up = {p: v for p, v in original.items() if p in restored}
    assert restored and restored == backed_up
    assert {p.split("/")[0] for p in restored} >= {"profiles", "sessions", "audio"}
    assert plaintext_tree(data, key) == changed
    assert lost.relative_to(data).as_posix() not in changed
    assert before.is_dir()
    assert (store / "config").is_file() and any((store / "snapshots").iterdir())
