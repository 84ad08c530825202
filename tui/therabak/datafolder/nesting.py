"""Backups kept inside the data folder never end up in the next backup.

A destination may lie inside ``Data`` (a folder ``Sicherungen`` among the documents).
Backed up as it is, every backup would hold all the earlier ones (2.4, 4.9, 9.7 MB ...).
So in every folder inside Data that therabak knows as a destination (the backup's own,
the remembered destinations, the automatic backups' folder), what therabak wrote there
(its archives and volumes, folder backups, what is being written: datafolder/names.py) is left
out of the scan. The user's own files in such a folder are still backed up.

What was left out is said: in the preview, in the backup's summary (a warning, so exit
3), and a restore carries it over from the current data instead of dropping it.
Import-light (the preview uses it).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from therabak.datafolder.names import is_backup_output
from therabak.fsutil import relative_inside
from therabak.i18n import ngettext
from therabak.practice.scan import FileEntry, LeaveOut


def known_destinations(data_dir: Path) -> list[Path]:
    """The folders therabak writes backups to, as far as the settings say."""
    from therabak.errors import TherabakError
    from therabak.settings import Settings

    try:
        settings = Settings.load()
    except (TherabakError, OSError):
        return []
    found = [Path(p) for p in settings.remembered_destinations]
    try:
        found.append(settings.auto_folder(data_dir))
    except (TherabakError, OSError, ValueError):
        pass
    return found


def backups_inside(data_dir: Path, *destinations: Path) -> LeaveOut | None:
    """What a scan of *data_dir* leaves out: therabak's backups in *destinations* and in
    the known destinations that lie inside it. None when none lies inside."""
    folders = {
        rel
        for dest in (*destinations, *known_destinations(data_dir))
        if (rel := relative_inside(dest, data_dir)) is not None
    }
    if not folders:
        return None
    return LeaveOut(frozenset(folders), is_backup_output)


def left_out_message(left_out: list[FileEntry]) -> str:
    """What was left out, in one sentence (the preview's line, the backup's warning)."""
    from therabak import formatting

    return ngettext(
        "Left out: {n} backup file kept inside the data folder ({size}), in {folders}.",
        "Left out: {n} backup files kept inside the data folder ({size}), in {folders}.",
        len(left_out),
    ).format(
        n=len(left_out),
        size=formatting.size(sum(f.size for f in left_out)),
        folders=", ".join(folders_of(f.path for f in left_out)),
    )


def folders_of(paths: Iterable[str]) -> list[str]:
    """The folders (relative to Data) that hold *paths*, each once, in order."""
    seen: dict[str, None] = {}
    for p in paths:
        seen.setdefault(p.rsplit("/", 1)[0] if "/" in p else ".", None)
    return list(seen)
