"""``therabak check``, ``forget`` and ``prune`` on a backup store, with the real CLI: text
and JSON output, exit codes, the password options, locks, and no secret anywhere."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from archive_support import events_of, json_lines
from conftest import Practice, run_cli
from store_support import (
    PASSWORD,
    backup_data,
    create_store,
    object_path,
    objects,
    open_store,
    snapshot_tree,
)
from therabak.practice.envelope import seal_bytes


@pytest.fixture
def store3(practice: Practice, tmp_path: Path):
    """A store in ``dest/TheraPsy-Backups`` with three backups (audio added in between,
    one recording only in the second)."""
    root = tmp_path / "dest" / "TheraPsy-Backups"
    store = create_store(root, chunk_size=64 << 10, pack_size=1 << 20)
    start = datetime(2026, 2, 1, 9, tzinfo=UTC)
    outs = [backup_data(store, practice.data_dir, practice.key, created=start)]
    for i in range(2):
        if i:
            (practice.data_dir / "audio" / "cli-0.opus").unlink()  # only in backup 2
        target = practice.data_dir / "audio" / f"cli-{i}.opus"
        target.write_bytes(seal_bytes(practice.key, os.urandom(800_000)))
        when = start + timedelta(days=i + 1)
        outs.append(backup_data(store, practice.data_dir, practice.key, created=when))
    pw = tmp_path / "pw.txt"
    pw.write_text(PASSWORD + "\n", encoding="utf-8")
    return root, [o.snapshot for o in outs], pw


def test_check_ok_text_and_json(store3, tmp_path: Path):
    root, snaps, pw = store3
    r = run_cli("check", tmp_path / "dest", "--password-file", pw)  # the destination works
    assert r.returncode == 0, r.stderr
    assert "OK: 3 snapshots" in r.stdout and "intact" in r.stdout
    r = run_cli("check", root, "--read-data", "--password-file", pw, "--json")
    assert r.returncode == 0, r.stderr
    summary = json_lines(r.stdout)[-1]
    assert summary["event"] == "summary" and summary["operation"] == "check"
    assert summary["snapshots"] == 3 and summary["packs_read"] == summary["packs"] > 1
    assert summary["problems"] == [] and summary["damaged_files"] == []


def test_check_names_damaged_files_exit_5(store3, practice: Practice):
    root, snaps, pw = store3
    store = open_store(root)
    entry = next(e for e in snaps[2].entries if e.path == "audio/cli-1.opus")
    loc = store.index().locate(entry.blobs[3])[0]
    path = object_path(root, f"packs/{loc.pack_id[:2]}/{loc.pack_id}")
    data = bytearray(path.read_bytes())
    data[loc.blob.offset + 100] ^= 0xFF
    path.write_bytes(bytes(data))
    r = run_cli("check", root, "--read-data", "--password-file", pw, "--json")
    assert r.returncode == 5, (r.stdout[-500:], r.stderr)
    summary = json_lines(r.stdout)[-1]
    assert {"snapshot": snaps[2].snapshot_id, "path": "audio/cli-1.opus"} in summary[
        "damaged_files"
    ]
    assert "audio/cli-1.opus" in {d["path"] for d in events_of(json_lines(r.stdout), "damaged")}
    text = run_cli("check", root, "--read-data-subset", "100%", "--password-file", pw)
    assert text.returncode == 5 and "audio/cli-1.opus" in text.stdout
    assert "Traceback" not in text.stderr


def test_wrong_password_and_no_store(store3, tmp_path: Path):
    root, _snaps, _pw = store3
    bad = tmp_path / "bad.txt"
    bad.write_text("falsch\n")
    r = run_cli("check", root, "--password-file", bad)
    assert r.returncode == 4 and "Wrong password" in r.stderr
    r = run_cli("prune", tmp_path / "nowhere", "--password-file", bad)
    assert r.returncode == 1 and "no backup store" in r.stderr.lower()
    assert len(r.stderr.strip().splitlines()) == 1


def test_forget_by_policy_dry_run_then_for_real(store3):
    root, snaps, pw = store3
    r = run_cli("forget", root, "--keep-last", "1", "--dry-run", "--password-file", pw, "--json")
    assert r.returncode == 0, r.stderr
    summary = json_lines(r.stdout)[-1]
    assert [s["id"] for s in summary["forget"]] == [s.snapshot_id for s in snaps[:2]]
    assert summary["prune_would_free"] > 0 and summary["forgotten"] == []
    assert len(objects(root, "snapshots/")) == 3
    r = run_cli("forget", root, "--keep-last", "1", "--password-file", pw)
    assert r.returncode == 0, r.stderr
    assert "2 snapshots forgotten" in r.stdout
    assert objects(root, "snapshots/") == [snaps[2].name]


def test_forget_by_id_prefix_then_prune(store3):
    root, snaps, pw = store3
    tree = snapshot_tree(open_store(root), snaps[2])
    r = run_cli("forget", root, snaps[0].snapshot_id[:8], "--password-file", pw)
    assert r.returncode == 0, r.stderr
    dry = run_cli("prune", root, "--dry-run", "--password-file", pw, "--json")
    plan = json_lines(dry.stdout)[-1]
    assert dry.returncode == 0 and plan["dry_run"] is True
    before = sorted(objects(root, "packs/"))
    r = run_cli("prune", root, "--password-file", pw, "--json")
    assert r.returncode == 0, r.stderr
    result = json_lines(r.stdout)[-1]
    assert result["bytes_freed"] == plan["bytes_freed"]
    assert sorted(objects(root, "packs/")) != before or result["bytes_freed"] == 0
    assert snapshot_tree(open_store(root), snaps[2]) == tree


def test_prune_with_a_policy_forgets_first(store3):
    """prune --keep-...: forget what the policy does not keep, then reclaim (the app's
    "prune by the retention policy" job); a dry run changes nothing and says the same."""
    root, snaps, pw = store3
    tree = snapshot_tree(open_store(root), snaps[2])
    r = run_cli("prune", root, "--keep-last", "1", "--dry-run", "--password-file", pw, "--json")
    assert r.returncode == 0, r.stderr
    dry = json_lines(r.stdout)[-1]
    assert dry["dry_run"] is True
    assert dry["forgotten"] == [s.snapshot_id for s in snaps[:2]]
    assert len(objects(root, "snapshots/")) == 3
    r = run_cli("prune", root, "--keep-last", "1", "--password-file", pw)
    assert r.returncode == 0, r.stderr
    assert "2 snapshots not kept by the policy: forgotten." in r.stdout
    assert objects(root, "snapshots/") == [snaps[2].name]
    assert snapshot_tree(open_store(root), snaps[2]) == tree
    again = run_cli("prune", root, "--dry-run", "--password-file", pw, "--json")
    assert json_lines(again.stdout)[-1]["bytes_freed"] == 0  # reclaimed by the first
    assert dry["bytes_freed"] > 0


def test_forget_usage_errors(store3):
    root, _snaps, pw = store3
    r = run_cli("forget", root, "--password-file", pw)
    assert r.returncode == 2 and "policy" in r.stderr
    r = run_cli("forget", root, "abc", "--password-file", pw)
    assert r.returncode == 2
    r = run_cli("check", root, "--read-data-subset", "0", "--password-file", pw)
    assert r.returncode == 2


def test_locked_store_exit_7_and_break_lock(store3):
    root, _snaps, pw = store3
    store = open_store(root)
    lock = store.lock(exclusive=False, what="backup").acquire()
    try:
        r = run_cli("prune", root, "--password-file", pw)
        assert r.returncode == 7 and "in use" in r.stderr, r.stderr
        r = run_cli("prune", root, "--password-file", pw, "--break-lock")
        assert r.returncode == 0, r.stderr
        assert "removed 1 lock" in r.stderr
    finally:
        lock.release()


def test_no_secret_in_output_or_store(store3, tmp_path: Path):
    """The password and the store key appear in no output and in no object of the store
    (key files hold it wrapped only)."""
    root, _snaps, pw = store3
    key = open_store(root).keys.master
    needles = {
        PASSWORD.encode(): "password",
        PASSWORD.encode("utf-16-le"): "password (UTF-16)",
        key: "store key",
        key.hex().encode(): "store key (hex)",
        base64.b64encode(key).rstrip(b"="): "store key (base64)",
    }
    outputs = [
        run_cli("check", root, "--read-data", "--password-file", pw, "--json"),
        run_cli("forget", root, "--keep-last", "2", "--password-file", pw),
        run_cli("prune", root, "--password-file", pw, "--json"),
        run_cli("check", root, "--password-stdin", input=PASSWORD + "\n"),
    ]
    places = [(f"{r.args} stdout", r.stdout.encode()) for r in outputs]
    places += [(f"{r.args} stderr", r.stderr.encode()) for r in outputs]
    places += [(str(p), p.read_bytes()) for p in root.rglob("*") if p.is_file()]
    hits = [
        f"{what} in {where}" for where, blob in places for n, what in needles.items() if n in blob
    ]
    assert hits == []
    assert all(r.returncode == 0 for r in outputs), [r.stderr for r in outputs]
    assert "Geheim" not in json.dumps([r.stdout for r in outputs])
