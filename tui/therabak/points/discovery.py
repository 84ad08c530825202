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
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from therabak.archive.header import ArchiveHeader, parse_header, read_header_size
from therabak.archive.volumes import (
    describe_set,
    first_volume,
    joined,
    later_volume_name,
    later_volumes,
)
from therabak.datafolder.manifest import MANIFEST_NAME, read_manifest_header
from therabak.datafolder.names import FOLDER_PREFIX, STAMP_FORMAT, before_restore_prefix
from therabak.errors import DamagedArchiveError, UsageError
from therabak.fsutil import followed_root, open_regular
from therabak.i18n import _
from therabak.points import stores
from therabak.practice.categories import BackupKind, Rules
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


class AccountMatch(StrEnum):
    """Does a point belong to this computer's account (by its account key ids)?"""

    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"  # it names no account key, or this computer has none


class Place(StrEnum):
    """Where a point (or a folder searched) was found."""

    REMEMBERED = "remembered"  # a remembered destination (settings)
    SEARCHED = "searched"  # a folder searched before (settings)
    AUTOMATIC = "automatic"  # the automatic backups' folder
    MEDIA = "media"  # a mounted removable medium
    GIVEN = "given"  # a folder named with --in (or the app's "a")
    BESIDE_DATA = "beside-data"  # a before-restore folder beside Data
    ARGUMENT = "argument"  # the point named itself (restore POINT)


KINDS = (PointKind.MANUAL, PointKind.AUTOMATIC, PointKind.FOLDER, PointKind.BEFORE_RESTORE)
_STAMP_RE = re.compile(r"(\d{4}-\d{2}-\d{2}_\d{6})")


@dataclass
class RestorePoint:
    path: Path | str  # a store snapshot off-site: the store's URL
    kind: PointKind
    created: datetime | None = None
    size: int | None = None  # bytes (archive files' size; folder: data bytes per manifest)
    protection: str = ""  # password | account | none (archives); account (folders)
    recovery_code: bool = False  # archives: a recovery code opens it too (a key slot)
    account_match: AccountMatch = AccountMatch.UNKNOWN
    account_key_ids: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)  # leaf ids; empty = everything
    files: int | None = None  # folder kinds (from the manifest)
    found_in: Place | str = ""
    error: str = ""  # for unreadable points
    volumes: int = 1  # files of a split backup (archives)
    incomplete: str = ""  # what is wrong with a split backup's volumes ("" when nothing)
    # A snapshot of a backup store: *path* is the store's folder (or URL), this its id.
    snapshot_id: str = ""
    short_id: str = ""  # the shortest unambiguous prefix of snapshot_id (8+ hex digits)
    added: int | None = None  # store snapshots: bytes that backup added to the store

    @property
    def readable(self) -> bool:
        return self.kind != PointKind.UNREADABLE

    @property
    def is_folder(self) -> bool:
        return self.kind.is_folder

    @property
    def is_store(self) -> bool:
        return bool(self.snapshot_id)

    @property
    def ref(self) -> str:
        """What names this point on a command line: its path, or ``STORE@ID``."""
        if self.snapshot_id:
            return stores.point_ref(self.path, self.snapshot_id)
        return str(self.path)

    @property
    def short_ref(self) -> str:
        """:attr:`ref` with the shortest unambiguous snapshot id (for people)."""
        if self.snapshot_id:
            return stores.point_ref(self.path, self.short_id or self.snapshot_id)
        return str(self.path)

    @property
    def name(self) -> str:
        """A short name for titles: the file or folder name; a store snapshot's id."""
        if self.snapshot_id:
            return f"{Path(self.path).name}@{self.short_id or self.snapshot_id[:8]}"
        return Path(self.path).name

    def to_dict(self, rules: Rules | None = None, now: datetime | None = None) -> dict[str, Any]:
        from therabak import formatting

        d: dict[str, Any] = {
            "path": str(self.path),
            "kind": self.kind,
            "created": self.created.isoformat() if self.created else None,
            "created_local": formatting.local_time(self.created) if self.created else None,
            "age": formatting.ago(self.created, now) if self.created else None,
            "size": self.size,
            "protection": self.protection,
            "recovery_code": self.recovery_code,
            "account_match": self.account_match,
            "account_key_ids": self.account_key_ids,
            "categories": self.categories,
            "files": self.files,
            "found_in": self.found_in,
            "readable": self.readable,
            "error": self.error,
            "volumes": self.volumes,
            "incomplete": self.incomplete,
            "format": "store" if self.snapshot_id else ("folder" if self.is_folder else "archive"),
            "ref": self.ref,
            "snapshot_id": self.snapshot_id or None,
            "added": self.added,
        }
        if rules is not None:
            d["summary"] = category_summary(rules, self.categories, self.kind)
        return d


def category_summary(rules: Rules, leaf_ids: Iterable[str], kind: str = "") -> str:
    """'Practice records, Audio recordings, Documents' — whole groups by their label
    (in the current language)."""
    if kind in (PointKind.FOLDER, PointKind.BEFORE_RESTORE):
        return _("everything (a copy of the data folder)")
    present = set(leaf_ids)
    if not present:
        return ""
    parts: list[str] = []
    for root in rules.roots():
        leaves = rules.leaves_under(root.id)
        have = [leaf for leaf in leaves if leaf in present]
        if not have:
            continue
        if len(have) == len(leaves) and len(leaves) > 1:
            parts.append(_(root.label))
        else:
            parts.extend(_(rules.nodes[leaf].label) for leaf in have)
    known = set(rules.nodes)
    parts.extend(sorted(present - known))
    return ", ".join(parts)


# ---- reading one point -----------------------------------------------------------------------


def read_archive_header(path: Path, *, lenient: bool = False) -> tuple[ArchiveHeader, int]:
    """The public header and the file size (reads at most the header region); *lenient*
    lets a damaged header through as far as it can be read (salvage)."""
    with os.fdopen(open_regular(path), "rb", buffering=0) as f:
        size = os.fstat(f.fileno()).st_size
        prefix = f.read(14)
        header_size = read_header_size(prefix, lenient=lenient)
        if header_size > size:
            raise DamagedArchiveError(_("The backup is truncated (header)."))
        region = prefix + f.read(header_size - len(prefix))
    return parse_header(region, lenient=lenient), size


def _match(ids: list[str], account_key_id: str | None) -> AccountMatch:
    if not ids or not account_key_id:
        return AccountMatch.UNKNOWN
    return AccountMatch.YES if account_key_id in ids else AccountMatch.NO


def archive_point(
    path: Path,
    account_key_id: str | None,
    found_in: str = "",
    *,
    salvage: bool = False,
    names: Iterable[str] | None = None,
) -> RestorePoint:
    """The point for an archive; *path* may name any volume of a split backup (the point
    is then its first volume). *names*: the folder's listing, when the caller has it."""
    path = first_volume(Path(path))
    try:
        header, size = read_archive_header(path, lenient=salvage)
    except DamagedArchiveError as e:
        return RestorePoint(
            path, PointKind.UNREADABLE, size=_size(path), found_in=found_in, error=e.message
        )
    except OSError as e:
        return RestorePoint(
            path,
            PointKind.UNREADABLE,
            found_in=found_in,
            error=_("cannot be read ({error})").format(error=e.strerror or e),
        )
    ids = [k.hex() for k in header.account_key_ids]
    split = describe_set(path, names)
    return RestorePoint(
        path,
        PointKind.of_archive(header.kind),
        created=header.created,
        size=split.disk_size if split else size,
        volumes=split.volumes if split else 1,
        incomplete=joined(split.problems) if split and split.problems else "",
        protection=header.protection,
        recovery_code=header.has_recovery_code,
        account_key_ids=ids,
        account_match=_match(ids, account_key_id),
        categories=list(header.categories),
        found_in=found_in,
    )


def folder_point(
    path: Path, account_key_id: str | None, found_in: str = "", before_restore: bool = False
) -> RestorePoint | None:
    """A folder backup or before-restore folder; None for a folder that is neither."""
    try:
        manifest = read_manifest_header(path)
    except DamagedArchiveError as e:
        return RestorePoint(path, PointKind.UNREADABLE, found_in=found_in, error=e.message)
    if manifest is None:
        if before_restore:  # interrupted before its manifest was written: still the old data
            return RestorePoint(
                path,
                PointKind.BEFORE_RESTORE,
                created=_stamp_time(path.name),
                protection="account",
                found_in=found_in,
            )
        if path.name.startswith(FOLDER_PREFIX):
            return RestorePoint(
                path,
                PointKind.UNREADABLE,
                found_in=found_in,
                error=_("{name} is missing").format(name=MANIFEST_NAME),
            )
        return None
    ids = [manifest.account_key_id] if manifest.account_key_id else []
    kind = PointKind.BEFORE_RESTORE if manifest.kind == "before-restore" else PointKind.FOLDER
    return RestorePoint(
        path,
        kind,
        created=manifest.created or _stamp_time(path.name),
        size=manifest.bytes,
        protection="account",
        account_key_ids=ids,
        account_match=_match(ids, account_key_id),
        files=manifest.files,
        found_in=found_in,
    )


def points_of_store(
    folder: Path | str, account_key_id: str | None, found_in: Place | str = ""
) -> list[RestorePoint]:
    """Every snapshot of the store in *folder*, from the public headers; one unreadable
    point for a store that cannot be read, and for each snapshot whose header cannot."""
    listing = stores.list_store(folder)
    if listing.error:
        return [RestorePoint(folder, PointKind.UNREADABLE, found_in=found_in, error=listing.error)]
    match = _match(listing.account_key_ids, account_key_id)
    points = [store_point(listing, s, match, found_in) for s in listing.snapshots]
    for sid, why in listing.unreadable:
        points.append(
            RestorePoint(
                folder,
                PointKind.UNREADABLE,
                found_in=found_in,
                error=why,
                snapshot_id=sid,
                short_id=sid[:8],
            )
        )
    return points


def store_point(
    listing: stores.StoreListing,
    snap: stores.StoreSnapshot,
    account_match: AccountMatch,
    found_in: Place | str = "",
) -> RestorePoint:
    header = snap.info.header
    return RestorePoint(
        listing.folder,
        PointKind.of_archive(BackupKind(header.kind)),
        created=header.created,
        size=header.size,
        protection=listing.protection,
        recovery_code=listing.recovery_code,
        account_key_ids=list(listing.account_key_ids),
        account_match=account_match,
        categories=list(header.categories),
        found_in=found_in,
        snapshot_id=snap.snapshot_id,
        short_id=snap.short_id,
        added=header.added,
    )


def identify_store(
    ref: stores.StoreRef,
    account_key_id: str | None,
    found_in: Place | str = Place.ARGUMENT,
) -> RestorePoint:
    """The point a store reference names (UsageError for an unknown or ambiguous id, or a
    store named without a snapshot). An unreadable store or snapshot header: an
    unreadable point."""
    listing = stores.list_store(ref.folder)
    if listing.error:
        return RestorePoint(
            ref.folder, PointKind.UNREADABLE, found_in=found_in, error=listing.error
        )
    snapshot_id = stores.resolve(ref, listing)
    for snap in listing.snapshots:
        if snap.snapshot_id == snapshot_id:
            match = _match(listing.account_key_ids, account_key_id)
            return store_point(listing, snap, match, found_in)
    why = dict(listing.unreadable).get(snapshot_id, _("its header cannot be read"))
    return RestorePoint(
        ref.folder,
        PointKind.UNREADABLE,
        found_in=found_in,
        error=why,
        protection=listing.protection,
        recovery_code=listing.recovery_code,
        account_key_ids=list(listing.account_key_ids),
        snapshot_id=snapshot_id,
        short_id=snapshot_id[:8],
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


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _stamp_time(name: str) -> datetime | None:
    m = _STAMP_RE.search(name)
    if not m:
        return None
    try:
        return datetime.strptime(m.group(1), STAMP_FORMAT).astimezone()
    except ValueError:
        return None


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
