"""Restore points: every backup therabak can find, read from public headers only.

Where it looks (each folder one level deep, see :data:`SUBFOLDER_NAMES`):

* the remembered destinations of manual and folder backups (settings),
* the folders searched before (settings; the app remembers a folder searched with ``a``),
* the automatic-backup folder,
* the mounted removable media (:mod:`therabak.media`),
* folders the caller names (``--in``),
* beside ``Data``: the ``Data.before-restore-*`` folders earlier restores left.

What it finds: every snapshot of a backup store (a ``TheraPsy-Backups`` folder, or a
store folder named itself; see :mod:`therabak.points.stores`, which also defines the
point reference ``STORE@ID``), archives (``*.therabak``; a split backup is one point,
found by its first volume, with its volumes' total size and count, flagged when one is
missing or does not fit), folder backups (a folder holding a
``therabak-manifest.json``, normally ``TheraPsy-Data-<time>``) and before-restore
folders. Only public headers (a snapshot's, an archive's) or the manifest's first line
are read, so listing is fast whatever the size of the backups; a file that is damaged or
not ours is listed as *unreadable*, never an error. (What a point holds, file by file, is
``points/contents.py``.)
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from therabak.archive.volumes import first_volume, later_volume_name, later_volumes
from therabak.datafolder.manifest import MANIFEST_NAME
from therabak.datafolder.names import FOLDER_PREFIX, before_restore_prefix
from therabak.errors import DamagedArchiveError, UsageError
from therabak.fsutil import followed_root
from therabak.i18n import _
from therabak.points import stores
from therabak.points.point import Place, RestorePoint, archive_point, folder_point
from therabak.points.store_points import identify_store, points_of_store
from therabak.practice.categories import Rules
from therabak.storage.url import is_url

ARCHIVE_SUFFIX = ".therabak"
#: Subfolders (names compared case-insensitively) that are searched as well, one level
#: deep: people put backups in a folder with an obvious name on their stick.
SUBFOLDER_NAMES = frozenset(
    {
        "therabak",
        "therapsy",
        "backup",
        "backups",
        "datensicherung",
        "datensicherungen",
        "sicherung",
        "sicherungen",
    }
)


def identify(
    path: Path | str,
    account_key_id: str | None,
    found_in: Place | str = Place.ARGUMENT,
    *,
    salvage: bool = False,
) -> RestorePoint:
    """What *path* is (for a point the user names): an archive, a folder backup, a
    before-restore folder or a store snapshot (``STORE@ID``). Raises DamagedArchiveError
    if nothing, UsageError for a store without a snapshot or an unknown id. With
    *salvage*, an archive whose header is damaged but still readable is a point."""
    ref = stores.parse_ref(path)
    if ref is not None:
        return identify_store(ref, account_key_id, found_in)
    path = Path(path)
    if path.is_dir():
        point = folder_point(
            path, account_key_id, found_in, before_restore=".before-restore-" in path.name
        )
        if point is None:
            raise DamagedArchiveError(
                _("{path} is a folder but not a folder backup (no {manifest}).").format(
                    path=path, manifest=MANIFEST_NAME
                )
            )
        return point
    first = first_volume(path)
    if not first.exists():
        if later_volumes(first):
            from therabak.archive.volumes import open_source

            open_source(path)  # raises: names the missing first volume
        raise DamagedArchiveError(_("Backup not found: {path}").format(path=path))
    return archive_point(first, account_key_id, found_in, salvage=salvage)


# ---- finding points --------------------------------------------------------------------------


@dataclass
class SearchPlace:
    folder: Path | str  # a folder, or an off-site place's URL (``list --in URL``)
    source: Place
    available: bool = False


@dataclass
class PointListing:
    points: list[RestorePoint]
    places: list[SearchPlace]

    def to_dict(self, rules: Rules | None = None, now: datetime | None = None) -> dict:
        return {
            "points": [p.to_dict(rules, now) for p in self.points],
            "searched": [
                {"folder": str(s.folder), "source": s.source, "available": s.available}
                for s in self.places
            ],
        }


def search_places(
    *,
    remembered: Iterable[str | Path] = (),
    auto_folder: Path | None = None,
    given: Iterable[str | Path] = (),
    media: bool = True,
    searched: Iterable[str | Path] = (),
) -> list[SearchPlace]:
    places = [_given_place(str(p)) for p in given]
    places += [SearchPlace(Path(p).expanduser().absolute(), Place.REMEMBERED) for p in remembered]
    places += [SearchPlace(Path(p).expanduser().absolute(), Place.SEARCHED) for p in searched]
    if auto_folder is not None:
        places.append(SearchPlace(Path(auto_folder), Place.AUTOMATIC))
    if media:
        from therabak.media import removable_media

        places += [SearchPlace(p, Place.MEDIA) for p in removable_media()]
    return places


def _given_place(text: str) -> SearchPlace:
    """A place named with ``--in``: a folder, a URL or a destination's name."""
    place = stores.named_place(text)
    if is_url(place):
        return SearchPlace(place, Place.GIVEN)
    return SearchPlace(Path(place).expanduser().absolute(), Place.GIVEN)


def _scan_off_site(
    url: str, source: str, account_key_id: str | None, out: dict[str, RestorePoint]
) -> bool:
    """The snapshots of the store at the off-site place *url* (its own URL, or the one
    whose TheraPsy-Backups holds it); False when it holds none. Errors of the storage
    (credentials, a missing bucket, an unknown host key) are raised as they are."""
    try:
        place = stores.off_site_store(url)
    except UsageError:
        return False
    for point in points_of_store(place, account_key_id, source):
        out.setdefault(f"{place}@{point.snapshot_id}", point)
    return True


def _key(path: Path) -> str:
    return os.path.normcase(os.path.abspath(path))


def _add_store(
    folder: Path, source: str, account_key_id: str | None, out: dict[str, RestorePoint]
) -> None:
    for point in points_of_store(folder, account_key_id, source):
        out.setdefault(_key(folder) + "@" + point.snapshot_id, point)


def _scan_folder(
    folder: Path,
    source: str,
    account_key_id: str | None,
    out: dict[str, RestorePoint],
    depth: int = 0,
) -> bool:
    if depth == 0 and stores.is_store_folder(folder):  # the store folder itself
        _add_store(folder, source, account_key_id, out)
        return True
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return False
    if depth == 0 and (Path(folder) / MANIFEST_NAME).is_file():
        # the folder named is a folder backup itself (the user went into it)
        key = _key(Path(folder))
        if key not in out:
            point = folder_point(
                Path(folder),
                account_key_id,
                source,
                before_restore=".before-restore-" in Path(folder).name,
            )
            if point is not None:
                out[key] = point
        return True
    later: dict[str, list[str]] = {}  # a split backup's later volumes, by its first's name
    for e in entries:
        split = later_volume_name(e.name)
        if split is not None:
            later.setdefault(split[0], []).append(e.name)
    for entry in entries:
        name = entry.name
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
            is_file = not is_dir and entry.is_file(follow_symlinks=False)
        except OSError:
            continue
        if name.endswith(".partial"):  # being written, or left by a crash: never a point
            continue
        path = Path(entry.path)
        key = _key(path)
        if key in out:
            continue
        if is_file and name.lower().endswith(ARCHIVE_SUFFIX):
            out[key] = archive_point(path, account_key_id, source, names=later.get(name, []))
        elif is_dir:
            if stores.is_store_folder(path):
                _add_store(path, source, account_key_id, out)
                continue
            point = (
                folder_point(path, account_key_id, source)
                if (name.startswith(FOLDER_PREFIX) or (path / MANIFEST_NAME).is_file())
                else None
            )
            if point is not None:
                out[key] = point
            elif depth == 0 and name.casefold() in SUBFOLDER_NAMES:
                _scan_folder(path, source, account_key_id, out, depth + 1)
    return True


def find_before_restore(
    data_dir: Path, account_key_id: str | None, out: dict[str, RestorePoint] | None = None
) -> list[RestorePoint]:
    data_dir = followed_root(Path(data_dir))  # a linked Data: beside the folder it leads to
    prefix = before_restore_prefix(data_dir)
    found: list[RestorePoint] = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(data_dir.parent):
            if not entry.name.startswith(prefix) or not entry.is_dir(follow_symlinks=False):
                continue
            point = folder_point(
                Path(entry.path), account_key_id, Place.BESIDE_DATA, before_restore=True
            )
            if point is not None:
                found.append(point)
                if out is not None:
                    out.setdefault(_key(Path(entry.path)), point)
    return found


def list_points(
    *, data_dir: Path | None, account_key_id: str | None, places: list[SearchPlace]
) -> PointListing:
    """Every restore point in *places* and beside *data_dir*, newest first."""
    found: dict[str, RestorePoint] = {}
    for place in places:
        if isinstance(place.folder, str):
            place.available = _scan_off_site(place.folder, place.source, account_key_id, found)
            continue
        place.available = _scan_folder(place.folder, place.source, account_key_id, found)
    if data_dir is not None:
        find_before_restore(data_dir, account_key_id, found)
    far_past = datetime.min.replace(tzinfo=datetime.now().astimezone().tzinfo)
    points = sorted(found.values(), key=lambda p: (p.created or far_past, p.ref), reverse=True)
    return PointListing(points, places)
