"""A backup store's snapshots as restore points, with the real CLI: ``list`` finds every
snapshot of every store (with its reference ``STORE@ID``), and ``show``, ``verify``,
``diff`` (against the data and against another point) and ``passwd`` take a store point
as they take an archive: the same options, JSON and exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from archive_support import events_of, json_lines
from cli_support import single_line
from conftest import Practice, run_cli
from restore_helpers import practice_args
from store_read_support import (
    a_pack_of,
    account_store,
    copy_store,
    files_in_pack,
    make_store_points,
    pack_path,
)
from store_support import PASSWORD
from therabak.crypto.recovery import RecoveryCode
from therabak.settings import Settings

pytest_plugins = ["restore_helpers"]  # its fixtures: backups, other_account, ...


@pytest.fixture
def points(practice: Practice, tmp_path: Path):
    return make_store_points(practice, tmp_path / "stick")


def _list(p: Practice, *args) -> list[dict]:
    r = run_cli("list", "--json", *practice_args(p), *args, env={"THERABAK_MEDIA_ROOTS": ""})
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["points"]


def test_list_shows_every_snapshot_of_every_store(
    points, practice: Practice, backups, other_account, tmp_path: Path
):
    # an old archive beside the store, an automatic store of this account in the
    # remembered destination, a store of another account given as its own folder
    shutil.copy2(backups.manual, points.dest / "TheraPsy-Backup-old.therabak")
    remembered = tmp_path / "remembered"
    auto_root = account_store(practice.data_dir, practice.key, remembered)
    other_root = account_store(
        other_account.root / "practice" / "Data", other_account.key, tmp_path / "other"
    )
    settings = Settings.load()
    settings.remember_destination(remembered)
    settings.save()

    found = _list(practice, "--in", str(points.dest), "--in", str(other_root))
    stores = [p for p in found if p["format"] == "store"]
    mine = sorted((p for p in stores if p["path"] == str(points.root)), key=lambda p: p["created"])
    assert [p["snapshot_id"] for p in mine] == [s.snapshot_id for s in points.snapshots]
    for p, snap in zip(mine, points.snapshots, strict=True):
        assert p["ref"] == f"{points.root}@{snap.snapshot_id}"
        assert p["kind"] == "manual" and p["protection"] == "password"
        assert p["account_match"] == "unknown" and p["found_in"] == "given"
        assert p["size"] == snap.header.size == sum(e.size for e in snap.entries)
        assert p["added"] == snap.header.added
        assert p["created"] == snap.created.isoformat()
        assert sorted(p["categories"]) == sorted(snap.header.categories)
        assert "Practice records" in p["summary"]
    assert mine[0]["added"] > mine[1]["added"] > 0  # the first wrote everything
    archive = next(p for p in found if p["path"].endswith("TheraPsy-Backup-old.therabak"))
    assert archive["format"] == "archive" and archive["ref"] == archive["path"]

    [auto] = [p for p in stores if p["path"] == str(auto_root)]
    assert auto["kind"] == "automatic" and auto["found_in"] == "remembered"
    assert auto["protection"] == "account" and auto["account_match"] == "yes"
    [other] = [p for p in stores if p["path"] == str(other_root)]
    assert other["account_match"] == "no"
    assert other["account_key_ids"] == [other_account.key.id_hex]

    # the text names each point by a reference that works on the command line
    text = run_cli("list", "--in", str(points.dest), *practice_args(practice), "--no-media")
    assert text.returncode == 0, text.stderr
    for snap in points.snapshots:
        ref = f"{points.root}@{snap.snapshot_id[:8]}"
        assert ref in text.stdout
        r = run_cli("show", ref, "--header-only", "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["header"]["snapshot_id"] == snap.snapshot_id
    assert "new)" in text.stdout


def test_list_finds_a_store_as_its_own_folder_and_reports_damage(
    points, practice: Practice, tmp_path: Path
):
    copy = copy_store(points, tmp_path / "copy")
    [snap_file] = [
        p for p in (copy.root / "snapshots").iterdir() if p.name == points.snapshots[1].snapshot_id
    ]
    data = bytearray(snap_file.read_bytes())
    data[40] ^= 0xFF  # the size field of the public header: its checksum fails
    snap_file.write_bytes(bytes(data))
    found = _list(practice, "--in", str(copy.root))
    by_id = {p["snapshot_id"]: p for p in found}
    assert by_id[points.snapshots[0].snapshot_id]["kind"] == "manual"
    broken = by_id[points.snapshots[1].snapshot_id]
    assert broken["kind"] == "unreadable" and "checksum" in broken["error"]
    # a store whose config is damaged: one unreadable point, never an error
    (copy.root / "config").write_bytes(b"TBSTORE1" + b"\0" * 99)
    [point] = [p for p in _list(practice, "--in", str(copy.dest)) if p["path"] == str(copy.root)]
    assert point["kind"] == "unreadable" and point["error"]
    # a folder that merely holds a file called config is not a store
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "config").write_text("[x]\n")
    assert _list(practice, "--in", str(plain)) == []


def test_reference_forms(points, practice: Practice):
    sid = points.snapshots[2].snapshot_id
    for ref in (
        f"{points.root}@{sid}",
        f"{points.root}@{sid[:8]}",
        f"{points.dest}@{sid[:10].upper()}",  # the destination folder, capital hex
        f"{points.dest}@latest",
    ):
        r = run_cli("show", ref, "--header-only", "--json")
        assert r.returncode == 0, (ref, r.stderr)
        assert json.loads(r.stdout)["header"]["snapshot_id"] == sid
    r = run_cli("verify", str(points.root), "--password-file", points.password_file)
    assert r.returncode == 2 and "Name a snapshot" in single_line(r.stderr)
    r = run_cli("show", f"{points.root}@{'0' * 8}", "--header-only")
    assert r.returncode == 2 and "No snapshot 00000000" in single_line(r.stderr)
    r = run_cli("show", f"{points.dest.parent / 'nowhere'}@{sid[:8]}", "--header-only")
    assert r.returncode == 2 and "no backup store" in single_line(r.stderr)


def test_show_header_and_contents(points, practice: Practice):
    snap = points.snapshots[1]
    ref = points.ref(1)
    r = run_cli("show", ref, "--header-only", "--json")
    assert r.returncode == 0, r.stderr
    header = json.loads(r.stdout)["header"]
    assert header["format"] == "store" and header["store"] == str(points.root)
    assert header["size"] == snap.header.size and header["added"] == snap.header.added
    assert header["protection"] == "password" and header["kind"] == "manual"

    # no password and no terminal: the public header, and a note how to see the rest
    r = run_cli("show", ref, "--json")
    assert r.returncode == 0 and "password" in r.stderr
    assert set(json.loads(r.stdout)) == {"header"}

    r = run_cli("show", ref, "--files", "--json", "--password-file", points.password_file)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["files"] == len(snap.entries) and doc["bytes"] == snap.header.size
    assert doc["account_key_id"] == practice.key.id_hex
    by_path = {e["path"]: e for e in doc["entries"]}
    for e in snap.entries:
        assert by_path[e.path]["sha256"] == e.sha256 and by_path[e.path]["size"] == e.size
    text = run_cli("show", ref, "--password-file", points.password_file)
    assert text.returncode == 0, text.stderr
    assert "New in it:" in text.stdout and "Audio recordings" in text.stdout
    assert f"Total: {len(snap.entries)} files" in text.stdout

    r = run_cli("show", ref, "--password-env", "PW", env={"PW": "wrong"})
    assert r.returncode == 4 and "Wrong password" in single_line(r.stderr)


def test_verify_reads_every_chunk_and_names_the_files_of_a_damaged_pack(
    points, practice: Practice, tmp_path: Path
):
    for i in range(3):
        r = run_cli("verify", points.ref(i), "--password-file", points.password_file, "--json")
        assert r.returncode == 0, r.stderr
        summary = json_lines(r.stdout)[-1]
        assert summary["files_ok"] == len(points.snapshots[i].entries)
        assert summary["bytes_checked"] == points.snapshots[i].header.size
        assert summary["snapshot_id"] == points.snapshots[i].snapshot_id

    copy = copy_store(points, tmp_path / "copy")
    store = copy.open()
    snap = points.snapshots[2]
    audio = next(e.path for e in snap.entries if e.path.startswith("audio/new-2"))
    pack = a_pack_of(store, snap, audio)
    lost = files_in_pack(store, snap, pack)
    assert audio in lost and len(lost) < len(snap.entries)
    path = pack_path(copy.root, pack)
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x01  # one bit in the middle of the pack's blobs
    path.write_bytes(bytes(data))
    r = run_cli("verify", copy.ref(2), "--password-file", points.password_file, "--json")
    assert r.returncode == 5, r.stderr
    events = json_lines(r.stdout)
    summary = events[-1]
    damaged = {d["path"] for d in summary["damaged"]}
    assert damaged and damaged <= lost  # only files with content in that pack
    assert all(pack in d["reason"] for d in summary["damaged"])  # and it is named
    assert {d["path"] for d in events_of(events, "damaged")} == damaged
    assert summary["files_ok"] == len(snap.entries) - len(damaged)

    path.unlink()  # the pack gone altogether: exactly its files are lost
    r = run_cli("verify", copy.ref(2), "--password-file", points.password_file)
    assert r.returncode == 5
    named = {line.split(":")[0].strip() for line in r.stdout.splitlines()[1:-1]}
    assert named == lost
    assert "Traceback" not in r.stderr


def test_diff_against_data_and_between_points(points, practice: Practice):
    pw = ["--password-file", str(points.password_file)]
    r = run_cli("diff", points.ref(2), *practice_args(practice), *pw, "--json")
    assert r.returncode == 0, r.stderr  # nothing changed since the last backup
    assert json.loads(r.stdout)["identical"] is True
    r = run_cli("diff", points.ref(0), *practice_args(practice), *pw, "--json")
    assert r.returncode == 3, r.stderr
    doc = json.loads(r.stdout)
    assert {c["path"] for c in doc["added"]} == {"audio/new-1.opus", "audio/new-2.opus"}

    old, new = points.snapshots[0], points.snapshots[2]
    r = run_cli("diff", points.ref(2), "--against", points.ref(0), *pw, "--json")
    assert r.returncode == 3, r.stderr
    doc = json.loads(r.stdout)
    before = {e.path: e for e in old.entries}
    after = {e.path: e for e in new.entries}
    added = {c["path"]: c["size"] for c in doc["added"]}
    removed = {c["path"]: c["size"] for c in doc["removed"]}
    changed = {c["path"]: (c["old_size"], c["size"]) for c in doc["changed"]}
    assert added == {p: after[p].size for p in after.keys() - before.keys()}
    assert removed == {p: before[p].size for p in before.keys() - after.keys()}
    assert changed == {
        p: (before[p].size, after[p].size)
        for p in before.keys() & after.keys()
        if before[p].sha256 != after[p].sha256
    }
    assert len(added) == 2 and len(removed) == 2 and len(changed) == 2
    assert doc["bytes_added"] == sum(added.values())
    assert doc["same"] == len(before.keys() & after.keys()) - len(changed)

    text = run_cli("diff", points.ref(2), "--against", points.ref(0), *pw)
    assert text.returncode == 3
    assert "audio/new-2.opus" in text.stdout and " -> " in text.stdout
    same = run_cli("diff", points.ref(1), "--against", points.ref(1), *pw)
    assert same.returncode == 0 and "Identical" in same.stdout
    # a store point against an old archive of the same data: one password opens both
    archive = run_cli(
        "backup",
        "--dest",
        points.dest / "archives",
        "--single-file",
        *practice_args(practice),
        *pw,
        "--json",
    )
    if archive.returncode == 2:  # before `backup --single-file` exists: a plain backup
        archive = run_cli(
            "backup", "--dest", points.dest / "archives", *practice_args(practice), *pw, "--json"
        )
    assert archive.returncode == 0, archive.stderr
    made = json.loads(archive.stdout.splitlines()[-1])["archive"]
    r = run_cli("diff", made, "--against", points.ref(2), *pw, "--json")
    assert r.returncode == 0, (r.stdout, r.stderr)


def test_passwd_changes_the_password_of_every_snapshot_together(points, practice: Practice):
    new_pw = points.dest.parent / "new.txt"
    new_pw.write_text("Ein ganz neues Passwort 2026\n", encoding="utf-8")
    keys_before = sorted(p.name for p in (points.root / "keys").iterdir())
    r = run_cli(
        "passwd",
        points.ref(1),
        "--password-file",
        points.password_file,
        "--new-password-file",
        new_pw,
        "--json",
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["changed"] and doc["snapshots"] == 3 and doc["slots"] == ["password"]
    keys_after = sorted(p.name for p in (points.root / "keys").iterdir())
    assert len(keys_after) == 1 and keys_after != keys_before  # one key file, replaced
    for i in range(3):
        old = run_cli("verify", points.ref(i), "--password-file", points.password_file)
        assert old.returncode == 4, old.stderr
        new = run_cli("verify", points.ref(i), "--password-file", new_pw)
        assert new.returncode == 0, new.stderr
    text = run_cli(
        "passwd",
        str(points.dest),
        "--password-file",
        new_pw,
        "--new-password-file",
        points.password_file,
    )
    assert text.returncode == 0, text.stderr
    assert "All 3 backups in this store changed password together" in text.stdout
    wrong = run_cli(
        "passwd", str(points.root), "--password-file", new_pw, "--new-password-file", new_pw
    )
    assert wrong.returncode == 4 and "Wrong password" in single_line(wrong.stderr)


def test_passwd_refuses_a_store_without_a_password(practice: Practice, tmp_path: Path):
    root = account_store(practice.data_dir, practice.key, tmp_path / "auto")
    pw = tmp_path / "pw.txt"
    pw.write_text("whatever it is\n", encoding="utf-8")
    r = run_cli("passwd", str(root), "--password-file", pw, "--new-password-file", pw)
    assert r.returncode == 2 and "no password to change" in single_line(r.stderr)


def test_the_recovery_code_opens_a_store_where_a_password_is_accepted(
    practice: Practice, tmp_path: Path
):
    code = RecoveryCode.generate()
    points = make_store_points(practice, tmp_path / "stick", count=2, code=code)
    code_file = tmp_path / "code.txt"
    code_file.write_text(code.display().lower() + "\n", encoding="utf-8")
    by_code = ["--recovery-code-file", str(code_file)]
    r = run_cli("verify", points.ref(1), *by_code, "--json")
    assert r.returncode == 0, r.stderr
    r = run_cli("show", points.ref(0), *by_code, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["files"] == len(points.snapshots[0].entries)
    r = run_cli("diff", points.ref(1), "--against", points.ref(0), *by_code)
    assert r.returncode == 3, r.stderr
    listed = _list(practice, "--in", str(points.dest))
    assert all(p["recovery_code"] for p in listed)

    other = tmp_path / "other-code.txt"
    other.write_text(RecoveryCode.generate().display() + "\n", encoding="utf-8")
    r = run_cli("verify", points.ref(1), "--recovery-code-file", other)
    assert r.returncode == 4 and "does not open" in single_line(r.stderr)
    typo = tmp_path / "typo.txt"
    text = code.display()
    typo.write_text(text[:5] + ("A" if text[5] != "A" else "B") + text[6:] + "\n")
    r = run_cli("verify", points.ref(1), "--recovery-code-file", typo)
    assert r.returncode == 4 and "typo in group 2" in single_line(r.stderr)

    # a forgotten password: the code sets a new one, and stays valid
    new_pw = tmp_path / "new.txt"
    new_pw.write_text("Vergessen und neu gesetzt 7\n", encoding="utf-8")
    r = run_cli("passwd", points.ref(0), *by_code, "--new-password-file", new_pw, "--json")
    assert r.returncode == 0, r.stderr
    assert sorted(json.loads(r.stdout)["slots"]) == ["password", "recovery"]
    assert run_cli("verify", points.ref(0), "--password-file", new_pw).returncode == 0
    assert run_cli("verify", points.ref(0), *by_code).returncode == 0
    old = run_cli("verify", points.ref(0), "--password-file", points.password_file)
    assert old.returncode == 4

    plain = make_store_points(practice, tmp_path / "plain", count=1)
    r = run_cli("verify", plain.ref(0), *by_code)
    assert r.returncode == 4 and "has no recovery code" in single_line(r.stderr)
    assert PASSWORD not in r.stderr
