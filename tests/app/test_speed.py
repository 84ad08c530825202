"""The speed line of a running backup: rate and time left ("12.4 MB/s · about 3 min
left"; "Upload …" to an off-site destination), over the last seconds, held so it does
not flicker; and on the progress screen of a real job."""

from __future__ import annotations

import re

from app.apphelp import wait_for, wait_scan
from therabak.app.app import TherabakApp
from therabak.app.runner import JobRecord
from therabak.app.screens.dialogs import ConfirmDialog
from therabak.app.screens.progress import ProgressScreen
from therabak.app.speed import HOLD_S, SpeedGauge, speed_text, time_left
from therabak.app.summaries import is_remote_backup
from therabak.events import Progress
from therabak.settings import Settings

MB = 1_000_000


def progress(done: int, total: int = 100 * MB, *, phase: str = "writing", rate: float = 0.0):
    return Progress(phase, done, total, 1, 10, "", rate=rate)


def test_the_rate_is_the_one_of_the_last_seconds_not_the_average_since_the_start():
    gauge = SpeedGauge()
    # 4 MB/s for 20 s, then the line slows down to 1 MB/s for 10 s
    for t in range(21):
        gauge.add(progress(t * 4 * MB, rate=4 * MB), float(t))
    for t in range(21, 31):
        gauge.add(progress(80 * MB + (t - 20) * MB, rate=3 * MB), float(t))
    last = progress(90 * MB, rate=3 * MB)
    assert abs(gauge.rate(last) - 1 * MB) < 0.01 * MB  # the job's own average: 3 MB/s
    assert gauge.line(last, 30.0) == "1.0 MB/s  ·  less than a minute left"


def test_before_two_seconds_of_readings_the_jobs_own_rate_is_used():
    """A replay after a re-attach brings every event at once: no span to measure."""
    gauge = SpeedGauge()
    for done in (10 * MB, 20 * MB, 30 * MB):
        gauge.add(progress(done, rate=12_400_000), 5.0)
    p = progress(30 * MB, total=2_262 * MB, rate=12_400_000)
    assert gauge.rate(p) == 12_400_000
    assert gauge.line(p, 5.0) == "12.4 MB/s  ·  about 3 min left"


def test_the_line_is_held_and_changes_at_most_every_few_seconds():
    gauge = SpeedGauge()
    total = 1000 * MB
    gauge.add(progress(0, total), 0.0)
    gauge.add(progress(10 * MB, total), 2.0)
    first = gauge.line(progress(10 * MB, total), 2.0)
    assert first == "5.0 MB/s  ·  about 3 min left"  # 990 MB at 5 MB/s
    gauge.add(progress(40 * MB, total), 3.0)  # a burst: 13.3 MB/s over the window
    assert gauge.line(progress(40 * MB, total), 3.0) == first  # held
    assert gauge.line(progress(40 * MB, total), 2.0 + HOLD_S) == "13.3 MB/s  ·  about 1 min left"


def test_a_new_phase_starts_its_own_readings_and_the_upload_word_is_for_writing_only():
    gauge = SpeedGauge(upload=True)
    gauge.add(progress(0), 0.0)
    gauge.add(progress(6 * MB), 3.0)
    assert gauge.line(progress(6 * MB), 3.0).startswith("Upload 2.0 MB/s  ·  ")
    gauge.add(progress(0, phase="verifying", rate=0.0), 4.0)
    verifying = progress(0, phase="verifying", rate=0.0)
    assert gauge.line(verifying, 4.0) == ""  # nothing read yet: no rate, no guess
    gauge.add(progress(30 * MB, phase="verifying"), 7.0)
    line = gauge.line(progress(30 * MB, phase="verifying"), 7.0)
    assert line == "10.0 MB/s  ·  less than a minute left"  # reading back: no "Upload"
    assert gauge.line(progress(100 * MB, phase="verifying"), 20.0) == ""  # done


def test_time_left_in_words():
    assert time_left(59) == "less than a minute left"
    assert time_left(89) == "about 1 min left"
    assert time_left(185) == "about 3 min left"
    assert time_left(80 * 60) == "about 1 h 20 min left"
    assert speed_text(1_234_567, None, upload=True) == "Upload 1.2 MB/s"


def test_a_backup_to_a_url_or_a_named_off_site_destination_is_an_upload(isolated_env):
    def record(*args: str) -> JobRecord:
        return JobRecord(id="x", operation="backup", args=list(args), pid=0, started="")

    settings = Settings.load()
    from therabak import destinations

    destinations.add(settings, "Nextcloud", "webdavs://praxis@cloud.example.org/backup")
    destinations.add(settings, "Stick", "/media/stick")
    settings.save()
    assert is_remote_backup(record("--dest", "s3://bucket/praxis"))
    assert is_remote_backup(record("--dest", "nextcloud"))
    assert not is_remote_backup(record("--dest", "Stick"))
    assert not is_remote_backup(record("--dest", "/media/stick"))
    assert not is_remote_backup(record("--in", "s3://bucket/praxis"))


def test_the_speed_line_shows_the_numbers_of_a_real_job(make_ctx, run_app, usb):
    """A real backup (slowed down per file): the line under the numbers says its rate
    and the time left, and they fit what the job did."""
    app = TherabakApp(make_ctx(job_env={"THERABAK_FAILPOINTS": "delay-ms=120"}))

    async def body(pilot):
        await pilot.press("b")
        await wait_scan(pilot)
        await pilot.press("n")
        await pilot.pause()
        screen = app.screen
        screen.query_one("#dest-input").value = str(usb)
        screen.query_one("#nopw").focus()
        await pilot.press("space")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        app.screen.query_one("#yes").press()
        await pilot.pause()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ProgressScreen))
        progress_screen = app.screen
        pattern = re.compile(
            r"^([\d.,]+) (Bytes|kB|MB|GB)/s  ·  (less than a minute left|about (\d+) min left)$"
        )

        def shown() -> str:
            return str(progress_screen.query_one("#speed").render())

        await wait_for(pilot, lambda: pattern.match(shown()) is not None, timeout=60)
        line = shown()
        number, unit = pattern.match(line).group(1, 2)
        rate = float(number.replace(",", "")) * {"Bytes": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}[unit]
        p = progress_screen.view.progress
        assert p.phase == "writing" and 0 < p.bytes_done < p.bytes_total
        assert rate > 0
        # at this rate, the bytes already written took no longer than the job has run
        assert p.bytes_done / rate < 120
        assert "Upload" not in line  # a folder on this computer
        await wait_for(pilot, lambda: progress_screen.view.finished, timeout=120)
        assert shown() == ""  # gone with the summary

    run_app(app, body)
