"""Switching the language in the settings takes effect at once, on every screen."""

from __future__ import annotations

from datetime import timedelta

from app.apphelp import NOW, add_history, screen_text, wait_for, wait_scan
from therabak.app.app import TherabakApp
from therabak.app.runner import JobRecord
from therabak.app.screens.home import HomeScreen
from therabak.app.screens.settings import SettingsScreen
from therabak.i18n import _, english, get_language
from therabak.settings import Settings


def _job_on_record(ctx) -> None:
    """A finished backup job the home screen lists (its title kept as msgid + args)."""
    title = _("Backup to {dest}").format(dest="~/usb")
    runner = ctx.runner
    runner.root.mkdir(parents=True, exist_ok=True)
    record = JobRecord(
        id="20260302-100000-000000",
        operation="backup",
        args=[],
        pid=0,
        started=(NOW - timedelta(minutes=5)).isoformat(),
        title=english(title),
        title_i18n=title.to_data(),
    )
    runner._save(record)
    runner.log_path(record.id).write_text(
        '{"event": "summary", "operation": "backup", "exit_code": 0, "duration_s": 1.0}\n'
    )


async def _choose_language(pilot, value: str) -> None:
    from textual.widgets import Select

    screen = pilot.app.screen
    assert isinstance(screen, SettingsScreen)
    screen.query_one("#language", Select).value = value
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: get_language() == value)
    await pilot.pause()


def test_switching_the_language_redraws_every_screen(make_ctx, run_app, app_practice):
    add_history(
        "manual",
        "/media/usb/TheraPsy-Backup-2026-02-10_090000.therabak",
        NOW - timedelta(days=20),
        app_practice.data_dir,
    )
    ctx = make_ctx()
    _job_on_record(ctx)
    app = TherabakApp(ctx)

    async def body(pilot):
        await wait_scan(pilot)
        text = screen_text(app)
        assert "Backup to ~/usb" in text and "20 days ago" in text and "Settings" in text
        await pilot.press("s")
        await pilot.pause()
        await _choose_language(pilot, "de")
        # the settings screen itself, its footer and its message
        text = screen_text(app)
        assert "therabak · Einstellungen" in text
        # (the form is scrolled to its message at the end: a field label near it)
        assert "Täglich behalten" in text and "Speichern" in text
        assert "Gespeichert in" in text
        assert Settings.load().language == "de"
        # the screen below it: header, banner, ages, the job's title, the table, the footer
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        text = screen_text(app)
        assert "Backup und Wiederherstellung für TheraPsy" in text
        assert "Das letzte manuelle Backup ist 20 Tage alt" in text
        assert "vor 20 Tagen" in text and "10.02.2026" in text
        assert "Backup nach ~/usb" in text and "Gestartet" in text
        assert "r Wiederherstellen" in text and "? Hilfe" in text
        # the help lists the keys in the new language
        await pilot.press("question_mark")
        await pilot.pause()
        assert "Tasten auf diesem Bildschirm" in screen_text(app)
        await pilot.press("escape")
        # and back to English
        await pilot.press("s")
        await pilot.pause()
        await _choose_language(pilot, "en")
        await pilot.press("escape")
        await pilot.pause()
        text = screen_text(app)
        assert "Backup and restore for TheraPsy" in text and "Backup to ~/usb" in text
        assert "20 days ago" in text and "r Restore" in text

    run_app(app, body)


def test_saving_other_settings_keeps_the_language(make_ctx, run_app):
    app = TherabakApp(make_ctx())

    async def body(pilot):
        await pilot.press("s")
        await pilot.pause()
        screen = app.screen
        screen.query_one("#reminder-days").value = "10"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert get_language() == "en"
        assert Settings.load().reminder_days == 10
        assert Settings.load().language == "auto"

    run_app(app, body)
