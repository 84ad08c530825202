"""Benchmark: time from launching ``therabak-tui --demo`` to the first frame of the home
screen, in a real pseudo-terminal of 80x24 (POSIX).

    python tests/bench/tui_startup.py [--runs N]

The demo practice is created once beforehand in a temporary cache folder (not timed).
Each run starts a fresh ``python -m therabak.app --demo`` and stops the clock when the
home screen's text appears on the terminal; then the app is quit with ctrl+q. Target:
under 1 s. ``--lang de`` measures the German app (its catalog is read at start).
Prints every run, the median and the best, as text and as one JSON line.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time

ANSI = re.compile(
    rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>78]|\x1b\][^\x07]*\x07"
)
#: On the home screen's first frame (the scan fills in later), per language.
MARKERS = {"en": "Last backups", "de": "Letzte Backups"}


def launch_once(env: dict[str, str], timeout: float = 30.0, marker: str = MARKERS["en"]) -> float:
    start = time.perf_counter()
    pid, fd = os.forkpty()
    if pid == 0:
        os.execve(sys.executable, [sys.executable, "-m", "therabak.app", "--demo"], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    output = b""
    elapsed = None
    try:
        while time.perf_counter() - start < timeout:
            ready, _, _ = select.select([fd], [], [], 0.01)
            if ready:
                try:
                    output += os.read(fd, 65536)
                except OSError:
                    break
                if marker in ANSI.sub(b"", output).decode("utf-8", "replace"):
                    elapsed = time.perf_counter() - start
                    break
        if elapsed is None:
            raise SystemExit("the home screen did not appear")
        os.write(fd, b"\x11")  # ctrl+q
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if os.waitpid(pid, os.WNOHANG)[0]:
                break
            try:
                select.select([fd], [], [], 0.05)
                os.read(fd, 65536)
            except OSError:
                pass
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    finally:
        os.close(fd)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--lang", choices=sorted(MARKERS), default="en", help="the app's language (LANG)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="therabak-bench-") as tmp:
        env = dict(os.environ)
        env.update(
            XDG_CACHE_HOME=os.path.join(tmp, "cache"),
            XDG_CONFIG_HOME=os.path.join(tmp, "config"),
            XDG_STATE_HOME=os.path.join(tmp, "state"),
            TERM="xterm-256color",
            COLORTERM="truecolor",
            LANG="de_DE.UTF-8" if args.lang == "de" else "C.UTF-8",
        )
        for name in ("LC_ALL", "LC_MESSAGES"):
            env.pop(name, None)
        for name in (
            "THERABAK_CONFIG",
            "THERABAK_STATE_DIR",
            "THERABAK_DATA_DIR",
            "THERABAK_ACCOUNT_KEY",
        ):
            env.pop(name, None)
        # create the demo practice once (not timed)
        subprocess.run(
            [
                sys.executable,
                "-c",
                "from therabak.app.main import demo_root, ensure_demo; ensure_demo(demo_root())",
            ],
            env=env,
            check=True,
        )
        marker = MARKERS[args.lang]
        launch_once(env, marker=marker)  # warm the OS file cache and the .pyc files
        times = [launch_once(env, marker=marker) for _ in range(args.runs)]
    for i, t in enumerate(times, 1):
        print(f"run {i}: {t * 1000:.0f} ms")
    median, best = statistics.median(times), min(times)
    print(
        f"launch to first frame of the home screen: median {median * 1000:.0f} ms, "
        f"best {best * 1000:.0f} ms (target < 1000 ms)"
    )
    print(
        json.dumps(
            {
                "benchmark": "tui_startup",
                "lang": args.lang,
                "runs": len(times),
                "median_s": round(median, 3),
                "best_s": round(best, 3),
                "python": sys.version.split()[0],
            }
        )
    )
    return 0 if median < 1.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
