"""The snapshots of a backup store as restore points (from their public headers, no
password): every snapshot of a store, and the one a point reference ``STORE@ID`` names.
Finding a store and reading its listing: :mod:`therabak.points.stores`.
"""

from __future__ import annotations

from pathlib import Path

from therabak.i18n import _
from therabak.points import stores
from therabak.points.point import AccountMatch, Place, PointKind, RestorePoint, match_account
from therabak.practice.categories import BackupKind


def points_of_store(
    folder: Path | str, account_key_id: str | None, found_in: Place | str = ""
) -> list[RestorePoint]:
    """Every snapshot of the store in *folder*, from the public headers; one unreadable
    point for a store that cannot be read, and for each snapshot whose header cannot."""
    listing = stores.list_store(folder)
    if listing.error:
        return [RestorePoint(folder, PointKind.UNREADABLE, found_in=found_in, error=listing.error)]
    match = match_account(listing.account_key_ids, account_key_id)
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
            match = match_account(listing.account_key_ids, account_key_id)
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
