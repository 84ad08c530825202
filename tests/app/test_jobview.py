"""The progress screen's model: events in, rows and numbers out (no Textual)."""

from __future__ import annotations

from therabak.app.jobview import JobView, coalesce
from therabak.events import Error, FileOutcome, Phase, Progress, Retry, Summary, Warning


def progress(done: int, phase: str = "writing") -> Progress:
    return Progress(
        phase=phase, bytes_done=done, bytes_total=100, files_done=done // 10, files_total=10
    )


def test_retry_rows_follow_attempts_countdown_and_outcome():
    view = JobView()
    view.apply([Phase("writing"), Retry("a.json", 1, 5, "DecryptionFailed", 0.5)], now=100.0)
    row = view.retries["a.json"]
    assert (row.attempt, row.max, row.outcome) == (1, 5, "")
    assert abs(row.seconds_left(100.2) - 0.3) < 1e-9
    view.apply([Retry("a.json", 2, 5, "DecryptionFailed", 1.0)], now=101.0)
    assert row.attempt == 2 and abs(row.seconds_left(101.25) - 0.75) < 1e-9
    assert row.seconds_left(200.0) == 0.0
    view.apply([FileOutcome("a.json", "recovered", 3, "DecryptionFailed")], now=102.0)
    assert row.outcome == "recovered" and row.attempt == 3 and row.seconds_left(102) is None
    # a file that failed for good without a retry event first still gets a row
    view.apply([FileOutcome("b.json", "raw", 5, "tag mismatch")], now=103.0)
    assert view.retries["b.json"].outcome == "raw"
    assert list(view.retries) == ["a.json", "b.json"]


def test_progress_phase_warnings_and_final():
    view = JobView()
    view.apply([Phase("writing"), progress(40)], now=0)
    assert view.fraction == 0.4
    view.apply([Phase("verifying")], now=0)
    assert view.progress is None and view.phase == "verifying"
    view.apply(
        [
            Warning("Deleted while the backup ran", path="x"),
            Summary(operation="backup", exit_code=0, duration_s=1.0),
        ],
        now=0,
    )
    assert view.finished and len(view.warnings) == 1
    failed = JobView()
    failed.apply([Error(exit_code=6, message="Not enough space")], now=0)
    assert failed.finished and failed.final.exit_code == 6


def test_coalesce_keeps_only_the_last_progress_and_everything_else_in_order():
    r = Retry("a", 1, 5, "e", 0.5)
    events = [progress(10), r, progress(20), Phase("syncing"), progress(30, "syncing")]
    assert coalesce(events) == [r, Phase("syncing"), progress(30, "syncing")]
    assert coalesce([r]) == [r]


def test_short_paths_keep_what_tells_files_apart():
    from therabak.app.widgets.retry_panel import short_path

    a = short_path("documents/K0002/Antrag Kostenübernahme 1.pdf", 29)
    b = short_path("documents/K0012/Antrag Kostenübernahme 1.pdf", 29)
    assert len(a) == len(b) == 29 and a != b
    assert "K0002" in a and a.endswith("1.pdf")
    assert short_path("sessions/K0001/2026-02-02-02.json", 29) == "…/K0001/2026-02-02-02.json"
    assert short_path("profiles/K0002.json", 29) == "profiles/K0002.json"
    assert len(short_path("y" * 40, 29)) == 29
