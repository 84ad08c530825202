"""Snapshots of every screen at 80x24 (pytest-textual-snapshot).

Deterministic: a fixed terminal size, no cursor blink, a frozen clock, fixed free space
and media, paths under a home folder of the test's own (shown as ~), the deterministic
demo practice, and job progress fed as fixed events. Update after a deliberate change
with ``pytest tests/app/test_snapshots.py --snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

from datetime import timedelta

from app.apphelp import NOW, SIZE, add_history, wait_scan
from therabak.app.app import TherabakApp
from therabak.app.screens.progress import ProgressScreen
from therabak.events import FileOutcome, Phase, Progress, Retry, Summary
from therabak.jobs.runner import Job, JobRecord, JobState
from therabak.settings import PracticePaths


def fake_job(ctx, usb) -> Job:
    record = JobRecord(
        id="20260302-103000-abcdef",
        operation="backup",
        args=[],
        pid=0,
        started=NOW.isoformat(),
        title=f"Backup to {ctx.display_path(usb)}",
        target=str(usb),
    )
    return Job(record, JobState.RUNNING)


RUNNING_EVENTS = [
    Phase("scanning"),
    Phase("writing"),
    Retry("sessions/K0002/2026-02-11-03.json", 1, 5, "DecryptionFailed", 0.5),
    Retry("documents/K0004/Befundbericht [Entwurf] 1.pdf", 1, 5, "DecryptionFailed", 0.5),
    Retry("sessions/K0002/2026-02-11-03.json", 2, 5, "DecryptionFailed", 1.0),
    FileOutcome("finances/invoices/2026/R-2026-0003.json", "recovered", 3, "DecryptionFailed"),
    Retry("audio/K0001/2026-01-20-02.opus", 4, 5, "file changed while being read", 4.0),
    Progress(
        phase="writing",
        bytes_done=1_234_567,
        bytes_total=1_900_000,
        files_done=41,
        files_total=57,
        current="audio/K0003/2026-02-03-04.opus",
        rate=2_500_000.0,
        eta_s=0.3,
    ),
]


def test_home(snap_compare, make_ctx, app_practice):
    add_history(
        "manual",
        str(
            app_practice.data_dir.parent.parent / "usb" / "TheraPsy-Backup-"
            "2026-02-10_090000.therabak"
        ),
        NOW - timedelta(days=20),
        app_practice.data_dir,
    )
    add_history(
        "auto",
        str(
            app_practice.data_dir.parent
            / "TheraPsy-Auto-Backups"
            / "TheraPsy-Auto-2026-03-02_073000.therabak"
        ),
        NOW - timedelta(hours=3),
        app_practice.data_dir,
        verified=None,
    )
    assert snap_compare(TherabakApp(make_ctx()), terminal_size=SIZE, run_before=wait_scan)


def test_backup_what(snap_compare, make_ctx):
    async def before(pilot):
        await pilot.press("b")
        await wait_scan(pilot)
        await pilot.press("down", "down", "space")  # untick Sessions: a partial parent

    assert snap_compare(TherabakApp(make_ctx()), terminal_size=SIZE, run_before=before)


def test_backup_where_with_password_mismatch(snap_compare, make_ctx, usb):
    async def before(pilot):
        await pilot.press("b")
        await wait_scan(pilot)
        await pilot.press("n")
        pilot.app.screen.query_one("#dest-input").value = "~/usb"
        await pilot.press("enter", *"geheim", "enter", *"geheim!")
        await pilot.pause(0.2)

    assert snap_compare(TherabakApp(make_ctx()), terminal_size=SIZE, run_before=before)


def test_no_password_confirmation(snap_compare, make_ctx):
    async def before(pilot):
        await pilot.press("b")
        await wait_scan(pilot)
        await pilot.press("n")
        pilot.app.screen.query_one("#nopw").focus()
        await pilot.press("space")

    assert snap_compare(TherabakApp(make_ctx()), terminal_size=SIZE, run_before=before)


def test_folder_picker(snap_compare, make_ctx, home):
    for name in ("Dokumente", "usb", "Praxis-Archiv"):
        (home / name).mkdir(exist_ok=True)

    async def before(pilot):
        await pilot.press("b")
        await wait_scan(pilot)
        await pilot.press("n", "ctrl+o")
        await pilot.pause(0.3)

    assert snap_compare(TherabakApp(make_ctx()), terminal_size=SIZE, run_before=before)


def test_progress_with_retries(snap_compare, make_ctx, usb):
    ctx = make_ctx()

    async def before(pilot):
        screen = ProgressScreen(fake_job(ctx, usb), follow=False)
        await pilot.app.push_screen(screen)
        screen.apply(RUNNING_EVENTS)

    assert snap_compare(TherabakApp(ctx), terminal_size=SIZE, run_before=before)


def test_progress_summary(snap_compare, make_ctx, usb):
    ctx = make_ctx()
    archive = usb / "TheraPsy-Backup-2026-03-02_103000.therabak"
    final = [
        FileOutcome("sessions/K0002/2026-02-11-03.json", "recovered", 3, "DecryptionFailed"),
        FileOutcome(
            "documents/K0004/Befundbericht [Entwurf] 1.pdf", "recovered", 3, "DecryptionFailed"
        ),
        FileOutcome("audio/K0001/2026-01-20-02.opus", "raw", 5, "file changed while read"),
        Phase("verifying"),
        Summary(
            operation="backup",
            exit_code=3,
            duration_s=12.4,
            message=str(archive),
            extra={
                "archive": str(archive),
                "files": 57,
                "bytes_in": 1_900_000,
                "bytes_stored": 1_880_000,
                "retried": [
                    {"path": "sessions/K0002/2026-02-11-03.json", "outcome": "recovered"},
                    {"path": "finances/invoices/2026/R-2026-0003.json", "outcome": "recovered"},
                    {
                        "path": "documents/K0004/Befundbericht [Entwurf] 1.pdf",
                        "outcome": "recovered",
                    },
                    {"path": "audio/K0001/2026-01-20-02.opus", "outcome": "raw"},
                ],
                "raw": ["audio/K0001/2026-01-20-02.opus"],
                "skipped": [],
                "verified": True,
                "damaged": [],
            },
        ),
    ]

    async def before(pilot):
        screen = ProgressScreen(fake_job(ctx, usb), follow=False)
        await pilot.app.push_screen(screen)
        screen.apply(RUNNING_EVENTS + final)

    assert snap_compare(TherabakApp(ctx), terminal_size=SIZE, run_before=before)


def test_folder_backup(snap_compare, make_ctx, usb):
    async def before(pilot):
        await pilot.press("f")
        await wait_scan(pilot)
        pilot.app.screen.query_one("#dest-input").value = "~/usb"
        await pilot.pause(0.2)

    assert snap_compare(TherabakApp(make_ctx()), terminal_size=SIZE, run_before=before)


def test_settings(snap_compare, make_ctx, usb):
    from therabak.settings import Settings

    settings = Settings.load()
    settings.remembered_destinations = [str(usb)]
    settings.save()

    async def before(pilot):
        await pilot.press("s")

    assert snap_compare(TherabakApp(make_ctx()), terminal_size=SIZE, run_before=before)


def test_help(snap_compare, make_ctx):
    async def before(pilot):
        await wait_scan(pilot)
        await pilot.press("question_mark")

    assert snap_compare(TherabakApp(make_ctx()), terminal_size=SIZE, run_before=before)


def test_problem_missing_data_and_key(snap_compare, make_ctx, home):
    paths = PracticePaths(home / "TheraPsy-old" / "Data", home / "TheraPsy-old" / "account.key")
    assert snap_compare(TherabakApp(make_ctx(paths=paths)), terminal_size=SIZE)
