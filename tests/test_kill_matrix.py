"""kill -9 at every phase of every job that writes: backup, restore, folder backup, auto.

Each case runs the real CLI in a subprocess whose ``THERABAK_FAILPOINTS`` make it kill
itself (SIGKILL: no cleanup, no finally) at a named point of one phase, or once N bytes
were written (several offsets across the job). After every kill:

* nothing that looks like a finished backup exists unless it verifies (archives are read
  back completely, folder backups checked file by file against their manifest);
* ``Data`` is complete and equal to the old or the new state (the whole tree is hashed),
  and the old state is never lost (a restore keeps it whole in ``Data.before-restore-*``);
* the history never names a backup that does not exist;
* the next run cleans up the leftovers (``.partial`` files and folders, staging folders,
  journals, locks, the reservation of a backup's name) and succeeds.

Every case is one "kill points survived" in the figures printed at the end of the run.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest

from archive_support import archives_in, partials_in, verify_file
from conftest import IS_WINDOWS, Practice, record_figure, run_cli
from restore_helpers import (
    before_restore_dirs,
    change_data,
    folder_backup_problems,
    leftovers,
    plaintext_tree,
    practice_args,
    restore,
    subset,
    tree_state,
)
from therabak.datafolder.manifest import MANIFEST_NAME
from therabak.jobkit.history import read_all
from therabak.jobs.auto import LOCK_NAME

pytest_plugins = ["restore_helpers"]  # its fixtures: backups, other_account, ...
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(IS_WINDOWS, reason="SIGKILL semantics (the crash points kill the process)"),
]

CORE = ("profiles/", "sessions/", "therapists/", "finances/")
FP = "THERABAK_FAILPOINTS"


def killed(r) -> bool:
    return r.returncode == -signal.SIGKILL


def failpoint(point: str, total: int) -> str:
    """``crash-at=NAME`` for a named point; ``bytes:F`` is F (a fraction of *total*, or an
    absolute offset when >= 1) bytes into the job's writes."""
    if not point.startswith("bytes:"):
        return f"crash-at={point}"
    f = float(point.split(":", 1)[1])
    n = int(f) if f >= 1 else max(1, int(total * f))
    return f"crash-after-bytes={n}"


def dir_size(root: Path, prefixes: tuple[str, ...] = ("",)) -> int:
    return sum(
        p.stat().st_size
        for p in root.rglob("*")
        if p.is_file() and p.relative_to(root).as_posix().startswith(prefixes)
    )


def assert_history_consistent() -> None:
    """The history never names a manual or folder backup that does not exist (automatic
    backups are deleted by retention later; readers of the history check that)."""
    for record in read_all():
        if record.kind != "auto":
            assert Path(record.path).exists(), f"history names a missing backup: {record}"


def reservations_in(folder: Path) -> list[Path]:
    """Reservations of backup names (``<name>.reserved``): a killed job leaves its own."""
    return sorted(folder.glob("*.reserved"))


def survived(record_property) -> None:
    record_figure(record_property, "kill points survived", 1)


# ---- manual backup ------------------------------------------------------------------------------

BACKUP_POINTS = [
    "backup.body",  # after the first file
    "backup.index",
    "backup.trailer",
    "backup.rename",  # synced, not yet renamed
    "backup.published",  # renamed, nothing recorded yet: the archive must verify
    "bytes:100",  # inside the header region
    "bytes:4140",  # the first entry's head
    "bytes:0.33",
    "bytes:0.66",
    "bytes:0.9995",  # in the index or the trailer
]


@pytest.mark.parametrize("point", BACKUP_POINTS)
def test_kill_backup(practice: Practice, backups, tmp_path: Path, record_property, point: str):
    spec = failpoint(point, backups.manual.stat().st_size)  # same content, same size
    before = tree_state(practice.data_dir)
    dest = tmp_path / "usb"
    args = ("backup", "--single-file", "--dest", dest, "--no-password", *practice_args(practice))
    r = run_cli(*args, env={FP: spec})
    assert killed(r), (spec, r.returncode, r.stderr)
    assert tree_state(practice.data_dir) == before
    published = point == "backup.published"
    finished = archives_in(dest)
    assert len(finished) == int(published)
    for archive in finished:
        assert verify_file(archive) == []
    assert len(partials_in(dest)) == int(not published)
    assert_history_consistent()

    assert len(reservations_in(dest)) == 1  # held until it has published: a dead one's now

    again = run_cli(*args)
    assert again.returncode == 0, again.stderr
    assert partials_in(dest) == [] and leftovers(practice.root) == []
    assert reservations_in(dest) == []
    assert len(archives_in(dest)) == 1 + int(published)
    for archive in archives_in(dest):
        assert verify_file(archive) == []
    assert tree_state(practice.data_dir) == before
    assert_history_consistent()
    survived(record_property)


# ---- restore ------------------------------------------------------------------------------------

# (point, which state Data holds once the next command has recovered)
RESTORE_POINTS = [
    ("restore.staging", "old"),  # after the first staged file
    ("restore.carry", "old"),  # carrying over what the backup does not hold
    ("restore.staged", "old"),  # staged and checked, no journal yet
    ("restore.journal", "old"),  # journal written, nothing renamed
    ("restore.swap", "new"),  # between the two renames: there is no Data
    ("restore.swapped", "new"),  # both renames done, journal not yet removed
    ("bytes:1000", "old"),  # inside the first staged file
    ("bytes:0.3", "old"),
    ("bytes:0.6", "old"),
    ("bytes:0.9", "old"),
]


# (point, outcome, source): each point for an automatic backup and for a folder backup
# (which holds the whole Data folder: nothing is carried over, restore.carry never comes)
RESTORE_CASES = [
    (point, outcome, source)
    for source in ("auto", "folder")
    for point, outcome in RESTORE_POINTS
    if not (source == "folder" and point == "restore.carry")
]


@pytest.mark.parametrize(
    ("point", "outcome", "source"), RESTORE_CASES, ids=[f"{p}-{s}" for p, _, s in RESTORE_CASES]
)
def test_kill_restore(
    practice: Practice,
    demo_practice: Practice,
    backups,
    record_property,
    point: str,
    outcome: str,
    source: str,
):
    """*source*: an automatic backup (an archive: staged one file at a time) or a folder
    backup (staged on ``THERABAK_WORKERS`` threads when more than one)."""
    change_data(practice)
    spec = failpoint(point, dir_size(practice.data_dir))  # about what a restore writes
    old = tree_state(practice.data_dir)
    old_plain = plaintext_tree(practice.data_dir, practice.key)
    point_path = backups.auto if source == "auto" else backups.folder
    original = plaintext_tree(demo_practice.data_dir, practice.key)
    if source == "auto":  # the core categories come back, the rest is carried over
        new_plain = {
            **subset(old_plain, CORE, inside=False),
            **subset(original, CORE, inside=True),
        }
    else:  # the whole Data folder, exactly (test_restore_roundtrip.py)
        new_plain = original

    r = restore(practice, point_path, env={FP: spec})
    assert killed(r), (spec, r.returncode, r.stderr)

    # Right after the kill: Data is old or new, never a mix; the old state exists, whole.
    kept = [d for d in before_restore_dirs(practice) if tree_state(d, skip=(MANIFEST_NAME,)) == old]
    if practice.data_dir.exists():
        state = tree_state(practice.data_dir)
        assert state == old or plaintext_tree(practice.data_dir, practice.key) == new_plain
        assert state == old or kept
    else:
        assert kept, "Data is gone and the old data is not kept"

    # The next command that touches Data recovers and cleans up.
    s = run_cli("status", *practice_args(practice))
    assert s.returncode in (0, 3), s.stderr
    if outcome == "old":
        assert tree_state(practice.data_dir) == old
        assert before_restore_dirs(practice) == []
    else:
        assert plaintext_tree(practice.data_dir, practice.key) == new_plain
        [kept_dir] = before_restore_dirs(practice)
        assert tree_state(kept_dir, skip=(MANIFEST_NAME,)) == old
        assert "interrupted restore was completed" in s.stderr
    assert leftovers(practice.root) == []

    again = restore(practice, point_path)
    assert again.returncode == 0, again.stderr
    assert plaintext_tree(practice.data_dir, practice.key) == new_plain
    assert leftovers(practice.root) == []
    survived(record_property)


@pytest.mark.parametrize("point", ["restore.staging", "restore.staged", "bytes:0.5"])
def test_kill_restore_into_another_folder(
    practice: Practice, backups, tmp_path: Path, record_property, point: str
):
    """``restore --to DIR``: the target appears only complete; Data is never touched."""
    before = tree_state(practice.data_dir)
    target = tmp_path / "elsewhere" / "Restored"
    target.parent.mkdir()
    spec = failpoint(point, dir_size(practice.data_dir, CORE))  # what the backup holds
    r = restore(practice, backups.auto, "--to", str(target), env={FP: spec})
    assert killed(r), (spec, r.returncode, r.stderr)
    assert not target.exists()
    assert tree_state(practice.data_dir) == before

    again = restore(practice, backups.auto, "--to", str(target))
    assert again.returncode == 0, again.stderr
    assert leftovers(target.parent) == []
    restored = plaintext_tree(target, practice.key)
    assert restored == subset(plaintext_tree(practice.data_dir, practice.key), CORE, inside=True)
    assert tree_state(practice.data_dir) == before
    survived(record_property)


# ---- folder backup ------------------------------------------------------------------------------

FOLDER_POINTS = [
    "folder.copy",  # after the first file
    "folder.manifest",  # every file copied, manifest written, not synced
    "folder.rename",  # verified, not yet renamed
    "folder.published",  # renamed, nothing recorded yet: it must be complete
    "bytes:0.001",
    "bytes:0.5",
    "bytes:0.95",
]


@pytest.mark.parametrize("point", FOLDER_POINTS)
def test_kill_folder_backup(
    practice: Practice, tmp_path: Path, record_property, point: str
) -> None:
    before = tree_state(practice.data_dir)
    spec = failpoint(point, dir_size(practice.data_dir))
    dest = tmp_path / "usb"
    args = ("folder-backup", "--dest", dest, *practice_args(practice))
    r = run_cli(*args, env={FP: spec})
    assert killed(r), (spec, r.returncode, r.stderr)
    assert tree_state(practice.data_dir) == before
    published = point == "folder.published"
    finished = [p for p in dest.iterdir() if p.suffix not in (".partial", ".reserved")]
    assert len(finished) == int(published)
    for folder in finished:
        assert folder_backup_problems(folder) == []
    assert len(partials_in(dest)) == int(not published)
    assert len(reservations_in(dest)) == 1  # held until it has published: a dead one's now
    assert_history_consistent()

    again = run_cli(*args)
    assert again.returncode == 0, again.stderr
    assert partials_in(dest) == [] and leftovers(practice.root) == []
    assert reservations_in(dest) == []
    finished = list(dest.iterdir())
    assert len(finished) == 1 + int(published)
    for folder in finished:
        assert folder_backup_problems(folder) == []
        assert tree_state(folder, skip=(MANIFEST_NAME,)) == before
    assert tree_state(practice.data_dir) == before
    survived(record_property)


# ---- a backup into a store ----------------------------------------------------------------------

STORE_POINTS = [
    "backup.body",  # after the first file read
    "store.pack",  # a pack put (the last one, at the commit: the practice is small)
    "store.index",  # the index file put
    "store.synced",  # the barrier passed, no snapshot yet
    "store.snapshot",  # the snapshot put: the backup exists
    "backup.published",  # nothing recorded yet
    "bytes:1",  # the first byte of the first pack
    "bytes:3000",  # inside the pack (the change writes some kB of new content)
    "bytes:6500",  # further in: the pack's end, the index or the snapshot
]


def store_of(folder: Path, **unlock):
    from therabak.storage.local import LocalStorage
    from therabak.store.core import Store
    from therabak.store.keyfile import Unlock

    return Store.open(LocalStorage(folder), Unlock(**unlock))


def store_state(store, expected: dict[str, dict[str, str]]) -> None:
    """Every snapshot restores byte-exact to one of the *expected* states (path ->
    SHA-256), and check finds nothing but notes (leftovers, the dead job's lock)."""
    from store_support import snapshot_tree
    from therabak.store.check import check

    for info in store.snapshots():
        assert snapshot_tree(store, info.snapshot_id) in list(expected.values())
    assert check(store, read_data=1.0).exit_code == 0


@pytest.mark.parametrize("point", STORE_POINTS)
def test_kill_store_backup(practice: Practice, tmp_path: Path, record_property, point: str):
    """kill -9 at each phase of a second backup into a store (new content to write):
    the first point stays whole, the second exists only once its snapshot was put, and
    the next backup adopts what the dead one wrote (or prune reclaims it)."""
    from store_support import plaintext_tree as store_tree

    dest = tmp_path / "usb"
    args = ("backup", "--dest", dest, "--no-password", "--json", *practice_args(practice))
    assert run_cli(*args).returncode == 0
    first = store_tree(practice.data_dir, practice.key)
    change_data(practice)
    before = tree_state(practice.data_dir)
    second = store_tree(practice.data_dir, practice.key)
    folder = dest / "TheraPsy-Backups"
    spec = failpoint(point, 0)
    r = run_cli(*args, env={FP: spec})
    assert killed(r), (spec, r.returncode, r.stderr)
    assert tree_state(practice.data_dir) == before
    store = store_of(folder)
    made = point in ("store.snapshot", "backup.published")
    assert len(store.snapshots()) == 1 + int(made)
    store_state(store, {"first": first, "second": second})
    assert_history_consistent()

    again = run_cli(*args)
    assert again.returncode == 0, again.stderr
    store = store_of(folder)
    assert store.unindexed == set()  # what the dead run put was adopted
    store_state(store, {"first": first, "second": second})
    assert len(store.snapshots()) == 2 + int(made)
    pruned = run_cli("prune", folder, "--json", *practice_args(practice))
    assert pruned.returncode == 0, pruned.stderr
    store = store_of(folder)
    store_state(store, {"first": first, "second": second})
    leftover = [o for o in store.storage.list("") if o.name.startswith(".")]
    assert leftover == [] and not any((folder / ".tmp").glob("*"))
    assert tree_state(practice.data_dir) == before
    assert_history_consistent()
    survived(record_property)


def test_kill_while_a_store_is_made(practice: Practice, tmp_path: Path, record_property):
    """kill -9 between the new store's key file and its config: no store (nothing opens
    or lists), and the next backup makes it over what was left."""
    from store_support import plaintext_tree as store_tree

    dest = tmp_path / "usb"
    args = ("backup", "--dest", dest, "--no-password", "--json", *practice_args(practice))
    r = run_cli(*args, env={FP: "crash-at=store.create"})
    assert killed(r), (r.returncode, r.stderr)
    folder = dest / "TheraPsy-Backups"
    assert not (folder / "config").exists() and list((folder / "keys").iterdir())
    again = run_cli(*args)
    assert again.returncode == 0, again.stderr
    store = store_of(folder)
    assert len(store.keyfiles) == 1 and store.problems == []
    store_state(store, {"now": store_tree(practice.data_dir, practice.key)})
    survived(record_property)


# ---- automatic backup ---------------------------------------------------------------------------

AUTO_POINTS = [
    "backup.body",
    "store.pack",
    "store.synced",
    "store.snapshot",  # the new backup exists, not yet verified
    "auto.backup",  # written and verified, nothing deleted yet
    "auto.retention",  # after the first old archive was deleted
    "auto.forgotten",  # old snapshots forgotten, not pruned
    "prune.index",  # the prune's new index put
    "prune.delete",  # after the first unused pack was deleted
    "bytes:0.5",  # inside the new pack
]
OLD_DAYS = 10  # automatic archives of 2020-01-01 .. 2020-01-10: retention deletes some


@pytest.mark.parametrize("point", AUTO_POINTS)
def test_kill_auto(practice: Practice, backups, record_property, point: str) -> None:
    """Into the automatic backups' store, beside the archives made before it (retention
    deletes some of them) and earlier snapshots of the same day (forgotten, pruned)."""
    from datetime import datetime, timedelta

    from store_support import AccountOnly, backup_data
    from store_support import plaintext_tree as store_tree
    from therabak.practice.categories import BackupKind
    from therabak.storage.local import LocalStorage
    from therabak.store.core import Store

    folder = practice.root / "TheraPsy-Auto-Backups"
    folder.mkdir()
    for day in range(1, OLD_DAYS + 1):
        shutil.copy2(backups.auto, folder / f"TheraPsy-Auto-2020-01-{day:02d}_120000.therabak")
    store_dir = folder / "TheraPsy-Backups"
    earlier = Store.create(LocalStorage(store_dir), AccountOnly(practice.key))
    now = datetime.now().astimezone()
    # two earlier today, of other content: forgotten and pruned. Today even just after
    # midnight (20 and 30 minutes before 00:20 were yesterday's, and kept: the test
    # failed when it ran between 00:00 and 00:30)
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    for minutes in (30, 20):
        (practice.data_dir / "sessions" / "K0001" / f"extra-{minutes}.json").write_bytes(
            os.urandom(3000)
        )
        backup_data(
            earlier,
            practice.data_dir,
            practice.key,
            kind=BackupKind.AUTOMATIC,
            created=max(
                now - timedelta(minutes=minutes), day_start + timedelta(seconds=30 - minutes)
            ),
        )
        (practice.data_dir / "sessions" / "K0001" / f"extra-{minutes}.json").unlink()
    states = {i.snapshot_id: store_tree_of(earlier, i.snapshot_id) for i in earlier.snapshots()}
    change_data(practice)  # so that this run has new content to read and write
    state = store_tree(practice.data_dir, practice.key, kind=BackupKind.AUTOMATIC)
    before = tree_state(practice.data_dir)
    spec = failpoint(point, 4000)
    args = ("auto", "--force", *practice_args(practice))
    r = run_cli(*args, env={FP: spec})
    assert killed(r), (spec, r.returncode, r.stderr)
    assert tree_state(practice.data_dir) == before
    finished = archives_in(folder)
    # the retention keeps the archives of 2020-01-05 .. 10 (the newest of six more days
    # that have backups, and of their ISO weeks); it deletes 01 .. 04 before it forgets
    deleted = {"auto.retention": 1, "auto.forgotten": 4, "prune.index": 4, "prune.delete": 4}
    assert len(finished) == OLD_DAYS - deleted.get(point, 0)
    for archive in finished:
        assert verify_file(archive, account=practice.key) == []
    store = store_of(store_dir, account=practice.key)
    store_state(store, {"now": state, **states})
    assert (folder / LOCK_NAME).exists()  # the dead run's lock: stale, broken next time
    assert_history_consistent()

    again = run_cli(*args)
    assert again.returncode == 3, again.stderr  # it says it broke the dead run's lock
    assert "Removed a stale lock" in again.stderr
    assert partials_in(folder) == [] and leftovers(practice.root) == []
    assert not (folder / LOCK_NAME).exists()
    for archive in archives_in(folder):
        assert verify_file(archive, account=practice.key) == []
    store = store_of(store_dir, account=practice.key)
    store_state(store, {"now": state})  # the earlier ones of today: forgotten
    assert len(store.snapshots()) == 1  # today's newest
    assert store.unindexed == set()
    assert tree_state(practice.data_dir) == before
    assert_history_consistent()
    survived(record_property)


def store_tree_of(store, snapshot_id: str) -> dict[str, str]:
    from store_support import snapshot_tree

    return snapshot_tree(store, snapshot_id)


# ---- recovery code (create / remove: the header's key slots only) ------------------------------

# (command, point, which recovery slot the archive has once the next command opened it)
RECOVERY_POINTS = [
    ("create", "recovery.prepared", "old"),  # the new code is in its file, nothing written
    ("create", "recovery.journal", "old"),  # the new header journalled, archive untouched
    ("create", "recovery.write", "new"),  # torn header: the next open finishes it
    ("remove", "recovery.journal", "old"),
    ("remove", "recovery.write", "new"),
]


@pytest.mark.parametrize(
    ("command", "point", "outcome"),
    RECOVERY_POINTS,
    ids=[f"{c}-{p}" for c, p, _ in RECOVERY_POINTS],
)
def test_kill_recovery(
    practice: Practice, tmp_path: Path, record_property, command: str, point: str, outcome: str
) -> None:
    from cli_support import PASSWORD
    from therabak.archive.reader import ArchiveReader
    from therabak.archive.rekey import journal_path
    from therabak.crypto.recovery import RecoveryCode

    pw = tmp_path / "pw.txt"
    pw.write_text(PASSWORD + "\n", encoding="utf-8")
    old_file, new_file = tmp_path / "old-code.txt", tmp_path / "new-code.txt"
    usb = tmp_path / "usb"
    r = run_cli(
        "backup", "--single-file", "--dest", usb, "--password-file", pw,
        "--recovery-code-out", old_file, *practice_args(practice),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    [archive] = archives_in(usb)
    old = RecoveryCode.parse(old_file.read_text("utf-8"))
    with ArchiveReader.open(archive) as reader:
        h = reader.header.header_size
        password_slot = reader.header.slots[0]
    body = archive.read_bytes()[h:]

    def opens(code: RecoveryCode) -> bool:
        with ArchiveReader.open(archive) as reader:
            try:
                reader.unlock(recovery_code=code)
            except Exception:
                return False
            return True

    args = ["recovery", command, archive, "--password-file", pw]
    if command == "create":
        args += ["--recovery-code-out", new_file]
    r = run_cli(*args, env={FP: f"crash-at={point}"})
    assert killed(r), (point, r.returncode, r.stderr)
    new = RecoveryCode.parse(new_file.read_text("utf-8")) if command == "create" else None
    assert journal_path(archive).exists() == (point != "recovery.prepared")

    # the next open finishes or ignores the change; the password and the data never change
    assert verify_file(archive, password=PASSWORD) == []
    assert archive.read_bytes()[h:] == body
    with ArchiveReader.open(archive) as reader:
        assert reader.header.slots[0] == password_slot
    if outcome == "old":
        assert opens(old) and (new is None or not opens(new))
    elif command == "create":
        assert new is not None and opens(new) and not opens(old)
    else:
        assert not opens(old)
    assert not journal_path(archive).exists() or outcome == "old"

    if command == "create":
        new_file.unlink()  # the file of the dead run: a new one is never written over it
    again = run_cli(*args)
    assert again.returncode == 0, again.stderr
    assert not journal_path(archive).exists()
    if command == "create":
        assert opens(RecoveryCode.parse(new_file.read_text("utf-8"))) and not opens(old)
    else:
        assert not opens(old)
    assert verify_file(archive, password=PASSWORD) == []
    survived(record_property)
