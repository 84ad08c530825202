"""The benchmark's measuring (tests/bench/run.py): whose memory a run reports, what its
wall time includes, what reaches therabak's environment, and how a figure is read from a
command's JSON Lines. No timing is asserted."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

# tests/bench on the path only while importing: its remote.py would hide tests/remote.
BENCH = str(Path(__file__).parent / "bench")
sys.path.insert(0, BENCH)
try:
    import run as bench_run
finally:
    sys.path.remove(BENCH)

pytestmark = pytest.mark.skipif(not hasattr(os, "wait4"), reason="the benchmark needs os.wait4")


def make_bench(tmp_path: Path, *extra: str) -> bench_run.Bench:
    args = bench_run.parse_args(["--workdir", str(tmp_path), "--cache", "warm", *extra])
    bench = bench_run.Bench(args)
    bench.work.mkdir(parents=True, exist_ok=True)
    return bench


def test_a_run_reports_the_commands_own_peak_rss_not_the_benchmarks(tmp_path: Path) -> None:
    bench = make_bench(tmp_path)
    ballast = bytearray(300 << 20)  # this process: > 300 MB resident
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1
    small, _ = bench.measure(["true"])
    big, _ = bench.measure(
        [sys.executable, "-c", "b = bytearray(200 << 20); b[::4096] = b'1' * len(b[::4096])"]
    )
    del ballast
    assert small.rc == 0 and big.rc == 0
    assert small.rss_mb < 50, small
    assert 200 <= big.rss_mb < 300, big


def test_the_wall_time_includes_the_sync_after_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = make_bench(tmp_path)
    synced: list[float] = []

    def slow_sync() -> None:  # a sync that has much to write
        time.sleep(0.3)
        synced.append(time.perf_counter())

    monkeypatch.setattr(bench_run.os, "sync", slow_sync)
    run, out = bench.measure("echo hello; exit 3")
    assert run.rc == 3
    assert out == "hello\n"
    assert len(synced) == 1
    assert run.sync_s >= 0.3
    assert run.wall_s == pytest.approx(run.cmd_s + run.sync_s, abs=0.002)


def test_workers_reach_therabak_and_nothing_else_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THERABAK_WORKERS", "7")
    monkeypatch.setenv("THERABAK_DATA_DIR", "/somewhere")
    assert "THERABAK_WORKERS" not in make_bench(tmp_path).env
    bench = make_bench(tmp_path, "--workers", "3")
    assert bench.env["THERABAK_WORKERS"] == "3"
    assert "THERABAK_DATA_DIR" not in bench.env
    _run, out = bench.measure('echo "$THERABAK_WORKERS"')
    assert out == "3\n"


def test_a_figure_is_the_last_of_its_name_in_the_json_lines() -> None:
    text = (
        "not json\n"
        '{"event": "progress", "stats": {"bytes_in": 1}}\n'
        "{broken\n"
        '{"event": "summary", "result": {"store": {"bytes_in": 2048}}}\n'
        '{"event": "done"}\n'
    )
    assert bench_run.find_value(text, "bytes_in") == 2048
    assert bench_run.find_value(text, "bytes_out") is None
