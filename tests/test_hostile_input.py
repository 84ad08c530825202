"""Hostile input beyond the archive parsers (those are fuzzed in test_archive_fuzz.py):

* hypothesis on the bookkeeping parsers of jobs/FORMAT.md: the folder backup's manifest
  (alone, and as the input of a whole restore), the restore journal (the recovery that
  every command runs first), lock files, the practice app's lock, leftover names, and
  the app's job records and logs (app/runner.py);
* crafted archives (real writer, real crypto, sealed properly, nothing checked while
  writing) with paths that leave the target, absolute and drive paths, names Windows
  reserves, duplicates (also by case), sizes the entries cannot hold: each refused with
  exit 5, nothing written anywhere, ``Data`` unchanged, and salvage restoring only the
  harmless files;
* absurd password-hashing parameters: refused at once, without the memory;
* symbolic links planted where a restore writes (in its staging folder while it runs,
  in a folder backup): never followed. (A link as the ``--to`` target is refused up
  front: test_restore_roundtrip.py.)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import struct
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from archive_support import CheapPassword, build_archive
from cli_support import frozen, wait_for_event
from conftest import IS_WINDOWS, Practice, run_cli, run_measured, start_cli
from restore_helpers import (
    ENV_DIR_VARS,
    Crafted,
    before_restore_dirs,
    change_data,
    craft_archive,
    leftovers,
    practice_args,
    restore,
    tree_state,
)
from therabak.app.runner import JobRunner, JobState
from therabak.archive.header import DEFAULT_HEADER_SIZE, parse_header
from therabak.datafolder.locks import JobLock, LockBusy, live_readers, practice_lock_state
from therabak.datafolder.manifest import MANIFEST_NAME, iter_manifest_files, read_manifest_header
from therabak.datafolder.names import journal_path
from therabak.datafolder.swap import recover
from therabak.errors import DamagedArchiveError, TherabakError
from therabak.jobs.folder import FolderBackupRequest, run_folder_backup
from therabak.jobs.restore import RestoreRequest, run_restore
from therabak.points.point import folder_point
from therabak.practice.categories import Rules
from therabak.practice.demo import DemoSpec, create_demo
from therabak.practice.envelope import seal_bytes
from therabak.storedpaths import check_relative_path

pytest_plugins = ["restore_helpers"]  # its fixtures: backups, other_account, ...

FUZZ = settings(
    max_examples=150,
    deadline=timedelta(seconds=10),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
KEY_ID = "d96ad0aa596cd461"
ODD = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
    | st.sampled_from(
        [
            "../../outside",
            "/etc/passwd",
            "C:/Windows",
            "CON",
            "sessions/K0001/a.json",
            "ab" * 32,
            "2026-11-27T11:41:05+01:00",
            "therabak-folder-backup",
            "therabak-before-restore",
            KEY_ID,
            2**63,
            10**12,
        ]
    )
)


def _dumps(value) -> str:
    return json.dumps(value, allow_nan=True)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile")


# ---- the folder backup's manifest ---------------------------------------------------------------

MANIFEST_HEADERS = st.fixed_dictionaries(
    {},
    optional={
        k: ODD | st.sampled_from([1, "folder", "therabak-folder-backup"])
        for k in ("format", "version", "kind", "created", "account_key_id", "files", "bytes")
    },
)
MANIFEST_LINES = st.fixed_dictionaries({}, optional={k: ODD for k in ("p", "s", "m", "h")})


@FUZZ
@example(b'{"format": "therabak-folder-backup", "version": 1, "files": Infinity}')
@example(b'{"format": "therabak-folder-backup", "version": 1, "created": "2026-01-01"}\n[1]')
@given(
    st.one_of(
        st.binary(max_size=3000),
        st.tuples(MANIFEST_HEADERS | ODD, st.lists(MANIFEST_LINES | ODD, max_size=5)).map(
            lambda t: "\n".join([_dumps(t[0]), *map(_dumps, t[1])]).encode()
        ),
    )
)
def test_manifest_parsers(scratch: Path, content: bytes) -> None:
    folder = scratch / "TheraPsy-Data-2026-01-01_000000"
    folder.mkdir(exist_ok=True)
    (folder / MANIFEST_NAME).write_bytes(content)
    try:
        header = read_manifest_header(folder)
        assert header is not None
        assert isinstance(header.files, int) and isinstance(header.bytes, int)
    except DamagedArchiveError:
        pass
    try:
        for f in iter_manifest_files(folder):
            assert isinstance(f.path, str) and len(f.sha256) == 64
            assert f.size >= 0 and f.mtime_ns >= 0
    except DamagedArchiveError:
        pass
    point = folder_point(folder, KEY_ID, "given")  # listing never raises
    assert point is not None


@pytest.fixture(scope="module")
def small_folder_backup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a folder backup of a tiny practice, that practice's account key file)."""
    root = tmp_path_factory.mktemp("small-folder")
    demo = create_demo(
        root / "practice",
        DemoSpec(
            clients=1,
            sessions_per_client=1,
            therapists=1,
            audio_files=0,
            audio_mb=0,
            documents_per_client=0,
        ),
    )
    with pytest.MonkeyPatch.context() as mp:
        for name in ENV_DIR_VARS:
            mp.setenv(name, str(root / "env" / name.lower()))
        from therabak.practice.account import AccountKey

        folder = run_folder_backup(
            FolderBackupRequest(
                data_dir=demo.data_dir,
                dest_dir=root / "usb",
                account_key_id=AccountKey.load(demo.account_key).id_hex,
                rules=Rules.load(),
            )
        ).folder
    return folder, demo.account_key


HOSTILE_PATHS = st.sampled_from(
    [
        "../evil.json",
        "../../evil.json",
        "sessions/../../evil.json",
        "/tmp/therabak-evil.json",
        "C:/evil.json",
        "sessions\\..\\..\\evil.json",
        "sessions/CON",
        "sessions/CONIN$",
        "sessions/evil.",
        "therabak-manifest.json",
        "sessions",
        "",
    ]
) | st.text(max_size=30)


@settings(FUZZ, max_examples=40)
@given(
    st.lists(
        st.fixed_dictionaries(
            {"p": HOSTILE_PATHS, "s": st.integers(0, 2**62), "m": st.integers(0, 2**62)},
            optional={"h": st.sampled_from(["ab" * 32, "0" * 64]), "d": HOSTILE_PATHS},
        ),
        min_size=1,
        max_size=4,
    ),
    st.booleans(),
)
def test_restoring_a_folder_backup_with_a_hostile_manifest(
    small_folder_backup, lines: list[dict], salvage: bool
) -> None:
    """Whatever the manifest lists, a restore writes only inside its target, and only
    files whose paths are safe; it fails with a TherabakError or succeeds."""
    source, key_path = small_folder_backup
    with tempfile.TemporaryDirectory(prefix="therabak-hostile-") as tmp:
        world = Path(tmp)
        point = world / "usb" / source.name
        shutil.copytree(source, point)
        with open(point / MANIFEST_NAME, "a", encoding="utf-8") as f:
            for line in lines:
                line.setdefault("h", "ab" * 32)
                f.write(json.dumps(line) + "\n")
        (world / "outside").mkdir()
        target = world / "place" / "Restored"
        target.parent.mkdir()
        before = tree_state(world)
        try:
            run_restore(
                RestoreRequest(
                    point=point,
                    data_dir=world / "place" / "Data",
                    account_key_path=key_path,
                    rules=Rules.load(),
                    target=target,
                    salvage=salvage,
                )
            )
        except TherabakError:
            assert not target.exists()
        after = {k: v for k, v in tree_state(world).items() if not k.startswith("place/Restored")}
        assert after == before
        for f in target.rglob("*") if target.exists() else ():
            check_relative_path(f.relative_to(target).as_posix())
        assert leftovers(target.parent) == []
    assert not Path("/tmp/therabak-evil.json").exists()


# ---- the restore journal -----------------------------------------------------------------------


@FUZZ
@given(
    st.fixed_dictionaries(
        {"v": st.just(1) | ODD},
        optional={
            "data": ODD,
            "staging": ODD | st.sampled_from(["STAGING", "OLD", "OUTSIDE", "OTHER", "DATA"]),
            "old": ODD | st.sampled_from(["STAGING", "OLD", "OUTSIDE", "OTHER", "DATA"]),
            "manifest": ODD,
            "started": ODD,
        },
    )
    | ODD,
    st.sets(st.sampled_from(["data", "staging", "old"])),
)
@example({"v": 1, "staging": "STAGING"}, {"data", "staging"})  # rolled back: staging goes
@example({"v": 1, "staging": "STAGING", "old": "OLD"}, {"staging", "old"})  # completed
def test_recovery_with_a_hostile_journal(doc, present: set[str]) -> None:
    """Recovery runs before every command: whatever the journal says, it only ever moves
    the folders a restore of this Data makes, never loses the data, and fails (if it
    must) with a one-line TherabakError."""
    with tempfile.TemporaryDirectory(prefix="therabak-journal-") as tmp:
        parent = Path(tmp) / "TheraPsy"
        parent.mkdir()
        data = parent / "Data"
        names = {
            "DATA": data,
            "STAGING": parent / "Data.restore-2026-01-01_000000.999999.partial",
            "OLD": parent / "Data.before-restore-2026-01-01_000000",
            "OTHER": parent / "Documents",
            "OUTSIDE": Path(tmp) / "elsewhere",
        }
        for what in ("OTHER", "OUTSIDE"):
            names[what].mkdir()
            (names[what] / "keep.txt").write_text(what)
        for what in present:
            folder = names[what.upper()]
            folder.mkdir()
            (folder / "note.txt").write_text(what)
        if isinstance(doc, dict):
            for field in ("staging", "old", "data"):
                if isinstance(doc.get(field), str) and doc[field] in names:
                    doc[field] = str(names[doc[field]])
        journal_path(data).write_text(_dumps(doc), encoding="utf-8")
        try:
            recover(data)
        except TherabakError as e:
            assert "\n" not in str(e)
        for what in ("OTHER", "OUTSIDE"):  # never touched
            assert (names[what] / "keep.txt").read_text() == what
        held = {
            p.read_text()
            for p in Path(tmp).rglob("note.txt")
            if p.parent.name not in ("Documents", "elsewhere")
        }
        lost = present - held
        # Nothing of the user's is lost. The one folder recovery may remove is a restore's
        # staging copy, and only while Data itself is there (a restore that never swapped
        # is rolled back; its archive still holds what the copy held).
        assert lost <= {"staging"}
        if lost:
            assert "data" in present and (data / "note.txt").read_text() == "data"


# ---- lock files, the practice app's lock, leftover names ---------------------------------------

LOCK_CONTENT = st.binary(max_size=200) | st.fixed_dictionaries(
    {}, optional={"pid": ODD, "started": ODD, "what": ODD}
).map(lambda d: _dumps(d).encode())


@FUZZ
@given(LOCK_CONTENT, st.booleans())
@example(b'{"pid":Infinity}', False)  # once crashed every command (OverflowError)
@example(b'{"pid":1e400}', True)
def test_lock_file_parsers(scratch: Path, content: bytes, old: bool) -> None:
    folder = scratch / "locks"
    folder.mkdir(exist_ok=True)
    lock = folder / ".therabak-auto.lock"
    lock.write_bytes(content)
    if old:
        os.utime(lock, (1, 1))
    with contextlib.suppress(LockBusy):
        JobLock(lock).acquire().release()
    data = folder / "Data"
    data.mkdir(exist_ok=True)
    (data / ".lock").write_bytes(content)
    practice_lock_state(data)
    mark = folder / f".Data.therabak-reading-{2**40}-00ff.lock"
    mark.write_bytes(content)
    live_readers(data)
    with contextlib.suppress(OSError):
        mark.unlink()


RECORD_FIELDS = (
    "id",
    "operation",
    "args",
    "pid",
    "started",
    "data_dir",
    "title",
    "target",
    "proc_identity",
    "cancel_requested",
    "seen",
)
JOB_LOG_LINES = st.fixed_dictionaries(
    {"event": st.sampled_from(["summary", "error", "progress", "phase", "x"]) | ODD},
    optional={k: ODD for k in ("exit_code", "operation", "message", "phase", "name")},
).map(_dumps)


@FUZZ
@given(
    st.fixed_dictionaries(
        {},
        optional={
            k: ODD | st.sampled_from([os.getpid(), 2**40, -1, "12", [1], "2026-01-01T00:00:00"])
            for k in RECORD_FIELDS
        },
    )
    | ODD,
    st.binary(max_size=300)
    | st.lists(JOB_LOG_LINES, max_size=4).map(lambda x: "\n".join(x).encode()),
)
def test_job_runner_records_and_logs(scratch: Path, record, log: bytes) -> None:
    """The app lists its jobs from files in the state folder: a damaged record or log is
    skipped or shown as it is, never a crash of the app."""
    root = scratch / "jobs"
    root.mkdir(exist_ok=True)
    for old in root.iterdir():
        old.unlink()
    (root / "20260101-000000-abcdef.json").write_text(_dumps(record), encoding="utf-8")
    (root / "20260101-000000-abcdef.jsonl").write_bytes(log)
    runner = JobRunner(root)
    for job in runner.list_jobs():
        assert isinstance(job.state, JobState)
        runner.stderr_text(job)
        if job.running:
            continue
        for _ in runner.follow(job):
            pass
        runner.forget(job)


@pytest.mark.parametrize("pid", ["0", "99999999999999999999", str(2**31), str(2**63)])
def test_leftover_names_with_impossible_process_ids(
    practice: Practice, tmp_path: Path, pid
) -> None:
    """A leftover whose name holds an impossible process id is simply a dead one's."""
    (practice.root / f"Data.restore-2026-01-01_000000.{pid}.partial").mkdir()
    usb = tmp_path / "usb"
    usb.mkdir()
    (usb / f"TheraPsy-Backup-2026-01-01_000000.therabak.{pid}.partial").write_bytes(b"x")
    (usb / f"TheraPsy-Data-2026-01-01_000000.{pid}.partial").mkdir()
    (practice.data_dir / ".lock").write_text(pid)
    for args in (
        ["status"],
        ["backup", "--single-file", "--no-password", "--dest", usb],
        ["folder-backup", "--dest", usb],
    ):
        r = run_cli(*args, *practice_args(practice))
        assert r.returncode in ((0, 3) if args == ["status"] else (0,)), (args, r.stderr)
        assert "Traceback" not in r.stderr and "Internal error" not in r.stderr
    assert (
        leftovers(practice.root) == [] and [p for p in usb.iterdir() if "partial" in p.name] == []
    )


# ---- crafted archives --------------------------------------------------------------------------

OK = "sessions/K0001/2026-01-05-01.json"
HOSTILE = {  # name: (the hostile entry, what salvage restores besides OK)
    "dotdot": (Crafted("../../evil.json", b"EVIL"), []),
    "inner dotdot": (Crafted("sessions/../../evil.json", b"EVIL"), []),
    "absolute": (Crafted("/tmp/therabak-evil.json", b"EVIL"), []),
    "drive": (Crafted("C:/evil.json", b"EVIL"), []),
    "drive relative": (Crafted("C:evil.json", b"EVIL"), []),
    "UNC": (Crafted("\\\\server\\share\\evil.json", b"EVIL"), []),
    "backslashes": (Crafted("sessions\\..\\..\\evil.json", b"EVIL"), []),
    "empty component": (Crafted("sessions//evil.json", b"EVIL"), []),
    "duplicate": (Crafted(OK, b"SECOND"), []),
    "huge size": (Crafted("sessions/K0001/big.json", b"small", declared_size=1 << 60), ["big"]),
    "huge raw size": (
        Crafted("sessions/K0001/raw.json", b"small", raw=True, key_id="", declared_size=1 << 50),
        ["raw"],
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(HOSTILE))
def test_crafted_archive_is_refused(practice: Practice, tmp_path: Path, case: str) -> None:
    key = practice.key
    bad, extra = HOSTILE[case]
    if bad.raw:
        bad = Crafted(
            bad.path,
            seal_bytes(key, b"raw"),
            raw=True,
            key_id=key.id_hex,
            declared_size=bad.declared_size,
        )
    archive = craft_archive(
        tmp_path / "crafted" / "TheraPsy-Backup-2026-01-01_000000.therabak",
        key,
        [Crafted(OK, seal_bytes(key, b'{"ok": true}')), bad],
    )
    change_data(practice)
    world_before = tree_state(tmp_path, skip=())
    r = restore(practice, archive)
    assert r.returncode == 5, (case, r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert tree_state(tmp_path) == world_before  # Data and everything around it unchanged
    assert before_restore_dirs(practice) == [] and leftovers(practice.root) == []

    out = tmp_path / "salvaged"
    s = restore(practice, archive, "--salvage", "--to", str(out))
    assert s.returncode == 3, (case, s.returncode, s.stderr)
    got = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert got == sorted([OK, *(f"sessions/K0001/{e}.json" for e in extra)])
    assert not any(
        b"EVIL" in p.read_bytes()
        for p in tmp_path.rglob("*")
        if p.is_file() and "crafted" not in p.parts
    )
    assert not Path("/tmp/therabak-evil.json").exists()


#: Names that were refused as "hostile" while the reader judged names by what Windows
#: holds: they are names a Linux practice can have (issue 13), so a restore brings them
#: back as they are here and under an escaped name on Windows (name, escaped name).
FOREIGN_NAMES = {
    "CON": ("sessions/CON", "sessions/%43ON"),
    "NUL.txt": ("sessions/NUL.txt", "sessions/%4EUL.txt"),
    "COM1": ("sessions/COM1.json", "sessions/%43OM1.json"),
    "CONIN$": ("sessions/CONIN$", "sessions/%43ONIN$"),
    "COM superscript": ("sessions/COM¹.json", "sessions/%43OM¹.json"),
    "trailing dot": ("sessions/evil.", "sessions/evil%2E"),
    "trailing space": ("sessions/evil ", "sessions/evil%20"),
    "stream": ("sessions/K0001/a.json:stream", "sessions/K0001/a.json%3Astream"),
    "case": (OK[:-4] + "JSON", OK[:-4] + "%4A%53%4F%4E"),  # OK, in other letters
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(FOREIGN_NAMES))
def test_names_another_system_cannot_hold_are_restored(
    practice: Practice, tmp_path: Path, case: str
) -> None:
    """Each comes back under its own name on this Linux file system (exit 0); with the
    Windows rules switched on (THERABAK_FS_RULES=windows) under its escaped name, exit 3,
    listed in the JSON summary. Nothing is written outside the target."""
    key = practice.key
    name, escaped = FOREIGN_NAMES[case]
    archive = craft_archive(
        tmp_path / "crafted" / "TheraPsy-Backup-2026-01-01_000000.therabak",
        key,
        [Crafted(OK, seal_bytes(key, b'{"ok": true}')), Crafted(name, b"ODD", sealed=False)],
    )
    here = tmp_path / "here"
    r = restore(practice, archive, "--to", str(here))
    assert r.returncode == 0, (case, r.stderr)
    assert (here / name).read_bytes() == b"ODD"
    windows = tmp_path / "windows"
    w = restore(
        practice, archive, "--to", str(windows), "--json", env={"THERABAK_FS_RULES": "windows"}
    )
    assert w.returncode == 3, (case, w.stderr)
    summary = [json.loads(line) for line in w.stdout.splitlines()][-1]
    assert [(x["path"], x["restored_as"]) for x in summary["renamed"]] == [(name, escaped)]
    assert (windows / escaped).read_bytes() == b"ODD"
    assert not (windows / name).exists()
    assert not Path("/tmp/therabak-evil.json").exists()


def _with_argon2(archive: Path, t: int, p: int, m: int) -> None:
    """Set the password slot's Argon2id parameters (checksum recomputed, so the header
    reads as intact and the parameters are what decides)."""
    import hashlib

    data = bytearray(archive.read_bytes())
    header = parse_header(bytes(data[:DEFAULT_HEADER_SIZE]))
    at = len(header.fixed) + 1 + 3 + 16  # slot count, type and length, then the salt
    data[at : at + 12] = struct.pack(">III", t, p, m)
    body = bytes(data[: DEFAULT_HEADER_SIZE - 32])
    data[DEFAULT_HEADER_SIZE - 32 : DEFAULT_HEADER_SIZE] = hashlib.sha256(body).digest()
    archive.write_bytes(data)


@pytest.mark.skipif(not hasattr(os, "wait4"), reason="per-child resource usage needs os.wait4")
@pytest.mark.parametrize(
    "t, p, m",
    [(2**32 - 1, 4, 65536), (3, 2**32 - 1, 65536), (3, 4, 2**32 - 1), (16, 16, 1 << 20)],
)
def test_absurd_password_hashing_costs_nothing(practice: Practice, tmp_path: Path, t, p, m):
    """Through the CLI, as a user meets it: refused with exit 5 before Argon2 runs. The
    child's peak memory and CPU time show that no derivation happened (one at these
    parameters needs gigabytes and minutes)."""
    archive = build_archive(
        tmp_path / "TheraPsy-Backup-2026-01-01_000000.therabak",
        {"a.txt": b"x"},
        protection=CheapPassword(password="pw"),
    ).path
    _with_argon2(archive, t, p, m)
    pw = tmp_path / "pw.txt"
    pw.write_text("pw\n")
    for args in (
        ["verify", archive, "--password-file", pw],
        ["restore", archive, "--yes", "--password-file", pw, *practice_args(practice)],
    ):
        m = run_measured(*args, env={"THERABAK_MEDIA_ROOTS": ""})
        assert m.returncode == 5, m.stderr
        assert "outside safe limits" in m.stderr
        assert m.peak_rss < 200 * 1024 * 1024  # the interpreter, not a gigabyte
        assert m.cpu_s < 10  # seconds; one derivation at these parameters: minutes


# ---- symbolic links where a restore writes ------------------------------------------------------

posix_links = pytest.mark.skipif(IS_WINDOWS, reason="symbolic links need privileges on Windows")


@posix_links
def test_links_planted_in_the_staging_folder_are_never_followed(
    practice: Practice, backups, tmp_path: Path
) -> None:
    """While a restore stages, someone plants links where it is about to write (a folder
    and a file): the restore refuses (exit 5), writes nothing through them, changes
    nothing; the next restore works."""
    change_data(practice)
    before = tree_state(practice.data_dir)
    outside = tmp_path / "outside"
    outside.mkdir()
    target_file = outside / "victim.json"
    target_file.write_text("untouched")
    proc = start_cli(
        "restore",
        backups.auto,
        "--yes",
        "--json",
        *practice_args(practice),
        env={"THERABAK_FAILPOINTS": "delay-ms=40", "THERABAK_MEDIA_ROOTS": ""},
    )
    try:
        wait_for_event(proc, "progress")
        with frozen(proc):
            [staging] = [p for p in practice.root.iterdir() if p.name.endswith(".partial")]
            planted = staging / "therapists"
            if planted.exists():  # already made by the file-creating thread: swap it
                planted.rename(staging / "therapists.aside")
            os.symlink(outside, planted)
            (staging / "sessions" / "K0006").mkdir(parents=True, exist_ok=True)
            for name in ("2026-01-05-01.json", "2026-01-12-02.json", "2026-01-19-03.json"):
                with contextlib.suppress(FileExistsError):
                    os.symlink(target_file, staging / "sessions" / "K0006" / name)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 5, err
    assert "Refusing" in err
    assert sorted(p.name for p in outside.iterdir()) == ["victim.json"]
    assert target_file.read_text() == "untouched"
    assert tree_state(practice.data_dir) == before
    assert leftovers(practice.root) == []
    assert restore(practice, backups.auto).returncode == 0


@posix_links
def test_a_link_inside_a_folder_backup_is_not_restored_through(
    practice: Practice, backups, tmp_path: Path
) -> None:
    point = tmp_path / "usb" / backups.folder.name
    shutil.copytree(backups.folder, point)
    secret = tmp_path / "secret.txt"
    secret.write_text("not part of any backup")
    victim = next(p for p in point.rglob("*.json") if p.name != MANIFEST_NAME)
    victim.unlink()
    victim.symlink_to(secret)
    before = tree_state(practice.data_dir)
    r = restore(practice, point)
    assert r.returncode == 5 and "not a plain file" in r.stderr
    assert tree_state(practice.data_dir) == before
    out = tmp_path / "salvaged"
    s = restore(practice, point, "--salvage", "--to", str(out))
    assert s.returncode == 3
    assert not any(b"not part of" in p.read_bytes() for p in out.rglob("*") if p.is_file())
