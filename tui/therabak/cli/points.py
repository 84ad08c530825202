"""``therabak list``: every restore point therabak can find (headers only, fast)."""

from __future__ import annotations

import argparse
from pathlib import Path

from therabak.cli.common import (
    Output,
    add_json_option,
    add_practice_options,
    load_account,
    load_rules,
    practice_paths,
)
from therabak.errors import ExitCode
from therabak.i18n import N_, _, ngettext
from therabak.settings import Settings

ACCOUNT_TEXT = {"yes": N_("this account"), "no": N_("OTHER account"), "unknown": ""}
KIND_TEXT = {
    "manual": N_("manual"),
    "automatic": N_("automatic"),
    "folder": N_("folder"),
    "before-restore": N_("before-restore"),
    "unreadable": N_("UNREADABLE"),
}
PROTECTION_TEXT = {
    "password": N_("password"),
    "account": N_("account key"),
    "none": N_("none"),
    "recovery": N_("recovery code"),
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "list",
        help=_("list the restore points (backups) therabak can find"),
        description=_(
            "List the backups in the remembered destinations, the automatic-backup "
            "folder, mounted removable media, folders given with --in and the "
            "Data.before-restore-* folders earlier restores left. Each folder is searched one "
            "level deep, plus subfolders named therabak, therapsy, backup(s), "
            "datensicherung(en) or sicherung(en). Every backup in a backup store "
            "(TheraPsy-Backups) is a restore point of its own, named STORE@ID on the "
            "command line. Reads only the public headers."
        ),
    )
    p.add_argument(
        "--in",
        dest="folders",
        action="append",
        default=[],
        metavar="PLACE",
        help=_(
            "also search this folder, or the backup store at this off-site URL or "
            "destination (its name) (repeatable)"
        ),
    )
    p.add_argument(
        "--no-media", action="store_true", help=_("do not search mounted removable media")
    )
    add_practice_options(p)
    add_json_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: Output) -> int:
    from therabak import formatting
    from therabak.points.discovery import list_points, search_places
    from therabak.points.point import PointKind

    paths = practice_paths(args)
    settings = Settings.load()
    rules = load_rules()
    account = load_account(paths, out, required=False)
    places = search_places(
        remembered=settings.remembered_destinations,
        auto_folder=settings.auto_folder(paths.data_dir),
        given=args.folders,
        media=not args.no_media,
        searched=settings.searched_folders,
    )
    for place in places:
        if place.source == "given" and isinstance(place.folder, Path) and not place.folder.is_dir():
            f = place.folder
            out.note("therabak: " + _("warning: not a folder: {path}").format(path=f))
    listing = list_points(
        data_dir=paths.data_dir, account_key_id=account.id_hex if account else None, places=places
    )
    if out.json_mode:
        out.document(listing.to_dict(rules))
        return ExitCode.OK
    if not listing.points:
        out.text(_("No restore points found."))
        searched = [str(s.folder) for s in listing.places if s.available]
        if searched:
            out.text(_("Searched: {places}").format(places=", ".join(searched)))
        out.text(_("Give a folder with --in DIR to search it too."))
        return ExitCode.OK
    n = len(listing.points)
    out.text(
        ngettext("{n} restore point, newest first:", "{n} restore points, newest first:", n).format(
            n=n
        )
    )
    for point in listing.points:
        d = point.to_dict(rules)
        when = d["created_local"] or _("time unknown")
        age = f"({d['age']})" if d["age"] else ""
        size = formatting.size(point.size) if point.size is not None else ""
        if point.volumes > 1:
            size = _("{size} in {n} volumes").format(size=size, n=point.volumes)
        if point.added is not None:
            size = _("{size} ({added} new)").format(size=size, added=formatting.size(point.added))
        kind = _(KIND_TEXT[point.kind]) if point.kind in KIND_TEXT else point.kind
        protection = point.protection
        if protection in PROTECTION_TEXT:
            protection = _(PROTECTION_TEXT[protection])
        if point.recovery_code:
            protection = _("{protection} + recovery code").format(protection=protection)
        account_text = ACCOUNT_TEXT.get(point.account_match, "")
        account_text = _(account_text) if account_text else ""
        facts = "  ".join(x for x in (kind, protection, account_text, size) if x)
        out.text(f"\n  {when} {age:<18} {facts}")
        out.text(f"    {point.short_ref}")
        if point.kind == PointKind.UNREADABLE:
            out.text("    " + _("cannot be read: {error}").format(error=point.error))
        elif point.incomplete:
            out.text("    " + _("INCOMPLETE: {problem}").format(problem=point.incomplete))
        elif d.get("summary"):
            out.text(f"    {d['summary']}")
    return ExitCode.OK
