"""The one seam through which therabak runs the scheduler's programs.

``systemctl``, ``loginctl``, ``crontab``, ``launchctl`` and ``schtasks`` are found on
``PATH``, or only in the folder ``THERABAK_SCHEDULER_TOOLS`` names when it is set (tests
put recording programs there; a program missing from that folder counts as not
installed, so a test can never reach the machine's real scheduler). Every call has a
timeout, runs with ``LC_ALL=C`` (output that can be parsed) and never opens a console
window on Windows. A program that is missing, cannot be started or hangs raises
:class:`~therabak.errors.SchedulerError`; a non-zero exit is returned for the caller to
judge.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from therabak.errors import SchedulerError
from therabak.i18n import _

TOOLS_ENV = "THERABAK_SCHEDULER_TOOLS"
IS_WINDOWS = sys.platform == "win32"


@dataclass(frozen=True)
class ToolResult:
    program: str
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def detail(self) -> str:
        """The program's own words (its last line of output), for a one-line message."""
        for text in (self.stderr, self.stdout):
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            if lines:
                return lines[-1][:200]
        return _("exit code {code}").format(code=self.returncode)


@dataclass(frozen=True)
class Tools:
    folder: Path | None = None  # None: PATH
    timeout_s: float = 60.0

    @classmethod
    def from_environment(cls) -> Tools:
        folder = os.environ.get(TOOLS_ENV)
        return cls(Path(folder) if folder else None)

    def find(self, name: str) -> Path | None:
        if self.folder is None:
            found = shutil.which(name)
            return Path(found) if found else None
        for suffix in ("", ".exe", ".cmd", ".bat") if IS_WINDOWS else ("",):
            candidate = self.folder / (name + suffix)
            if candidate.is_file():
                return candidate
        return None

    def run(self, name: str, args: Sequence[str], *, input: str | None = None) -> ToolResult:
        program = self.find(name)
        if program is None:
            raise SchedulerError(_("{program} is not installed.").format(program=name))
        env = dict(os.environ, LC_ALL="C", SYSTEMD_PAGER="", SYSTEMD_COLORS="0")
        try:
            proc = subprocess.run(
                [str(program), *args],
                input=input,
                capture_output=True,
                text=True,
                encoding=None if IS_WINDOWS else "utf-8",
                errors="replace",
                env=env,
                timeout=self.timeout_s,
                stdin=None if input is not None else subprocess.DEVNULL,
                creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
            )
        except subprocess.TimeoutExpired:
            raise SchedulerError(
                _("{program} did not answer within {seconds} seconds.").format(
                    program=name, seconds=int(self.timeout_s)
                )
            ) from None
        except OSError as e:
            raise SchedulerError(
                _("{program} could not be started: {error}").format(
                    program=name, error=e.strerror or e
                )
            ) from None
        return ToolResult(name, tuple(args), proc.returncode, proc.stdout, proc.stderr)
