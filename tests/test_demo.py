"""The demo practice: deterministic, realistic, sealed like the real app's data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import DEMO_SPEC, run_cli, walk_files
from therabak.errors import DataFolderError
from therabak.practice.account import AccountKey
from therabak.practice.categories import Rules
from therabak.practice.demo import PLAIN_NOTE, DemoSpec, create_demo, demo_key
from therabak.practice.envelope import HEADER_SIZE, iter_plaintext, open_bytes, parse_header
from therabak.practice.scan import scan

DOWNLOADED = {"backgrounds", "icd10"}


def snapshot(data_dir: Path) -> dict[str, tuple[bytes, int]]:
    """relative path -> (bytes, mtime_ns) of every file below *data_dir*."""
    return {rel: (p.read_bytes(), p.stat().st_mtime_ns) for rel, p in walk_files(data_dir)}


def test_same_seed_gives_identical_files_and_mtimes(tmp_path: Path) -> None:
    a = create_demo(tmp_path / "a", DEMO_SPEC)
    b = create_demo(tmp_path / "b", DEMO_SPEC)
    snap_a, snap_b = snapshot(a.data_dir), snapshot(b.data_dir)
    assert len(snap_a) == a.files > 50
    assert snap_a == snap_b
    assert a.account_key.read_bytes() == b.account_key.read_bytes()
    assert (a.files, a.bytes) == (b.files, b.bytes)


def test_another_seed_gives_another_practice(tmp_path: Path) -> None:
    a = create_demo(tmp_path / "a", DEMO_SPEC)
    spec = DemoSpec(**{**DEMO_SPEC.__dict__, "seed": DEMO_SPEC.seed + 1})
    b = create_demo(tmp_path / "b", spec)
    snap_a, snap_b = snapshot(a.data_dir), snapshot(b.data_dir)
    assert AccountKey.load(a.account_key).key != AccountKey.load(b.account_key).key
    common = set(snap_a) & set(snap_b)
    assert set(snap_a) != set(snap_b) or any(snap_a[p] != snap_b[p] for p in common)
    # sealed files differ even where the path and the plaintext are the same
    assert snap_a["settings/preferences.json"][0] != snap_b["settings/preferences.json"][0]


def test_default_demo_fills_every_leaf_category(tmp_path: Path) -> None:
    result = create_demo(tmp_path / "demo")
    rules = Rules.load()
    scanned = scan(result.data_dir, rules)
    empty = [leaf.id for leaf in rules.leaves() if scanned.totals[leaf.id].files == 0]
    assert empty == []
    assert (scanned.total.files, scanned.total.bytes) == (result.files, result.bytes)
    spec = DemoSpec()
    # "dozens of clients, hundreds of sessions, audio of a few MB each"
    assert scanned.totals["profiles"].files == spec.clients >= 24
    assert scanned.totals["sessions"].files == spec.clients * spec.sessions_per_client >= 200
    assert scanned.totals["audio"].files == spec.audio_files
    assert scanned.totals["audio"].bytes >= spec.audio_mb * 2**20


def test_downloaded_resources_are_plain_everything_else_sealed_with_the_demo_key(
    demo_practice,
) -> None:
    """Plain: backgrounds, ICD-10 and the one deliberate plain note in "other"."""
    rules = Rules.load()
    key = demo_practice.key
    assert key.key == demo_key(DEMO_SPEC.seed).key
    plain = sealed = 0
    for rel, path in walk_files(demo_practice.data_dir):
        data = path.read_bytes()
        header = parse_header(data)
        if rules.category_of(rel) in DOWNLOADED or rel == PLAIN_NOTE:
            assert header is None, f"{rel} should be plain"
            plain += 1
            continue
        assert header is not None, f"{rel} should be sealed"
        assert header.key_id == key.key_id
        with path.open("rb") as f:
            f.seek(HEADER_SIZE)
            plaintext = b"".join(iter_plaintext(f, header, key))
        assert plaintext == open_bytes(key, data)
        if rel.endswith(".json"):
            json.loads(plaintext)  # real content, not noise
        sealed += 1
    assert plain == 5 and sealed > 50
    assert rules.category_of(PLAIN_NOTE) == "other"


def test_a_session_note_reads_like_one(demo_practice) -> None:
    path = next(p for rel, p in walk_files(demo_practice.data_dir) if rel.startswith("sessions/"))
    note = json.loads(open_bytes(demo_practice.key, path.read_bytes()))
    assert {"klient", "datum", "notizen"} <= set(note)
    assert note["notizen"].encode() not in path.read_bytes()


@pytest.mark.parametrize("existing", ["Data", "account.key"])
def test_create_demo_refuses_an_existing_practice(tmp_path: Path, existing: str) -> None:
    target = tmp_path / "p"
    target.mkdir()
    if existing == "Data":
        (target / "Data").mkdir()
    else:
        (target / "account.key").write_text("keep me", "utf-8")
    with pytest.raises(DataFolderError, match="already holds a practice"):
        create_demo(target, DEMO_SPEC)
    assert sorted(p.name for p in target.iterdir()) == [existing]
    if existing == "account.key":
        assert (target / "account.key").read_text("utf-8") == "keep me"


def test_cli_demo_json(tmp_path: Path) -> None:
    target = tmp_path / "cli demo"  # a space in the path, as on many Windows machines
    proc = run_cli(
        "demo", target, "--clients", "4", "--audio-files", "2", "--audio-mb", "1", "--json"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    doc = json.loads(proc.stdout)
    files = list(walk_files(target / "Data"))
    assert Path(doc["data_dir"]) == target / "Data"
    assert Path(doc["account_key"]) == target / "account.key"
    assert doc["files"] == len(files)
    assert doc["bytes"] == sum(p.stat().st_size for _, p in files)
    assert sum(rel.startswith("profiles/") for rel, _ in files) == 4
    assert sum(rel.startswith("audio/") for rel, _ in files) == 2
    # the demo key, and never the key itself in the output
    key = AccountKey.load(target / "account.key")
    assert key.key == demo_key(7).key
    assert key.key.hex() not in proc.stdout


def test_cli_demo_text_and_refusal(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    proc = run_cli("demo", target, "--clients", "2", "--audio-mb", "0.5")
    assert proc.returncode == 0, proc.stderr
    assert "Demo practice created" in proc.stdout and str(target / "Data") in proc.stdout
    again = run_cli("demo", target)
    assert again.returncode == 1
    assert "already holds a practice" in again.stderr
    assert "Traceback" not in again.stderr
