"""A local store backup (``therabak backup --dest DIR``) loads only what it uses: no remote
client library, no Textual, not the restore engine. Their imports are a good part of a
second backup's fixed cost (issue 16, README "Benchmarks"), so they stay in the functions
that need them."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import Practice, cli_env

# top-level packages a backup into a local folder has no use for
NOT_FOR_A_LOCAL_BACKUP = {
    "boto3",
    "botocore",
    "s3transfer",
    "paramiko",
    "webdav4",
    "httpx",
    "httpcore",
    "textual",
    "rich",
    "babel",
    "hypothesis",
}
# modules of therabak itself a store backup never runs: the restore engine, the point
# readers, the single-file archive's reader (a single-file backup's --verify uses it)
NOT_FOR_A_STORE_BACKUP = {
    "therabak.archive.reader",
    "therabak.archive.salvage",
    "therabak.jobs.restore",
    "therabak.points.discovery",
    "therabak.points.point",
    "therabak.points.stores",
    "therabak.app",
    "therabak.cli.restore",
    "therabak.cli.demo",
    "therabak.cli.schedule",
    # the single-file backup's writer and job (a store backup shares their key slots and
    # arguments through crypto/protection.py and jobs/backup_args.py)
    "therabak.archive.writer",
    "therabak.archive.volumes",
    "therabak.jobs.backup",
}
# loaded by the first backup (it reads every file), not by a second one with nothing new
NOT_FOR_A_BACKUP_WITH_NOTHING_TO_READ = {"ctypes"}

PROBE = """
import json, sys, therabak.cli
code = None
try:
    code = therabak.cli.main(sys.argv[1:])
finally:
    print("MODULES " + json.dumps({"code": code, "loaded": sorted(sys.modules)}),
          file=sys.stderr)
"""


def _backup_modules(practice: Practice, dest: Path) -> tuple[dict, set[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, "backup", "--dest", str(dest)]
        + ["--data-dir", str(practice.data_dir), "--password-stdin", "--json"],
        env=cli_env(),
        input="imports-probe-pw\n",
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stderr.splitlines() if x.startswith("MODULES "))
    probe = json.loads(line.removeprefix("MODULES "))
    return json.loads(proc.stdout.splitlines()[-1]), set(probe["loaded"])


def _under(loaded: set[str], names: set[str]) -> list[str]:
    return sorted(m for m in loaded if any(m == n or m.startswith(n + ".") for n in names))


def test_a_local_store_backup_imports_no_remote_client_ui_or_restore_code(
    practice: Practice, tmp_path: Path
) -> None:
    # the libraries are installed: the test would see them if the backup imported them
    for name in ("botocore", "paramiko", "webdav4", "httpx", "textual"):
        assert importlib.util.find_spec(name) is not None, name
    dest = tmp_path / "dest"
    dest.mkdir()
    for run in ("first", "second"):
        summary, loaded = _backup_modules(practice, dest)
        assert summary["files_read"] + summary["files_reused"] > 0, run
        # what a store backup does need was loaded: the probe saw a real backup
        assert {"cryptography", "zstandard", "therabak.jobs.store_backup"} <= loaded, run
        assert _under(loaded, NOT_FOR_A_LOCAL_BACKUP) == [], run
        assert _under(loaded, NOT_FOR_A_STORE_BACKUP) == [], run
    assert summary["files_reused"] > 0 and summary["files_read"] == 0  # the second one
    assert _under(loaded, NOT_FOR_A_BACKUP_WITH_NOTHING_TO_READ) == []


def test_the_command_table_names_the_module_that_registers_each_command() -> None:
    """A command line naming a command builds its module's parser alone: the table must
    hold every command of the full parser with the module that registers it."""
    import argparse
    import importlib

    from therabak.cli import COMMAND_MODULE, COMMAND_MODULES

    registered: dict[str, str] = {}
    for name in COMMAND_MODULES:
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(name).register(sub)
        registered.update(dict.fromkeys(sub.choices, name))
    assert registered == COMMAND_MODULE


def test_a_named_command_parses_as_with_every_command() -> None:
    from therabak.cli import build_parser, command_named

    for command, argv in (
        ("backup", ["backup", "--dest", "D", "--password-stdin", "--json"]),
        ("backup", ["--lang", "de", "backup", "--dest", "D", "--no-password"]),
        ("restore", ["--lang=en", "restore", "STORE@latest", "--to", "T", "--yes"]),
        ("list", ["list", "--json"]),
        ("destination", ["destination", "list"]),
    ):
        assert command_named(argv) == command
        alone = build_parser(command)
        assert vars(alone.parse_args(argv)) == vars(build_parser().parse_args(argv))
        with pytest.raises(SystemExit):  # the others are not there
            alone.parse_args(["status"])
    # help and version show every command
    for argv in (["--help", "backup"], ["-h"], ["--version", "backup"], [], ["bogus"]):
        assert command_named(argv) in (None, "bogus")
