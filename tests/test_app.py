"""therabak-tui's entry point: arguments, the demo practice, a real terminal.

The screens themselves are tested in tests/app/ (Pilot and snapshot tests).
"""

from __future__ import annotations

import os
import select
import sys
import time
from pathlib import Path

import pytest

from therabak.app.main import DEMO_FAILPOINTS, demo_root, ensure_demo, make_context, parse_args
from therabak.errors import DataFolderError
from therabak.practice.account import AccountKey
from therabak.practice.demo import demo_key


def test_demo_is_created_once_in_the_cache_folder_and_reused(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
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
    # --demo opens it, keeps settings and jobs beside it, and injects gentle faults
    monkeypatch.delenv("THERABAK_CONFIG")
    monkeypatch.delenv("THERABAK_STATE_DIR")
    ctx = make_context(parse_args(["--demo"]))
    assert ctx.demo and ctx.paths.data_dir == paths.data_dir
    assert ctx.job_env == {"THERABAK_FAILPOINTS": DEMO_FAILPOINTS}
    assert os.environ["THERABAK_STATE_DIR"] == str(root / "state")
    assert ctx.runner.root == root / "state" / "jobs"


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


def test_paths_come_from_the_options(tmp_path: Path) -> None:
    ctx = make_context(
        parse_args(["--data-dir", str(tmp_path / "D"), "--account-key", str(tmp_path / "k")])
    )
    assert ctx.paths.data_dir == tmp_path / "D" and ctx.paths.account_key == tmp_path / "k"
    assert not ctx.demo and ctx.job_env == {}
    assert [p.title for p in ctx.problems()] == [
        "The practice data folder was not found.",
        "The account key was not found.",
    ]


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_therabak_tui_in_a_real_terminal(tmp_path: Path) -> None:
    """The console entry point end to end: a pty of 80x24, the problem screen, q, exit 1."""
    import fcntl
    import pty
    import struct
    import termios

    pid, fd = pty.fork()
    if pid == 0:  # child: become therabak-tui
        try:
            os.execv(
                sys.executable,
                [sys.executable, "-m", "therabak.app", "--data-dir", str(tmp_path / "gone")],
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
        if not sent_q and b"Something is missing" in seen:
            os.write(fd, b"q")
            sent_q = True
        done, polled = os.waitpid(pid, os.WNOHANG)
        if done:
            status = polled
    os.close(fd)
    assert sent_q, seen[-2000:]
    assert b"Traceback" not in seen
    assert b"data folder was not found" in seen
    assert os.waitstatus_to_exitcode(status) == 1
