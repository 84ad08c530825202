"""The app's backup to an off-site destination, against the real servers (Pilot, the app
in this process, real job processes): the destination step offers the named
destinations; picking an off-site one asks the server in a worker (one password field
when it holds a store, two for a new one; a server that cannot be reached is said on the
line under the destination and nothing starts); the backup runs as ``therabak backup
--dest NAME``, its progress says "Upload", and its point shows in the restore list."""

from __future__ import annotations

from pathlib import Path

import app.conftest as _app_fixtures
from app.apphelp import no_recovery_code, store_backup_first, wait_for, wait_scan
from restore_helpers import plaintext_tree
from therabak import destinations, formatting
from therabak.app.app import TherabakApp
from therabak.app.screens.backup import BackupScreen
from therabak.app.screens.progress import ProgressScreen
from therabak.app.widgets.destination import DestinationPicker
from therabak.destinations import store_storage
from therabak.practice.account import AccountKey
from therabak.settings import Settings
from therabak.storage.local import LocalStorage
from therabak.store.core import Store
from therabak.store.keyfile import Unlock

# the app's fixtures (tests/app/conftest.py), for this folder's tests
home = _app_fixtures.home
app_practice = _app_fixtures.app_practice
usb = _app_fixtures.usb
scheduler = _app_fixtures.scheduler
schedule_host = _app_fixtures.schedule_host
make_ctx = _app_fixtures.make_ctx
run_app = _app_fixtures.run_app

PASSWORD = "Praxis-Ablage-2026"


def name_destinations(**places: str) -> None:
    settings = Settings.load()
    for name, where in places.items():
        destinations.add(settings, name, where)
    settings.save()


async def step_two(pilot) -> BackupScreen:
    await pilot.press("b")
    await wait_scan(pilot)
    await pilot.press("n")
    await pilot.pause()
    return pilot.app.screen


def shown(screen, selector: str) -> str:
    """The text of *selector* on *screen* ("" while the screen is still being composed)."""
    found = screen.query(selector)
    return str(found.first().render()) if found else ""


def line_under(screen) -> str:
    return str(screen.query_one("#dest-space").render())


async def second_of_two(pilot, app) -> ProgressScreen:
    """The progress screen of the second backup of Both (Offsite). Waited for by its label,
    not as "a screen other than the first one seen": a first backup that fails at once
    (a wrong password) is replaced before a test could take hold of its screen."""
    await wait_for(
        pilot,
        lambda: isinstance(app.screen, ProgressScreen) and app.screen.chain_label == "Offsite",
        timeout=120,
    )
    return app.screen


def test_the_named_destinations_are_offered_and_an_off_site_one_is_asked_in_a_worker(
    make_ctx, run_app, remote_place, usb: Path
):
    place = remote_place("s3")
    name_destinations(Offsite=place.url, Stick=str(usb))
    app = TherabakApp(make_ctx())

    async def body(pilot):
        screen = await step_two(pilot)
        quick = screen.query_one("#dest-quick")
        shown = [str(quick.get_option_at_index(i).prompt) for i in range(quick.option_count)]
        assert any(s.startswith("Offsite  off-site  s3://") for s in shown), shown
        assert any(s.startswith("Stick  folder  ") for s in shown), shown
        # the named folder: its name in the line, its folder measured as before
        quick.focus()
        quick.highlighted = next(i for i, s in enumerate(shown) if s.startswith("Stick"))
        await pilot.press("enter")
        await pilot.pause()
        picker = screen.query_one(DestinationPicker)
        assert picker.value == "Stick" and picker.path() == usb and picker.remote() is None
        assert screen.dest_argument() == "Stick"
        # the off-site one: asked in a worker, then a new store: two password fields
        picker.value = "offsite"  # case does not matter
        await pilot.pause()
        assert picker.remote() is not None and screen.dest_argument() == "Offsite"
        await wait_for(pilot, lambda: "No backup store there yet" in line_under(screen))
        assert place.url in line_under(screen)
        assert screen.query_one("#pw2-row").display
        assert "A new backup store" in str(screen.query_one("#estimate").render())

    run_app(app, body)


def test_a_server_that_cannot_be_reached_is_said_under_the_destination_and_nothing_starts(
    make_ctx, run_app, ssh_server
):
    # a port nothing listens on: the connection is refused at once
    name_destinations(Gone=f"sftp://{ssh_server.user}@127.0.0.1:1/backups")
    app = TherabakApp(make_ctx())

    async def body(pilot):
        screen = await step_two(pilot)
        screen.query_one("#dest-input").value = "Gone"
        await pilot.pause()
        assert "Asking the server" in line_under(screen)
        await wait_for(pilot, lambda: "cannot be reached" in line_under(screen), timeout=60)
        assert screen.query_one("#dest-space").has_class("error")
        assert "Traceback" not in line_under(screen)
        for field in ("#pw", "#pw2"):
            screen.query_one(field).focus()
            await pilot.press(*PASSWORD)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, BackupScreen)
        assert screen.remote_error in str(screen.query_one("#start-msg").render())
        assert app.ctx.runner.list_jobs() == []

    run_app(app, body)


async def both_chosen(pilot, screen) -> None:
    quick = screen.query_one("#dest-quick")
    first = str(quick.get_option_at_index(0).prompt)
    assert first == "Both  Stick, then Offsite", first
    quick.focus()
    quick.highlighted = 0
    await pilot.press("enter")
    await pilot.pause()
    assert screen.query_one(DestinationPicker).value == "Stick + Offsite"


def remote_line(screen) -> str:
    return str(screen.query_one("#dest-remote").render())


async def both_passwords_typed(pilot, screen) -> None:
    """Both, the off-site store new: the password in both fields, started, no code."""
    for field in ("#pw", "#pw2"):
        screen.query_one(field).focus()
        await pilot.press(*PASSWORD)
    await pilot.press("ctrl+s")
    await no_recovery_code(pilot)


async def opened_alone(pilot, app, second, name: str) -> BackupScreen:
    """The "back up alone" button of Both's summary names *name* and opens the backup
    screen for it, its destination picked (step two)."""
    alone = second.query_one("#alone")
    assert alone.display and str(alone.label) == f"Back up to {name} alone…"
    alone.press()
    await wait_for(pilot, lambda: isinstance(app.screen, BackupScreen))
    again = app.screen
    await wait_scan(pilot)
    await pilot.press("n")
    await pilot.pause()
    assert again.query_one(DestinationPicker).value == name
    return again


def test_both_destinations_one_after_the_other_each_its_own_job_and_result(
    make_ctx, run_app, remote_place, usb: Path
):
    """ "Both": the folder's backup, then the off-site one (its progress says Upload);
    the summary lists both; each store holds its point, opened by the one password."""
    place = remote_place("sftp")
    name_destinations(Stick=str(usb), Offsite=place.url)
    app = TherabakApp(make_ctx(job_env={"THERABAK_FAILPOINTS": "delay-ms=60"}))

    async def body(pilot):
        screen = await step_two(pilot)
        await both_chosen(pilot, screen)
        await wait_for(pilot, lambda: "No backup store there yet" in remote_line(screen))
        assert "Two backups, one after the other" in str(screen.query_one("#estimate").render())
        await both_passwords_typed(pilot, screen)
        await wait_for(pilot, lambda: isinstance(app.screen, ProgressScreen))
        first = app.screen
        await wait_for(pilot, lambda: "Backup 1 of 2 · Stick" in shown(first, "#chain"))
        second = await second_of_two(pilot, app)
        await wait_for(pilot, lambda: "Backup 2 of 2" in shown(second, "#chain"))
        chain_text = str(second.query_one("#chain").render())
        assert "Backup 1 of 2 · Backup to Stick: finished." in chain_text
        assert "Backup 2 of 2 · Offsite" in chain_text
        await wait_for(
            pilot,
            lambda: shown(second, "#speed").startswith("Upload "),
            timeout=60,
        )
        await wait_for(pilot, lambda: second.view.finished, timeout=120)
        summary = str(second.query_one("#summary").render())
        assert "Backup 1 of 2 · Backup to Stick: finished." in summary
        assert "Backup 2 of 2 · Backup to Offsite: finished." in summary
        jobs = app.ctx.runner.list_jobs()
        assert sorted(j.record.args[j.record.args.index("--dest") + 1] for j in jobs) == [
            "Offsite",
            "Stick",
        ]
        assert all(PASSWORD not in " ".join(j.record.args) for j in jobs)
        local = Store.open(LocalStorage(usb / "TheraPsy-Backups"), Unlock(password=PASSWORD))
        assert len(local.snapshots()) == 1
        remote = Store.open(
            store_storage(destinations.find(Settings.load(), "Offsite")),
            Unlock(password=PASSWORD),
        )
        assert len(remote.snapshots()) == 1
        assert second.chain.password is None  # dropped once the last job started

    run_app(app, body)


def test_a_failed_first_backup_does_not_stop_the_second_and_says_so(
    make_ctx, run_app, remote_place, usb: Path
):
    place = remote_place("s3")
    name_destinations(Stick=str(usb), Offsite=place.url)
    ctx = make_ctx()
    store_backup_first(ctx, usb, "Ein-anderes-Passwort")  # the stick's store: another one
    app = TherabakApp(ctx)

    async def body(pilot):
        screen = await step_two(pilot)
        await both_chosen(pilot, screen)
        await wait_for(pilot, lambda: "No backup store there yet" in remote_line(screen))
        assert screen.query_one("#pw2-row").display  # the off-site store is new
        await both_passwords_typed(pilot, screen)
        second = await second_of_two(pilot, app)
        await wait_for(pilot, lambda: "Backup 2 of 2" in shown(second, "#chain"))
        chain_text = str(second.query_one("#chain").render())
        assert "Backup 1 of 2 · Backup to Stick: FAILED: Wrong password" in chain_text
        assert "This backup runs anyway." in chain_text
        await wait_for(pilot, lambda: second.view.finished, timeout=120)
        assert second.view.final.exit_code == 0
        summary = str(second.query_one("#summary").render())
        assert "Backup to Stick: FAILED" in summary and "Backup to Offsite: finished." in summary
        # the store that refused is named, and its backup can be started alone
        assert (
            "The backup store at Stick did not open with this password: it has another one."
            in summary
        )
        assert "Offsite did not open" not in summary
        again = await opened_alone(pilot, app, second, "Stick")
        picker = again.query_one(DestinationPicker)
        assert picker.path() == usb and picker.remote() is None
        assert again.dest_argument() == "Stick"
        assert not again.query_one("#pw2-row").display  # its store: its own password, once

    run_app(app, body)


def test_a_backup_off_site_from_the_app_and_its_point_in_the_restore_list(
    make_ctx, run_app, remote_place, ssh_server, usb: Path
):
    """To SFTP by its name (a new store: two password fields); its progress says Upload;
    the restore list shows the local point first, then, from a worker, the off-site one
    (where: the destination's name), and a line for the destination that cannot be
    reached instead of waiting for it."""
    from therabak.app.screens.restore import RestoreScreen
    from therabak.app.screens.unlock import UnlockDialog
    from therabak.app.widgets.points_table import PointsTable

    place = remote_place("sftp")
    name_destinations(Offsite=place.url, Gone=f"sftp://{ssh_server.user}@127.0.0.1:1/backups")
    ctx = make_ctx(job_env={"THERABAK_FAILPOINTS": "delay-ms=60"})
    local = store_backup_first(ctx, usb, PASSWORD)  # a local point, on the stick
    app = TherabakApp(ctx)

    async def body(pilot):
        screen = await step_two(pilot)
        screen.query_one("#dest-input").value = "Offsite"
        await wait_for(pilot, lambda: "No backup store there yet" in line_under(screen))
        await both_passwords_typed(pilot, screen)
        await wait_for(pilot, lambda: isinstance(app.screen, ProgressScreen))
        progress = app.screen
        assert progress.job.record.args[progress.job.record.args.index("--dest") + 1] == "Offsite"
        await wait_for(
            pilot,
            lambda: shown(progress, "#speed").startswith("Upload "),
            timeout=60,
        )
        await wait_for(pilot, lambda: progress.view.finished, timeout=120)
        assert progress.view.final.exit_code == 0, str(progress.query_one("#summary").render())
        snapshot = progress.view.final.extra["snapshot"]
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, RestoreScreen))
        restore = app.screen
        table = restore.query_one(PointsTable)
        await wait_for(pilot, lambda: table.row_count >= 1)
        message = lambda: str(restore.query_one("#points-msg").render())  # noqa: E731
        await wait_for(pilot, lambda: len(table.points) == 2, timeout=60)
        refs = sorted(table.points)
        off_site = next(p for p in table.points.values() if p.snapshot_id == snapshot)
        assert off_site.ref.startswith("sftp://") and off_site.ref.endswith("@" + snapshot)
        assert any(p.snapshot_id == local.snapshot for p in table.points.values()), refs
        row = table.get_row(off_site.ref)
        assert str(row[-1]) == "Offsite"  # where: the destination's name
        await wait_for(pilot, lambda: "Could not reach Gone:" in message(), timeout=60)
        assert "Asking" not in message()
        # and it restores: a file deleted since comes back from off-site (its plaintext,
        # its time: the practice's files are sealed again with the account key)
        key = AccountKey.load(ctx.paths.account_key)
        before = plaintext_tree(ctx.paths.data_dir, key)
        lost = next(p for p in sorted((ctx.paths.data_dir / "sessions").rglob("*")) if p.is_file())
        lost.unlink()
        table.focus()
        table.highlight(off_site.ref)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, UnlockDialog))
        await pilot.press(*PASSWORD, "enter")
        await wait_for(pilot, lambda: app.screen is restore and restore.step == "what", timeout=60)
        await pilot.press("n")
        await wait_for(pilot, lambda: restore.step == "confirm", timeout=60)
        await pilot.press("ctrl+s")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, ProgressScreen) and app.screen.view.finished,
            timeout=120,
        )
        final = app.screen.view.final
        assert final.exit_code == 0, str(app.screen.query_one("#summary").render())
        assert plaintext_tree(ctx.paths.data_dir, key) == before

    run_app(app, body)


def test_a_second_backup_off_site_shows_how_little_it_writes_before_it_starts(
    make_ctx, run_app, remote_place
):
    """A store off-site made by a first backup: the backup screen asks the server (it
    holds a store: one password field), then, with the password, estimates in a worker
    what the second backup writes: nothing of the files is new, so "Writes X of Y" with
    X far below Y (only a few bytes of metadata at most)."""
    place = remote_place("s3")
    name_destinations(Offsite=place.url)
    ctx = make_ctx()
    store_backup_first(ctx, "Offsite", PASSWORD)  # the first backup made the store
    app = TherabakApp(ctx)

    async def body(pilot):
        screen = await step_two(pilot)
        screen.query_one("#dest-input").value = "Offsite"
        await wait_for(pilot, lambda: "It holds a backup store" in line_under(screen))
        assert not screen.query_one("#pw2-row").display  # one password opens it
        estimate = lambda: str(screen.query_one("#estimate").render())  # noqa: E731
        assert "Type the store's password" in estimate()
        screen.query_one("#pw").focus()
        await pilot.press(*PASSWORD)
        await wait_for(pilot, lambda: estimate().startswith("Writes "), timeout=60)
        e = screen.estimate
        assert e.exists and e.store.startswith("s3://")
        assert e.bytes_total > 0 and e.bytes_new == 0, (e.bytes_new, e.bytes_total)
        assert e.files_reused == e.files_total > 0
        assert estimate() == (
            f"Writes {formatting.size(0)} of {formatting.size(e.bytes_total)}; "
            "the rest is already in the backup store."
        )
        assert app.ctx.runner.list_jobs() == []  # asking started nothing

    run_app(app, body)


def test_both_with_an_off_site_store_of_another_password_names_it_and_offers_it_alone(
    make_ctx, run_app, remote_place, usb: Path
):
    """Two stores whose passwords differ: the folder's backup is written, the off-site
    one is refused (wrong password, exit 4 from S3); the summary names the store that
    refused and a button opens the backup screen with that destination picked (asked
    in a worker again: it holds a store, one password field)."""
    place = remote_place("s3")
    name_destinations(Stick=str(usb), Offsite=place.url)
    ctx = make_ctx()
    store_backup_first(ctx, usb, PASSWORD)
    store_backup_first(ctx, "Offsite", "Ein-anderes-Passwort")  # off-site: another one
    app = TherabakApp(ctx)

    async def body(pilot):
        screen = await step_two(pilot)
        await both_chosen(pilot, screen)
        await wait_for(pilot, lambda: "It holds a backup store" in remote_line(screen))
        assert not screen.query_one("#pw2-row").display  # both hold a store: one field
        screen.query_one("#pw").focus()
        await pilot.press(*PASSWORD)
        await pilot.press("ctrl+s")
        second = await second_of_two(pilot, app)
        await wait_for(pilot, lambda: second.view.finished, timeout=120)
        assert second.view.final.exit_code == 4
        summary = str(second.query_one("#summary").render())
        assert "Backup 1 of 2 · Backup to Stick: finished." in summary
        assert "Backup 2 of 2 · Backup to Offsite: FAILED: Wrong password" in summary
        assert (
            "The backup store at Offsite did not open with this password: it has another one."
            in summary
        )
        assert "Stick did not open" not in summary
        alone = second.query_one("#alone")
        assert alone.display and str(alone.label) == "Back up to Offsite alone…"
        await pilot.press("a")  # the key does what the button does
        await wait_for(pilot, lambda: isinstance(app.screen, BackupScreen))
        again = app.screen
        await wait_scan(pilot)
        await pilot.press("n")
        await pilot.pause()
        picker = again.query_one(DestinationPicker)
        assert picker.value == "Offsite" and picker.remote() is not None
        await wait_for(pilot, lambda: "It holds a backup store" in line_under(again))
        assert not again.query_one("#pw2-row").display
        assert again.dest_argument() == "Offsite"
        stick = Store.open(LocalStorage(usb / "TheraPsy-Backups"), Unlock(password=PASSWORD))
        assert len(stick.snapshots()) == 2  # the folder's backup was written

    run_app(app, body)


def test_quitting_while_the_second_backup_of_both_waits_quits_and_the_second_still_runs(
    make_ctx, run_app, remote_place, usb: Path
):
    """Both: while the folder's backup runs, the off-site one waits in a process of its
    own, not in the app: ctrl+q quits at once (nothing to ask), and once the first has
    ended that process starts the second with the one password: the off-site store gets
    its point though no app is left to start it (as after a dropped SSH connection)."""
    import time

    place = remote_place("s3")
    name_destinations(Stick=str(usb), Offsite=place.url)
    app = TherabakApp(make_ctx(job_env={"THERABAK_FAILPOINTS": "delay-ms=60"}))

    async def body(pilot):
        screen = await step_two(pilot)
        await both_chosen(pilot, screen)
        await wait_for(pilot, lambda: "No backup store there yet" in remote_line(screen))
        await both_passwords_typed(pilot, screen)
        await wait_for(pilot, lambda: isinstance(app.screen, ProgressScreen))
        first = app.screen
        assert first.chain.password is None  # handed over with the waiting backup
        assert [
            j.record.args[j.record.args.index("--dest") + 1] for j in app.ctx.runner.list_jobs()
        ] == ["Stick"]
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert app.return_code == 0

    run_app(app, body)
    runner = app.ctx.runner

    def chain_ended() -> bool:
        return any('"ended": true' in p.read_text() for p in runner.root.glob("*.chain"))

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        jobs = {j.record.args[j.record.args.index("--dest") + 1]: j for j in runner.list_jobs()}
        if chain_ended() and not any(j.running for j in jobs.values()):
            break
        time.sleep(0.2)
    assert sorted(jobs) == ["Offsite", "Stick"]
    assert jobs["Stick"].final is not None and jobs["Stick"].final.exit_code == 0
    assert jobs["Offsite"].final is not None and jobs["Offsite"].final.exit_code == 0, (
        runner.stderr_text(jobs["Offsite"])
    )
    assert jobs["Offsite"].record.started >= jobs["Stick"].record.started
    assert all(PASSWORD not in " ".join(j.record.args) for j in jobs.values())
    remote = Store.open(
        store_storage(destinations.find(Settings.load(), "Offsite")),
        Unlock(password=PASSWORD),
    )
    assert len(remote.snapshots()) == 1
    chain_files = [p.read_text() for p in runner.root.iterdir() if p.suffix == ".chain"]
    assert len(chain_files) == 1 and PASSWORD not in chain_files[0]
    assert '"ended": true' in chain_files[0]
