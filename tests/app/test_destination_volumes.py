"""The backup's destination line: the file system there, whether the backup will be
split into volumes and into how many, and a free-space check that counts every volume."""

from __future__ import annotations

from pathlib import Path

from app.apphelp import wait_for, wait_scan
from therabak.app.app import TherabakApp
from therabak.archive.volumes import (
    MIN_VOLUME_SIZE,
    VOLUME_HEADER_SIZE,
    VOLUME_MARGIN,
    volumes_needed,
)
from therabak.fsinfo import FsInfo
from therabak.jobs.backup import space_needed

# A FAT stick whose limit makes 1 MiB volumes (the demo practice's backup takes several).
SMALL_FAT = FsInfo("vfat", "/media/anna/STICK", MIN_VOLUME_SIZE + VOLUME_MARGIN - 1)


def dest_line(app) -> str:
    return str(app.screen.query_one("#dest-space").render())


async def to_destination(pilot, usb) -> tuple[int, int]:
    await pilot.press("b")
    await wait_scan(pilot)
    files, size = pilot.app.screen.selected_totals()
    await pilot.press("n")
    await pilot.pause()
    pilot.app.screen.query_one("#dest-input").value = str(usb)
    return files, size


def test_a_fat_stick_splits_the_backup_and_every_volume_counts(make_ctx, run_app, usb):
    app = TherabakApp(make_ctx(fs=SMALL_FAT))

    async def body(pilot):
        files, size = await to_destination(pilot, usb)
        await wait_for(pilot, lambda: "File system: FAT32" in dest_line(app))
        needed = space_needed(size, files)
        count = volumes_needed(needed, MIN_VOLUME_SIZE)
        assert count >= 3
        text = " ".join(dest_line(app).split())
        assert f"The backup will be split into {count} files (volumes) of up to 1.0 MB" in text
        assert "(files up to 17.8 MB)" in text
        # what the check asks for is every volume with its header
        screen = app.screen
        dest = screen.query_one("#dest")
        assert dest.space.total(needed) == needed + (count - 1) * VOLUME_HEADER_SIZE

    run_app(app, body)


def test_free_space_for_the_data_but_not_the_volume_headers_is_not_enough(make_ctx, run_app, usb):
    """Exactly the room an unsplit backup needs is too little once it is split."""
    probe = TherabakApp(make_ctx(fs=SMALL_FAT))
    measured = {}

    async def measure(pilot):
        measured["files"], measured["size"] = await to_destination(pilot, usb)

    run_app(probe, measure)
    free = space_needed(measured["size"], measured["files"])
    app = TherabakApp(make_ctx(fs=SMALL_FAT, free=free))

    async def body(pilot):
        await to_destination(pilot, usb)
        await wait_for(pilot, lambda: "Does NOT fit" in dest_line(app))

    run_app(app, body)
    roomy = TherabakApp(make_ctx(fs=FsInfo("ext4", "/"), free=free))

    async def fits(pilot):
        await to_destination(pilot, usb)
        await wait_for(pilot, lambda: "File system: ext4." in dest_line(roomy))
        assert "Does NOT fit" not in dest_line(roomy) and "split" not in dest_line(roomy)

    run_app(roomy, fits)


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
