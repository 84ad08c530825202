"""``therabak backup / verify / diff / show`` end to end, in subprocesses, on the demo practice."""

from __future__ import annotations

import os
import re
import shutil
import stat
import tomllib
from pathlib import Path

import pytest

from archive_support import (
    archives_in,
    events_of,
    flip,
    json_lines,
    regions,
    the_summary,
)
from cli_support import PASSWORD, backup, one_archive, pw_args, single_line
from conftest import IS_WINDOWS, Practice, run_cli
from therabak.archive.reader import ArchiveReader
from therabak.archive.writer import Protection
from therabak.jobs.backup import BackupRequest, run_backup
from therabak.practice.account import AccountKey
from therabak.practice.categories import BackupKind, Rules
from therabak.practice.scan import scan

NAME_RE = re.compile(r"^TheraPsy-Backup-\d{4}-\d{2}-\d{2}_\d{6}(-\d+)?\.therabak$")


def selected_counts(p: Practice, kind=BackupKind.MANUAL) -> dict[str, int]:
    rules = Rules.load()
    files = scan(p.data_dir, rules).selected_files(rules.selection(kind))
    counts: dict[str, int] = {}
    for f in files:
        counts[f.category] = counts.get(f.category, 0) + 1
    return counts


# ---- the round trip ---------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["file", "env", "stdin"])
def test_demo_backup_verify_diff_show(practice, tmp_path, isolated_env, how):
    dest = tmp_path / "usb"
    opts, env, stdin = pw_args(tmp_path, how)
    r = backup(practice, dest, *opts, env=env, input=stdin)
    assert r.returncode == 0, r.stderr
    archive = one_archive(dest)
    assert NAME_RE.match(archive.name)
    if not IS_WINDOWS:
        assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert f"Backup written: {archive}" in r.stdout

    common = ["--data-dir", practice.data_dir]
    r = run_cli("verify", archive, *opts, *common, env=env, input=stdin)
    assert r.returncode == 0, r.stderr
    assert "intact" in r.stdout

    r = run_cli("diff", archive, *opts, *common, env=env, input=stdin)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Identical" in r.stdout

    # the public header needs no password, not even a prompt
    r = run_cli("show", archive, "--header-only")
    assert r.returncode == 0, r.stderr
    assert "Protection:  password" in r.stdout and "Kind:        manual" in r.stdout

    r = run_cli("show", archive, "--json", *opts, *common, env=env, input=stdin)
    assert r.returncode == 0, r.stderr
    import json

    doc = json.loads(r.stdout)
    expected = selected_counts(practice)
    assert {c: v["files"] for c, v in doc["categories"].items()} == expected
    assert doc["files"] == sum(expected.values())
    assert doc["header"]["protection"] == "password"
    assert doc["header"]["categories"] == sorted(Rules.load().selection(BackupKind.MANUAL))
    assert doc["account_key_id"] == practice.key.id_hex
    assert doc["raw"] == [] and doc["skipped"] == []

    r = run_cli("show", archive, *opts, *common, env=env, input=stdin)
    assert r.returncode == 0
    assert "Client profiles" in r.stdout and "Audio recordings" in r.stdout
    assert "Session templates" not in r.stdout  # not in a manual backup

    # remembered destination and history
    settings = tomllib.loads((isolated_env / "settings.toml").read_text("utf-8"))
    assert settings["destinations"]["remembered"] == [str(dest.absolute())]
    import json as _json

    history = [
        _json.loads(x)
        for x in (isolated_env / "state" / "history.jsonl").read_text("utf-8").splitlines()
    ]
    assert len(history) == 1
    assert history[0]["kind"] == "manual" and history[0]["path"] == str(archive)
    assert history[0]["files"] == sum(expected.values())
    assert history[0]["bytes"] == archive.stat().st_size


def test_show_without_a_password_shows_the_header(practice, tmp_path):
    dest = tmp_path / "usb"
    opts, env, stdin = pw_args(tmp_path)
    assert backup(practice, dest, *opts).returncode == 0
    r = run_cli("show", one_archive(dest))
    assert r.returncode == 0, r.stderr
    assert "Protection:  password" in r.stdout
    assert "password" in r.stderr.lower()  # tells how to see the contents
    r = run_cli("show", one_archive(dest), "--json")
    assert r.returncode == 0, r.stderr
    import json

    doc = json.loads(r.stdout)
    assert doc["header"]["protection"] == "password" and "categories" not in doc


def test_a_second_backup_gets_its_own_name(practice, tmp_path):
    dest = tmp_path / "usb"
    opts, _, _ = pw_args(tmp_path)
    assert backup(practice, dest, *opts).returncode == 0
    assert backup(practice, dest, *opts).returncode == 0
    names = [a.name for a in archives_in(dest)]
    assert len(names) == 2 and all(NAME_RE.match(n) for n in names)


def test_no_password_option_and_no_terminal_refuses(practice, tmp_path):
    dest = tmp_path / "usb"
    r = backup(practice, dest)
    assert r.returncode == 2
    assert "--no-password" in single_line(r.stderr)
    assert not dest.exists()


def test_no_password_is_loud_and_readable_by_anyone(practice, tmp_path):
    dest = tmp_path / "usb"
    r = backup(practice, dest, "--no-password")
    assert r.returncode == 0, r.stderr
    assert "WARNING" in r.stderr and "Without a password, ANYONE who gets" in r.stderr
    archive = one_archive(dest)
    r = run_cli("show", archive, "--header-only")
    assert "NONE (anyone can read it)" in r.stdout
    assert run_cli("verify", archive).returncode == 0
    assert run_cli("diff", archive, "--data-dir", practice.data_dir).returncode == 0


@pytest.mark.parametrize(
    "args, env, message",
    [
        (["--password-env", "NOT_SET"], {}, "not set"),
        (["--password-env", "EMPTY"], {"EMPTY": ""}, "empty"),
        (["--password-file", "/does/not/exist"], {}, "cannot be read"),
        (["--password-stdin", "--no-password"], {}, "not allowed with"),
    ],
)
def test_bad_password_options_are_usage_errors(practice, tmp_path, args, env, message):
    r = backup(practice, tmp_path / "usb", *args, env=env, input="")
    assert r.returncode == 2
    assert message in single_line(r.stderr)
    assert not (tmp_path / "usb").exists()


# ---- cannot unlock ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """One password backup of a demo practice, made by the CLI (copy it before damaging)."""
    from conftest import DEMO_SPEC
    from therabak.practice.demo import create_demo

    root = tmp_path_factory.mktemp("made")
    env = {
        "THERABAK_CONFIG": str(root / "settings.toml"),
        "THERABAK_STATE_DIR": str(root / "state"),
        "THERABAK_FAILPOINTS": None,
        "THERABAK_DATA_DIR": None,
        "THERABAK_ACCOUNT_KEY": None,
        "THERABAK_RULES": None,
    }
    demo = create_demo(root / "practice", DEMO_SPEC)
    pw = root / "pw.txt"
    pw.write_text(PASSWORD, encoding="utf-8")
    r = run_cli(
        "backup",
        "--single-file",
        "--dest",
        root / "usb",
        "--data-dir",
        demo.data_dir,
        "--password-file",
        pw,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    archive = one_archive(root / "usb")
    with ArchiveReader.open(archive) as reader:
        reader.unlock(password=PASSWORD)
        index = reader.read_index()
    return archive, pw, index, demo


@pytest.fixture
def copy(made, tmp_path):
    archive, pw, index, demo = made
    target = tmp_path / archive.name
    shutil.copyfile(archive, target)
    return target, pw, index, demo


@pytest.mark.parametrize("command", ["verify", "show", "diff"])
def test_wrong_password_exits_4_with_one_line(copy, tmp_path, command):
    archive, _, _, demo = copy
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("Korrekt Pferd Batterie Heftklammer 94 äöü", encoding="utf-8")
    r = run_cli(command, archive, "--password-file", wrong, "--data-dir", demo.data_dir)
    assert r.returncode == 4
    assert "Wrong password" in single_line(r.stderr)
    assert r.stdout == ""


def _verify(archive, pw, *extra):
    return run_cli("verify", archive, "--password-file", pw, "--json", *extra)


def test_flipped_byte_in_the_body_names_the_file(copy):
    archive, pw, index, _ = copy
    victim = index.entries[len(index.entries) // 2]
    flip(archive, victim.offset + victim.length - 20)
    r = _verify(archive, pw)
    assert r.returncode == 5
    lines = json_lines(r.stdout)
    assert [d["path"] for d in events_of(lines, "damaged")] == [victim.path]
    summary = the_summary(lines)
    assert summary["files_ok"] == len(index.entries) - 1 and summary["index_ok"] is True
    r = run_cli("verify", archive, "--password-file", pw)
    assert r.returncode == 5 and victim.path in r.stdout and "DAMAGED" in r.stdout


@pytest.mark.parametrize("where", ["fixed", "slot", "mac", "padding", "checksum"])
def test_flipped_byte_in_the_header(copy, where):
    archive, pw, _, _ = copy
    with ArchiveReader.open(archive) as reader:
        h = reader.header
    offset = {
        "fixed": 30,
        "slot": len(h.fixed) + 10,
        "mac": h.mac_offset + 3,
        "padding": h.mac_offset + 100,
        "checksum": h.header_size - 1,
    }[where]
    flip(archive, offset)
    for args in (["verify", archive, "--password-file", pw], ["show", archive, "--header-only"]):
        r = run_cli(*args)
        assert r.returncode == 5, r.stderr
        assert "header" in single_line(r.stderr)


@pytest.mark.parametrize(
    "where",
    [
        "index-start",
        "index-middle",
        "index-end",
        "trailer-magic",
        "trailer-offset",
        "trailer-id",
        "trailer-crc",
    ],
)
def test_flipped_byte_in_index_or_trailer(copy, where):
    archive, pw, index, _ = copy
    r = regions(archive.read_bytes())
    istart, iend = r["index"]
    t = r["trailer"][0]
    offset = {
        "index-start": istart,
        "index-middle": (istart + iend) // 2,
        "index-end": iend - 1,
        "trailer-magic": t,
        "trailer-offset": t + 12,
        "trailer-id": t + 30,
        "trailer-crc": t + 47,
    }[where]
    flip(archive, offset)
    r = _verify(archive, pw)
    assert r.returncode == 5
    lines = json_lines(r.stdout)
    summary = the_summary(lines)
    assert summary["index_ok"] is False
    assert [d["path"] for d in summary["damaged"]] == ["(index)"]
    assert summary["files_ok"] == len(index.entries)  # every file found by the scan
    r = run_cli("show", archive, "--password-file", pw)
    assert r.returncode == 5 and "Traceback" not in r.stderr


@pytest.mark.parametrize("keep", [0, 13, 100, 4096, 5000, "half", "minus-1", "minus-48"])
def test_truncated_archive(copy, keep):
    archive, pw, index, _ = copy
    size = archive.stat().st_size
    keep = {"half": size // 2, "minus-1": size - 1, "minus-48": size - 48}.get(keep, keep)
    with open(archive, "r+b") as f:
        f.truncate(keep)
    r = run_cli("verify", archive, "--password-file", pw)
    assert r.returncode == 5, r.stdout + r.stderr
    assert "Traceback" not in r.stderr


def test_not_an_archive(tmp_path):
    bogus = tmp_path / "x.therabak"
    bogus.write_bytes(b"PK\x03\x04 a zip file")
    r = run_cli("show", bogus, "--header-only")
    assert r.returncode == 5 and "not a therabak backup" in single_line(r.stderr)
    r = run_cli("show", tmp_path / "missing.therabak", "--header-only")
    assert r.returncode != 0 and "not found" in single_line(r.stderr)


# ---- account-key archives ------------------------------------------------------------------------


def _auto_backup(p: Practice, dest: Path) -> Path:
    rules = Rules.load()
    key = p.key
    result = run_backup(
        BackupRequest(
            data_dir=p.data_dir,
            account=key,
            dest_dir=dest,
            rules=rules,
            selection=rules.selection(BackupKind.AUTOMATIC),
            protection=Protection(account_key=key.key, account_key_id=key.key_id),
            kind=BackupKind.AUTOMATIC,
        )
    )
    assert result.exit_code == 0
    return result.archive


def test_account_slot_archive_round_trip(practice, tmp_path):
    archive = _auto_backup(practice, tmp_path / "auto")
    assert archive.name.startswith("TheraPsy-Auto-")
    common = ["--data-dir", practice.data_dir]
    r = run_cli("verify", archive, *common)  # opens with the account key, no password asked
    assert r.returncode == 0, r.stderr
    assert run_cli("diff", archive, *common).returncode == 0
    import json

    doc = json.loads(run_cli("show", archive, "--json", *common).stdout)
    assert doc["header"]["protection"] == "account" and doc["header"]["kind"] == "auto"
    assert doc["header"]["account_key_ids"] == [practice.key.id_hex]
    assert set(doc["categories"]) == set(selected_counts(practice, BackupKind.AUTOMATIC))
    assert {"audio", "documents"}.isdisjoint(doc["categories"])


def test_account_slot_archive_with_another_account_key(practice, tmp_path):
    archive = _auto_backup(practice, tmp_path / "auto")
    other = AccountKey.generate()
    other_file = tmp_path / "other.key"
    other.save(other_file)
    for command in ("verify", "show", "diff"):
        r = run_cli(command, archive, "--account-key", other_file, "--data-dir", practice.data_dir)
        assert r.returncode == 4, (command, r.stderr)
        line = single_line(r.stderr)
        assert practice.key.id_hex in line and other.id_hex in line
        assert "another account" in line


# ---- --verify ------------------------------------------------------------------------------


def test_backup_verify_reports_verified(practice, tmp_path):
    opts, _, _ = pw_args(tmp_path)
    r = backup(practice, tmp_path / "usb", *opts, "--verify", "--json")
    assert r.returncode == 0, r.stderr
    lines = json_lines(r.stdout)
    summary = the_summary(lines)
    assert summary["verified"] is True and summary["damaged"] == []
    assert [e["name"] for e in events_of(lines, "phase")][-1] == "verifying"
    r = backup(practice, tmp_path / "usb2", *opts, "--verify")
    assert "Verified" in r.stdout


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="no posix_fadvise here")
def test_drop_cache_evicts_the_written_file(tmp_path):
    """FileSource.drop_cache (used by backup --verify after the fsync) really evicts the
    file's pages, so the verification reads from the device."""
    import ctypes
    import mmap

    from therabak.archive.byteio import FileSink, FileSource

    libc = ctypes.CDLL(None, use_errno=True)
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_ubyte)]
    path = tmp_path / "written.bin"
    sink = FileSink(path)
    sink.write(os.urandom(8 << 20))
    sink.sync()
    sink.close()

    def resident_pages() -> int:
        size = path.stat().st_size
        pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
        with open(path, "r+b") as f:
            m = mmap.mmap(f.fileno(), size)  # shared and writable (never written)
            buf = (ctypes.c_char * size).from_buffer(m)
            vec = (ctypes.c_ubyte * pages)()
            rc = libc.mincore(ctypes.addressof(buf), size, vec)
            del buf
            m.close()
        if rc != 0:
            pytest.skip("mincore is not available")
        return sum(v & 1 for v in vec)

    before = resident_pages()
    if before == 0:
        pytest.skip("this file system does not keep written pages cached")
    with FileSource(path) as src:
        src.drop_cache()
    assert resident_pages() < before // 4
