"""A request the app hands to a job is the request the job carries out (issue 15): each
request dataclass's ``to_argv()`` goes through the CLI's own parser and the CLI's own
request builder and comes back the same request (everything but its secrets, which a
job reads from standard input)."""

from __future__ import annotations

from pathlib import Path

import pytest

from therabak.archive.writer import Protection
from therabak.cli import build_parser
from therabak.cli.backup import backup_request
from therabak.cli.backup_practice import prepare
from therabak.cli.common import Output, load_rules, practice_paths
from therabak.cli.folder import folder_request
from therabak.cli.inspect import verify_request
from therabak.cli.restore import restore_request
from therabak.cli.store_backup import store_backup_request
from therabak.jobs.backup import BackupRequest
from therabak.jobs.folder import FolderBackupRequest
from therabak.jobs.restore import RestoreRequest
from therabak.jobs.store_backup import StoreBackupRequest
from therabak.jobs.verify import VerifyRequest
from therabak.practice.categories import BackupKind


def parsed(request) -> object:
    """The arguments the CLI parses from the request's command line."""
    argv = [request.operation, *request.to_argv(), "--json"]
    args = build_parser().parse_args(argv)
    assert args.func.__module__.startswith("therabak.cli.")
    return args


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"include": ["sessions", "profiles"], "salvage": True},
        {"target": "elsewhere", "force": True, "before_restore_name": "Data.before-restore-x"},
        {"include": "files"},
    ],
)
def test_a_restore_request_through_the_cli_parser(practice, tmp_path: Path, options) -> None:
    rules = load_rules()
    if "target" in options:
        options = {**options, "target": tmp_path / options["target"]}
    req = RestoreRequest(
        point=tmp_path / "TheraPsy-Backup-2026-01-01_100000.therabak",
        data_dir=practice.data_dir,
        account_key_path=practice.key_path,
        rules=rules,
        password="never in argv",
        **options,
    )
    assert "never in argv" not in " ".join(req.to_argv())
    args = parsed(req)
    assert args.yes  # the app confirmed the plan itself
    back = restore_request(args, practice_paths(args), rules)
    for name in ("point", "data_dir", "account_key_path", "target", "force", "salvage"):
        assert getattr(back, name) == getattr(req, name), name
    assert back.before_restore_name == req.before_restore_name
    chosen = rules.parse_ids(req.include) if req.include is not None else []
    assert rules.parse_ids(back.include) == chosen


@pytest.mark.parametrize(
    "options",
    [
        {"verify": True},
        {"unprotected": True, "volume_size": 700 << 20},
        {"include": {"export-templates.invoices"}, "exclude": {"audio"}},
    ],
)
def test_a_backup_request_through_the_cli_parser(practice, tmp_path: Path, options) -> None:
    rules = load_rules()
    selection = set(rules.default_selection(BackupKind.MANUAL))
    selection |= options.get("include", set())
    selection -= options.get("exclude", set())
    unprotected = options.get("unprotected", False)
    req = BackupRequest(
        data_dir=practice.data_dir,
        account=practice.key,
        dest_dir=tmp_path / "stick",
        rules=rules,
        selection=frozenset(selection),
        protection=Protection(password=None if unprotected else "secret", unprotected=unprotected),
        verify=options.get("verify", False),
        volume_size=options.get("volume_size"),
        account_key_path=practice.key_path,
    )
    assert "secret" not in " ".join(req.to_argv())
    args = parsed(req)
    assert args.no_password == unprotected
    back = backup_request(args, practice_paths(args), practice.key, rules, req.protection)
    for name in ("data_dir", "dest_dir", "account_key_path", "selection", "verify"):
        assert getattr(back, name) == getattr(req, name), name
    assert back.volume_size == req.volume_size
    assert args.single_file  # an archive: the request says so, or the CLI makes a store backup


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"verify": True, "reread": True},
        {"unprotected": True},
        {"include": {"export-templates.invoices"}, "exclude": {"audio"}},
        {"dest": "sftp://praxis@nas.example:2222/backups", "limit_upload": 65536},
        {"dest": "Nextcloud"},
    ],
)
def test_a_store_backup_request_through_the_cli_parser(practice, tmp_path: Path, options) -> None:
    rules = load_rules()
    selection = set(rules.default_selection(BackupKind.MANUAL))
    selection |= options.get("include", set())
    selection -= options.get("exclude", set())
    unprotected = options.get("unprotected", False)
    req = StoreBackupRequest(
        data_dir=practice.data_dir,
        account=practice.key,
        dest=options.get("dest", str(tmp_path / "stick")),  # passed on as given
        rules=rules,
        selection=frozenset(selection),
        protection=Protection(password=None if unprotected else "secret", unprotected=unprotected),
        verify=options.get("verify", False),
        reread=options.get("reread", False),
        account_key_path=practice.key_path,
        limit_upload=options.get("limit_upload"),
    )
    assert "secret" not in " ".join(req.to_argv())
    args = parsed(req)
    assert not args.single_file and args.no_password == unprotected
    back = store_backup_request(args, prepare(args, Output(json_mode=True)), req.protection)
    assert req.to_argv()[:2] == ["--dest", req.dest]
    for name in (
        "data_dir",
        "dest",
        "account_key_path",
        "selection",
        "verify",
        "reread",
        "limit_upload",
    ):
        assert getattr(back, name) == getattr(req, name), name


@pytest.mark.parametrize("verify", [True, False])
def test_a_folder_backup_request_through_the_cli_parser(practice, tmp_path, verify) -> None:
    rules = load_rules()
    req = FolderBackupRequest(
        data_dir=practice.data_dir,
        dest_dir=tmp_path / "stick",
        account_key_id=practice.key.id_hex,
        rules=rules,
        verify=verify,
        account_key_path=practice.key_path,
    )
    args = parsed(req)
    back = folder_request(args, practice_paths(args), practice.key.id_hex, rules)
    assert back == req


def test_a_verify_request_through_the_cli_parser(practice, tmp_path: Path) -> None:
    req = VerifyRequest(
        tmp_path / "TheraPsy-Backup-2026-01-01_100000.therabak",
        practice.data_dir,
        practice.key_path,
        password="never in argv",
    )
    assert "never in argv" not in " ".join(req.to_argv())
    back = verify_request(parsed(req))
    assert (back.archive, back.data_dir, back.account_key_path) == (
        req.archive,
        req.data_dir,
        req.account_key_path,
    )
