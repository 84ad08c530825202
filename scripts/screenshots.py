"""Make the SVG screenshots in ``screenshots/en/`` and ``screenshots/de/`` from the demo
practice (80x24), in English and in German.

    python scripts/screenshots.py [--out screenshots] [--lang en de]

(It ends by running scripts/emergency_sheet.py: the PNGs of the emergency sheet.)

Everything runs in a temporary home folder: the demo practice (``therabak demo``'s
default, the one ``therabak-tui --demo`` opens) at ``~/TheraPsy``, a folder ``~/usb``
standing in for a USB stick, its own settings and job state. The backup shown is a real
job with the demo's fault injection (a few files fail to decrypt twice, then work), so
the retry panel shows what it shows in real life; the restore screens use that backup.
Times are real (the time zone is Europe/Berlin); free space is pinned to 29.7 GB. The
scheduler automatic backups use is a systemd user manager of recording stand-ins
(``tests/schedule_support.py``; nothing is set up on this machine), with the units under
``~/.config``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

SIZE = (80, 24)


def setup(tmp: Path) -> tuple[Path, Path]:
    home = tmp / "home"
    (home / "usb").mkdir(parents=True)
    for name in ("Praxis-Backups", "Fotos"):  # the folder picker opens on the stick
        (home / "usb" / name).mkdir()
    for name in ("Dokumente", "Praxis-Archiv"):
        (home / name).mkdir()
    os.environ.update(
        HOME=str(home),
        TZ="Europe/Berlin",
        THERABAK_CONFIG=str(tmp / "config" / "settings.toml"),
        THERABAK_STATE_DIR=str(tmp / "state"),
    )
    for name in (
        "THERABAK_DATA_DIR",
        "THERABAK_ACCOUNT_KEY",
        "THERABAK_RULES",
        "THERABAK_FAILPOINTS",
        "NO_COLOR",
    ):
        os.environ.pop(name, None)
    if hasattr(time, "tzset"):
        time.tzset()
    from therabak.practice.demo import create_demo

    create_demo(home / "TheraPsy")
    return home, home / "usb"


def schedule_host(home: Path):
    """The scheduler the screens show: systemd, reachable, lingering on; never the real one."""
    import dataclasses

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from schedule_support import fake_tools, make_host

    tools = fake_tools(home.parent / "scheduler", programs=("systemctl", "loginctl"), linger="yes")
    host = make_host(home.parent, tools, user="praxis", python="/usr/bin/python3")
    return dataclasses.replace(host, home=home, config_home=home / ".config")


def make_app(
    home: Path, *, clock: Callable[[], datetime] | None = None, paths=None, delay_ms: int = 0
):
    from therabak.app.app import TherabakApp
    from therabak.app.context import AppContext
    from therabak.app.main import DEMO_FAILPOINTS
    from therabak.app.runner import JobRunner
    from therabak.settings import PracticePaths, state_dir

    failpoints = DEMO_FAILPOINTS + (f",delay-ms={delay_ms}" if delay_ms else "")
    ctx = AppContext(
        paths=paths or PracticePaths(home / "TheraPsy" / "Data", home / "TheraPsy" / "account.key"),
        demo=True,
        job_env={"THERABAK_FAILPOINTS": failpoints},
        clock=clock or (lambda: datetime.now().astimezone()),
        free_space=lambda _p: 29_700_000_000,
        removable_media=lambda: [home / "usb"],
        runner=JobRunner(state_dir() / "jobs"),
        home=home,
        cursor_blink=False,
    )
    host = schedule_host(home)
    ctx.schedule_host = lambda: host
    return TherabakApp(ctx)


async def until(pilot, condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pilot.app.save_screenshot("stuck.svg", tempfile.gettempdir())
            raise SystemExit(
                "screenshots: a screen did not reach the expected state "
                f"(see {tempfile.gettempdir()}/stuck.svg)"
            )
        await pilot.pause(0.05)


async def scanned(pilot) -> None:
    """Until the data folder is counted and every screen has the scheduler's answer."""
    await until(pilot, lambda: pilot.app.scan is not None)
    await until(
        pilot,
        lambda: all(
            getattr(s, "schedule_checked", True) and getattr(s, "codes_checked", True)
            for s in pilot.app.screen_stack
        ),
    )
    await pilot.pause(0.1)


Scene = Callable[..., Awaitable[None]]


def shoot(app, out: Path, scenes: list[tuple[str, Scene]]) -> None:
    """Run *app* once and take one screenshot after each scene."""

    async def main() -> None:
        async with app.run_test(size=SIZE) as pilot:
            for name, scene in scenes:
                await scene(pilot)
                await pilot.pause(0.2)
                app.save_screenshot(f"{name}.svg", str(out))
                print(f"  {out / name}.svg")

    asyncio.run(main())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", default=str(Path(__file__).resolve().parent.parent / "screenshots")
    )
    parser.add_argument("--lang", nargs="+", default=["en", "de"], choices=["en", "de"])
    args = parser.parse_args()
    for lang in args.lang:
        from therabak.i18n import set_language

        set_language(lang)
        out = Path(args.out).resolve() / lang
        out.mkdir(parents=True, exist_ok=True)
        print(f"{lang}:")
        shoot_all(out)
    # the emergency sheet (a PDF, not a screen): its PNGs come from its own script
    import subprocess

    subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve().parent / "emergency_sheet.py"),
            "--out",
            str(Path(args.out).resolve()),
            "--lang",
            *args.lang,
        ],
        check=True,
    )
    return 0


def shoot_all(out: Path) -> None:
    """Every screen, from a fresh demo practice in a temporary home folder."""
    with tempfile.TemporaryDirectory(prefix="therabak-shots-") as tmp_name:
        home, usb = setup(Path(tmp_name))
        password = "Praxis-2026!"

        # 1. home, the manual backup in two steps, the folder picker, the no-password
        #    question, then a real backup job: progress with retries and its summary.
        async def home_screen(pilot):
            await scanned(pilot)

        async def backup_what(pilot):
            await pilot.press("b")
            await scanned(pilot)
            await pilot.press(
                "down",
                "down",
                "down",
                "down",
                "down",
                "down",
                "down",
                "down",
                "down",
                "down",
                "down",
                "down",
                "down",
            )

        async def folder_picker(pilot):
            await pilot.press("n", "ctrl+o")
            await pilot.pause(0.3)

        async def backup_where(pilot):
            await pilot.press("escape")
            dest = pilot.app.screen.query_one("#dest-input")
            dest.value = "~/usb"
            dest.focus()
            await pilot.press("enter", *password, "enter", *password)
            await pilot.pause(0.3)

        async def no_password(pilot):
            pilot.app.screen.query_one("#nopw").focus()
            await pilot.press("space")

        async def recovery_question(pilot):
            await pilot.press("escape")  # keep the password
            await pilot.press("ctrl+s")  # the first backup into a new store asks
            await until(pilot, lambda: "Dialog" in type(pilot.app.screen).__name__)

        async def recovery_code(pilot):
            await pilot.press("enter")  # make one (the recommended answer has the focus)
            await until(pilot, lambda: type(pilot.app.screen).__name__ == "RecoveryCodeDialog")

        async def progress(pilot):
            await pilot.press("enter")  # written down: start
            await until(pilot, lambda: hasattr(pilot.app.screen, "view"))
            view = pilot.app.screen.view
            await until(
                pilot,
                lambda: (
                    len(view.retries) >= 6
                    and view.progress is not None
                    and any(not r.outcome for r in view.retries.values())
                ),
            )

        async def summary(pilot):
            await until(pilot, lambda: pilot.app.screen.view.finished)

        shoot(
            make_app(home, delay_ms=4),
            out,
            [
                ("home", home_screen),
                ("backup-what", backup_what),
                ("folder-picker", folder_picker),
                ("backup-where", backup_where),
                ("backup-no-password", no_password),
                ("backup-recovery-question", recovery_question),
                ("backup-recovery-code", recovery_code),
                ("progress", progress),
                ("progress-summary", summary),
            ],
        )

        # 2. home after the backup, folder backup, settings, help
        async def home_after(pilot):
            await scanned(pilot)

        async def folder(pilot):
            await pilot.press("f")
            await scanned(pilot)
            pilot.app.screen.query_one("#dest-input").value = "~/usb"

        async def settings(pilot):
            # make the folder backup too (it shows up among the restore points)
            await pilot.press("ctrl+s")
            await until(
                pilot, lambda: getattr(getattr(pilot.app.screen, "view", None), "finished", False)
            )
            await pilot.press("escape", "s")
            await scanned(pilot)  # the settings have the scheduler's answer

        async def help_screen(pilot):
            await pilot.press("escape", "question_mark")

        shoot(
            make_app(home),
            out,
            [
                ("home-after-backup", home_after),
                ("folder-backup", folder),
                ("settings", settings),
                ("help", help_screen),
            ],
        )

        # 3. restore that backup: the points, the unlock dialog, what and where, the
        #    engine's plan, the summary; then the verify screen's list
        async def points(pilot):
            await pilot.press("r")
            await until(
                pilot,
                lambda: (
                    pilot.app.screen.query("#points")
                    and pilot.app.screen.query_one("#points").row_count >= 2
                ),
            )
            table = pilot.app.screen.query_one("#points")
            table.move_cursor(row=[p.kind for p in table._ordered()].index("manual"))

        async def unlock(pilot):
            await pilot.press("enter")
            await pilot.pause(0.2)
            await pilot.press(*password)

        async def what(pilot):
            await pilot.press("enter")
            await until(pilot, lambda: getattr(pilot.app.screen, "step", "") == "what")

        async def confirm(pilot):
            await pilot.press("n")
            await until(pilot, lambda: getattr(pilot.app.screen, "step", "") == "confirm")

        async def restored(pilot):
            await pilot.press("ctrl+s")
            await until(
                pilot, lambda: getattr(getattr(pilot.app.screen, "view", None), "finished", False)
            )

        async def verify(pilot):
            await pilot.press("escape", "v")
            await until(
                pilot,
                lambda: (
                    pilot.app.screen.query("#points")
                    and pilot.app.screen.query_one("#points").row_count >= 1
                ),
            )

        shoot(
            make_app(home),
            out,
            [
                ("restore-points", points),
                ("restore-unlock", unlock),
                ("restore-what", what),
                ("restore-confirm", confirm),
                ("restore-summary", restored),
                ("verify", verify),
            ],
        )

        # 4. the recovery code: a code given to that backup in the app (shown once, then
        #    saved by a job), the list of codes, the emergency sheet with the code just
        #    made (a real PDF in ~/Dokumente), the unlock step's way to the code and a
        #    typo caught as it is typed, and the settings that say which destination has one
        made: list = []

        async def new_code(pilot):
            from therabak.app.screens.recovery import NewCodeDialog

            pilot.app.action_recovery_codes()
            await until(
                pilot,
                lambda: (
                    pilot.app.screen.query("#points")
                    and pilot.app.screen.query_one("#points").row_count >= 1
                ),
            )
            await pilot.press("k")
            await pilot.pause(0.2)
            await pilot.press(*password, "enter")
            await until(pilot, lambda: isinstance(pilot.app.screen, NewCodeDialog))
            made.append(pilot.app.screen.code)

        async def code_saved(pilot):
            await pilot.press("tab", "enter")
            await until(
                pilot, lambda: getattr(getattr(pilot.app.screen, "view", None), "finished", False)
            )

        async def codes(pilot):
            await pilot.press("escape")

            def saved() -> bool:
                table = pilot.app.screen.query("#points")
                return bool(table) and getattr(table.first().current, "recovery_code", False)

            await until(pilot, saved)
            await pilot.pause(0.3)

        async def sheet_form(pilot):
            await pilot.press("e")
            await pilot.pause(0.3)

        async def sheet_written(pilot):
            await pilot.press("ctrl+s")
            await until(
                pilot, lambda: getattr(getattr(pilot.app.screen, "view", None), "finished", False)
            )

        async def unlock_forgot(pilot):
            from therabak.app.screens.unlock import UnlockDialog

            await pilot.press("escape")
            pilot.app.action_restore()
            await until(
                pilot,
                lambda: (
                    pilot.app.screen.query("#points")
                    and pilot.app.screen.query_one("#points").row_count >= 2
                ),
            )
            table = pilot.app.screen.query_one("#points")
            table.move_cursor(row=[p.kind for p in table._ordered()].index("manual"))
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(pilot.app.screen, UnlockDialog))

        async def code_typo(pilot):
            code = made[0].display()
            typo = code[:11] + ("3" if code[11] != "3" else "4") + code[12:]  # group 3
            await pilot.press("ctrl+r", *typo.lower())

        async def settings_codes(pilot):
            await pilot.press("escape", "escape", "s")
            await scanned(pilot)

        shoot(
            make_app(home),
            out,
            [
                ("recovery-new-code", new_code),
                ("recovery-code-saved", code_saved),
                ("recovery-codes", codes),
                ("emergency-sheet-form", sheet_form),
                ("emergency-sheet-written", sheet_written),
                ("restore-unlock-forgot", unlock_forgot),
                ("restore-recovery-code", code_typo),
                ("settings-recovery-codes", settings_codes),
            ],
        )

        # 5. the screen for a missing data folder and key
        from therabak.settings import PracticePaths

        gone = PracticePaths(home / "TheraPsy-alt" / "Data", home / "TheraPsy-alt" / "account.key")

        async def problem(pilot):
            await pilot.pause(0.2)

        shoot(make_app(home, paths=gone), out, [("problem", problem)])
        shutil.rmtree(home / "usb", ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
