"""Jobs started in the same second get names of their own (issue 13, finding 6).

The final name is reserved atomically (``O_EXCL``) when a job starts, with a suffix when
it is taken, so every one of N backups started together succeeds: archives, split
backups (every volume) and folder backups. The jobs here are real processes started
together; ``THERABAK_FAILPOINTS=created=…`` gives them one creation time (as if started in
the same second, whatever the machine's speed) and ``delay-ms`` keeps them running side
by side.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from archive_support import json_lines, the_summary, verify_file
from conftest import Practice, start_cli
from restore_helpers import folder_backup_problems, practice_args

pytestmark = pytest.mark.slow

N = 3
TOGETHER = {"THERABAK_FAILPOINTS": "created=2026-03-02T10:30:00+01:00,delay-ms=10"}


def start_together(*args) -> list[subprocess.Popen]:
    return [start_cli(*args, env=TOGETHER) for _ in range(N)]


def finish(procs: list[subprocess.Popen]) -> list[tuple[int, str, str]]:
    done = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=300)
        finally:
            proc.kill()
        done.append((proc.returncode, out, err))
    return done


@pytest.mark.parametrize("split", [False, True], ids=["archives", "split into volumes"])
def test_backups_started_together_all_succeed(
    practice: Practice, tmp_path: Path, split: bool
) -> None:
    usb = tmp_path / "usb"
    extra = ["--volume-size", "1M"] if split else []
    procs = start_together(
        "backup",
        "--single-file",
        "--dest",
        usb,
        "--no-password",
        "--json",
        *extra,
        *practice_args(practice),
    )
    results = finish(procs)
    assert [code for code, _out, _err in results] == [0] * N, [err for *_, err in results]
    made = [the_summary(json_lines(out)) for _code, out, _err in results]
    archives = [Path(s["archive"]) for s in made]
    assert len(set(archives)) == N
    assert sorted(a.name for a in archives) == [
        "TheraPsy-Backup-2026-03-02_103000-2.therabak",
        "TheraPsy-Backup-2026-03-02_103000-3.therabak",
        "TheraPsy-Backup-2026-03-02_103000.therabak",
    ]
    volumes = [Path(v) for s in made for v in s["volumes"]]
    if split:
        assert all(len(s["volumes"]) > 1 for s in made)
    assert len(set(volumes)) == len(volumes)
    for archive in archives:
        assert verify_file(archive) == []
    assert sorted(p.name for p in usb.iterdir()) == sorted(v.name for v in volumes)


def test_store_backups_started_together_make_one_store(practice: Practice, tmp_path: Path) -> None:
    """Backups into one destination started in the same second: one store between them
    (made by one, opened by the others), one snapshot each, every one restorable."""
    from store_support import plaintext_tree, snapshot_tree
    from therabak.storage.local import LocalStorage
    from therabak.store.core import Store
    from therabak.store.keyfile import Unlock

    usb = tmp_path / "usb"
    procs = start_together(
        "backup", "--dest", usb, "--no-password", "--json", *practice_args(practice)
    )
    results = finish(procs)
    assert [code for code, _out, _err in results] == [0] * N, [err for *_, err in results]
    made = [the_summary(json_lines(out)) for _code, out, _err in results]
    assert sum(s["created_store"] for s in made) == 1
    assert len({s["snapshot"] for s in made}) == N
    assert sorted(p.name for p in usb.iterdir()) == ["TheraPsy-Backups"]
    store = Store.open(LocalStorage(usb / "TheraPsy-Backups"), Unlock())
    assert len(store.keyfiles) == 1 and store.problems == []
    expected = plaintext_tree(practice.data_dir, practice.key)
    assert {i.snapshot_id for i in store.snapshots()} == {s["snapshot"] for s in made}
    for s in made:
        assert snapshot_tree(store, s["snapshot"]) == expected


def test_folder_backups_started_together_all_succeed(practice: Practice, tmp_path: Path) -> None:
    usb = tmp_path / "usb"
    procs = start_together("folder-backup", "--dest", usb, "--json", *practice_args(practice))
    results = finish(procs)
    assert [code for code, _out, _err in results] == [0] * N, [err for *_, err in results]
    folders = sorted(Path(the_summary(json_lines(out))["folder"]) for _c, out, _e in results)
    assert [f.name for f in folders] == [
        "TheraPsy-Data-2026-03-02_103000",
        "TheraPsy-Data-2026-03-02_103000-2",
        "TheraPsy-Data-2026-03-02_103000-3",
    ]
    for folder in folders:
        assert folder_backup_problems(folder) == []
    assert sorted(usb.iterdir()) == folders
