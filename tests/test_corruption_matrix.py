"""Corruption matrix: every region of an archive x every kind of damage.

Regions: the magic, each header field, each key slot, the header MAC, padding and
checksum, an entry's header, its sealed metadata, a chunk in the middle of a file, the
last chunk of a file, the index and the trailer. Damage: flip a byte, truncate the file
there, insert garbage there, swap two chunks of a file, swap the region with the same
region of another archive made with the same password, swap two whole entries.

For every case, with the real CLI:

* ``verify`` detects it: exit 5 (never 4: the header checksum tells damage from a wrong
  password), and names the damaged file whenever a file is affected and its name can
  still be known (the index or the entry's own metadata survived);
* ``restore`` refuses (exit 5) and ``Data`` stays byte-for-byte as it was;
* ``restore --salvage`` restores every file whose bytes are intact and still findable,
  each exactly, and reports the damaged ones (exit 3); when the archive key itself is
  lost (the header cut off or its slots shifted), it refuses with exit 5.

The figures "corruption cases detected" / "corruption cases tried" are printed at the end
of the run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from archive_support import (
    ArchiveLayout,
    CheapPassword,
    archive_layout,
    events_of,
    json_lines,
)
from conftest import Practice, record_figure, run_cli
from restore_helpers import (
    ENV_DIR_VARS,
    before_restore_dirs,
    leftovers,
    practice_args,
    restore,
    tree_state,
)
from therabak.archive.reader import ArchiveReader
from therabak.jobs.backup import BackupRequest, run_backup
from therabak.practice.account import AccountKey
from therabak.practice.categories import BackupKind, Rules
from therabak.practice.demo import DemoSpec, create_demo
from therabak.practice.envelope import open_bytes, seal_bytes

pytestmark = pytest.mark.slow

PASSWORD = "gleiches Passwort für beide"
#: the file whose entry is damaged: five chunks (4 KiB envelope chunks), in a core
#: category so that the second archive (an automatic one) holds it too
VICTIM = "sessions/K0001/2026-02-01-long.json"
GARBAGE = bytes(range(7, 7 + 37))

HEADER_REGIONS = [
    "magic",
    "header size",
    "creation time",
    "kind",
    "archive id",
    "categories",
    "key slot 1 (password)",
    "key slot 2 (account)",
    "header MAC",
    "header padding",
    "header checksum",
]
ENTRY_REGIONS = ["entry header", "entry metadata", "middle chunk", "last chunk"]
REGIONS = [*HEADER_REGIONS, *ENTRY_REGIONS, "index", "trailer"]
#: the regions before the key slots: garbage inserted there shifts every slot
BEFORE_SLOTS = {"magic", "header size", "creation time", "kind", "archive id", "categories"}


@dataclass(frozen=True)
class Base:
    practice: Practice
    a: bytes  # the archive that is damaged (manual, password + account slot)
    b: bytes  # another archive with the same password (automatic, other time and id)
    la: ArchiveLayout
    lb: ArchiveLayout
    plain: dict[str, str]  # path -> SHA-256 of the plaintext of every file in A


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    root = tmp_path_factory.mktemp("matrix")
    spec = DemoSpec(
        clients=2,
        sessions_per_client=2,
        therapists=1,
        audio_files=1,
        audio_mb=0.05,
        documents_per_client=1,
    )
    demo = create_demo(root / "practice", spec)
    key = AccountKey.load(demo.account_key)
    (demo.data_dir / VICTIM).write_bytes(seal_bytes(key, os.urandom(5 * 4096 - 100), chunk_log2=12))
    practice = Practice(root / "practice", demo.data_dir, demo.account_key, spec)
    rules = Rules.load()
    made = []
    with pytest.MonkeyPatch.context() as mp:
        for name in ENV_DIR_VARS:
            mp.setenv(name, str(root / "env" / name.lower()))
        for kind, created in (
            (BackupKind.MANUAL, datetime(2026, 3, 1, 10, 0, tzinfo=timezone(timedelta(hours=1)))),
            (
                BackupKind.AUTOMATIC,
                datetime(2026, 3, 2, 11, 30, tzinfo=timezone(timedelta(hours=2))),
            ),
        ):
            result = run_backup(
                BackupRequest(
                    data_dir=demo.data_dir,
                    account=key,
                    dest_dir=root / kind.value,
                    rules=rules,
                    selection=rules.default_selection(kind),
                    protection=CheapPassword(
                        password=PASSWORD, account_key=key.key, account_key_id=key.key_id
                    ),
                    kind=kind,
                    remember_destination=False,
                    created=created,
                )
            )
            with ArchiveReader.open(result.archive) as reader:
                reader.unlock(password=PASSWORD)
                archive_key = reader.archive_key
            data = result.archive.read_bytes()
            made.append((data, archive_layout(data, archive_key)))
    (a, la), (b, lb) = made
    assert len(la.entries[VICTIM].frames) == 5 and VICTIM in lb.entries
    plain = {
        rel: hashlib.sha256(open_bytes(key, (demo.data_dir / rel).read_bytes())).hexdigest()
        for rel in la.entries
    }
    return Base(practice, a, b, la, lb, plain)


# ---- where and how ------------------------------------------------------------------------------


def region_of(layout: ArchiveLayout, region: str) -> tuple[int, int]:
    if region in layout.header:
        return layout.header[region]
    if region == "index":
        return layout.index
    if region == "trailer":
        return layout.trailer
    entry = layout.entries[VICTIM]
    if region == "entry header":
        return entry.head
    if region == "entry metadata":
        return entry.meta
    frame = entry.frames[2 if region == "middle chunk" else -1]
    return frame.offset, frame.end


def neighbour(layout: ArchiveLayout) -> str:
    paths = list(layout.entries)
    return paths[paths.index(VICTIM) + 1]


def flip(base: Base, start: int, end: int, region: str) -> bytes:
    data = bytearray(base.a)
    data[(start + end) // 2] ^= 0x01
    return bytes(data)


def truncate(base: Base, start: int, end: int, region: str) -> bytes:
    return base.a[: (start + end) // 2]


def insert_garbage(base: Base, start: int, end: int, region: str) -> bytes:
    at = (start + end) // 2
    return base.a[:at] + GARBAGE + base.a[at:]


def transplant(base: Base, start: int, end: int, region: str) -> bytes | None:
    """The same region taken from the other archive (same password, other archive key)."""
    b_start, b_end = region_of(base.lb, region)
    other = base.b[b_start:b_end]
    if other == base.a[start:end] or (region in HEADER_REGIONS and len(other) != end - start):
        return None  # nothing would change, or the header's layout would
    return base.a[:start] + other + base.a[end:]


def swap_chunks(base: Base, start: int, end: int, region: str) -> bytes:
    """This chunk and the one before it change places (frame words move with them)."""
    frames = base.la.entries[VICTIM].frames
    i = 2 if region == "middle chunk" else len(frames) - 1
    prev, this = frames[i - 1], frames[i]
    a = base.a
    return a[: prev.offset] + a[this.offset : this.end] + a[prev.offset : prev.end] + a[this.end :]


def swap_entries(base: Base, start: int, end: int, region: str) -> bytes:
    """The victim's whole entry and the next one change places."""
    first, second = base.la.entries[VICTIM], base.la.entries[neighbour(base.la)]
    assert first.end == second.start
    a = base.a
    return (
        a[: first.start]
        + a[second.start : second.end]
        + a[first.start : first.end]
        + a[second.end :]
    )


MUTATIONS: dict[str, Callable[[Base, int, int, str], bytes | None]] = {
    "flip a byte": flip,
    "truncate": truncate,
    "insert garbage": insert_garbage,
    "from another archive": transplant,
    "swap two chunks": swap_chunks,
    "swap two entries": swap_entries,
}


#: the same bytes in every archive (magic, size, zero padding), or another length (the
#: category list of another kind of backup): nothing to take from the other archive
SAME_IN_EVERY_ARCHIVE = {"magic", "header size", "header padding", "categories"}


def applies(region: str, mutation: str) -> bool:
    if mutation == "from another archive":
        return region not in SAME_IN_EVERY_ARCHIVE
    if mutation == "swap two chunks":
        return region in ("middle chunk", "last chunk")
    if mutation == "swap two entries":
        return region == "entry header"
    return True


CASES = [(r, m) for r in REGIONS for m in MUTATIONS if applies(r, m)]


# ---- what must happen ---------------------------------------------------------------------------


def expected(base: Base, region: str, mutation: str, cut: int) -> tuple[str, set[str], bool]:
    """(outcome, files salvage must restore, whether the victim must be named).

    outcome: "salvage" (exit 3, exactly those files) or "lost" (the archive key cannot be
    recovered: salvage refuses with exit 5)."""
    everything = set(base.la.entries)
    if region in HEADER_REGIONS:
        if mutation == "truncate" or (
            mutation == "insert garbage" and (region in BEFORE_SLOTS or "password" in region)
        ):
            return "lost", set(), False
        return "salvage", everything, False
    if mutation == "truncate":
        whole = {p for p, e in base.la.entries.items() if e.end <= cut}
        return "salvage", whole, region in ("middle chunk", "last chunk")
    if region in ENTRY_REGIONS:
        if mutation == "swap two entries":
            return "salvage", everything, True  # both are intact, only misplaced
        name_lost = mutation == "insert garbage" and region in ("entry header", "entry metadata")
        return "salvage", everything - {VICTIM}, not name_lost
    return "salvage", everything, False  # index or trailer: every entry is still there


@pytest.mark.parametrize(("region", "mutation"), CASES, ids=[f"{r}|{m}" for r, m in CASES])
def test_corruption(
    base: Base, tmp_path: Path, record_property, region: str, mutation: str
) -> None:
    start, end = region_of(base.la, region)
    damaged = MUTATIONS[mutation](base, start, end, region)
    assert damaged is not None and damaged != base.a
    outcome, restorable, named = expected(base, region, mutation, (start + end) // 2)
    victims = {VICTIM, neighbour(base.la)} if mutation == "swap two entries" else {VICTIM}

    practice_root = tmp_path / "practice"
    shutil.copytree(base.practice.root, practice_root, symlinks=True)
    p = Practice(practice_root, practice_root / "Data", practice_root / "account.key", None)
    archive = tmp_path / "TheraPsy-Backup-2026-03-01_100000.therabak"
    archive.write_bytes(damaged)
    pw = tmp_path / "pw.txt"
    pw.write_text(PASSWORD + "\n", encoding="utf-8")

    # verify: detected, exit 5, the damaged file named
    v = run_cli("verify", archive, "--json", "--password-file", pw, *practice_args(p))
    record_figure(record_property, "corruption cases tried", 1)
    record_figure(record_property, "corruption cases detected", int(v.returncode == 5))
    assert v.returncode == 5, (v.returncode, v.stdout[-400:], v.stderr)
    assert "Traceback" not in v.stderr
    reported = {d["path"] for d in events_of(json_lines(v.stdout), "damaged")}
    if named:
        assert victims <= reported, reported

    # restore: refused, nothing changed
    before = tree_state(p.data_dir)
    r = restore(p, archive, password_file=pw)
    assert r.returncode == 5, (r.returncode, r.stderr)
    assert tree_state(p.data_dir) == before
    assert leftovers(p.root) == [] and before_restore_dirs(p) == []

    # restore --salvage: every intact file, exactly; the damaged ones reported
    out = tmp_path / "salvaged"
    s = restore(p, archive, "--salvage", "--to", str(out), "--json", password_file=pw)
    if outcome == "lost":
        assert s.returncode == 5, (s.returncode, s.stderr)
        assert not out.exists() and leftovers(tmp_path) == []
    else:
        assert s.returncode == 3, (s.returncode, s.stderr, s.stdout[-400:])
        key = AccountKey.load(p.key_path)
        got = {
            f.relative_to(out).as_posix(): hashlib.sha256(
                open_bytes(key, f.read_bytes())
            ).hexdigest()
            for f in out.rglob("*")
            if f.is_file()
        }
        assert got == {path: base.plain[path] for path in restorable}
        summary = json_lines(s.stdout)[-1]
        assert summary["event"] == "summary"
        if mutation == "swap two entries":  # restored from where they are, and said so
            assert victims <= {w["path"] for w in summary["warnings"] if w["code"] == "relocated"}
        else:
            assert summary["damaged"]
        if named and mutation != "swap two entries":
            assert victims <= {d["path"] for d in summary["damaged"]}
    record_figure(record_property, "corruption cases handled completely", 1)
    assert tree_state(p.data_dir) == before


# ---- a folder backup: one copied file damaged ---------------------------------------------------

FOLDER_DAMAGE = {
    "flip a byte": lambda b: b[:100] + bytes([b[100] ^ 0x40]) + b[101:],
    "truncate": lambda b: b[: len(b) // 2],
    "insert garbage": lambda b: b[:100] + GARBAGE + b[100:],
    "emptied": lambda b: b"",
}


@pytest.mark.parametrize("mutation", list(FOLDER_DAMAGE))
def test_folder_backup_corruption(
    base: Base, tmp_path: Path, record_property, mutation: str
) -> None:
    """A folder backup whose copy of one file was damaged after it was made (restored on
    ``THERABAK_WORKERS`` threads where more than one): the restore refuses (exit 5) and
    changes nothing; with ``--salvage`` every other file comes back exactly and the
    damaged one is reported (exit 3)."""
    from therabak.jobs.folder import FolderBackupRequest, run_folder_backup

    practice_root = tmp_path / "practice"
    shutil.copytree(base.practice.root, practice_root, symlinks=True)
    p = Practice(practice_root, practice_root / "Data", practice_root / "account.key", None)
    key = AccountKey.load(p.key_path)
    point = run_folder_backup(
        FolderBackupRequest(
            data_dir=p.data_dir,
            dest_dir=tmp_path / "usb",
            account_key_id=key.id_hex,
            rules=Rules.load(),
            remember_destination=False,
        )
    ).folder
    victim = point / VICTIM
    victim.write_bytes(FOLDER_DAMAGE[mutation](victim.read_bytes()))
    record_figure(record_property, "corruption cases tried", 1)

    before = tree_state(p.data_dir)
    r = restore(p, point)
    record_figure(record_property, "corruption cases detected", int(r.returncode == 5))
    assert r.returncode == 5, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and VICTIM in r.stderr
    assert tree_state(p.data_dir) == before
    assert leftovers(p.root) == [] and before_restore_dirs(p) == []

    out = tmp_path / "salvaged"
    s = restore(p, point, "--salvage", "--to", str(out), "--json")
    assert s.returncode == 3, (s.returncode, s.stderr, s.stdout[-400:])
    summary = json_lines(s.stdout)[-1]
    assert summary["event"] == "summary"
    assert [d["path"] for d in summary["damaged"]] == [VICTIM]
    assert tree_state(out) == {k: v for k, v in before.items() if k != VICTIM}
    assert tree_state(p.data_dir) == before
    record_figure(record_property, "corruption cases handled completely", 1)
