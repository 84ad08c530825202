"""Restoring a snapshot of a backup store, with the real CLI: every point byte-exact, with
today's staging, verification, carry-over, swap and undo; --include, --to, --dry-run;
--salvage with a damaged pack (exactly the files whose content lies in it are lost, every
other file comes back); hostile snapshots and other accounts refused with nothing
changed; kill -9 in the middle; old archives beside the store still restore."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import pytest

from archive_support import json_lines
from cli_support import single_line
from conftest import IS_WINDOWS, Practice, run_cli, run_measured
from restore_helpers import (
    before_restore_dirs,
    leftovers,
    plaintext_tree,
    practice_args,
    restore,
    tree_state,
)
from store_read_support import (
    START,
    a_pack_of,
    account_store,
    copy_store,
    files_in_pack,
    make_store_points,
    pack_path,
)
from store_support import PASSWORD
from therabak.datafolder.manifest import MANIFEST_NAME
from therabak.store.backup import SnapshotMeta
from therabak.store.snapshot import (
    SnapshotEntry,
    SnapshotHeader,
    SnapshotKind,
    encode_snapshot,
    snapshot_name,
)

pytest_plugins = ["restore_helpers"]  # its fixtures: backups, other_account, ...
MiB = 1 << 20


@pytest.fixture
def points(practice: Practice, tmp_path: Path):
    return make_store_points(practice, tmp_path / "stick")


def test_every_point_restores_byte_exact_into_another_folder(
    points, practice: Practice, tmp_path: Path
):
    for i in range(3):
        target = tmp_path / f"restored-{i}"
        r = restore(
            practice,
            points.ref(i),
            "--to",
            str(target),
            "--json",
            password_file=points.password_file,
        )
        assert r.returncode == 0, r.stderr
        summary = json_lines(r.stdout)[-1]
        assert summary["point"] == f"{points.root}@{points.snapshots[i].snapshot_id}"
        assert summary["files_restored"] == len(points.snapshots[i].entries)
        assert plaintext_tree(target, practice.key) == points.expected(i)
        assert leftovers(tmp_path) == []


def test_restore_over_data_carries_over_and_can_be_undone(
    points, practice: Practice, tmp_path: Path
):
    templates = {
        p: v
        for p, v in plaintext_tree(practice.data_dir, practice.key).items()
        if p.startswith(("settings/", "templates/", "autocomplete/", "backgrounds/", "icd10/"))
    }
    assert templates  # the manual backups do not hold these: they are carried over
    (practice.data_dir / "sessions" / "after-the-backup.json").write_bytes(b"{}")
    now = tree_state(practice.data_dir)

    r = restore(practice, points.ref(0), "--json", password_file=points.password_file)
    assert r.returncode == 0, r.stderr
    summary = json_lines(r.stdout)[-1]
    restored = plaintext_tree(practice.data_dir, practice.key)
    assert restored == {**points.expected(0), **templates}
    [kept] = before_restore_dirs(practice)
    assert Path(summary["before_restore"]) == kept
    assert tree_state(kept, skip=(MANIFEST_NAME,)) == now
    manifest = json.loads((kept / MANIFEST_NAME).read_text().splitlines()[0])
    assert points.snapshots[0].snapshot_id in json.dumps(manifest)

    undo = restore(practice, kept)  # the undo the summary names
    assert undo.returncode == 0, undo.stderr
    files_now = {p: v for p, v in now.items() if v[0] == "file"}  # (empty folders go)
    assert {p: v for p, v in tree_state(practice.data_dir).items() if v[0] == "file"} == files_now
    assert leftovers(practice.root) == []


def test_include_dry_run_and_status(points, practice: Practice):
    before = tree_state(practice.data_dir)
    r = restore(practice, points.ref(0), "--dry-run", "--json", password_file=points.password_file)
    assert r.returncode == 0, r.stderr
    plan = json_lines(r.stdout)[-1]["plan"]
    assert plan["point"] == points.ref(0).split("@")[0] + "@" + points.snapshots[0].snapshot_id
    assert plan["restore_files"] == len(points.snapshots[0].entries)
    assert tree_state(practice.data_dir) == before  # a dry run changes nothing
    text = restore(practice, points.ref(0), "--dry-run", password_file=points.password_file)
    assert text.returncode == 0 and f"@{points.snapshots[0].snapshot_id[:8]}" in text.stdout

    r = restore(
        practice, points.ref(0), "--include", "sessions", password_file=points.password_file
    )
    assert r.returncode == 0, r.stderr
    after = plaintext_tree(practice.data_dir, practice.key)
    old = points.expected(0)
    assert {p: v for p, v in after.items() if p.startswith("sessions/")} == {
        p: v for p, v in old.items() if p.startswith("sessions/")
    }
    now = points.trees[2]  # everything else as it was (the newest state)
    assert {p: v for p, v in after.items() if not p.startswith("sessions/")} == {
        p: v for p, v in now.items() if not p.startswith("sessions/")
    }
    status = run_cli("status", "--json", *practice_args(practice))
    assert points.snapshots[0].snapshot_id in status.stdout  # the last restore's source


def test_salvage_restores_every_file_outside_a_damaged_pack(
    points, practice: Practice, tmp_path: Path
):
    copy = copy_store(points, tmp_path / "copy")
    store = copy.open()
    snap = points.snapshots[2]
    pack = a_pack_of(store, snap, "audio/new-2.opus")
    lost = files_in_pack(store, snap, pack)
    assert 0 < len(lost) < len(snap.entries)
    path = pack_path(copy.root, pack)
    data = bytearray(path.read_bytes())
    for at in range(0, len(data), 16):
        data[at] ^= 0x01  # every blob of the pack damaged
    path.write_bytes(bytes(data))
    before = tree_state(practice.data_dir)

    r = restore(
        practice, copy.ref(2), "--to", str(tmp_path / "t0"), password_file=points.password_file
    )
    assert r.returncode == 5, r.stderr
    line = single_line(r.stderr)
    assert "damaged" in line and pack in line and "--salvage" in line
    assert not (tmp_path / "t0").exists() and tree_state(practice.data_dir) == before

    target = tmp_path / "salvaged"
    r = restore(
        practice,
        copy.ref(2),
        "--to",
        str(target),
        "--salvage",
        "--json",
        password_file=points.password_file,
    )
    assert r.returncode == 3, r.stderr
    summary = json_lines(r.stdout)[-1]
    assert {d["path"] for d in summary["damaged"]} == lost
    assert all(pack in d["reason"] for d in summary["damaged"])
    expected = {p: v for p, v in points.expected(2).items() if p not in lost}
    assert plaintext_tree(target, practice.key) == expected

    # over Data: the current version of each lost file is kept
    r = restore(practice, copy.ref(2), "--salvage", password_file=points.password_file)
    assert r.returncode == 3, r.stderr
    assert "NOT restored" in r.stdout and "audio/new-2.opus" in r.stdout
    assert plaintext_tree(practice.data_dir, practice.key) == points.trees[2]


def test_a_missing_pack_and_a_damaged_snapshot(points, practice: Practice, tmp_path: Path):
    copy = copy_store(points, tmp_path / "copy")
    store = copy.open()
    snap = points.snapshots[1]
    pack = a_pack_of(store, snap, "audio/new-1.opus")
    lost = files_in_pack(store, snap, pack)
    pack_path(copy.root, pack).unlink()
    r = restore(
        practice,
        copy.ref(1),
        "--to",
        str(tmp_path / "t"),
        "--salvage",
        "--json",
        password_file=points.password_file,
    )
    assert r.returncode == 3, r.stderr
    damaged = json_lines(r.stdout)[-1]["damaged"]
    assert {d["path"] for d in damaged} == lost
    assert all("missing" in d["reason"] and pack in d["reason"] for d in damaged)

    snap_file = copy.root / "snapshots" / points.snapshots[0].snapshot_id
    data = bytearray(snap_file.read_bytes())
    data[-20] ^= 0xFF  # in the sealed body: the file list is lost
    snap_file.write_bytes(bytes(data))
    for extra in ([], ["--salvage"]):
        r = restore(
            practice,
            copy.ref(0),
            "--to",
            str(tmp_path / "u"),
            *extra,
            password_file=points.password_file,
        )
        assert r.returncode == 5, r.stderr
        assert "other backups of the store are not affected" in single_line(r.stderr)
    # the other snapshots still restore, all but what lay in the missing pack
    r = restore(
        practice,
        copy.ref(2),
        "--to",
        str(tmp_path / "v"),
        "--salvage",
        "--json",
        password_file=points.password_file,
    )
    assert r.returncode == 3, r.stderr
    lost2 = files_in_pack(store, points.snapshots[2], pack)
    assert {d["path"] for d in json_lines(r.stdout)[-1]["damaged"]} == lost2
    expected = {p: v for p, v in points.expected(2).items() if p not in lost2}
    assert plaintext_tree(tmp_path / "v", practice.key) == expected


@pytest.mark.parametrize(
    "hostile", ["../../outside.txt", "/etc/outside.txt", "sessions/../../outside.txt", "C:/x"]
)
def test_a_hostile_snapshot_is_refused(points, practice: Practice, tmp_path: Path, hostile):
    """A snapshot made by someone who knows the password, naming a path that climbs out:
    refused as an archive path is (exit 5), nothing written anywhere."""
    copy = copy_store(points, tmp_path / "copy")
    store = copy.open()
    good = points.snapshots[0].entries[0]
    evil = SnapshotEntry(hostile, "sessions", good.size, good.mtime_ns, good.sha256, good.blobs)
    entries = [*points.snapshots[0].entries[1:], evil]
    header = SnapshotHeader(
        store.store_id,
        START,
        SnapshotKind.MANUAL,
        ("sessions",),
        sum(e.size for e in entries),
        0,
    )
    sid, data = encode_snapshot(
        store.keys,
        header,
        entries,
        host="x",
        account_key_id="",
        parent=None,
        program="x",
        skipped=[],
    )
    store.put(snapshot_name(sid), data)
    before = tree_state(practice.data_dir)
    outside = tree_state(tmp_path, skip=("env",))
    for extra in ([], ["--salvage"]):
        r = restore(practice, f"{copy.root}@{sid}", *extra, password_file=points.password_file)
        assert r.returncode == 5, r.stderr
        assert "Traceback" not in r.stderr
        assert tree_state(practice.data_dir) == before
    assert not (tmp_path / "outside.txt").exists()
    assert tree_state(tmp_path, skip=("env",)).keys() == outside.keys()


def test_another_accounts_store_and_raw_entries(
    points, practice: Practice, other_account, tmp_path: Path
):
    other_root = account_store(
        other_account.root / "practice" / "Data", other_account.key, tmp_path / "other"
    )
    before = tree_state(practice.data_dir)
    r = restore(practice, f"{other_root}@latest")
    assert r.returncode == 4, r.stderr
    assert other_account.key.id_hex in single_line(r.stderr)
    assert tree_state(practice.data_dir) == before

    # an automatic store of this account opens with the account key, no password asked
    mine = account_store(practice.data_dir, practice.key, tmp_path / "auto")
    r = restore(practice, f"{mine}@latest", "--to", str(tmp_path / "core"))
    assert r.returncode == 0, r.stderr
    core = plaintext_tree(tmp_path / "core", practice.key)
    assert core and all(
        p.startswith(("profiles/", "sessions/", "therapists/", "finances/")) for p in core
    )

    # raw entries (still sealed with an account key): this account's restore as they are,
    # another account's are refused unless --salvage
    store = points.open()
    note = sorted((practice.data_dir / "sessions").rglob("*.json"))[0]
    sealed = note.read_bytes()
    with store.begin_backup(None, _meta()) as writer:
        for name, key_id in (("mine", practice.key.id_hex), ("foreign", other_account.key.id_hex)):
            fw = writer.add_file(
                f"sessions/raw-{name}.json", "sessions", mtime_ns=10**18, raw=True, key_id=key_id
            )
            fw.write(sealed)
            fw.finish(source_size=len(sealed), mtime_ns=10**18, sealed=True)
        raw_snap = writer.commit()
    ref = f"{points.root}@{raw_snap.snapshot_id}"
    r = restore(practice, ref, "--to", str(tmp_path / "r1"), password_file=points.password_file)
    assert r.returncode == 4 and "another account" not in r.stdout
    r = restore(
        practice,
        ref,
        "--to",
        str(tmp_path / "r2"),
        "--salvage",
        "--json",
        password_file=points.password_file,
    )
    assert r.returncode == 3, r.stderr
    assert (tmp_path / "r2" / "sessions" / "raw-mine.json").read_bytes() == sealed
    assert not (tmp_path / "r2" / "sessions" / "raw-foreign.json").exists()


def _meta() -> SnapshotMeta:
    return SnapshotMeta(kind=SnapshotKind.MANUAL, categories=("sessions",), created=START)


def test_old_archives_beside_a_store_still_list_verify_and_restore(
    points, practice: Practice, backups, tmp_path: Path
):
    archive = points.dest / backups.manual.name
    shutil.copy2(backups.manual, archive)
    r = run_cli(
        "list",
        "--in",
        str(points.dest),
        "--json",
        *practice_args(practice),
        env={"THERABAK_MEDIA_ROOTS": ""},
    )
    formats = sorted(p["format"] for p in json.loads(r.stdout)["points"])
    assert formats == ["archive", "store", "store", "store"]
    pw = tmp_path / "archive-pw.txt"
    from restore_helpers import PASSWORD as ARCHIVE_PASSWORD

    pw.write_text(ARCHIVE_PASSWORD + "\n", encoding="utf-8")
    assert run_cli("verify", archive, "--password-file", pw).returncode == 0
    r = restore(practice, archive, "--to", str(tmp_path / "from-archive"), password_file=pw)
    assert r.returncode == 0, r.stderr


@pytest.mark.slow
@pytest.mark.skipif(IS_WINDOWS, reason="SIGKILL semantics (the crash points kill the process)")
@pytest.mark.parametrize(
    ("point", "outcome"),
    [
        ("crash-at=restore.staging", "old"),
        ("crash-after-bytes=400000", "old"),
        ("crash-at=restore.staged", "old"),
        ("crash-at=restore.swap", "new"),
        ("crash-at=restore.swapped", "new"),
    ],
)
def test_kill_during_a_restore_from_a_store(points, practice: Practice, point, outcome):
    """Data is untouched or fully swapped, as with an archive; the next command finishes
    or rolls back, and the restore then runs through."""
    (practice.data_dir / "sessions" / "after.json").write_bytes(b"{}")
    old = tree_state(practice.data_dir)
    templates = {
        p: v
        for p, v in plaintext_tree(practice.data_dir, practice.key).items()
        if not p.startswith(
            ("profiles/", "sessions/", "therapists/", "finances/", "audio/", "documents/", "other")
        )
    }
    expected_new = {**points.expected(0), **templates}
    r = restore(
        practice,
        points.ref(0),
        password_file=points.password_file,
        env={"THERABAK_FAILPOINTS": point},
    )
    assert r.returncode == -signal.SIGKILL, (r.returncode, r.stderr)
    s = run_cli("status", *practice_args(practice))
    assert s.returncode in (0, 3), s.stderr
    if outcome == "old":
        assert tree_state(practice.data_dir) == old
        assert before_restore_dirs(practice) == []
    else:
        assert plaintext_tree(practice.data_dir, practice.key) == expected_new
        [kept] = before_restore_dirs(practice)
        assert tree_state(kept, skip=(MANIFEST_NAME,)) == old
    assert leftovers(practice.root) == []
    again = restore(practice, points.ref(0), password_file=points.password_file)
    assert again.returncode == 0, again.stderr
    assert plaintext_tree(practice.data_dir, practice.key) == expected_new


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "wait4"), reason="per-child peak RSS needs os.wait4")
def test_memory_stays_flat_in_the_file_size(demo_practice: Practice, tmp_path: Path):
    """A 96 MiB recording restores with memory that does not grow with it: chunks are
    streamed from the packs (the 2 GB run is the benchmark's,
    tests/bench/run.py)."""
    from therabak.practice.demo import DemoSpec, create_demo

    big = create_demo(
        tmp_path / "big",
        DemoSpec(
            clients=1,
            sessions_per_client=1,
            therapists=1,
            audio_files=1,
            audio_mb=96,
            documents_per_client=0,
        ),
    )
    peaks = {}
    for name, data_dir, key_path in (
        ("small", demo_practice.data_dir, demo_practice.key_path),
        ("big", big.data_dir, big.account_key),
    ):
        from therabak.practice.account import AccountKey

        key = AccountKey.load(key_path)
        root = account_store(data_dir, key, tmp_path / f"store-{name}", manual=True)
        m = run_measured(
            "restore",
            f"{root}@latest",
            "--to",
            tmp_path / f"restored-{name}",
            "--yes",
            "--data-dir",
            data_dir,
            "--account-key",
            key_path,
        )
        assert m.returncode == 0, m.stderr
        peaks[name] = m.peak_rss
        restored = sum(f.stat().st_size for f in (tmp_path / f"restored-{name}").rglob("*"))
        assert name == "small" or restored > 96 * MiB  # the recording came back
    print(
        f"peak RSS of a store restore: 2 MB practice {peaks['small'] / MiB:.1f} MiB, "
        f"96 MiB file {peaks['big'] / MiB:.1f} MiB"
    )
    assert peaks["big"] < 100 * MiB
    assert peaks["big"] - peaks["small"] < 16 * MiB


@pytest.mark.slow
@pytest.mark.skipif(IS_WINDOWS, reason="POSIX modes")
def test_no_secret_of_a_store_anywhere(practice: Practice, tmp_path: Path):
    """The store's password, the new one, its recovery code and the store key appear in
    no output and no file of a list, show, verify, diff, restore and passwd of store
    points (the scan of tests/test_secrets.py), and what a restore makes is private."""
    from test_secrets import Scan, add_code, private, umask
    from therabak.crypto.recovery import RecoveryCode

    code = RecoveryCode.generate()
    points = make_store_points(practice, tmp_path / "stick", count=2, code=code)
    scan = Scan()
    scan.add(PASSWORD, "store password")
    new = "Ein neues Speicherpasswort 2026 ß"
    scan.add(new, "new store password")
    add_code(scan, code, "recovery code")
    scan.add(points.open().keys.master, "store key")
    secret = tmp_path / "secret"
    secret.mkdir()
    pw, new_pw = secret / "pw.txt", secret / "new.txt"
    pw.write_text(PASSWORD + "\n", encoding="utf-8")
    new_pw.write_text(new + "\n", encoding="utf-8")
    outputs = []
    prac = practice_args(practice)

    def cli(*args, codes=(0, 3), **kw):
        r = run_cli(*args, **kw)
        assert r.returncode in codes, (args, r.stderr)
        outputs.append(r.stdout + r.stderr)

    with umask(0):
        cli("list", "--in", points.dest, "--json", *prac, "--no-media")
        cli("show", points.ref(1), "--files", "--json", "--password-stdin", input=PASSWORD + "\n")
        cli(
            "verify",
            points.ref(1),
            "--json",
            "--recovery-code-env",
            "RC",
            env={"RC": code.display()},
        )
        cli("diff", points.ref(1), "--against", points.ref(0), "--password-file", pw, "--json")
        cli("diff", points.ref(1), "--password-file", pw, *prac)
        cli("verify", points.ref(1), "--password-env", "PW", env={"PW": "falsch"}, codes=(4,))
        cli(
            "restore",
            points.ref(1),
            "--to",
            tmp_path / "elsewhere",
            "--yes",
            "--json",
            "--password-stdin",
            *prac,
            input=PASSWORD + "\n",
        )
        cli("restore", points.ref(0), "--yes", "--password-file", pw, *prac)
        cli("passwd", points.ref(0), "--password-file", pw, "--new-password-file", new_pw, "--json")
        cli(
            "restore",
            points.ref(1),
            "--yes",
            "--json",
            "--recovery-code-stdin",
            *prac,
            input=code.display() + "\n",
        )
    for text in outputs:
        scan.search(text, "output")
    for p in tmp_path.rglob("*"):
        if p.is_file() and not p.is_symlink() and p.parent != secret and p != points.password_file:
            scan.search(p.read_bytes(), str(p.relative_to(tmp_path)))
    assert scan.hits == []
    assert scan.places > 50
    made = [*(tmp_path / "elsewhere").rglob("*"), *practice.data_dir.rglob("*")]
    assert made and [str(p) for p in made if not private(p)] == []
