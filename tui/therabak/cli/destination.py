"""``therabak destination list|add|remove``: the named places backups go to (README,
"Destinations")."""

from __future__ import annotations

import argparse

from therabak.cli.common import Output, add_json_option
from therabak.errors import ExitCode
from therabak.i18n import _


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "destination",
        help=_("the named places backups go to: a USB stick, an off-site storage"),
        description=_(
            "List, add or remove the destinations the settings file names: a local folder "
            "(a USB stick) or an off-site URL (s3://, sftp://, webdav(s)://). Their "
            "credentials go to the credential store (therabak remote login), never into "
            "the settings file."
        ),
    )
    dest = p.add_subparsers(dest="destination_command", metavar=_("ACTION"))
    dest.required = True

    ls = dest.add_parser(
        "list",
        help=_("the destinations and whether their credentials are stored"),
        description=_("List the named destinations."),
    )
    add_json_option(ls)
    ls.set_defaults(func=run_list)

    add = dest.add_parser(
        "add",
        help=_("name a new destination"),
        description=_(
            "Name a new destination: NAME (as backup --dest and the app show it) and WHERE, "
            "a folder or a URL without a password."
        ),
    )
    add.add_argument("name", metavar="NAME")
    add.add_argument("where", metavar="WHERE")
    add.add_argument(
        "--limit-upload",
        metavar="RATE",
        default="",
        help=_(
            "at most RATE bytes per second when uploading to it (e.g. 2M, 500k; off-site "
            "destinations only)"
        ),
    )
    add_json_option(add)
    add.set_defaults(func=run_add)

    rm = dest.add_parser(
        "remove",
        help=_("forget a destination (its backups stay where they are)"),
        description=_(
            "Remove a destination from the settings file and forget its stored credentials "
            "(unless --keep-credentials or another destination uses them). Its backups stay "
            "where they are."
        ),
    )
    rm.add_argument("name", metavar="NAME")
    rm.add_argument(
        "--keep-credentials", action="store_true", help=_("keep its stored credentials")
    )
    add_json_option(rm)
    rm.set_defaults(func=run_remove)


def run_list(args: argparse.Namespace, out: Output) -> int:
    from therabak import destinations as dests
    from therabak.settings import Settings

    settings = Settings.load()
    rows = []
    for d in dests.destinations(settings):
        place = dests.stored_credentials(d, settings)
        rows.append((d, place))
    if out.json_mode:
        out.document(
            {
                "destinations": [
                    {**d.to_dict(), "credentials": str(place) if place else None}
                    for d, place in rows
                ]
            }
        )
        return int(ExitCode.OK)
    if not rows:
        out.text(_("No destination is named yet: therabak destination add NAME WHERE"))
    for d, place in rows:
        kind = _("off-site") if d.is_remote else _("local")
        extra = ""
        if d.limit_upload:
            from therabak import formatting

            extra = "  " + _("upload limit {rate}").format(rate=formatting.rate(d.limit_upload))
        out.text(f"{d.name}  ({kind})  {d.where}{extra}")
        if d.is_remote:
            out.text("    " + credentials_text(d, place))
    return int(ExitCode.OK)


def run_add(args: argparse.Namespace, out: Output) -> int:
    from therabak import destinations as dests
    from therabak.settings import Settings

    settings = Settings.load()
    dest = dests.add(settings, args.name, args.where, args.limit_upload)
    settings.save()
    if out.json_mode:
        out.document({"added": dest.to_dict()})
        return int(ExitCode.OK)
    out.text(_("Added the destination {name}: {where}").format(name=dest.name, where=dest.where))
    if dest.is_remote:
        out.text(
            "  "
            + _("Store its credentials with: therabak remote login {name}").format(
                name=_quoted(dest.name)
            )
        )
        out.text(
            "  " + _("Test it with: therabak remote test {name}").format(name=_quoted(dest.name))
        )
    return int(ExitCode.OK)


def run_remove(args: argparse.Namespace, out: Output) -> int:
    from therabak import destinations as dests
    from therabak.settings import Settings

    settings = Settings.load()
    dest = dests.remove(settings, args.name, forget_credentials=not args.keep_credentials)
    settings.save()
    if out.json_mode:
        out.document({"removed": dest.to_dict()})
        return int(ExitCode.OK)
    out.text(
        _("Removed the destination {name} ({where}); its backups stay there.").format(
            name=dest.name, where=dest.where
        )
    )
    return int(ExitCode.OK)


def _quoted(name: str) -> str:
    return f'"{name}"' if any(c.isspace() for c in name) else name


def credentials_text(dest, place) -> str:
    """Where the credentials of *dest* are, in a few words."""
    from therabak.storage.url import StorageKind

    if place is None:
        if dest.location.kind is StorageKind.SFTP:
            return _("no password stored (the SSH keys of this computer are tried)")
        return _("no credentials stored")
    return {
        "environment": _("credentials from the environment"),
        "keyring": _("credentials in the credential store"),
        "file": _("credentials in the credentials file"),
    }[str(place)]
