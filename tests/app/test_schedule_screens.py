"""Automatic backups in the app: home tells the truth (not set up / set up, last run,
next backup), and the settings set them up and remove them through the engine, against
the recording systemd of ``schedule_support.py`` (units under the test's ``~/.config``)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from app.apphelp import NOW, screen_text, wait_for, wait_scan, wait_schedule
from therabak.app.app import TherabakApp
from therabak.app.screens.home import HomeScreen
from therabak.app.screens.settings import SettingsScreen
from therabak.jobs import auto_runs


def flat(app) -> str:
    """The screen's text with every run of spaces and line breaks as one space."""
    return " ".join(screen_text(app).split())


def unit_files(home):
    return sorted(p.name for p in (home / ".config" / "systemd" / "user").glob("therabak-auto.*"))


async def open_settings(pilot):
    await wait_scan(pilot)
    await pilot.press("s")
    await pilot.pause()
    await wait_schedule(pilot)
    assert isinstance(pilot.app.screen, SettingsScreen)


async def press_schedule_button(pilot):
    screen = pilot.app.screen
    button = screen.query_one("#schedule-toggle")
    button.focus()
    await pilot.pause()
    await pilot.press("enter")
    await pilot.pause()
    await wait_schedule(pilot)


def test_home_says_automatic_backups_are_not_set_up(make_ctx, run_app):
    app = TherabakApp(make_ctx())

    async def body(pilot):
        await wait_scan(pilot)
        text = flat(app)
        assert "Scheduled" in text
        assert "not set up: nothing makes automatic backups" in text
        assert "(s: Settings)" in text

    run_app(app, body)


def test_settings_set_up_then_home_shows_it_then_remove(make_ctx, run_app, home, scheduler):
    app = TherabakApp(make_ctx())

    async def body(pilot):
        await open_settings(pilot)
        screen = app.screen
        assert "no: nothing makes automatic backups" in flat(app)
        assert str(screen.query_one("#schedule-toggle").label) == "Set up"
        await press_schedule_button(pilot)
        text = flat(app)
        assert "yes: systemd user timer" in text
        assert (
            "Set up: this computer's scheduler now starts the automatic backup every hour" in text
        )
        assert str(screen.query_one("#schedule-toggle").label) == "Remove"
        assert unit_files(home) == ["therabak-auto.service", "therabak-auto.timer"]
        assert ["--user", "--no-pager", "enable", "--now", "therabak-auto.timer"] in (
            scheduler.calls("systemctl")
        )
        assert scheduler.state()["enabled"] is True

        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        await wait_schedule(pilot)
        text = flat(app)
        assert "set up; next backup after 2026-03-02 11:17" in text
        assert "not set up" not in text

        await pilot.press("s")
        await pilot.pause()
        await wait_schedule(pilot)
        await press_schedule_button(pilot)
        assert unit_files(home) == []
        assert scheduler.state()["enabled"] is False
        assert "Automatic backups are removed from the scheduler" in flat(app)
        assert str(app.screen.query_one("#schedule-toggle").label) == "Set up"
        await pilot.press("escape")
        await pilot.pause()
        await wait_schedule(pilot)
        assert "not set up: nothing makes automatic backups" in flat(app)

    run_app(app, body)


def test_set_up_over_ssh_shows_the_linger_advice(make_ctx, run_app, schedule_host, scheduler):
    scheduler.set(linger="no")
    app = TherabakApp(make_ctx(host=schedule_host(over_ssh=True)))

    async def body(pilot):
        await open_settings(pilot)
        await press_schedule_button(pilot)
        text = " ".join(screen_text(app).split())
        assert "lingering is off for praxis" in text
        assert "loginctl enable-linger praxis" in text

    run_app(app, body)


def test_set_up_saves_changed_settings_first(make_ctx, run_app, home, isolated_env):
    from therabak.settings import Settings

    app = TherabakApp(make_ctx())

    async def body(pilot):
        await open_settings(pilot)
        app.screen.query_one("#auto-interval").value = "0,5"
        await press_schedule_button(pilot)
        assert Settings.load().auto.interval_hours == 0.5
        timer = (home / ".config" / "systemd" / "user" / "therabak-auto.timer").read_text()
        assert "OnCalendar=*-*-* *:17/30:00" in timer
        assert "automatic backup every 30 minutes" in flat(app)

    run_app(app, body)


def test_a_refused_set_up_is_said_and_nothing_changes(make_ctx, run_app, home, scheduler):
    scheduler.set(fail={"systemctl enable": "Failed to enable unit: Access denied"})
    app = TherabakApp(make_ctx())

    async def body(pilot):
        await open_settings(pilot)
        await press_schedule_button(pilot)
        text = flat(app)
        assert "systemctl --user enable therabak-auto.timer failed" in text
        assert "Access denied" in text
        assert unit_files(home) == []
        assert str(app.screen.query_one("#schedule-toggle").label) == "Set up"
        assert app.is_running

    run_app(app, body)


def test_home_shows_a_failed_last_run(make_ctx, run_app, app_practice, schedule_host):
    from therabak.schedule import manage
    from therabak.settings import Settings

    host = schedule_host()
    manage.install(host, app_practice, Settings())
    auto_runs.record(
        dataclasses.replace(
            auto_runs.make_run(
                NOW - timedelta(minutes=13),
                1,
                auto_runs.AutoOutcome.FAILED,
                "The account key was not found.",
                app_practice.data_dir,
            ),
        )
    )
    app = TherabakApp(make_ctx(host=host))

    async def body(pilot):
        await wait_scan(pilot)
        text = flat(app)
        assert "Last run" in text
        assert "13 minutes ago): FAILED: The account key was not found." in text

    run_app(app, body)


def test_the_home_row_speaks_german(make_ctx, run_app):
    from therabak import i18n

    i18n.set_language("de")
    try:
        app = TherabakApp(make_ctx())

        async def body(pilot):
            await wait_scan(pilot)
            await wait_for(pilot, lambda: "Zeitplan" in flat(app))
            assert "nicht eingerichtet: keine automatischen Backups (Taste s)" in flat(app)

        run_app(app, body)
    finally:
        i18n.set_language("en")
