"""The recovery code in the app, driven with the keyboard: "Forgot the password? Use the
recovery code" on the unlock steps of restore and verify (a typo named by its group
before anything is tried; the right code opens the backup as the password does), a code
given, replaced and removed on the recovery codes screen (each checked afterwards with
the CLI), a removed code refused, the emergency sheet written by a job (read back with
pypdf) and, in the settings, whether each remembered destination's backups have a code.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pypdf
import pypdfium2
import pytest
import zxingcpp

from app.apphelp import screen_text, wait_for, wait_scan
from app.test_restore_flow import PASSWORD, backup_with_cli, diff, open_restore
from conftest import run_cli
from therabak.app.app import TherabakApp
from therabak.app.screens.dialogs import ConfirmDialog
from therabak.app.screens.progress import ProgressScreen
from therabak.app.screens.recovery import CodesTable, NewCodeDialog, RecoveryScreen
from therabak.app.screens.settings import SettingsScreen
from therabak.app.screens.sheet import EmergencySheetScreen
from therabak.app.screens.unlock import UnlockDialog
from therabak.app.screens.verify import VerifyScreen
from therabak.app.widgets.code_input import RecoveryCodeInput
from therabak.app.widgets.points_table import PointsTable
from therabak.crypto.recovery import ALPHABET, RecoveryCode
from therabak.errors import ExitCode
from therabak.settings import Settings

pytestmark = pytest.mark.slow


def backup_with_code(usb: Path, paths, code: RecoveryCode) -> Path:
    """A password backup with *code* as its recovery code, made with the CLI."""
    proc = run_cli(
        "backup", "--single-file", "--dest", usb, "--data-dir", paths.data_dir, "--account-key",
        paths.account_key, "--password-stdin", "--recovery-code-stdin", "--json",
        input=f"{PASSWORD}\n{code.display()}\n",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return Path(json.loads(proc.stdout.splitlines()[-1])["archive"])


def verify_with_code(archive: Path, code: RecoveryCode) -> tuple[int, str]:
    proc = run_cli(
        "verify", archive, "--recovery-code-stdin", "--json", input=code.display() + "\n"
    )
    return proc.returncode, proc.stdout + proc.stderr


def with_typo(code: RecoveryCode, group: int) -> str:
    """*code* as typed with one wrong character in *group* (1-based)."""
    chars = list(code.compact())
    i = (group - 1) * 4 + 1
    chars[i] = ALPHABET[(ALPHABET.index(chars[i]) + 1) % len(ALPHABET)]
    return "".join(chars)


def points_msg(screen) -> str:
    return str(screen.query_one("#points-msg").render())


def msg(dialog) -> str:
    return str(dialog.query_one("#unlock-msg").render())


def code_check(dialog) -> str:
    return str(dialog.query_one("#code-check").render())


async def finished_job(pilot) -> ProgressScreen:
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, ProgressScreen))
    screen = app.screen
    await wait_for(pilot, lambda: screen.view.finished or not screen.job.running)
    await wait_for(pilot, lambda: screen.query_one("#summary").display)
    return screen


@pytest.fixture
def opened(monkeypatch):
    """Counts the times a backup is opened to list its contents (each derives a key)."""
    from therabak.app import points

    calls = []
    real = points.open_contents

    def counting(*args, **kwargs):
        calls.append(kwargs.get("recovery_code") is not None)
        return real(*args, **kwargs)

    monkeypatch.setattr(points, "open_contents", counting)
    return calls


def test_restore_with_the_recovery_code(make_ctx, run_app, usb, app_practice, opened):
    code = RecoveryCode.generate()
    archive = backup_with_code(usb, app_practice, code)
    victim = sorted((app_practice.data_dir / "sessions").rglob("*.json"))[0]
    victim.unlink()
    app = TherabakApp(make_ctx())
    state: dict = {}

    async def body(pilot):
        screen = await open_restore(pilot)
        details = str(screen.query_one("#point-details").render())
        assert "Has a recovery code" in details
        await pilot.press("enter")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, UnlockDialog)
        assert "Forgot the password? Use the recovery code" in screen_text(app)
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert dialog.mode == "code" and isinstance(app.focused, RecoveryCodeInput)
        # checked as it is typed: how far, then the typo's group, before any work
        await pilot.press(*code.compact()[:9])
        assert "9 of 32 characters (group 3 of 8)" in code_check(dialog)
        await pilot.press("enter")  # too short: said, nothing tried
        assert "has 9 characters, but it needs 32" in code_check(dialog)
        app.focused.value = ""
        await pilot.press(*with_typo(code, 3))
        assert "typo in group 3" in code_check(dialog)
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert app.screen is dialog and not dialog.busy
        assert "typo in group 3" in code_check(dialog) and "nothing was tried" in code_check(dialog)
        assert opened == []  # nothing was opened, no key derived
        # a character that is in no code: its group at once
        app.focused.value = ""
        await pilot.press(*code.compact()[:13], "U")
        assert "Group 4 of the recovery code holds a character" in code_check(dialog)
        # the right code, typed as people type it: small letters, spaces
        app.focused.value = ""
        await pilot.press(*code.display().lower().replace("-", " "))
        assert "check characters match" in code_check(dialog)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is screen and screen.step == "what")
        assert opened == [True]
        assert screen.password is None and screen.recovery_code == code
        await pilot.press("n")
        await wait_for(pilot, lambda: screen.step == "confirm")
        await pilot.press("ctrl+s")
        progress = await finished_job(pilot)
        assert progress.view.final.exit_code == 0, progress.view.final
        state["job"] = progress.job

    run_app(app, body)
    assert victim.exists()
    assert diff(archive, app_practice)["identical"]
    record = state["job"].record
    assert "--recovery-code-stdin" not in record.args and "--password-stdin" not in record.args
    assert not any(code.compact() in a or code.display() in a for a in record.args)


def test_verify_with_the_recovery_code_and_a_wrong_one(make_ctx, run_app, usb, app_practice):
    code = RecoveryCode.generate()
    backup_with_code(usb, app_practice, code)
    app = TherabakApp(make_ctx())

    async def body(pilot):
        await pilot.press("v")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, VerifyScreen)
        await wait_for(pilot, lambda: screen.query_one(PointsTable).row_count == 1)
        await pilot.press("enter")
        await pilot.pause()
        dialog = app.screen
        dialog.query_one("#use-code").press()  # the button, as a mouse or Enter would
        await pilot.pause()
        other = RecoveryCode.generate()  # well-formed, but another backup's
        await pilot.press(*other.display(), "enter")
        await wait_for(pilot, lambda: "does not open this backup" in msg(dialog))
        assert app.screen is dialog and app.focused.value == other.display()  # kept
        app.focused.value = ""
        await pilot.press(*code.display(), "enter")
        progress = await finished_job(pilot)
        assert progress.view.final.operation == "verify"
        assert "The backup is intact." in str(progress.query_one("#summary").render())

    run_app(app, body)


def test_no_code_no_way_to_it(make_ctx, run_app, usb, app_practice):
    """A backup without a recovery code: the unlock step offers no code (ctrl+r does
    nothing) and asks for the password as before."""
    backup_with_cli(usb, app_practice)
    app = TherabakApp(make_ctx())

    async def body(pilot):
        await open_restore(pilot)
        await pilot.press("enter")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, UnlockDialog)
        assert not dialog.query("#use-code")
        assert "recovery code" not in screen_text(app).lower()
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert dialog.mode == "password"

    run_app(app, body)


def test_a_removed_code_is_refused(make_ctx, run_app, usb, app_practice):
    """The list was read while the backup had a code; the code is removed meanwhile
    (another computer, the CLI): the code typed is refused, plainly, nothing opened."""
    code = RecoveryCode.generate()
    archive = backup_with_code(usb, app_practice, code)
    app = TherabakApp(make_ctx())

    async def body(pilot):
        screen = await open_restore(pilot)
        assert screen.query_one(PointsTable).current.recovery_code
        proc = run_cli("recovery", "remove", archive, "--password-stdin", input=PASSWORD + "\n")
        assert proc.returncode == 0, proc.stderr
        await pilot.press("enter")
        await pilot.pause()
        dialog = app.screen
        await pilot.press("ctrl+r", *code.display(), "enter")
        await wait_for(pilot, lambda: "has no recovery code" in msg(dialog))
        assert app.screen is dialog and screen.step == "points"

    run_app(app, body)


async def open_recovery_from_settings(pilot) -> RecoveryScreen:
    app = pilot.app
    await pilot.press("s")
    await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen))
    app.screen.query_one("#open-recovery").press()
    await wait_for(pilot, lambda: isinstance(app.screen, RecoveryScreen))
    screen = app.screen
    await wait_for(pilot, lambda: screen.query_one(CodesTable).row_count > 0)
    return screen


def test_give_replace_and_remove_a_code_in_the_app(make_ctx, run_app, usb, app_practice):
    archive = backup_with_cli(usb, app_practice)
    app = TherabakApp(make_ctx())
    codes: list[RecoveryCode] = []

    async def new_code(pilot, *, old: RecoveryCode | None) -> ProgressScreen:
        await pilot.press("k")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, UnlockDialog)
        if old is None:
            await pilot.press(*PASSWORD, "enter")
        else:  # the password is forgotten: the current code opens it for the change
            await pilot.press("ctrl+r", *old.display(), "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, NewCodeDialog))
        await pilot.pause()
        code = app.screen.code
        text = screen_text(app)
        assert code.display() in text and "shown only this once" in text
        assert ("current recovery code then stops working" in text) == (old is not None)
        await pilot.press("enter")  # "Cancel" has the focus: Enter alone saves nothing
        await pilot.pause()
        assert not isinstance(app.screen, NewCodeDialog | ProgressScreen)
        assert "Nothing was changed" in screen_text(app)
        # again, and this time it is written down
        await pilot.press("k")
        await pilot.pause()
        if old is None:
            await pilot.press(*PASSWORD, "enter")
        else:
            await pilot.press("ctrl+r", *old.display(), "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, NewCodeDialog))
        codes.append(app.screen.code)
        await pilot.press("tab", "enter")
        return await finished_job(pilot)

    async def body(pilot):
        screen = await open_recovery_from_settings(pilot)
        assert "none" in screen_text(app)
        before = archive.read_bytes()
        progress = await new_code(pilot, old=None)
        assert progress.view.final.exit_code == 0, progress.view.final
        assert "The new recovery code is saved" in str(progress.query_one("#summary").render())
        assert archive.read_bytes() != before
        assert verify_with_code(archive, codes[0])[0] == 0
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        await wait_for(pilot, lambda: screen.query_one(CodesTable).current.recovery_code)
        assert "The new code is saved in" in points_msg(screen)

        progress = await new_code(pilot, old=codes[0])
        assert progress.view.final.exit_code == 0, progress.view.final
        summary = str(progress.query_one("#summary").render())
        assert "no longer opens this backup" in summary
        assert codes[0] != codes[1]
        rc, out = verify_with_code(archive, codes[0])
        assert rc == ExitCode.CANNOT_UNLOCK and "does not open this backup" in out
        assert verify_with_code(archive, codes[1])[0] == 0

        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("tab", "enter")  # "Remove it"
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, UnlockDialog) and not dialog.query("#use-code")
        await pilot.press(*"not the password", "enter")
        await wait_for(pilot, lambda: "Wrong password" in msg(dialog))
        await pilot.press(*PASSWORD, "enter")
        progress = await finished_job(pilot)
        assert progress.view.final.exit_code == 0, progress.view.final
        assert "The recovery code is removed." in str(progress.query_one("#summary").render())
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        await wait_for(pilot, lambda: not screen.query_one(CodesTable).current.recovery_code)

    run_app(app, body)
    rc, out = verify_with_code(archive, codes[1])
    assert rc == ExitCode.CANNOT_UNLOCK and "has no recovery code" in out
    proc = run_cli("verify", archive, "--password-stdin", input=PASSWORD + "\n")
    assert proc.returncode == 0, proc.stderr


def qr_codes(path: Path) -> list[str]:
    """The QR codes on the sheet as a scanner sees them (rendered at 200 dpi)."""
    page = pypdfium2.PdfDocument(str(path))[0]
    image = page.render(scale=200 / 72).to_pil().convert("L")
    return [b.text for b in zxingcpp.read_barcodes(image)]


def pdf_text(path: Path) -> str:
    reader = pypdf.PdfReader(str(path))
    assert len(reader.pages) == 1
    return "".join(reader.pages[0].extract_text().split())


def test_the_emergency_sheet_with_the_code_just_made_and_without(
    make_ctx, run_app, usb, app_practice, home
):
    archive = backup_with_cli(usb, app_practice)
    out = home / "Dokumente"
    out.mkdir()
    app = TherabakApp(make_ctx())
    sheets: dict[str, Path] = {}
    made: list[RecoveryCode] = []

    async def body(pilot):
        screen = await open_recovery_from_settings(pilot)
        await pilot.press("k")
        await pilot.pause()
        await pilot.press(*PASSWORD, "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, NewCodeDialog))
        made.append(app.screen.code)
        await pilot.press("tab", "enter")
        await finished_job(pilot)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        await wait_for(pilot, lambda: "Press e to print it" in points_msg(screen))
        await pilot.press("e")
        await pilot.pause()
        sheet = app.screen
        assert isinstance(sheet, EmergencySheetScreen)
        # the documents folder by default; the code just made is chosen, with the warning
        assert sheet.query_one("#sheet-folder").value == "~/Dokumente"
        assert sheet.query_one("#code-made").value
        assert "Whoever holds a sheet with the code can read the backups" in screen_text(app)
        sheet.query_one("#lang-de").value = True
        await pilot.press("ctrl+s")
        progress = await finished_job(pilot)
        final = progress.view.final
        assert final.exit_code == 0, final
        assert final.extra["includes_code"] and final.extra["code_opens"] == 1
        summary = str(progress.query_one("#summary").render())
        assert "The emergency sheet is written." in summary and "holds the recovery code" in summary
        sheets["with"] = Path(final.extra["sheet"])
        assert f"~/Dokumente/{sheets['with'].name}" in summary
        await pilot.press("escape")  # back on the recovery codes screen
        await wait_for(pilot, lambda: app.screen is screen)

        # from the command palette's action: no code just made; one typed with a typo
        app.action_emergency_sheet()
        await pilot.pause()
        sheet = app.screen
        assert not sheet.query("#code-made") and sheet.query_one("#code-none").value
        assert not sheet.query_one("#sheet-warning").display
        sheet.query_one("#code-typed").value = True
        await pilot.pause()
        assert isinstance(app.focused, RecoveryCodeInput)
        assert sheet.query_one("#sheet-warning").display
        await pilot.press(*with_typo(made[0], 6))
        assert "typo in group 6" in str(sheet.query_one("#sheet-code-check").render())
        jobs_before = len(app.ctx.runner.list_jobs())
        await pilot.press("ctrl+s")
        await pilot.pause(0.3)
        assert app.screen is sheet and len(app.ctx.runner.list_jobs()) == jobs_before
        assert "typo in group 6" in str(sheet.query_one("#sheet-msg").render())
        # no code after all: the sheet has boxes to write it in
        sheet.query_one("#code-none").value = True
        sheet.query_one("#lang-en").value = True
        folder = sheet.query_one("#sheet-folder")
        folder.value = "relative/folder"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "full path" in str(sheet.query_one("#sheet-msg").render())
        folder.value = str(home / "missing")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "There is no folder" in str(sheet.query_one("#sheet-msg").render())
        folder.value = str(out)
        await pilot.press("ctrl+s")
        progress = await finished_job(pilot)
        assert progress.view.final.exit_code == 0, progress.view.final
        assert not progress.view.final.extra["includes_code"]
        sheets["without"] = Path(progress.view.final.extra["sheet"])

    run_app(app, body)
    code = made[0]
    with_code, without = pdf_text(sheets["with"]), pdf_text(sheets["without"])
    assert sheets["with"].name.startswith("Notfallblatt-")
    assert sheets["without"].name.startswith("Emergency-sheet-")
    groups = code.groups()
    assert "-".join(groups[:4]) in with_code and "-".join(groups[4:]) in with_code
    assert qr_codes(sheets["with"]) == [code.display()]
    assert str(usb) in with_code.replace("~", str(Path.home())) or usb.name in with_code
    assert not any(g in without for g in groups) and qr_codes(sheets["without"]) == []
    assert usb.name in without
    for p in sheets.values():
        assert p.parent == out and p.stat().st_mode & 0o077 == 0
    assert archive.exists()


def test_settings_say_which_destinations_have_a_code(make_ctx, run_app, usb, home, app_practice):
    code = RecoveryCode.generate()
    backup_with_code(usb, app_practice, code)
    time.sleep(1.1)  # a header's time has whole seconds: the newest must be the newest
    backup_with_cli(usb, app_practice)  # the newest: without a code
    stick2 = home / "stick2"
    backup_with_code(stick2, app_practice, code)
    settings = Settings.load()
    for folder in (usb, stick2, home / "gone", home / "empty"):
        settings.remember_destination(folder)
    settings.save()
    (home / "empty").mkdir()
    app = TherabakApp(make_ctx())

    async def body(pilot):
        await wait_scan(pilot)
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen))
        screen = app.screen
        await wait_for(pilot, lambda: "recovery code: yes" in screen_text(app))
        assert len(screen.codes) == 4
        text = screen_text(app)
        assert "~/usb  recovery code: 1 of 2 backups (not the newest)" in text
        assert "~/stick2  recovery code: yes" in text
        assert "~/gone  not there now" in text
        assert "~/empty  no backup with a password" in text

    run_app(app, body)


def test_a_store_gets_a_recovery_code_in_the_app(make_ctx, run_app, usb, app_practice):
    """The recovery codes screen proves the password of a backup store against the store's
    key file (not as if it were a backup file), and the job gives the store its code."""
    proc = run_cli(
        "backup", "--dest", usb, "--data-dir", app_practice.data_dir, "--account-key",
        app_practice.account_key, "--password-stdin", "--json", input=PASSWORD + "\n",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    made = json.loads(proc.stdout.splitlines()[-1])
    ref = f"{made['store']}@{made['snapshot']}"
    assert verify_with_code(ref, RecoveryCode.generate())[0] == ExitCode.CANNOT_UNLOCK
    app = TherabakApp(make_ctx())
    codes: list[RecoveryCode] = []

    async def body(pilot):
        await open_recovery_from_settings(pilot)
        await pilot.press("k")
        await pilot.pause()
        assert isinstance(app.screen, UnlockDialog)
        await pilot.press(*PASSWORD, "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, NewCodeDialog))
        codes.append(app.screen.code)
        await pilot.press("tab", "enter")  # written down: save it
        progress = await finished_job(pilot)
        assert progress.view.final.exit_code == 0, progress.view.final

    run_app(app, body)
    assert verify_with_code(ref, codes[0])[0] == ExitCode.OK
