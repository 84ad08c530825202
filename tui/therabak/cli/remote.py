"""``therabak remote login|logout|test|trust URL``: credentials and host keys of an
off-site destination (README, "Off-site destinations")."""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from therabak.cli.common import Output, add_json_option
from therabak.errors import ExitCode, UsageError
from therabak.i18n import _


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "remote",
        help=_("credentials and host keys of off-site destinations (S3, SFTP, WebDAV)"),
        description=_(
            "Store or forget the credentials of an off-site destination, test it, or trust "
            "an SSH server's host key. Credentials go to the computer's credential store, "
            "never on the command line."
        ),
    )
    remote = p.add_subparsers(dest="remote_command", metavar=_("ACTION"))
    remote.required = True

    login = remote.add_parser(
        "login",
        help=_("store the password or access key of a destination"),
        description=_(
            "Store the credentials of URL in the computer's credential store (Windows "
            "Credential Manager, macOS Keychain, Secret Service), or with --store file in "
            "a file readable only by you. SFTP and WebDAV: a password (for WebDAV, e.g. a "
            "Nextcloud app password). S3: the access key id and the secret access key. "
            "Asked for on a terminal (hidden); or from standard input (--stdin: one line, "
            "for S3 two: key id, then secret); or from the environment (--env: "
            "THERABAK_REMOTE_PASSWORD; for S3 AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)."
        ),
    )
    login.add_argument("url", metavar="URL")
    source = login.add_mutually_exclusive_group()
    source.add_argument("--stdin", action="store_true", help=_("read it from standard input"))
    source.add_argument("--env", action="store_true", help=_("read it from the environment"))
    login.add_argument(
        "--store",
        choices=["keyring", "file"],
        default="keyring",
        help=_(
            "where to keep it: the credential store (default) or a file readable only by "
            "you (for a computer without a credential store; see README)"
        ),
    )
    add_json_option(login)
    login.set_defaults(func=run_login)

    logout = remote.add_parser(
        "logout",
        help=_("forget the stored credentials of a destination"),
        description=_("Remove the credentials of URL from the credential store and the file."),
    )
    logout.add_argument("url", metavar="URL")
    add_json_option(logout)
    logout.set_defaults(func=run_logout)

    test = remote.add_parser(
        "test",
        help=_("write, read, list and delete a small test object"),
        description=_(
            "Test a destination: write a small object, read it back, list it and delete "
            "it. Says in one line which step failed and why (exit code of the cause)."
        ),
    )
    test.add_argument("url", metavar="URL")
    test.add_argument(
        "--limit-upload",
        metavar="RATE",
        help=_("at most RATE bytes per second when uploading (e.g. 2M, 500k)"),
    )
    add_json_option(test)
    test.set_defaults(func=run_test)

    trust = remote.add_parser(
        "trust",
        help=_("trust the host key of an SSH server"),
        description=_(
            "Show the host key an SSH server presents and, once you confirm it (or it "
            "matches --fingerprint), keep it in therabak's known_hosts. A key that differs "
            "from a known one is never replaced here."
        ),
    )
    trust.add_argument("url", metavar="URL")
    trust.add_argument(
        "--fingerprint",
        metavar="SHA256:…",
        help=_("trust the key only if it has this fingerprint (no question asked)"),
    )
    add_json_option(trust)
    trust.set_defaults(func=run_trust)


def _remote_destination(url: str):
    """The destination *url* names: a URL, or the name of a destination in the settings."""
    from therabak.destinations import resolve

    dest = resolve(url)
    if not dest.is_remote:
        raise UsageError(
            _(
                "{url} is a local folder; remote commands take s3://, sftp://, webdav(s):// URLs"
            ).format(url=url)
        )
    return dest


def _remote_location(url: str):
    return _remote_destination(url).location


def _strip(line: str) -> str:
    return line.rstrip("\r\n")


def run_login(args: argparse.Namespace, out: Output) -> int:
    from therabak.settings import Settings
    from therabak.storage.credentials import (
        PASSWORD_ENV,
        S3_KEY_ID_ENV,
        S3_SECRET_ENV,
        Credential,
        CredentialPlace,
        CredentialStore,
    )
    from therabak.storage.url import S3Endpoint, StorageKind

    location = _remote_location(args.url)
    s3 = location.kind is StorageKind.S3
    if location.kind is StorageKind.WEBDAV and not location.user:
        raise UsageError(
            _("A WebDAV login needs the user name in the URL: webdavs://USER@HOST/PATH")
        )
    if args.stdin:
        key_id = _strip(sys.stdin.readline()) if s3 else None
        secret = _strip(sys.stdin.readline())
    elif args.env:
        names = (S3_KEY_ID_ENV, S3_SECRET_ENV) if s3 else (None, PASSWORD_ENV)
        missing = [n for n in names if n and not os.environ.get(n)]
        if missing:
            raise UsageError(
                _("Environment variable {name} is not set.").format(name=", ".join(missing))
            )
        key_id = os.environ[names[0]] if names[0] else None
        secret = os.environ[names[1]]
    else:
        if not (sys.stdin.isatty() and sys.stderr.isatty()):
            raise UsageError(
                _("No terminal to ask on: use --stdin or --env (never the command line).")
            )
        try:
            key_id = getpass.getpass(_("Access key id: ")) if s3 else None
            secret = getpass.getpass(_("Secret access key: ") if s3 else _("Password: "))
        except EOFError:
            raise UsageError(_("Nothing entered.")) from None
    if not secret or (s3 and not key_id):
        raise UsageError(_("Nothing entered."))
    endpoint = S3Endpoint.resolve(Settings.load()) if s3 else None
    store = CredentialStore()
    where = store.store(
        location.credential_id(endpoint), Credential(secret, key_id), CredentialPlace(args.store)
    )
    if out.json_mode:
        out.document({"url": str(location), "stored": True, "store": args.store, "where": where})
    else:
        out.text(_("Stored for {url} in {where}.").format(url=location, where=where))
        out.text("  " + _("Check it with: therabak remote test {url}").format(url=location))
    return int(ExitCode.OK)


def run_logout(args: argparse.Namespace, out: Output) -> int:
    from therabak.settings import Settings
    from therabak.storage.credentials import CredentialStore
    from therabak.storage.url import S3Endpoint, StorageKind

    location = _remote_location(args.url)
    endpoint = S3Endpoint.resolve(Settings.load()) if location.kind is StorageKind.S3 else None
    removed = CredentialStore().forget(location.credential_id(endpoint))
    if out.json_mode:
        out.document({"url": str(location), "removed_from": removed})
    elif removed:
        out.text(
            _("Forgot the credentials of {url} ({where}).").format(
                url=location, where=", ".join(removed)
            )
        )
    else:
        out.text(_("No credentials were stored for {url}.").format(url=location))
    return int(ExitCode.OK)


def run_test(args: argparse.Namespace, out: Output) -> int:
    from therabak.destinations import test_connection

    dest = _remote_destination(args.url)
    location = dest.location
    result = test_connection(dest, limit_upload=parse_limit_upload(args.limit_upload))
    if out.json_mode:
        out.document(result.to_dict())
    else:
        out.text(
            _("OK: {url} (wrote, read, listed and deleted a test object in {seconds} s)").format(
                url=location, seconds=f"{result.seconds:.1f}"
            )
        )
    return int(ExitCode.OK)


def run_trust(args: argparse.Namespace, out: Output) -> int:
    from therabak.storage.base import HostKeyChangedError, HostKeyError
    from therabak.storage.hostkeys import KeyState, fingerprint, host_entry_name, key_state, trust
    from therabak.storage.url import StorageKind, open_storage

    location = _remote_location(args.url)
    if location.kind is not StorageKind.SFTP:
        raise UsageError(_("Only SSH servers (sftp://) have host keys."))
    storage = open_storage(location)
    try:
        key = storage.server_key()
    finally:
        storage.close()
    name = host_entry_name(location.host, location.port)
    fp = fingerprint(key)
    state = key_state(location.host, location.port, key, storage.known_hosts)
    details = {"host": name, "key_type": key.get_name(), "fingerprint": fp}
    if state is KeyState.CHANGED:
        raise HostKeyChangedError(
            _(
                "WARNING: {host} now presents another {kind} key ({fingerprint}) than the one "
                "known for it. therabak does not replace it. Only if the server's owner "
                "confirms the new key: remove the old line from the known_hosts file, then "
                "trust it again."
            ).format(host=name, kind=key.get_name(), fingerprint=fp),
            host=location.host,
            port=location.port,
            key_type=key.get_name(),
            fingerprint=fp,
            key=key,
        )
    if state is KeyState.KNOWN:
        if out.json_mode:
            out.document({**details, "trusted": True, "new": False})
        else:
            out.text(
                _("{host} is known already ({kind} {fingerprint}).").format(
                    host=name, kind=key.get_name(), fingerprint=fp
                )
            )
        return int(ExitCode.OK)
    if args.fingerprint:
        if args.fingerprint.strip() != fp:
            raise HostKeyError(
                _("{host} presents the key {fingerprint}, not {expected}: not trusted").format(
                    host=name, fingerprint=fp, expected=args.fingerprint.strip()
                ),
                host=location.host,
                port=location.port,
                key_type=key.get_name(),
                fingerprint=fp,
                key=key,
            )
    else:
        if not (sys.stdin.isatty() and sys.stderr.isatty()):
            raise UsageError(
                _(
                    "{host} presents the host key {kind} {fingerprint}; no terminal to ask on: "
                    "give --fingerprint after comparing it with what the server's owner says"
                ).format(host=name, kind=key.get_name(), fingerprint=fp)
            )
        sys.stderr.write(
            _("{host} presents the host key {kind} {fingerprint}.").format(
                host=name, kind=key.get_name(), fingerprint=fp
            )
            + "\n"
        )
        answer = input(_("Is this the key the server's owner gave you? Trust it? [y/N] "))
        if answer.strip().lower() not in ("y", "yes", "j", "ja"):
            out.text(_("Not trusted; nothing was changed."))
            return int(ExitCode.HOST_KEY)
    path = trust(location.host, location.port, key, storage.known_hosts)
    if out.json_mode:
        out.document({**details, "trusted": True, "new": True, "file": str(path)})
    else:
        out.text(
            _("Trusted {host} ({kind} {fingerprint}), kept in {path}.").format(
                host=name, kind=key.get_name(), fingerprint=fp, path=path
            )
        )
    return int(ExitCode.OK)


def parse_limit_upload(text: str | None) -> int | None:
    """``--limit-upload RATE`` in bytes per second (None: the destination's own)."""
    from therabak.settings import parse_rate

    if text is None:
        return None
    try:
        rate = parse_rate(text)
    except ValueError as e:
        raise UsageError(_("--limit-upload: {problem}").format(problem=str(e))) from None
    if rate is None:
        raise UsageError(_("--limit-upload: {problem}").format(problem=_("no rate given")))
    return rate
