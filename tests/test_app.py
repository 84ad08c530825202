"""The minimal app: real engine, real Textual (headless Pilot), no mocks."""

from __future__ import annotations

import asyncio
import os
import select
import sys
import time
from pathlib import Path

import pytest

from conftest import Practice
from therabak.app.app import MessageScreen, PreviewScreen, TherabakApp
from therabak.app.main import demo_root, ensure_demo, parse_args, prepare
from therabak.app.model import PracticeView, Problem
from therabak.errors import DataFolderError
from therabak.practice.account import AccountKey
from therabak.practice.demo import demo_key


def screen_text(app: TherabakApp) -> str:
    return "\n".join(str(w.content) for w in app.screen.query("Static"))


def run_app(state, keys=("q",)) -> tuple[str, type, bool]:
    """Start the app headless at 80x24, read the screen, press *keys*."""

    async def go():
        app = TherabakApp(state)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            text, screen = screen_text(app), type(app.screen)
            for key in keys:
                await pilot.press(key)
            await pilot.pause()
            running = app.is_running
        return text, screen, running

    return asyncio.run(go())


def test_preview_screen_shows_folder_tree_and_total(demo_practice: Practice) -> None:
    state = prepare(
        parse_args(
            [
                "--data-dir",
                str(demo_practice.data_dir),
                "--account-key",
                str(demo_practice.key_path),
            ]
        )
    )
    assert isinstance(state, PracticeView)
    text, screen, running = run_app(state)
    assert screen is PreviewScreen
    assert str(demo_practice.data_dir) in text
    assert demo_practice.key.id_hex in text
    assert demo_practice.key.key.hex() not in text
    for label in ("[x] Client profiles", "[ ] ICD-10 catalog", "[ ] Invoices", "[x] Other data"):
        assert label in text
    assert "Re-downloaded automatically" in text
    p = state.preview
    assert f"{p.selected.files} files" in text and f"{p.total.files} files" in text
    assert not running, "q must quit"


@pytest.mark.parametrize("missing", ["data", "key"])
def test_missing_folder_or_key_shows_a_message_not_a_traceback(
    demo_practice: Practice, tmp_path: Path, missing: str
) -> None:
    data = tmp_path / "gone" if missing == "data" else demo_practice.data_dir
    key = tmp_path / "no.key" if missing == "key" else demo_practice.key_path
    state = prepare(parse_args(["--data-dir", str(data), "--account-key", str(key)]))
    assert isinstance(state, Problem) and state.exit_code == 1
    text, screen, running = run_app(state)
    assert screen is MessageScreen
    assert ("Data folder not found" if missing == "data" else "Account key not found") in text
    assert "therabak-tui --demo" in text and "Press q to quit" in text
    assert not running


def test_broken_rules_file_shows_a_message(
    demo_practice: Practice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text("[[node]\n", "utf-8")
    monkeypatch.setenv("THERABAK_RULES", str(rules))
    state = prepare(parse_args(["--data-dir", str(demo_practice.data_dir)]))
    assert isinstance(state, Problem) and str(rules) in state.message


def test_demo_is_created_once_in_the_cache_folder_and_reused(isolated_env: Path) -> None:
    root = demo_root()
    if isolated_env not in root.parents:  # platformdirs ignores XDG_* off Linux
        pytest.skip("the user cache folder cannot be redirected on this platform")
    assert root.name == "demo" and root.parent.name == "therabak"
    assert not root.exists()
    paths, created = ensure_demo()
    assert created and paths.data_dir == root / "Data"
    assert AccountKey.load(paths.account_key).key == demo_key(7).key
    marker = paths.data_dir / "profiles" / "K0001.json"
    before = (marker.read_bytes(), marker.stat().st_mtime_ns, marker.stat().st_ino)
    again, created = ensure_demo()
    assert not created and again == paths
    assert (marker.read_bytes(), marker.stat().st_mtime_ns, marker.stat().st_ino) == before
    assert [p.name for p in root.parent.iterdir()] == ["demo"]  # no partial left behind
    state = prepare(parse_args(["--demo"]))
    assert isinstance(state, PracticeView) and state.paths.data_dir == paths.data_dir


def test_incomplete_demo_folder_is_not_reused(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    (root / "Data").mkdir(parents=True)  # no account.key: an unfinished or foreign folder
    with pytest.raises(DataFolderError, match="no complete demo practice"):
        ensure_demo(root)
    assert [p.name for p in root.iterdir()] == ["Data"]


def test_demo_excludes_data_dir_option() -> None:
    with pytest.raises(SystemExit) as info:
        parse_args(["--demo", "--data-dir", "x"])
    assert info.value.code == 2


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_therabak_tui_in_a_real_terminal(tmp_path: Path) -> None:
    """The console entry point end to end: a pty of 80x24, the message screen, q, exit 1."""
    import fcntl
    import pty
    import struct
    import termios

    pid, fd = pty.fork()
    if pid == 0:  # child: become therabak-tui
        try:
            os.execv(
                sys.executable,
                [sys.executable, "-m", "therabak.app.main", "--data-dir", str(tmp_path / "gone")],
            )
        finally:
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    seen = b""
    deadline = time.monotonic() + 60
    sent_q = False
    status = None
    while status is None:
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail(f"therabak-tui did not quit; screen so far: {seen[-2000:]!r}")
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:  # the child closed the terminal: it is exiting
                _, status = os.waitpid(pid, 0)
                break
        if not sent_q and b"Press q to quit" in seen:
            os.write(fd, b"q")
            sent_q = True
        done, polled = os.waitpid(pid, os.WNOHANG)
        if done:
            status = polled
    os.close(fd)
    assert sent_q, seen[-2000:]
    assert b"Traceback" not in seen
    assert b"Data folder not found" in seen
    assert os.waitstatus_to_exitcode(status) == 1
