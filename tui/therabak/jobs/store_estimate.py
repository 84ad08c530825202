"""What a backup into a destination would write, before it starts (nothing changes)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from therabak.archive.writer import Protection
from therabak.fsutil import followed_root
from therabak.jobs.backup_scan import scan_for_backup
from therabak.jobs.store_open import open_existing, open_target
from therabak.jobs.store_plan import plan_reuse
from therabak.jobs.store_request import StoreBackupRequest
from therabak.practice.account import AccountKey
from therabak.practice.categories import BackupKind, Rules
from therabak.store.index import BlobIndex


@dataclass
class Estimate:
    """What a backup into a destination would write, before it starts (the app shows it
    after the destination and the password: "writes 120 MB of 2.0 GB")."""

    store: str  # the store's place: a path, or a URL without credentials
    exists: bool  # the destination holds a store already
    bytes_total: int
    bytes_new: int
    files_total: int
    files_reused: int
    recovery_code: bool  # the store has a recovery code (False for a new one)


def estimate_backup(
    dest: str | Path,
    *,
    data_dir: Path,
    account: AccountKey,
    rules: Rules,
    selection: frozenset[str],
    protection: Protection,
) -> Estimate:
    """Open the store in *dest* (a folder, a URL or a destination's name; if there is a
    store: a wrong password raises exit 4's error, a store locked otherwise than
    *protection* says exit 2's), scan Data and compare with the newest backup of this
    practice there. Changes nothing (off-site: reads the store's snapshots and index)."""
    data_dir = followed_root(Path(data_dir))
    req = StoreBackupRequest(
        data_dir=data_dir,
        account=account,
        dest=str(dest),
        rules=rules,
        selection=selection,
        protection=protection,
    )
    target = open_target(req, prepare=False)
    try:
        store = open_existing(target, req)
        found = scan_for_backup(data_dir, rules, selection, target.dest)
        if store is None:
            plan = plan_reuse(found.files, None, BlobIndex())
        else:
            parent = store.latest(kind=str(BackupKind.MANUAL), account_key_id=account.id_hex)
            plan = plan_reuse(found.files, parent, store.index())
        return Estimate(
            store=target.place,
            exists=store is not None,
            bytes_total=plan.bytes_total,
            bytes_new=plan.bytes_new,
            files_total=plan.files_total,
            files_reused=len(plan.reused),
            recovery_code=store is not None and store.has_recovery_code,
        )
    finally:
        target.close()


__all__ = ["Estimate", "estimate_backup"]
