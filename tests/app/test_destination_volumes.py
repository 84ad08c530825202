"""The backup's destination line: the file system there, and a free-space check. The app's
backups go into a backup store, whose files are small: a FAT stick does not split them,
and what the check asks for is the store backup's need (no volume headers). The summary
of a single-file backup (made with the CLI) still names its volumes."""

from __future__ import annotations

from pathlib import Path

from app.apphelp import wait_for, wait_scan
from therabak.app.app import TherabakApp
from therabak.app.widgets.destination import DestinationPicker
from therabak.archive.volumes import MIN_VOLUME_SIZE, VOLUME_MARGIN, volumes_needed
from therabak.fsinfo import FsInfo
from therabak.jobs.backup import space_needed
from therabak.jobs.store_plan import SPACE_MARGIN, SPACE_PER_FILE

# A FAT stick whose limit would make 1 MiB volumes of an archive of the demo practice.
SMALL_FAT = FsInfo("vfat", "/media/anna/STICK", MIN_VOLUME_SIZE + VOLUME_MARGIN - 1)


def dest_line(app) -> str:
    return " ".join(str(app.screen.query_one("#dest-space").render()).split())


async def to_destination(pilot, usb) -> tuple[int, int]:
    await pilot.press("b")
    await wait_scan(pilot)
    files, size = pilot.app.screen.selected_totals()
    await pilot.press("n")
    await pilot.pause()
    pilot.app.screen.query_one("#dest-input").value = str(usb)
    return files, size


def test_a_fat_stick_does_not_split_a_store_backup(make_ctx, run_app, usb):
    app = TherabakApp(make_ctx(fs=SMALL_FAT))

    async def body(pilot):
        files, size = await to_destination(pilot, usb)
        await wait_for(pilot, lambda: "File system: FAT32" in dest_line(app))
        # an archive of this selection would be split into several volumes there ...
        assert volumes_needed(space_needed(size, files), MIN_VOLUME_SIZE) >= 3
        # ... a store backup is not, and needs what it writes (a new store: everything)
        text = dest_line(app)
        assert "(files up to 17.8 MB)" in text and "split" not in text
        dest = app.screen.query_one(DestinationPicker)
        assert dest.needed == size + SPACE_MARGIN + SPACE_PER_FILE * files

    run_app(app, body)


def test_a_store_backup_fits_in_exactly_the_space_it_needs(make_ctx, run_app, usb):
    probe = TherabakApp(make_ctx(fs=SMALL_FAT))
    measured = {}

    async def measure(pilot):
        files, size = await to_destination(pilot, usb)
        measured["needed"] = size + SPACE_MARGIN + SPACE_PER_FILE * files

    run_app(probe, measure)
    need = measured["needed"]
    short = TherabakApp(make_ctx(fs=SMALL_FAT, free=need - 1))

    async def too_little(pilot):
        await to_destination(pilot, usb)
        await wait_for(pilot, lambda: "Does NOT fit" in dest_line(short))

    run_app(short, too_little)
    exact = TherabakApp(make_ctx(fs=SMALL_FAT, free=need))

    async def fits(pilot):
        await to_destination(pilot, usb)
        await wait_for(pilot, lambda: "Needs about" in dest_line(exact))
        assert "Does NOT fit" not in dest_line(exact) and "split" not in dest_line(exact)

    run_app(exact, fits)


def test_the_backup_summary_names_the_volumes() -> None:
    from therabak.app.jobview import JobView
    from therabak.app.summaries import _backup
    from therabak.events import Summary
    from therabak.jobs.backup import BackupResult

    result = BackupResult(
        archive=Path("/media/usb/TheraPsy-Backup-2026-01-05_101500.therabak"),
        volumes=[Path(f"/media/usb/v{k}") for k in range(3)],
        volume_size=(4 << 30) - (16 << 20),
        files=10,
        bytes_in=10 << 30,
        bytes_stored=10 << 30,
        duration_s=12.0,
        verified=True,
    )
    text = str(_backup(Summary.of("backup", result), JobView(), str))
    assert "Split into 3 volumes of at most 4.3 GB each" in " ".join(text.split())
    result.volumes = result.volumes[:1]
    text = str(_backup(Summary.of("backup", result), JobView(), str))
    assert "Split" not in text
