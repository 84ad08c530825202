"""What a restore point is (``PointKind``), apart from ``point.py`` so that naming a kind
(the labels in ``presentation.py``, a backup's summary) does not load the point readers
and the store behind them."""

from __future__ import annotations

from enum import StrEnum

from therabak.practice.categories import BackupKind


class PointKind(StrEnum):
    """What a restore point is (its ``kind`` in ``list --json``)."""

    MANUAL = "manual"  # an archive of a manual backup
    AUTOMATIC = "automatic"  # an archive of an automatic backup (its header says "auto")
    FOLDER = "folder"  # a folder backup
    BEFORE_RESTORE = "before-restore"  # the data a restore replaced, kept beside Data
    UNREADABLE = "unreadable"  # found, but it cannot be read (``error`` says why)

    @classmethod
    def of_archive(cls, kind: BackupKind) -> PointKind:
        """The point kind of an archive whose header says *kind*."""
        return cls.AUTOMATIC if kind == BackupKind.AUTOMATIC else cls.MANUAL

    @property
    def is_folder(self) -> bool:
        return self in (PointKind.FOLDER, PointKind.BEFORE_RESTORE)
