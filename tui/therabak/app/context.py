"""What the app knows about its surroundings: the practice, the clock, the disks, the jobs.

Everything that makes a screen depend on the machine or the time (the clock, free space,
file systems, mounted media) is a field here, so tests and screenshots can pin it down.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from therabak.app.runner import JobRunner
from therabak.fsinfo import FsInfo
from therabak.fsinfo import probe as probe_fs
from therabak.fsutil import reported_free_space
from therabak.i18n import _
from therabak.media import removable_media
from therabak.schedule.host import Host
from therabak.settings import PracticePaths


def _now() -> datetime:
    return datetime.now().astimezone()


@dataclass
class Problem:
    """Something that keeps the app from working on the practice, and how to fix it."""

    title: str
    detail: str
    fix: str


@dataclass
class AppContext:
    paths: PracticePaths
    demo: bool = False
    job_env: dict[str, str | None] = field(default_factory=dict)
    clock: Callable[[], datetime] = _now
    free_space: Callable[[Path], int | None] = reported_free_space  # None: not reported
    fs_info: Callable[[Path], FsInfo] = probe_fs  # the file system there (FAT32 splits backups)
    removable_media: Callable[[], list[Path]] = removable_media
    schedule_host: Callable[[], Host] = Host.current  # the scheduler automatic backups use
    runner: JobRunner = field(default_factory=JobRunner)
    home: Path | None = None  # shown as "~"; None: the user's home folder
    cursor_blink: bool = True

    def now(self) -> datetime:
        return self.clock()

    def display_path(self, path: str | os.PathLike) -> str:
        """*path* for the eye: the home folder shortened to ``~``."""
        text = str(path)
        home = self.home if self.home is not None else _home()
        if home is not None:
            h = str(home).rstrip("/\\")
            if h and (text == h or text.startswith(h + os.sep)):
                return "~" + text[len(h) :]
        return text

    def problems(self) -> list[Problem]:
        """Missing data folder or account key (cheap checks, done before the first frame)."""
        out = []
        data, key = self.paths.data_dir, self.paths.account_key
        if not data.exists():
            out.append(
                Problem(
                    _("The practice data folder was not found."),
                    _("therabak looked for it here: {path}").format(path=self.display_path(data)),
                    _(
                        "Start therabak-tui with --data-dir FOLDER (or set THERABAK_DATA_DIR) to "
                        "the TheraPsy 'Data' folder. To try therabak first, start it with --demo."
                    ),
                )
            )
        elif not data.is_dir():
            out.append(
                Problem(
                    _("The practice data folder is not a folder."),
                    self.display_path(data),
                    _("Give the TheraPsy 'Data' folder with --data-dir FOLDER."),
                )
            )
        if not key.is_file():
            out.append(
                Problem(
                    _("The account key was not found."),
                    _("therabak looked for it here: {path}").format(path=self.display_path(key)),
                    _(
                        "The account key (Standardschluessel) lives beside the Data folder as "
                        "account.key. Give its location with --account-key FILE (or set "
                        "THERABAK_ACCOUNT_KEY). A backup with a password can still be restored "
                        "on a new computer without it."
                    ),
                )
            )
        return out


def _home() -> Path | None:
    try:
        return Path.home()
    except (RuntimeError, KeyError):
        return None
