"""Snapshots of every screen at 80x24 and at 120x40 (pytest-textual-snapshot).

Deterministic: a fixed terminal size, no cursor blink, a frozen clock, fixed free space
and media, paths under a home folder of the test's own (shown as ~), the deterministic
demo practice, and job progress fed as fixed events. Update after a deliberate change
with ``pytest tests/app/test_snapshots.py --snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from app.apphelp import NOW, SIZE, add_history, wait_scan, wait_schedule
from therabak.app.app import TherabakApp
from therabak.app.runner import Job, JobRecord, JobState
from therabak.app.screens.progress import ProgressScreen
from therabak.events import FileOutcome, Phase, Progress, Retry, Summary
from therabak.i18n import _, english
from therabak.settings import PracticePaths

#: Every scene at the size the app is made for, and on a large terminal.
WIDE = (120, 40)


@pytest.fixture(params=[SIZE, WIDE], ids=["80x24", "120x40"])
def term_size(request) -> tuple[int, int]:
    return request.param


def titled(**fields) -> JobRecord:
    """A job record whose title is stored as the app stores it: English + msgid data."""
    title = fields.pop("title")
    return JobRecord(**fields, title=english(title), title_i18n=title.to_data())


def fake_job(ctx, usb) -> Job:
    record = titled(
        id="20260302-103000-abcdef",
        operation="backup",
        args=[],
        pid=0,
        started=NOW.isoformat(),
        title=_("Backup to {dest}").format(dest=ctx.display_path(usb)),
        target=str(usb),
    )
    return Job(record, JobState.RUNNING)


DOCUMENT = "documents/K0004/Befundbericht [Entwurf] 1.pdf"
AUDIO = "audio/K0001/2026-01-20-02.opus"


def running_events() -> list:
    """Made when the test runs, so its texts are in the test's language."""
    return [
        Phase("scanning"),
        Phase("writing"),
        Retry("sessions/K0002/2026-02-11-03.json", 1, 5, "DecryptionFailed", 0.5, "decrypt"),
        Retry(DOCUMENT, 1, 5, "DecryptionFailed", 0.5, "decrypt"),
        Retry("sessions/K0002/2026-02-11-03.json", 2, 5, "DecryptionFailed", 1.0, "decrypt"),
        Retry("finances/invoices/2026/R-2026-0003.json", 1, 5, "DecryptionFailed", 0.5, "decrypt"),
        Retry("finances/invoices/2026/R-2026-0003.json", 2, 5, "DecryptionFailed", 1.0, "decrypt"),
        FileOutcome("finances/invoices/2026/R-2026-0003.json", "recovered", 3, "DecryptionFailed"),
        Retry(AUDIO, 4, 5, _("file changed while being read"), 4.0, "changed"),
        PROGRESS,
    ]


PROGRESS = Progress(
    phase="writing",
    bytes_done=1_234_567,
    bytes_total=1_900_000,
    files_done=41,
    files_total=57,
    current="audio/K0003/2026-02-03-04.opus",
    rate=2_500_000.0,
    eta_s=0.3,
)


def test_home(snap_compare, term_size, make_ctx, app_practice):
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
    assert snap_compare(TherabakApp(make_ctx()), terminal_size=term_size, run_before=wait_scan)


def test_backup_what(snap_compare, term_size, make_ctx):
    async def before(pilot):
        await pilot.press("b")
        await wait_scan(pilot)
        await pilot.press("down", "down", "space")  # untick Sessions: a partial parent

    assert snap_compare(TherabakApp(make_ctx()), terminal_size=term_size, run_before=before)


def test_backup_where_with_password_mismatch(snap_compare, term_size, make_ctx, usb):
    async def before(pilot):
        await pilot.press("b")
        await wait_scan(pilot)
        await pilot.press("n")
        pilot.app.screen.query_one("#dest-input").value = "~/usb"
        await pilot.press("enter", *"geheim", "enter", *"geheim!")
        await pilot.pause(0.2)

    assert snap_compare(TherabakApp(make_ctx()), terminal_size=term_size, run_before=before)


def test_no_password_confirmation(snap_compare, term_size, make_ctx):
    async def before(pilot):
        await pilot.press("b")
        await wait_scan(pilot)
        await pilot.press("n")
        pilot.app.screen.query_one("#nopw").focus()
        await pilot.press("space")

    assert snap_compare(TherabakApp(make_ctx()), terminal_size=term_size, run_before=before)


def test_folder_picker(snap_compare, term_size, make_ctx, home):
    for name in ("Dokumente", "usb", "Praxis-Archiv"):
        (home / name).mkdir(exist_ok=True)

    async def before(pilot):
        await pilot.press("b")
        await wait_scan(pilot)
        await pilot.press("n", "ctrl+o")
        await pilot.pause(0.3)

    assert snap_compare(TherabakApp(make_ctx()), terminal_size=term_size, run_before=before)


def test_progress_with_retries(snap_compare, term_size, make_ctx, usb):
    ctx = make_ctx()

    async def before(pilot):
        screen = ProgressScreen(fake_job(ctx, usb), follow=False)
        await pilot.app.push_screen(screen)
        screen.apply(running_events())

    assert snap_compare(TherabakApp(ctx), terminal_size=term_size, run_before=before)


def test_progress_summary(snap_compare, term_size, make_ctx, usb):
    ctx = make_ctx()
    archive = usb / "TheraPsy-Backup-2026-03-02_103000.therabak"
    final = [
        FileOutcome("sessions/K0002/2026-02-11-03.json", "recovered", 3, "DecryptionFailed"),
        FileOutcome(
            "documents/K0004/Befundbericht [Entwurf] 1.pdf", "recovered", 3, "DecryptionFailed"
        ),
        FileOutcome("audio/K0001/2026-01-20-02.opus", "raw", 5, _("file changed while being read")),
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
        screen.apply(running_events() + final)

    assert snap_compare(TherabakApp(ctx), terminal_size=term_size, run_before=before)


def test_folder_backup(snap_compare, term_size, make_ctx, usb):
    async def before(pilot):
        await pilot.press("f")
        await wait_scan(pilot)
        pilot.app.screen.query_one("#dest-input").value = "~/usb"
        await pilot.pause(0.2)

    assert snap_compare(TherabakApp(make_ctx()), terminal_size=term_size, run_before=before)


def test_settings(snap_compare, term_size, make_ctx, usb):
    from therabak.settings import Settings

    settings = Settings.load()
    settings.remembered_destinations = [str(usb)]
    settings.save()

    async def before(pilot):
        await pilot.press("s")
        await wait_schedule(pilot)

    assert snap_compare(TherabakApp(make_ctx()), terminal_size=term_size, run_before=before)


def test_settings_automatic_backups_set_up_over_ssh(
    snap_compare, term_size, make_ctx, schedule_host, scheduler
):
    """Set up pressed over SSH with lingering off: the result and the advice."""
    scheduler.set(linger="no")

    async def before(pilot):
        await wait_scan(pilot)
        await pilot.press("s")
        await wait_schedule(pilot)
        pilot.app.screen.query_one("#schedule-toggle").focus()
        await pilot.press("enter")
        await pilot.pause()
        await wait_schedule(pilot)

    ctx = make_ctx(host=schedule_host(over_ssh=True))
    assert snap_compare(TherabakApp(ctx), terminal_size=term_size, run_before=before)


def test_home_automatic_backups_set_up(
    snap_compare, term_size, make_ctx, app_practice, schedule_host
):
    """Set up, the last run 13 minutes ago was not due, the next backup tomorrow."""
    from therabak.jobs import auto_runs
    from therabak.schedule import manage
    from therabak.settings import Settings

    host = schedule_host()
    manage.install(host, app_practice, Settings())
    archive = (
        app_practice.data_dir.parent
        / "TheraPsy-Auto-Backups"
        / "TheraPsy-Auto-2026-03-02_071700.therabak"
    )
    archive.parent.mkdir()
    archive.write_bytes(b"")  # what counts for when the next one is due: the file
    add_history("auto", str(archive), NOW - timedelta(hours=3, minutes=13), app_practice.data_dir)
    auto_runs.record(
        auto_runs.make_run(
            NOW - timedelta(minutes=13),
            0,
            auto_runs.AutoOutcome.NOT_DUE,
            "not due",
            app_practice.data_dir,
        )
    )
    assert snap_compare(
        TherabakApp(make_ctx(host=host)), terminal_size=term_size, run_before=wait_scan
    )


def test_help(snap_compare, term_size, make_ctx):
    async def before(pilot):
        await wait_scan(pilot)
        await pilot.press("question_mark")

    assert snap_compare(TherabakApp(make_ctx()), terminal_size=term_size, run_before=before)


def test_problem_missing_data_and_key(snap_compare, term_size, make_ctx, home):
    paths = PracticePaths(home / "TheraPsy-old" / "Data", home / "TheraPsy-old" / "account.key")
    assert snap_compare(TherabakApp(make_ctx(paths=paths)), terminal_size=term_size)


# ---- restore and verify -------------------------------------------------------------------

PASSWORD = "Praxis-2026!"


@pytest.fixture
def points(app_practice, usb):
    """A manual backup on the stick, an automatic one beside Data, a folder backup and a
    file that only looks like a backup: made by the engine at fixed times."""
    from therabak.archive.writer import Protection
    from therabak.jobs.backup import BackupRequest, run_backup
    from therabak.jobs.folder import FolderBackupRequest, run_folder_backup
    from therabak.practice.account import AccountKey
    from therabak.practice.categories import BackupKind, Rules

    rules = Rules.load()
    key = AccountKey.load(app_practice.account_key)
    data = app_practice.data_dir
    run_backup(
        BackupRequest(
            data_dir=data,
            account=key,
            dest_dir=usb,
            rules=rules,
            selection=rules.default_selection(BackupKind.MANUAL),
            protection=Protection(password=PASSWORD),
            created=NOW - timedelta(days=2),
            remember_destination=False,
        )
    )
    run_backup(
        BackupRequest(
            data_dir=data,
            account=key,
            dest_dir=data.parent / "TheraPsy-Auto-Backups",
            rules=rules,
            selection=rules.default_selection(BackupKind.AUTOMATIC),
            kind=BackupKind.AUTOMATIC,
            protection=Protection(account_key=key.key, account_key_id=key.key_id),
            created=NOW - timedelta(hours=5),
            remember_destination=False,
        )
    )
    run_folder_backup(
        FolderBackupRequest(
            data_dir=data,
            dest_dir=usb,
            account_key_id=key.id_hex,
            rules=rules,
            created=NOW - timedelta(days=9),
        )
    )
    (usb / "TheraPsy-Backup-copy.therabak").write_bytes(b"not really a backup")
    return usb


@pytest.fixture
def pinned_restore_time(monkeypatch):
    """The engine names the kept data folder after the time of the restore: pin it."""
    from therabak.datafolder import names
    from therabak.jobs.restore import checks

    monkeypatch.setattr(
        checks,
        "before_restore_path",
        lambda data_dir, when=None: names.before_restore_path(data_dir, NOW),
    )


async def restore_points(pilot):
    from app.apphelp import wait_for
    from therabak.app.widgets.points_table import PointsTable

    await pilot.press("r")
    await wait_for(
        pilot,
        lambda: (
            pilot.app.screen.query(PointsTable)
            and pilot.app.screen.query_one(PointsTable).row_count == 4
        ),
    )


async def unlocked(pilot):
    from app.apphelp import wait_for

    await restore_points(pilot)
    table = pilot.app.screen.query_one("#points")
    table.move_cursor(row=[p.kind for p in table._ordered()].index("manual"))
    await pilot.press("enter")
    await pilot.pause()
    await pilot.press(*PASSWORD, "enter")
    await wait_for(pilot, lambda: getattr(pilot.app.screen, "step", "") == "what")


def test_restore_points(snap_compare, term_size, make_ctx, points):
    assert snap_compare(TherabakApp(make_ctx()), terminal_size=term_size, run_before=restore_points)


def test_restore_unlock(snap_compare, term_size, make_ctx, points):
    async def before(pilot):
        await restore_points(pilot)
        table = pilot.app.screen.query_one("#points")
        table.move_cursor(row=[p.kind for p in table._ordered()].index("manual"))
        await pilot.press("enter")
        await pilot.press(*"not it")

    assert snap_compare(TherabakApp(make_ctx()), terminal_size=term_size, run_before=before)


def test_restore_what(snap_compare, term_size, make_ctx, points):
    async def before(pilot):
        await unlocked(pilot)
        await pilot.press("down", "down", "space")  # the sessions stay as they are now

    assert snap_compare(TherabakApp(make_ctx()), terminal_size=term_size, run_before=before)


def test_restore_confirm(snap_compare, term_size, make_ctx, points, pinned_restore_time):
    from app.apphelp import wait_for

    async def before(pilot):
        await unlocked(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: pilot.app.screen.step == "confirm")

    assert snap_compare(TherabakApp(make_ctx()), terminal_size=term_size, run_before=before)


def test_restore_summary(snap_compare, term_size, make_ctx, app_practice, usb):
    ctx = make_ctx()
    data = app_practice.data_dir
    record = titled(
        id="20260302-103000-restor",
        operation="restore",
        args=[],
        pid=0,
        started=NOW.isoformat(),
        title=_("Restore {name}").format(name="TheraPsy-Backup-2026-02-28_103000.therabak"),
    )
    events = [
        Phase("staging"),
        Progress(
            phase="staging",
            bytes_done=900_000,
            bytes_total=1_900_000,
            files_done=30,
            files_total=57,
            current="sessions/K0003/2026-03-04-01.json",
            rate=3e6,
        ),
        Phase("syncing"),  # every file checked while staged: no verifying phase
        Summary(
            operation="restore",
            exit_code=0,
            duration_s=3.2,
            message="",
            extra={
                "point": str(usb / "TheraPsy-Backup-2026-02-28_103000.therabak"),
                "target": str(data),
                "files": 57,
                "bytes": 1_900_000,
                "before_restore": str(data.parent / "Data.before-restore-2026-03-02_103000"),
                "files_carried": 15,
                "bytes_carried": 550_000,
                "damaged": [],
                "warnings": [],
                "new_account_key": None,
            },
        ),
    ]

    async def before(pilot):
        screen = ProgressScreen(Job(record, JobState.RUNNING), follow=False)
        await pilot.app.push_screen(screen)
        screen.apply(events)

    assert snap_compare(TherabakApp(ctx), terminal_size=term_size, run_before=before)


def test_verify_points(snap_compare, term_size, make_ctx, points):
    from app.apphelp import wait_for
    from therabak.app.widgets.points_table import PointsTable

    async def before(pilot):
        await pilot.press("v")
        await wait_for(
            pilot,
            lambda: (
                pilot.app.screen.query(PointsTable)
                and pilot.app.screen.query_one(PointsTable).row_count == 2
            ),
        )

    assert snap_compare(TherabakApp(make_ctx()), terminal_size=term_size, run_before=before)


# ---- a backup store's points ------------------------------------------------------------

#: A code that is well formed except for one character of group 3 (the dialog says so).
TYPO_CODE = "3AHR-Z6DM-A29G-QY5C-KT18-FPX4-BJ8R-WQJR"  # valid with V for the A


@pytest.fixture
def store_points(app_practice, usb):
    """A backup store on the stick (password and a recovery code) with three backups
    of the practice, made 6, 4 and 1 day(s) ago, a recording added before each of the
    later two: made by the engine with fixed times and content."""
    from store_read_support import WithRecovery
    from store_support import backup_data
    from therabak.crypto.recovery import RecoveryCode
    from therabak.practice.account import AccountKey
    from therabak.practice.envelope import seal_bytes
    from therabak.storage.local import LocalStorage
    from therabak.store.core import Store

    key = AccountKey.load(app_practice.account_key)
    data = app_practice.data_dir
    store = Store.create(
        LocalStorage(usb / "TheraPsy-Backups"),
        WithRecovery(PASSWORD, RecoveryCode.generate()),
        chunk_size=64 << 10,
        pack_size=1 << 20,
    )
    for i, days in enumerate((6, 4, 1)):
        if i:
            audio = data / "audio" / "K0001" / f"2026-02-2{i}-01.opus"
            audio.write_bytes(seal_bytes(key, random.Random(i).randbytes(200_000 * i)))
        backup_data(store, data, key, created=NOW - timedelta(days=days))
    return usb / "TheraPsy-Backups"


async def store_listed(pilot, key: str = "r", rows: int = 3):
    from app.apphelp import wait_for
    from therabak.app.widgets.points_table import PointsTable

    await pilot.press(key)
    await wait_for(
        pilot,
        lambda: (
            pilot.app.screen.query(PointsTable)
            and pilot.app.screen.query_one(PointsTable).row_count == rows
        ),
    )
    table = pilot.app.screen.query_one(PointsTable)
    table.move_cursor(row=1)  # the middle backup of the store (4 days ago)
    await pilot.pause()


async def store_unlocked(pilot):
    from app.apphelp import wait_for

    await store_listed(pilot)
    await pilot.press("enter")
    await pilot.pause()
    await pilot.press(*PASSWORD, "enter")
    await wait_for(pilot, lambda: getattr(pilot.app.screen, "step", "") == "what")


def test_restore_store_points(snap_compare, term_size, make_ctx, store_points):
    assert snap_compare(TherabakApp(make_ctx()), terminal_size=term_size, run_before=store_listed)


def test_restore_store_unlock_with_code(snap_compare, term_size, make_ctx, store_points):
    async def before(pilot):
        from app.apphelp import screen_text, wait_for

        await store_listed(pilot)
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("ctrl+r", *TYPO_CODE, "enter")
        await wait_for(pilot, lambda: " 3 (" in screen_text(pilot.app))  # names group 3

    assert snap_compare(TherabakApp(make_ctx()), terminal_size=term_size, run_before=before)


def test_restore_store_what(snap_compare, term_size, make_ctx, store_points):
    assert snap_compare(TherabakApp(make_ctx()), terminal_size=term_size, run_before=store_unlocked)


def test_restore_store_confirm(
    snap_compare, term_size, make_ctx, store_points, pinned_restore_time
):
    from app.apphelp import wait_for

    async def before(pilot):
        await store_unlocked(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: pilot.app.screen.step == "confirm")

    assert snap_compare(TherabakApp(make_ctx()), terminal_size=term_size, run_before=before)


def test_verify_store_points(snap_compare, term_size, make_ctx, store_points):
    async def before(pilot):
        await store_listed(pilot, "v")

    assert snap_compare(TherabakApp(make_ctx()), terminal_size=term_size, run_before=before)


def test_home_with_jobs_that_ended_while_nobody_watched(snap_compare, term_size, make_ctx):
    """Jobs on record: one finished, one refused, one whose process vanished."""
    from therabak.events import Error

    ctx = make_ctx()
    runner = ctx.runner
    runner.root.mkdir(parents=True, exist_ok=True)
    jobs = [
        (
            "backup",
            _("Backup to {dest}").format(dest="~/usb"),
            50,
            [Phase("writing"), Summary(operation="backup", exit_code=0, duration_s=40.0)],
        ),
        (
            "restore",
            _("Restore {name}").format(name="TheraPsy-Backup-2026-02-10_090000.therabak"),
            30,
            [Phase("checking"), Error(exit_code=4, message=_("Wrong password for this backup."))],
        ),
        ("folder-backup", _("Folder backup to {dest}").format(dest="~/usb"), 5, [Phase("copying")]),
    ]
    for i, (operation, title, minutes, events) in enumerate(jobs):
        record = titled(
            id=f"20260302-10{i}000-00000{i}",
            operation=operation,
            args=[],
            pid=0,
            started=(NOW - timedelta(minutes=minutes)).isoformat(),
            title=title,
        )
        runner._save(record)
        runner.log_path(record.id).write_text("".join(e.to_line() + "\n" for e in events))

    assert snap_compare(TherabakApp(ctx), terminal_size=term_size, run_before=wait_scan)


# ---- what a new user meets (issue 14) -------------------------------------------------------


def test_folder_picker_lists_what_fits(snap_compare, term_size, make_ctx, home):
    for name in ("Dokumente", "Praxis-Archiv", "Praxis-Alt", "Privat"):
        (home / name).mkdir(exist_ok=True)

    async def before(pilot):
        await pilot.press("b")
        await wait_scan(pilot)
        await pilot.press("n", "ctrl+o")
        await pilot.pause(0.3)
        line = pilot.app.screen.query_one("#picker-path")
        line.value = "~/Pr"
        line.cursor_position = len(line.value)
        await pilot.press("tab")
        await pilot.pause(0.3)

    assert snap_compare(TherabakApp(make_ctx()), terminal_size=term_size, run_before=before)


def test_backup_where_short_password(snap_compare, term_size, make_ctx, usb):
    async def before(pilot):
        await pilot.press("b")
        await wait_scan(pilot)
        await pilot.press("n")
        pilot.app.screen.query_one("#dest-input").value = "~/usb"
        await pilot.press("enter", *"abc", "enter", *"abc")
        await pilot.pause(0.2)

    assert snap_compare(TherabakApp(make_ctx()), terminal_size=term_size, run_before=before)


def fixed_recovery_code():
    from therabak.crypto import recovery

    data = [(7 * i + 3) % 32 for i in range(recovery.DATA_SYMBOLS)]
    symbols = data + recovery._checksum(data)
    return recovery.RecoveryCode("".join(recovery.ALPHABET[v] for v in symbols))


async def to_a_new_store(pilot) -> None:
    """Step 2 to a new store with a good password, then start: the code question."""
    from app.apphelp import wait_for
    from therabak.app.screens.dialogs import ConfirmDialog

    await pilot.press("b")
    await wait_scan(pilot)
    await pilot.press("n")
    pilot.app.screen.query_one("#dest-input").value = "~/usb"
    await pilot.press("enter", *"Praxis-Ablage", "enter", *"Praxis-Ablage")
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog))
    await pilot.pause(0.2)


def test_backup_recovery_code_question(snap_compare, term_size, make_ctx, usb):
    assert snap_compare(TherabakApp(make_ctx()), terminal_size=term_size, run_before=to_a_new_store)


def test_backup_recovery_code_shown(snap_compare, term_size, make_ctx, usb, monkeypatch):
    from therabak.crypto.recovery import RecoveryCode

    monkeypatch.setattr(RecoveryCode, "generate", classmethod(lambda cls: fixed_recovery_code()))

    async def before(pilot):
        from app.apphelp import wait_for
        from therabak.app.screens.dialogs import RecoveryCodeDialog

        await to_a_new_store(pilot)
        await pilot.press("enter")  # yes, the default: make one
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, RecoveryCodeDialog))
        await pilot.pause(0.2)

    assert snap_compare(TherabakApp(make_ctx()), terminal_size=term_size, run_before=before)


def test_backup_where_into_an_existing_store(snap_compare, term_size, make_ctx, usb):
    """One password field, and how much is new before the start."""
    from app.apphelp import store_backup_first, wait_for

    ctx = make_ctx()
    store_backup_first(ctx, usb, "Praxis-Ablage")

    async def before(pilot):
        await pilot.press("b")
        await wait_scan(pilot)
        await pilot.press("n")
        pilot.app.screen.query_one("#dest-input").value = "~/usb"
        await pilot.press("enter", *"Praxis-Ablage")
        screen = pilot.app.screen
        await wait_for(pilot, lambda: screen.estimate is not None, timeout=30)
        await pilot.pause(0.2)

    assert snap_compare(TherabakApp(ctx), terminal_size=term_size, run_before=before)


STORE_PROGRESS = Progress(
    phase="writing",
    bytes_done=120_000,
    bytes_total=180_000,
    files_done=3,
    files_total=4,
    current="audio/K0003/2026-02-03-04.opus",
    rate=2_500_000.0,
    eta_s=0.3,
    files_reused=53,
    bytes_reused=1_720_000,
)


def test_progress_store_backup(snap_compare, term_size, make_ctx, usb):
    ctx = make_ctx()

    async def before(pilot):
        screen = ProgressScreen(fake_job(ctx, usb), follow=False)
        await pilot.app.push_screen(screen)
        screen.apply([Phase("opening"), Phase("scanning"), Phase("writing"), STORE_PROGRESS])

    assert snap_compare(TherabakApp(ctx), terminal_size=term_size, run_before=before)


def test_progress_summary_store_backup(snap_compare, term_size, make_ctx, usb):
    ctx = make_ctx()
    store = usb / "TheraPsy-Backups"
    from therabak.jobs.store_backup import StoreBackupResult

    result = StoreBackupResult(
        store=store,
        snapshot="53b1ce43c294eeff6c644e88a862077bb5fa82e1be6db935b7f01455a893b407",
        created_store=False,
        files=57,
        files_reused=53,
        files_read=4,
        bytes_total=1_900_000,
        bytes_new=180_000,
        bytes_stored=150_000,
        duration_s=3.1,
        verified=True,
    )
    final = Summary.of("backup", result, str(store))

    async def before(pilot):
        screen = ProgressScreen(fake_job(ctx, usb), follow=False)
        await pilot.app.push_screen(screen)
        screen.apply([Phase("opening"), Phase("scanning"), Phase("writing"), STORE_PROGRESS])
        screen.apply([Phase("verifying"), final])

    assert snap_compare(TherabakApp(ctx), terminal_size=term_size, run_before=before)


def test_backup_where_relative_path(snap_compare, term_size, make_ctx):
    async def before(pilot):
        await pilot.press("b")
        await wait_scan(pilot)
        await pilot.press("n", *"backups")
        await pilot.pause(0.2)

    ctx = make_ctx()
    import os

    cwd = os.getcwd()
    os.chdir(ctx.home)  # the folder the app was started in shows in the message
    try:
        assert snap_compare(TherabakApp(ctx), terminal_size=term_size, run_before=before)
    finally:
        os.chdir(cwd)


def test_settings_error_beside_its_field(snap_compare, term_size, make_ctx):
    async def before(pilot):
        await pilot.press("s")
        await wait_schedule(pilot)
        pilot.app.screen.query_one("#retry-max").value = "-5"
        await pilot.press("ctrl+s")
        await pilot.pause(0.3)

    assert snap_compare(TherabakApp(make_ctx()), terminal_size=term_size, run_before=before)


def test_progress_check_cancelled(snap_compare, term_size, make_ctx, usb):
    from therabak.events import Warning

    ctx = make_ctx()
    archive = usb / "TheraPsy-Backup-2026-03-02_103000.therabak"
    events = [
        Phase("writing"),
        Phase("syncing"),
        Phase("verifying"),
        Progress("verifying", 400_000, 1_900_000, 12, 57, "sessions/K0003/2026-03-04-01.json"),
        Warning(
            _(
                "The check was cancelled: the backup is complete but not verified. "
                "Keep it (verify it later) or delete it: {path}"
            ).format(path=str(archive)),
            path=str(archive),
            code="verify-cancelled",
        ),
        Summary(
            operation="backup",
            exit_code=3,
            duration_s=9.1,
            message=str(archive),
            extra={
                "archive": str(archive),
                "files": 57,
                "bytes_in": 1_900_000,
                "bytes_stored": 1_880_000,
                "retried": [],
                "raw": [],
                "skipped": [],
                "verified": None,
                "verify_cancelled": True,
                "damaged": [],
            },
        ),
    ]

    async def before(pilot):
        screen = ProgressScreen(fake_job(ctx, usb), follow=False)
        await pilot.app.push_screen(screen)
        screen.apply(events)

    assert snap_compare(TherabakApp(ctx), terminal_size=term_size, run_before=before)


def test_kept_folders(snap_compare, term_size, make_ctx, app_practice):
    """Two folders kept from before restores: home counts them, c lists them."""
    for i, stamp in enumerate(("2026-02-20_101500", "2026-02-27_164500")):
        folder = app_practice.data_dir.parent / f"Data.before-restore-{stamp}"
        (folder / "sessions").mkdir(parents=True)
        (folder / "sessions" / "notes.bin").write_bytes(b"x" * (1_500_000 + i * 250_000))

    async def before(pilot):
        from app.apphelp import wait_for

        await wait_scan(pilot)
        await wait_for(pilot, lambda: len(pilot.app.screen.kept_folders) == 2)
        await pilot.press("c")
        await pilot.pause(0.3)

    assert snap_compare(TherabakApp(make_ctx()), terminal_size=term_size, run_before=before)


def test_home_with_everything(snap_compare, term_size, make_ctx, app_practice, schedule_host):
    """The longest home: the reminder, automatic backups set up with their last run, two
    folders kept from before restores and three jobs on record (nothing may be cut)."""
    from app.apphelp import wait_for
    from therabak.jobs import auto_runs
    from therabak.schedule import manage
    from therabak.settings import Settings

    host = schedule_host()
    manage.install(host, app_practice, Settings())
    archive = (
        app_practice.data_dir.parent
        / "TheraPsy-Auto-Backups"
        / "TheraPsy-Auto-2026-03-02_071700.therabak"
    )
    archive.parent.mkdir()
    archive.write_bytes(b"")
    add_history("auto", str(archive), NOW - timedelta(hours=3, minutes=13), app_practice.data_dir)
    auto_runs.record(
        auto_runs.make_run(
            NOW - timedelta(minutes=13),
            0,
            auto_runs.AutoOutcome.NOT_DUE,
            "not due",
            app_practice.data_dir,
        )
    )
    for i, stamp in enumerate(("2026-02-20_101500", "2026-02-27_164500")):
        folder = app_practice.data_dir.parent / f"Data.before-restore-{stamp}"
        (folder / "sessions").mkdir(parents=True)
        (folder / "sessions" / "notes.bin").write_bytes(b"x" * (1_500_000 + i * 250_000))
    ctx = make_ctx(host=host)
    runner = ctx.runner
    runner.root.mkdir(parents=True, exist_ok=True)
    jobs = [
        ("backup", _("Backup to {dest}").format(dest="~/usb"), 50, 0),
        ("restore", _("Restore {name}").format(name=archive.name), 30, 3),  # with warnings
        ("verify", _("Verify {name}").format(name=archive.name), 5, 0),
    ]
    for i, (operation, title, minutes, code) in enumerate(jobs):
        record = titled(
            id=f"20260302-10{i}000-00000{i}",
            operation=operation,
            args=[],
            pid=0,
            started=(NOW - timedelta(minutes=minutes)).isoformat(),
            title=title,
        )
        runner._save(record)
        final = Summary(operation=operation, exit_code=code, duration_s=40.0)
        runner.log_path(record.id).write_text(final.to_line() + "\n")

    async def before(pilot):
        await wait_scan(pilot)
        await wait_for(pilot, lambda: len(pilot.app.screen.kept_folders) == 2)
        await pilot.pause()

    assert snap_compare(TherabakApp(ctx), terminal_size=term_size, run_before=before)


# ---- destinations: where backups go (issue 17) ---------------------------------------------

NEXTCLOUD = "webdavs://anna@cloud.praxis-example.de/remote.php/dav/files/anna/therabak"


@pytest.fixture
def destinations(usb, monkeypatch, home):
    """A USB stick and a Nextcloud named in the settings; no credential store (a headless
    computer), the credentials file under ~/.config (shown as ~)."""
    import keyring.core

    from therabak.settings import DestinationEntry, Settings

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setenv(
        "THERABAK_CREDENTIALS_FILE", str(home / ".config" / "therabak" / "credentials.json")
    )
    monkeypatch.delenv("THERABAK_REMOTE_PASSWORD", raising=False)
    keyring.core.init_backend()
    settings = Settings.load()
    settings.destinations = [
        DestinationEntry("USB-Stick", str(usb)),
        DestinationEntry("Nextcloud", NEXTCLOUD, "2M"),
    ]
    settings.save()
    yield settings
    monkeypatch.undo()
    keyring.core.init_backend()


async def destinations_screen(pilot):
    from app.apphelp import wait_for
    from therabak.app.screens.destinations import DestinationsScreen

    await wait_scan(pilot)
    pilot.app.action_destinations()
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, DestinationsScreen))
    await wait_for(pilot, lambda: "Nextcloud" in pilot.app.screen.places)
    await pilot.pause()


def test_home_with_destinations(snap_compare, term_size, make_ctx, app_practice, destinations, usb):
    """Each named destination's last backup; the off-site copy is 20 days old: reminded by
    name, though the stick's copy is fresh."""
    add_history(
        "manual",
        str(usb / "TheraPsy-Backups@3f2a9c1b"),
        NOW - timedelta(days=2),
        app_practice.data_dir,
    )
    add_history(
        "manual",
        NEXTCLOUD + "/TheraPsy-Backups@0b77e1d4",
        NOW - timedelta(days=20),
        app_practice.data_dir,
    )
    assert snap_compare(TherabakApp(make_ctx()), terminal_size=term_size, run_before=wait_scan)


def test_destinations(snap_compare, term_size, make_ctx, destinations):
    assert snap_compare(
        TherabakApp(make_ctx()), terminal_size=term_size, run_before=destinations_screen
    )


def test_destination_add_refused(snap_compare, term_size, make_ctx, destinations):
    """A URL with a password in it: said in the dialog (the password is not shown)."""

    async def before(pilot):
        await destinations_screen(pilot)
        await pilot.press("a")
        await pilot.pause()
        dialog = pilot.app.screen
        dialog.query_one("#dest-name").value = "Speicherbox"
        dialog.query_one(
            "#dest-where"
        ).value = "sftp://u123:Geheim4711@u123.your-storagebox.de/praxis"
        dialog.query_one("#add").press()
        await pilot.pause(0.2)

    assert snap_compare(TherabakApp(make_ctx()), terminal_size=term_size, run_before=before)


def test_destination_credentials_without_a_store(snap_compare, term_size, make_ctx, destinations):
    async def before(pilot):
        from app.apphelp import wait_for

        await destinations_screen(pilot)
        await pilot.press("down", "l")
        await wait_for(pilot, lambda: getattr(pilot.app.screen, "has_store", None) is False)
        await pilot.pause()

    assert snap_compare(TherabakApp(make_ctx()), terminal_size=term_size, run_before=before)


# ---- the recovery code and the emergency sheet (issue 18) -------------------------------------

#: A recovery code of the snapshots' own (a real one: its check characters match).
CODE = "W61V-CK6P-213Y-3EJF-DYWA-HTPB-M18A-H1XD"
NEW_CODE = "BTZ5-DNS5-7VVS-08Q4-V3QB-R896-4P21-77MJ"


@pytest.fixture
def coded(app_practice, usb):
    """Two manual backups on the stick made by the engine at fixed times: the newer one
    with a recovery code, the older one without."""
    from therabak.archive.writer import Protection
    from therabak.crypto.recovery import RecoveryCode
    from therabak.jobs.backup import BackupRequest, run_backup
    from therabak.practice.account import AccountKey
    from therabak.practice.categories import BackupKind, Rules

    rules = Rules.load()
    key = AccountKey.load(app_practice.account_key)
    for days, code in ((1, RecoveryCode.parse(CODE)), (8, None)):
        run_backup(
            BackupRequest(
                data_dir=app_practice.data_dir,
                account=key,
                dest_dir=usb,
                rules=rules,
                selection=rules.default_selection(BackupKind.MANUAL),
                protection=Protection(password=PASSWORD, recovery_code=code),
                created=NOW - timedelta(days=days),
                remember_destination=False,
            )
        )
    return usb


async def coded_unlock(pilot):
    from app.apphelp import wait_for
    from therabak.app.screens.unlock import UnlockDialog

    await pilot.press("r")
    await wait_for(
        pilot,
        lambda: (
            pilot.app.screen.query("#points")
            and pilot.app.screen.query_one("#points").row_count == 2
        ),
    )
    await pilot.press("enter")  # the newest: the one with a code
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, UnlockDialog))
    await pilot.pause()


def test_unlock_offers_the_recovery_code(snap_compare, term_size, make_ctx, coded):
    assert snap_compare(TherabakApp(make_ctx()), terminal_size=term_size, run_before=coded_unlock)


def test_unlock_with_a_typo_in_the_recovery_code(snap_compare, term_size, make_ctx, coded):
    async def before(pilot):
        await coded_unlock(pilot)
        await pilot.press("ctrl+r")
        typo = CODE[:10] + ("3" if CODE[10] != "3" else "4") + CODE[11:]  # group 3
        await pilot.press(*typo.lower(), "enter")
        await pilot.pause()

    assert snap_compare(TherabakApp(make_ctx()), terminal_size=term_size, run_before=before)


def test_destination_host_key(snap_compare, term_size, make_ctx, destinations):
    """A new SSH server: its key's fingerprint, to compare before trusting it."""
    from therabak.app.screens.destination_dialogs import HostKeyDialog
    from therabak.destinations import make

    nas = make("NAS", "sftp://praxis@nas.fritz.box:2222/volume1/therabak")[0]

    async def before(pilot):
        await destinations_screen(pilot)
        await pilot.app.push_screen(
            HostKeyDialog(nas, "ssh-ed25519", "SHA256:Yk3vP9n0o1vTq2m1a8zU4Gxg0sH2LwQe9kKcRb7dNfA")
        )
        await pilot.pause()

    assert snap_compare(TherabakApp(make_ctx()), terminal_size=term_size, run_before=before)


async def recovery_codes(pilot):
    from app.apphelp import wait_for

    pilot.app.action_recovery_codes()
    await wait_for(
        pilot,
        lambda: (
            pilot.app.screen.query("#points")
            and pilot.app.screen.query_one("#points").row_count == 2
        ),
    )
    await pilot.pause()


def test_recovery_codes(snap_compare, term_size, make_ctx, coded):
    assert snap_compare(TherabakApp(make_ctx()), terminal_size=term_size, run_before=recovery_codes)


def test_new_recovery_code_shown_once(snap_compare, term_size, make_ctx, coded, monkeypatch):
    from app.apphelp import wait_for
    from therabak.app.screens.recovery import NewCodeDialog
    from therabak.crypto.recovery import RecoveryCode

    monkeypatch.setattr(RecoveryCode, "generate", classmethod(lambda cls: cls.parse(NEW_CODE)))

    async def before(pilot):
        await recovery_codes(pilot)
        await pilot.press("k")
        await pilot.pause()
        await pilot.press(*PASSWORD, "enter")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, NewCodeDialog))
        await pilot.pause()

    assert snap_compare(TherabakApp(make_ctx()), terminal_size=term_size, run_before=before)


def test_emergency_sheet_with_a_typed_code(snap_compare, term_size, make_ctx, home):
    (home / "Dokumente").mkdir()

    async def before(pilot):
        pilot.app.action_emergency_sheet()
        await pilot.pause()
        screen = pilot.app.screen
        screen.query_one("#code-typed").value = True
        await pilot.pause()
        await pilot.press(*CODE[:-2])
        await pilot.pause()

    assert snap_compare(TherabakApp(make_ctx()), terminal_size=term_size, run_before=before)


def test_emergency_sheet_summary(snap_compare, term_size, make_ctx, home, usb):
    ctx = make_ctx()
    sheet = home / "Dokumente" / "Notfallblatt-2026-03-02_103000.pdf"
    record = titled(
        id="20260302-103000-sheet0",
        operation="emergency-sheet",
        args=[],
        pid=0,
        started=NOW.isoformat(),
        title=_("Emergency sheet in {folder}").format(folder="~/Dokumente"),
    )
    events = [
        Phase("scanning", "restore points"),
        Phase("writing", str(sheet)),
        Summary(
            operation="emergency-sheet",
            exit_code=0,
            duration_s=0.4,
            message=str(sheet),
            extra={
                "sheet": str(sheet),
                "language": "de",
                "includes_code": True,
                "made": NOW.isoformat(),
                "places": [{"place": str(usb)}, {"place": str(home / "NAS")}],
                "code_opens": 2,
            },
        ),
    ]

    async def before(pilot):
        screen = ProgressScreen(Job(record, JobState.RUNNING), follow=False)
        await pilot.app.push_screen(screen)
        screen.apply(events)

    assert snap_compare(TherabakApp(ctx), terminal_size=term_size, run_before=before)


def test_settings_recovery_codes_of_the_destinations(
    snap_compare, term_size, make_ctx, coded, home
):
    from therabak.settings import Settings

    settings = Settings.load()
    settings.remembered_destinations = [str(coded), str(home / "Stick-2")]
    settings.save()

    async def before(pilot):
        await pilot.press("s")
        await wait_schedule(pilot)

    assert snap_compare(TherabakApp(make_ctx()), terminal_size=term_size, run_before=before)


def name_two_destinations(usb) -> None:
    from therabak import destinations
    from therabak.settings import Settings

    settings = Settings.load()
    destinations.add(settings, "USB-Stick", str(usb))
    destinations.add(settings, "Nextcloud", "webdavs://praxis@cloud.example.org/backup")
    settings.save()


def test_backup_where_both_destinations(snap_compare, term_size, make_ctx, usb, monkeypatch):
    """The named destinations and "Both" among the quick picks; both chosen, the server's
    answer (given here: no network in a snapshot) on the line under the folder's."""
    from therabak.app.screens.backup_store import StoreQuestions

    name_two_destinations(usb)
    monkeypatch.setattr(StoreQuestions, "_remote_worker", lambda self, dest: None)

    async def before(pilot):
        await pilot.press("b")
        await wait_scan(pilot)
        await pilot.press("n")
        screen = pilot.app.screen
        screen.query_one("#dest-input").value = "USB-Stick + Nextcloud"
        await pilot.pause(0.1)
        screen._remote_done("webdavs://praxis@cloud.example.org/backup", False, "")
        screen.query_one("#dest-quick").highlighted = 0
        await pilot.pause(0.2)

    assert snap_compare(TherabakApp(make_ctx()), terminal_size=term_size, run_before=before)


def test_progress_second_of_two_destinations(snap_compare, term_size, make_ctx, usb):
    """Both: the off-site backup runs after the folder's failed (said above it), its
    speed line says Upload."""
    from therabak.app.chain import BackupChain, ChainResult, ChainStep
    from therabak.events import Error

    name_two_destinations(usb)
    ctx = make_ctx()
    record = titled(
        id="20260302-103000-abcdef",
        operation="backup",
        args=["--dest", "Nextcloud"],
        pid=0,
        started=NOW.isoformat(),
        title=_("Backup to {dest}").format(dest="Nextcloud"),
        target="webdavs://praxis@cloud.example.org/backup",
    )
    chain = BackupChain([], total=2)
    chain.done.append(
        ChainResult("USB-Stick", Error(4, _("Wrong password for this backup store.")))
    )
    chain.current = ChainStep(None, "", "", "Nextcloud")

    async def before(pilot):
        screen = ProgressScreen(Job(record, JobState.RUNNING), follow=False, chain=chain)
        await pilot.app.push_screen(screen)
        screen.apply([Phase("writing"), PROGRESS])

    assert snap_compare(TherabakApp(ctx), terminal_size=term_size, run_before=before)


def test_progress_both_the_second_store_refused_the_password(
    snap_compare, term_size, make_ctx, usb
):
    """Both, two stores whose passwords differ: the off-site store refused the password;
    the summary names it and offers its backup alone (a button, key a)."""
    from therabak.app.chain import BackupChain, ChainResult, ChainStep
    from therabak.events import Error

    name_two_destinations(usb)
    ctx = make_ctx()
    record = titled(
        id="20260302-103000-abcdef",
        operation="backup",
        args=["--dest", "Nextcloud"],
        pid=0,
        started=NOW.isoformat(),
        title=_("Backup to {dest}").format(dest="Nextcloud"),
        target="webdavs://praxis@cloud.example.org/backup",
    )
    chain = BackupChain([], total=2)
    chain.done.append(
        ChainResult(
            "USB-Stick",
            Summary(operation="backup", exit_code=0, duration_s=3.1, message="", extra={}),
        )
    )
    chain.current = ChainStep(None, "", "", "Nextcloud")

    async def before(pilot):
        screen = ProgressScreen(Job(record, JobState.RUNNING), follow=False, chain=chain)
        await pilot.app.push_screen(screen)
        screen.apply([Phase("opening"), Error(4, _("Wrong password for this backup store."))])

    assert snap_compare(TherabakApp(ctx), terminal_size=term_size, run_before=before)


def test_restore_points_with_an_off_site_destination_not_reached(
    snap_compare, term_size, make_ctx, points, usb, monkeypatch
):
    """The local points at once; the off-site destination that cannot be reached gets a
    line of its own (its answer given here: no network in a snapshot)."""
    from therabak.app import points as app_points

    name_two_destinations(usb)
    monkeypatch.setattr(
        app_points,
        "find_off_site_points",
        lambda ctx, dest: app_points.OffSitePoints(
            dest.name, error="Connection refused (cloud.example.org:443)"
        ),
    )

    async def before(pilot):
        from app.apphelp import wait_for

        await restore_points(pilot)
        await wait_for(
            pilot, lambda: pilot.app.screen.off_site and not pilot.app.screen.off_site_pending
        )
        await pilot.pause(0.1)

    assert snap_compare(TherabakApp(make_ctx()), terminal_size=term_size, run_before=before)
