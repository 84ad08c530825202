"""Fixtures for the app's tests: a demo practice, a pinned clock and machine, a Pilot.

Everything the screens show that depends on the machine or the time is pinned here:
the clock (``NOW``), the free space and file system, the removable media, the home folder (paths are
shown with ``~``), the cursor blink, and the scheduler automatic backups use (a systemd user
manager of recording programs, ``schedule_support.py``, with the units under ``~/.config``).
The practice itself is the deterministic demo.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from app.apphelp import GB, NOW, SIZE
from schedule_support import FakeTools, fake_tools, make_host
from therabak.app.context import AppContext
from therabak.app.runner import JobRunner
from therabak.fsinfo import FsInfo, info_for
from therabak.schedule.host import Host
from therabak.settings import PracticePaths


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A home folder of its own (paths show as ~/...), and a fixed time zone."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    old_tz = os.environ.get("TZ")
    os.environ["TZ"] = "Europe/Berlin"
    if hasattr(time, "tzset"):
        time.tzset()
    yield home
    if old_tz is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old_tz
    if hasattr(time, "tzset"):
        time.tzset()


@pytest.fixture
def app_practice(demo_practice, home: Path):
    """A copy of the demo practice at ~/TheraPsy (Data + account.key)."""
    root = home / "TheraPsy"
    shutil.copytree(demo_practice.root, root, symlinks=True)
    return PracticePaths(root / "Data", root / "account.key")


@pytest.fixture
def usb(home: Path) -> Path:
    """A folder standing in for a USB stick."""
    stick = home / "usb"
    stick.mkdir()
    return stick


#: The file system the destinations are on, pinned like the free space.
FS = info_for("ext4", "/")


@pytest.fixture
def scheduler(tmp_path: Path) -> FakeTools:
    """The scheduler's programs the app's contexts use: systemd (reachable), lingering on."""
    return fake_tools(tmp_path / "scheduler", programs=("systemctl", "loginctl"), linger="yes")


@pytest.fixture
def schedule_host(tmp_path: Path, home: Path, scheduler: FakeTools):
    """A Host with the home folder of the app's tests; ``schedule_host(over_ssh=True)``."""

    def make(**changes) -> Host:
        host = make_host(tmp_path, scheduler, user="praxis", python="/usr/bin/python3")
        fields = dict(home=home, config_home=home / ".config")
        fields.update(changes)
        return dataclasses.replace(host, **fields)

    return make


@pytest.fixture
def make_ctx(app_practice: PracticePaths, home: Path, isolated_env: Path, usb: Path, schedule_host):
    def make(
        *,
        clock: Callable[[], datetime] | None = None,
        free: int = 64 * GB,
        fs: FsInfo = FS,
        job_env: dict[str, str | None] | None = None,
        demo: bool = True,
        paths: PracticePaths | None = None,
        host: Host | None = None,
    ) -> AppContext:
        return AppContext(
            paths=paths or app_practice,
            demo=demo,
            job_env=dict(job_env or {}),
            clock=clock or (lambda: NOW),
            free_space=lambda _path: free,
            fs_info=lambda _path: fs,
            removable_media=lambda: [usb],
            runner=JobRunner(isolated_env / "state" / "jobs"),
            home=home,
            cursor_blink=False,
            schedule_host=lambda: host or schedule_host(),
        )

    return make


@pytest.fixture
def run_app():
    """Run a coroutine test body with the app under Pilot at 80x24."""

    def runner(app, body):
        async def main():
            async with app.run_test(size=SIZE) as pilot:
                await body(pilot)

        asyncio.run(main())

    return runner
