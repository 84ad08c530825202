"""What the emergency sheet says about the backups: where they are, how many, how new.

Gathered from the settings (the remembered destinations, the automatic-backup folder)
and from the restore points found there and on mounted removable media
(points/discovery.py: public headers only). Never a secret: a place given as a URL loses
any password in it; a recovery code is only checked against the backups (how many it
opens), never kept here.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from therabak.points.discovery import SearchPlace, list_points, search_places
from therabak.points.point import PointKind, RestorePoint

if TYPE_CHECKING:
    from therabak.crypto.recovery import RecoveryCode


@dataclass
class PlaceFacts:
    place: str  # a folder (or URL), as shown on the sheet
    source: str  # remembered | automatic | media | given
    available: bool  # reachable now (a USB stick may not be plugged in)
    manual: int = 0  # manual backups found there
    automatic: int = 0
    folder_backups: int = 0
    with_code: int = 0  # manual backups that also open with a recovery code
    newest: datetime | None = None  # the newest backup there

    def to_dict(self) -> dict:
        return {
            "place": self.place,
            "source": self.source,
            "available": self.available,
            "manual": self.manual,
            "automatic": self.automatic,
            "folder_backups": self.folder_backups,
            "with_recovery_code": self.with_code,
            "newest": self.newest.isoformat() if self.newest else None,
        }


@dataclass
class SheetFacts:
    made: datetime
    places: list[PlaceFacts] = field(default_factory=list)
    #: with a recovery code: how many of the backups found it opens (None: not checked)
    code_opens: int | None = None

    @property
    def newest_manual(self) -> datetime | None:
        times = [p.newest for p in self.places if p.manual and p.newest]
        return max(times) if times else None

    def to_dict(self) -> dict:
        return {
            "made": self.made.isoformat(),
            "places": [p.to_dict() for p in self.places],
            "code_opens": self.code_opens,
        }


def shown_place(place: str | Path) -> str:
    """*place* as the sheet may show it: a URL without a password in it."""
    text = str(place)
    if "://" not in text:
        return text
    try:
        parts = urlsplit(text)
    except ValueError:
        return text.split("://", 1)[0] + "://…"
    if parts.password is None and "@" not in parts.netloc:
        return text
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit((parts.scheme, user + host, parts.path, "", ""))


def _owner(point: RestorePoint, places: list[SearchPlace]) -> int | None:
    """The index of the most specific place that holds *point*."""
    best, best_len = None, -1
    path = os.path.normcase(os.path.abspath(point.path))
    for i, place in enumerate(places):
        folder = os.path.normcase(os.path.abspath(place.folder))
        inside = path.startswith(folder.rstrip(os.sep) + os.sep)
        if point.is_store and path == folder:  # a store folder given as the place itself
            inside = True
        if inside and len(folder) > best_len:
            best, best_len = i, len(folder)
    return best


def gather_facts(
    *,
    remembered: Iterable[str | Path],
    auto_folder: Path | None,
    account_key_id: str | None = None,
    given: Iterable[str | Path] = (),
    media: bool = True,
    code: RecoveryCode | None = None,
    now: datetime | None = None,
) -> SheetFacts:
    """The places backups go to, and what is found in each now. Remembered and given
    places are listed even when nothing is found (a stick that is not plugged in);
    removable media only when they hold a backup. With *code*, counts the backups found
    that it opens (their header only: cheap)."""
    remembered = list(remembered)
    places = search_places(remembered=remembered, auto_folder=auto_folder, given=given, media=media)
    listing = list_points(data_dir=None, account_key_id=account_key_id, places=places)
    facts = [PlaceFacts(shown_place(p.folder), p.source, p.available) for p in places]
    for point in listing.points:
        i = _owner(point, places)
        if i is None or not point.readable:
            continue
        f = facts[i]
        if point.kind == PointKind.MANUAL:
            f.manual += 1
            f.with_code += int(point.recovery_code)
        elif point.kind == PointKind.AUTOMATIC:
            f.automatic += 1
        elif point.kind == PointKind.FOLDER:
            f.folder_backups += 1
        else:
            continue
        if point.created and (f.newest is None or point.created > f.newest):
            f.newest = point.created
    shown: list[PlaceFacts] = []
    seen: set[str] = set()
    for place, f in zip(places, facts, strict=True):
        found = f.manual + f.automatic + f.folder_backups
        key = os.path.normcase(f.place)
        if key in seen or (place.source == "media" and not found):
            continue
        if place.source == "automatic" and not found:
            continue
        seen.add(key)
        shown.append(f)
    result = SheetFacts(made=(now or datetime.now()).astimezone(), places=shown)
    if code is not None:
        stores: dict[str, bool] = {}  # a store opens (or not) for all its backups at once
        result.code_opens = sum(
            1 for p in listing.points if p.recovery_code and _opens(p, code, stores)
        )
    return result


def _opens(point: RestorePoint, code: RecoveryCode, stores: dict[str, bool]) -> bool:
    """Does *code* open *point*? An archive's header is tried; a backup store's key
    files once per store (no Argon2id either way)."""
    from therabak.archive.reader import ArchiveReader
    from therabak.errors import TherabakError

    if point.is_store:
        key = str(point.path)
        if key not in stores:
            from therabak.points.stores import open_store
            from therabak.store.keyfile import Unlock

            try:
                open_store(point.path, Unlock(recovery_code=code))
                stores[key] = True
            except (TherabakError, OSError):
                stores[key] = False
        return stores[key]
    try:
        with ArchiveReader.open(point.path) as reader:
            reader.unlock(recovery_code=code)
            return True
    except (TherabakError, OSError):
        return False
