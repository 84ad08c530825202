"""Staging on several threads (jobkit/workers.py, jobs/restore/stage.py): the pool keeps the
files' order, hands back each file's error at that file, stops every thread before it
returns; and the store restore's tests run again here with ``THERABAK_WORKERS=2`` forced
(byte-exact points, salvage of a damaged pack, kill -9 at every step, undo), with the
progress events still in order."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from archive_support import events_of, json_lines
from conftest import Practice
from restore_helpers import plaintext_tree, restore
from store_read_support import make_store_points
from test_store_restore import (  # noqa: F401 - collected again, with two workers
    test_a_missing_pack_and_a_damaged_snapshot,
    test_every_point_restores_byte_exact_into_another_folder,
    test_kill_during_a_restore_from_a_store,
    test_restore_over_data_carries_over_and_can_be_undone,
    test_salvage_restores_every_file_outside_a_damaged_pack,
)
from therabak.jobkit.workers import ENV, InOrder, Stopped, default_workers, worker_count

pytest_plugins = ["restore_helpers"]


@pytest.fixture(autouse=True)
def two_workers(monkeypatch):
    monkeypatch.setenv(ENV, "2")


@pytest.fixture
def points(practice: Practice, tmp_path: Path):
    return make_store_points(practice, tmp_path / "stick")


def test_worker_count_is_forced_by_the_environment(monkeypatch):
    assert worker_count() == 2
    monkeypatch.setenv(ENV, "1")
    assert worker_count() == 1
    for odd in ("0", "-3", "many", ""):
        monkeypatch.setenv(ENV, odd)
        assert worker_count() == default_workers()
    assert [default_workers(n) for n in (1, 2, 3, 4, 16)] == [1, 1, 3, 4, 4]


def test_results_come_back_in_order_and_work_runs_at_once():
    """Two items meet at a barrier (they only get past it when both run at the same
    time); the later items finish first, and still come back in order."""
    barrier = threading.Barrier(2, timeout=5)

    def work(i: int) -> int:
        if i < 2:
            barrier.wait()
        time.sleep(0.02 * (6 - i))
        return i * i

    pool = InOrder(work, range(6), workers=2)
    assert [(i, f.result()) for i, f in pool.results()] == [(i, i * i) for i in range(6)]


def test_an_error_comes_back_at_its_item_and_nothing_runs_after_the_pool_closed():
    running = 0
    started: list[int] = []
    lock = threading.Lock()

    def work(i: int) -> int:
        nonlocal running
        with lock:
            running += 1
            started.append(i)
        try:
            if i == 3:
                raise ValueError("item 3")
            for _ in range(20):  # a long file, checking for a stop between its chunks
                time.sleep(0.01)
                pool.check()
            return i
        finally:
            with lock:
                running -= 1

    pool = InOrder(work, range(100), workers=2, ahead=4)
    got = []
    with pytest.raises(ValueError, match="item 3"):
        for _i, future in pool.results():
            got.append(future.result())
    assert got == [0, 1, 2]
    assert running == 0  # every worker has stopped when the error reaches the caller
    assert max(started) < 3 + 4 + 2  # never more than *ahead* items beyond the one failing
    with pytest.raises(Stopped):
        pool.check()


def test_progress_events_stay_in_order_with_two_workers(points, practice: Practice, tmp_path: Path):
    target = tmp_path / "restored"
    r = restore(
        practice, points.ref(2), "--to", str(target), "--json", password_file=points.password_file
    )
    assert r.returncode == 0, r.stderr
    lines = json_lines(r.stdout)
    staging = [e for e in events_of(lines, "progress") if e["phase"] == "restoring"]
    assert staging, lines[:5]
    done = [(e["files_done"], e["bytes_done"]) for e in staging]
    assert done == sorted(done)  # neither count ever goes back
    assert done[-1] == (len(points.snapshots[2].entries), points.snapshots[2].header.size)
    assert plaintext_tree(target, practice.key) == points.expected(2)
