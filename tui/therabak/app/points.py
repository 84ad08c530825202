"""Restore points for the restore and verify screens: the engine's listing, contents and
restore plan, called the way the CLI calls them (no Textual here).

The slow parts (unlocking with a password runs Argon2id; a plan reads the index and
scans the data folder) are called from the screens' thread workers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from therabak.app.context import AppContext
from therabak.errors import Remedy
from therabak.i18n import N_, _
from therabak.jobs.restore import RestorePlan, RestoreRequest, plan_restore
from therabak.points.contents import PointContents, open_contents
from therabak.points.discovery import PointListing, SearchPlace, list_points, search_places
from therabak.points.point import RestorePoint
from therabak.practice.account import AccountKey
from therabak.practice.categories import Rules
from therabak.settings import Settings

if TYPE_CHECKING:
    from therabak.crypto.recovery import RecoveryCode

PROTECTION_LABELS = {
    "password": N_("password"),
    "account": N_("account key"),
    "none": N_("NONE"),
}
ACCOUNT_LABELS = {"yes": N_("this"), "no": N_("OTHER"), "unknown": N_("any")}


def protection_label(point: RestorePoint) -> str:
    return _(PROTECTION_LABELS.get(point.protection, point.protection or "-"))


def account_label(point: RestorePoint) -> str:
    if not point.readable:
        return ""
    if point.account_match == "unknown" and point.protection != "password":
        return "?"
    return _(ACCOUNT_LABELS.get(point.account_match, point.account_match))


def load_account(ctx: AppContext) -> AccountKey | None:
    """This computer's account key, or None when there is none (a new computer)."""
    from therabak.errors import AccountKeyError

    try:
        return AccountKey.load(ctx.paths.account_key)
    except AccountKeyError:
        return None


def find_points(ctx: AppContext, extra: list[Path] | None = None) -> PointListing:
    """Every restore point in the usual places (as ``therabak list``) and in *extra*."""
    try:
        settings = Settings.load()
    except Exception:  # noqa: BLE001 - a broken settings file must not hide the backups
        settings = Settings()
    places = search_places(
        remembered=settings.remembered_destinations,
        auto_folder=settings.auto_folder(ctx.paths.data_dir),
        given=[str(p) for p in extra or []],
        media=False,
        searched=settings.searched_folders,
    )
    places += [SearchPlace(Path(m), "media") for m in ctx.removable_media()]
    account = load_account(ctx)
    return list_points(
        data_dir=ctx.paths.data_dir,
        account_key_id=account.id_hex if account else None,
        places=places,
    )


def rules_for_details(loaded: Rules | None) -> Rules | None:
    """The category rules a point's details name categories with: the app's, else the
    user's rules file; None when it cannot be read (the details then show category ids)."""
    from therabak.settings import user_rules_file

    try:
        return loaded or Rules.load(user_rules_file())
    except Exception:  # noqa: BLE001 - details without names are still details
        return None


def needs_password(point: RestorePoint) -> bool:
    """Must the user type the backup's password to open it on this computer?"""
    return point.readable and point.protection == "password" and point.account_match != "yes"


def point_title(point: RestorePoint) -> str:
    """A point's name for a title ("Unlock …", "Restore …"): its file or folder name; a
    backup in a store by the store's folder and its time (ids mean nothing to people)."""
    if point.is_store and point.created is not None:
        from therabak import formatting

        return f"{Path(point.path).name}, {formatting.local_time(point.created)}"
    return Path(point.path).name


def contents(
    ctx: AppContext,
    point: RestorePoint,
    rules: Rules,
    password: str | None = None,
    *,
    recovery_code: RecoveryCode | None = None,
    salvage: bool = False,
) -> PointContents:
    """What the point holds, by category, opened with *password* or *recovery_code*
    (raises WrongPasswordError, WrongRecoveryCodeError, NoRecoveryCodeError,
    CannotUnlockError, DamagedArchiveError). With *salvage* (the restore screen) a
    damaged index does not stop it: the intact entries are listed by reading the whole
    backup (``index_damage`` says so) and only a salvage restore is offered. A backup in
    a store: the file list of its snapshot."""
    return open_contents(
        point.ref,
        rules=rules,
        account=load_account(ctx),
        password=password,
        recovery_code=recovery_code,
        data_dir=ctx.paths.data_dir,
        salvage=salvage,
    )


@dataclass
class RestoreChoice:
    """What the user chose on the restore screen."""

    point: RestorePoint
    password: str | None = field(repr=False)
    include: list[str] | None = None  # leaf ids; None: everything the point holds
    target: Path | None = None  # another folder; None: replace the current data
    salvage: bool = False  # a damaged backup: restore every intact file, list the others
    # the backup's recovery code, when it was opened with it instead of the password
    recovery_code: RecoveryCode | None = field(default=None, repr=False)
    # the name the plan gave the folder the current data is kept in (the job makes it)
    keep_old_name: str | None = None


def restore_request(ctx: AppContext, choice: RestoreChoice, rules: Rules) -> RestoreRequest:
    """The restore the user chose, as the engine takes it: planned here
    (:func:`plan`), run as a job with its ``to_argv()``."""
    return RestoreRequest(
        point=choice.point.ref,
        data_dir=ctx.paths.data_dir,
        account_key_path=ctx.paths.account_key,
        rules=rules,
        password=choice.password,
        recovery_code=choice.recovery_code,
        include=choice.include,
        target=choice.target,
        salvage=choice.salvage,
        before_restore_name=choice.keep_old_name,
    )


def plan(ctx: AppContext, choice: RestoreChoice, rules: Rules) -> RestorePlan:
    """The engine's restore plan: what is replaced, what is kept, where the old data goes.

    Raises the engine's refusals (TherabakError with its exit code)."""
    return plan_restore(restore_request(ctx, choice, rules))


SALVAGE_OPTION = N_("If the backup is damaged: restore every intact file")


def salvage_advice(remedy: str | None, hint: str | None) -> str | None:
    """The app's words for an error whose remedy is a salvage restore (the CLI's hint
    says ``--salvage``): tick the restore screen's option instead. Other hints are kept."""
    if remedy == Remedy.SALVAGE:
        return _(
            "To restore every intact file, tick “{option}” on the restore screen and go on; "
            "the damaged files are listed."
        ).format(option=_(SALVAGE_OPTION))
    return hint


def remember_searched(folder: Path) -> None:
    """Search *folder* again next time (the settings' searched folders)."""
    from therabak.errors import TherabakError

    try:
        settings = Settings.load()
        if settings.remember_searched(folder):
            settings.save()
    except (TherabakError, OSError):
        pass  # not remembered: this search still finds what is there


def where_label(ctx: AppContext, point: RestorePoint) -> str:
    """Where a point is, for the list: the folder holding it (``~`` for home); off-site,
    the destination's name (else the store's URL)."""
    from therabak.storage.url import is_url

    if isinstance(point.path, str) and is_url(point.path):
        return off_site_label(point.path)
    return ctx.display_path(Path(point.path).parent)


def off_site_label(url: str) -> str:
    """The name of the destination whose store is at *url*, else the URL."""
    from therabak import destinations

    try:
        settings = Settings.load()
    except Exception:  # noqa: BLE001 - a broken settings file: the URL says where
        return url
    for dest in destinations.destinations(settings):
        if dest.is_remote and url.rstrip("/").startswith(dest.where.rstrip("/")):
            return dest.name
    return url


@dataclass
class OffSitePoints:
    """The restore points of one off-site destination, or why it could not be asked."""

    name: str
    points: list[RestorePoint] = field(default_factory=list)
    error: str = ""


def off_site_destinations() -> list:
    """The off-site destinations the settings name (none when they cannot be read)."""
    from therabak import destinations

    try:
        return [d for d in destinations.destinations(Settings.load()) if d.is_remote]
    except Exception:  # noqa: BLE001 - the settings screen says what is wrong
        return []


def find_off_site_points(ctx: AppContext, dest) -> OffSitePoints:
    """The restore points in the off-site destination *dest* (network: call it from a
    worker). Whatever goes wrong (no connection, credentials, an unknown host key) is
    the result's one-line error, never raised."""
    from therabak.points.point import Place

    account = load_account(ctx)
    try:
        listing = list_points(
            data_dir=None,
            account_key_id=account.id_hex if account else None,
            places=[SearchPlace(dest.where, Place.REMEMBERED)],
        )
    except Exception as e:  # noqa: BLE001 - said on the list's line, per destination
        words = getattr(e, "message", None) or getattr(e, "strerror", None) or str(e)
        return OffSitePoints(dest.name, error=str(words))
    return OffSitePoints(dest.name, listing.points)
