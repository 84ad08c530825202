"""A restore point: what it is (``RestorePoint``, its kind, where it was found, whether it
belongs to this computer's account) and reading one archive or folder backup as a point
from its public header or its manifest's first line (a file that is damaged or not ours
is an *unreadable* point, never an error). Store snapshots as points:
:mod:`therabak.points.store_points`; finding points: :mod:`therabak.points.discovery`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from therabak.archive.header import ArchiveHeader, parse_header, read_header_size
from therabak.archive.volumes import describe_set, first_volume, joined
from therabak.datafolder.manifest import MANIFEST_NAME, read_manifest_header
from therabak.datafolder.names import FOLDER_PREFIX, STAMP_FORMAT
from therabak.errors import DamagedArchiveError
from therabak.fsutil import open_regular
from therabak.i18n import _
from therabak.points import stores
from therabak.points.kind import PointKind
from therabak.practice.categories import Rules


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


def match_account(ids: list[str], account_key_id: str | None) -> AccountMatch:
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
        account_match=match_account(ids, account_key_id),
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
        account_match=match_account(ids, account_key_id),
        files=manifest.files,
        found_in=found_in,
    )


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
