"""The computer a scheduler entry is set up on: its platform, the user, their folders,
the Python that runs therabak, and the scheduler's programs (:mod:`.tools`).

:meth:`Host.current` reads the real process; tests and the app's screenshots build a
:class:`Host` of their own (a home folder, a folder of recording programs), so nothing
depends on the machine the tests run on.
"""

from __future__ import annotations

import getpass
import os
import sys
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from therabak.schedule.tools import Tools
from therabak.settings import state_dir

#: Forces a backend (``systemd``, ``cron``, ``launchd``, ``taskscheduler``) instead of the
#: platform's own choice; for tests, and for a Linux user who prefers cron.
BACKEND_ENV = "THERABAK_SCHEDULER"
#: Settings that the scheduled run must see as the installing shell did (it does not
#: inherit the shell's environment).
PASSED_ENV = ("THERABAK_CONFIG", "THERABAK_STATE_DIR", "THERABAK_RULES")


class Platform(StrEnum):
    LINUX = "linux"  # and other Unix systems: systemd where it runs, else cron
    MACOS = "macos"
    WINDOWS = "windows"


def current_platform() -> Platform:
    if sys.platform == "win32":
        return Platform.WINDOWS
    if sys.platform == "darwin":
        return Platform.MACOS
    return Platform.LINUX


def entry_python(executable: str | None = None) -> Path:
    """The interpreter a scheduler entry starts: this one, by its absolute path (never
    resolved: a virtual environment's ``python`` is a link that must stay one). On
    Windows ``pythonw.exe`` beside it, so the task opens no console window."""
    path = Path(executable or sys.executable).absolute()
    if sys.platform == "win32":
        quiet = path.with_name("pythonw.exe")
        if quiet.is_file():
            return quiet
    return path


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        return os.environ.get("USERNAME") or os.environ.get("USER") or "user"


@dataclass(frozen=True)
class Host:
    platform: Platform
    home: Path
    config_home: Path  # XDG_CONFIG_HOME: where systemd looks for user units
    state_dir: Path  # therabak's: the automatic runs' log and record
    user: str
    uid: int | None
    over_ssh: bool
    python: Path
    tools: Tools = field(default_factory=Tools)
    environ: tuple[tuple[str, str], ...] = ()  # THERABAK_* settings the entry passes on
    forced: str | None = None  # THERABAK_SCHEDULER
    domain: str | None = None  # Windows: USERDOMAIN

    @classmethod
    def current(cls) -> Host:
        home = Path.home()
        xdg = os.environ.get("XDG_CONFIG_HOME")
        return cls(
            platform=current_platform(),
            home=home,
            config_home=Path(xdg) if xdg else home / ".config",
            state_dir=state_dir().absolute(),
            user=_user(),
            uid=os.getuid() if hasattr(os, "getuid") else None,
            over_ssh=any(os.environ.get(v) for v in ("SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY")),
            python=entry_python(),
            tools=Tools.from_environment(),
            environ=tuple(
                (name, str(Path(os.environ[name]).absolute()))
                for name in PASSED_ENV
                if os.environ.get(name)
            ),
            forced=os.environ.get(BACKEND_ENV) or None,
            domain=os.environ.get("USERDOMAIN") or None,
        )
