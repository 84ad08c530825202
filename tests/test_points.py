"""``therabak list`` and the restore-point engine: where it looks, what it says per point,
and that damaged or foreign files are listed as unreadable instead of breaking the list."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from conftest import Practice, run_cli
from restore_helpers import (
    practice_args,
)
from therabak.points.contents import open_contents
from therabak.points.discovery import SearchPlace, list_points
from therabak.points.point import category_summary
from therabak.practice.categories import Rules
from therabak.settings import Settings

pytest_plugins = ["restore_helpers"]  # its fixtures: backups, other_account, ...


def _list(p: Practice, *args, media: str = "") -> dict:
    r = run_cli("list", "--json", *practice_args(p), *args, env={"THERABAK_MEDIA_ROOTS": media})
    assert r.returncode == 0, r.stderr
    return {Path(x["path"]).name: x for x in json.loads(r.stdout)["points"]}


def test_every_place_is_searched(
    practice: Practice, backups, other_account, tmp_path: Path
) -> None:
    remembered = tmp_path / "remembered"
    given = tmp_path / "given"
    stick = tmp_path / "media" / "USB-STICK"
    for d in (remembered, given, stick / "Backups"):
        d.mkdir(parents=True)
    shutil.copy2(backups.manual, remembered / "TheraPsy-Backup-remembered.therabak")
    shutil.copy2(backups.manual, given / "TheraPsy-Backup-given.therabak")
    shutil.copy2(backups.manual, stick / "Backups" / "TheraPsy-Backup-stick.therabak")
    shutil.copytree(backups.folder, stick / backups.folder.name)
    shutil.copy2(other_account.auto, given / "TheraPsy-Auto-other.therabak")
    auto_dir = practice.root / "TheraPsy-Auto-Backups"
    auto_dir.mkdir()
    shutil.copy2(backups.auto, auto_dir / backups.auto.name)
    before = practice.root / "Data.before-restore-2026-01-02_030405"
    shutil.copytree(practice.data_dir / "sessions", before / "sessions")
    settings = Settings.load()
    settings.remember_destination(remembered)
    settings.save()

    points = _list(practice, "--in", str(given), media=str(tmp_path / "media" / "USB-STICK"))
    assert points["TheraPsy-Backup-remembered.therabak"]["found_in"] == "remembered"
    assert points["TheraPsy-Backup-given.therabak"]["found_in"] == "given"
    assert points["TheraPsy-Backup-stick.therabak"]["found_in"] == "media"
    assert points[backups.auto.name]["found_in"] == "automatic"
    assert points[before.name]["found_in"] == "beside-data"

    manual = points["TheraPsy-Backup-given.therabak"]
    assert manual["kind"] == "manual" and manual["protection"] == "password"
    assert manual["account_match"] == "unknown"
    assert "sessions" in manual["categories"] and "Practice records" in manual["summary"]
    assert manual["age"] and manual["created_local"]
    assert manual["size"] == backups.manual.stat().st_size

    auto = points[backups.auto.name]
    assert auto["kind"] == "automatic" and auto["protection"] == "account"
    assert auto["account_match"] == "yes"
    assert sorted(auto["categories"]) == ["finances", "profiles", "sessions", "therapists"]

    other = points["TheraPsy-Auto-other.therabak"]
    assert other["account_match"] == "no"
    assert other["account_key_ids"] == [other_account.key.id_hex]

    folder = points[backups.folder.name]
    assert folder["kind"] == "folder" and folder["account_match"] == "yes"
    assert folder["files"] > 0 and folder["size"] > 0

    br = points[before.name]
    assert br["kind"] == "before-restore" and br["created"].startswith("2026-01-02T03:04:05")


def test_damaged_and_foreign_files_are_listed_as_unreadable(
    practice: Practice, backups, tmp_path: Path
) -> None:
    folder = tmp_path / "usb"
    folder.mkdir()
    shutil.copy2(backups.manual, folder / "good.therabak")
    data = backups.manual.read_bytes()
    (folder / "truncated.therabak").write_bytes(data[:100])
    damaged = bytearray(data[:4096])
    damaged[300] ^= 1
    (folder / "header-damaged.therabak").write_bytes(bytes(damaged))
    (folder / "photo.therabak").write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(3000))
    (folder / "empty.therabak").write_bytes(b"")
    (folder / "notes.txt").write_text("not a backup")  # not a candidate at all
    (folder / "TheraPsy-Data-2026-01-01_000000").mkdir()  # a folder backup without manifest
    odd_manifest = folder / "TheraPsy-Data-2026-01-02_000000"  # counts JSON cannot hold
    odd_manifest.mkdir()
    (odd_manifest / "therabak-manifest.json").write_text(
        '{"format": "therabak-folder-backup", "version": 1, "files": Infinity}\n'
    )
    os.mkfifo(folder / "odd.therabak") if hasattr(os, "mkfifo") else None
    points = _list(practice, "--in", str(folder))
    assert points["good.therabak"]["readable"]
    for name in (
        "truncated.therabak",
        "header-damaged.therabak",
        "photo.therabak",
        "empty.therabak",
        "TheraPsy-Data-2026-01-01_000000",
        "TheraPsy-Data-2026-01-02_000000",
    ):
        assert points[name]["kind"] == "unreadable", name
        assert points[name]["error"], name
    assert "notes.txt" not in points
    assert "not a therabak backup" in points["photo.therabak"]["error"]
    text = run_cli(
        "list", "--in", folder, *practice_args(practice), env={"THERABAK_MEDIA_ROOTS": ""}
    )
    assert text.returncode == 0 and "UNREADABLE" in text.stdout


def test_named_subfolders_are_searched_one_level(
    practice: Practice, backups, tmp_path: Path
) -> None:
    root = tmp_path / "stick"
    (root / "therabak").mkdir(parents=True)
    (root / "Fotos" / "2025").mkdir(parents=True)
    (root / "therabak" / "deeper").mkdir()
    shutil.copy2(backups.auto, root / "therabak" / "in-therabak.therabak")
    shutil.copy2(backups.auto, root / "Fotos" / "in-photos.therabak")
    shutil.copy2(backups.auto, root / "therabak" / "deeper" / "too-deep.therabak")
    points = _list(practice, "--in", str(root))
    assert "in-therabak.therabak" in points
    assert "in-photos.therabak" not in points and "too-deep.therabak" not in points


def test_missing_places_are_fine(practice: Practice, tmp_path: Path) -> None:
    settings = Settings.load()
    settings.remember_destination(tmp_path / "unplugged-stick")
    settings.save()
    r = run_cli("list", *practice_args(practice), env={"THERABAK_MEDIA_ROOTS": ""})
    assert r.returncode == 0 and "No restore points found" in r.stdout


def test_duplicates_are_listed_once(backups, tmp_path: Path) -> None:
    folder = backups.manual.parent
    places = [SearchPlace(folder, "given"), SearchPlace(folder, "remembered")]
    listing = list_points(data_dir=None, account_key_id=None, places=places)
    assert [p.path for p in listing.points] == [backups.manual]


def test_open_contents_reads_the_index_only_after_unlocking(
    demo_practice: Practice, backups
) -> None:
    from restore_helpers import PASSWORD
    from therabak.archive.reader import PasswordNeeded

    rules = Rules.load()
    try:
        open_contents(backups.manual, rules=rules)
        raise AssertionError("a password-protected archive opened without the password")
    except PasswordNeeded:
        pass
    contents = open_contents(backups.manual, rules=rules, password=PASSWORD)
    totals = contents.node_totals(rules)
    assert totals["records"].files == sum(
        totals[c].files for c in ("profiles", "sessions", "therapists", "finances")
    )
    assert totals["backgrounds"].files == 0
    auto = open_contents(backups.auto, rules=rules, account=demo_practice.key)
    assert set(auto.totals) == {"profiles", "sessions", "therapists", "finances"}
    folder = open_contents(backups.folder, rules=rules, account=demo_practice.key)
    assert folder.totals["audio"].files == demo_practice.spec.audio_files


def test_category_summary_names_whole_groups() -> None:
    rules = Rules.load()
    assert (
        category_summary(rules, ["profiles", "sessions", "therapists", "finances"])
        == "Practice records"
    )
    assert category_summary(rules, ["sessions", "audio"]) == "Sessions, Audio recordings"
    assert category_summary(rules, [], "folder").startswith("everything")
