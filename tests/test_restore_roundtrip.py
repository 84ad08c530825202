"""Restore round trips through the CLI: manual, automatic and folder backups, selective
restore, carry-over, undo via the before-restore folder, --to and a new computer."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest

from conftest import IS_WINDOWS, Practice, run_cli
from restore_helpers import (
    before_restore_dirs,
    change_data,
    leftovers,
    plaintext_tree,
    practice_args,
    restore,
    subset,
    tree_state,
)
from therabak.datafolder.manifest import MANIFEST_NAME
from therabak.practice.account import AccountKey

CORE = ("profiles/", "sessions/", "therapists/", "finances/")
NOT_IN_MANUAL = (
    "settings/session-templates/",
    "templates/",
    "autocomplete/",
    "backgrounds/",
    "icd10/",
)

pytest_plugins = ["restore_helpers"]  # its fixtures: backups, other_account, ...


def test_manual_round_trip(
    practice: Practice, demo_practice: Practice, backups, password_file: Path
) -> None:
    original = plaintext_tree(demo_practice.data_dir, practice.key)
    change_data(practice)
    changed = tree_state(practice.data_dir)
    r = restore(practice, backups.manual, password_file=password_file)
    assert r.returncode == 0, r.stderr
    # Every file says what it said before the damage, sealed or plain as before, same mtime.
    assert plaintext_tree(practice.data_dir, practice.key) == original
    d = run_cli("diff", backups.manual, "--password-file", password_file, *practice_args(practice))
    assert d.returncode == 0 and "Identical" in d.stdout
    # The damaged state is kept, byte for byte, beside Data.
    [kept] = before_restore_dirs(practice)
    assert tree_state(kept, skip=(MANIFEST_NAME,)) == changed
    manifest = json.loads((kept / MANIFEST_NAME).read_text("utf-8"))
    assert manifest["kind"] == "before-restore"
    assert manifest["account_key_id"] == practice.key.id_hex
    assert leftovers(practice.root) == []
    assert "To undo: therabak restore" in r.stdout


def test_plain_files_stay_plain_and_sealed_ones_are_resealed(
    practice: Practice, backups, password_file: Path
) -> None:
    note = practice.data_dir / "Notizen zur Einrichtung.txt"
    note_before = note.read_bytes()
    profile = practice.data_dir / "profiles" / "K0001.json"
    profile_before = profile.read_bytes()
    note.unlink()
    profile.unlink()
    assert restore(practice, backups.manual, password_file=password_file).returncode == 0
    assert note.read_bytes() == note_before  # plain file: restored as the very same bytes
    sealed = profile.read_bytes()
    assert sealed[:8] == b"TPSYENC1" and sealed != profile_before  # sealed anew (fresh salt)
    from therabak.practice.envelope import open_bytes

    assert open_bytes(practice.key, sealed) == open_bytes(practice.key, profile_before)


def test_auto_round_trip_carries_over_what_the_backup_lacks(
    practice: Practice, demo_practice: Practice, backups
) -> None:
    original = plaintext_tree(demo_practice.data_dir, practice.key)
    change_data(practice)
    changed_plain = plaintext_tree(practice.data_dir, practice.key)
    r = restore(practice, backups.auto)  # account slot: no password needed
    assert r.returncode == 0, r.stderr
    now = plaintext_tree(practice.data_dir, practice.key)
    assert subset(now, CORE, inside=True) == subset(original, CORE, inside=True)
    # Audio, documents, templates ... are not in an automatic backup: kept as they were,
    # including the recording made after the backup.
    assert subset(now, CORE, inside=False) == subset(changed_plain, CORE, inside=False)
    assert "audio/K0001/new-recording.opus" in now


def test_folder_backup_round_trip_is_byte_identical(
    practice: Practice, demo_practice: Practice, backups
) -> None:
    change_data(practice)
    r = restore(practice, backups.folder)
    assert r.returncode == 0, r.stderr
    assert tree_state(practice.data_dir) == tree_state(demo_practice.data_dir)


def test_folder_backup_made_by_the_cli_round_trips(practice: Practice, tmp_path: Path) -> None:
    before = tree_state(practice.data_dir)
    r = run_cli("folder-backup", "--dest", tmp_path / "usb", *practice_args(practice))
    assert r.returncode == 0, r.stderr
    [folder] = (tmp_path / "usb").iterdir()
    assert folder.name.startswith("TheraPsy-Data-") and not folder.name.endswith(".partial")
    shutil.rmtree(practice.data_dir / "audio")
    assert restore(practice, folder).returncode == 0
    assert tree_state(practice.data_dir) == before


def test_selective_restore_leaves_other_categories_untouched(
    practice: Practice, demo_practice: Practice, backups, password_file: Path
) -> None:
    original = plaintext_tree(demo_practice.data_dir, practice.key)
    change_data(practice)
    changed = tree_state(practice.data_dir)
    r = restore(practice, backups.manual, "--include", "sessions", password_file=password_file)
    assert r.returncode == 0, r.stderr
    now_plain = plaintext_tree(practice.data_dir, practice.key)
    assert subset(now_plain, ("sessions/",), inside=True) == subset(
        original, ("sessions/",), inside=True
    )
    # Everything else is byte-identical to the state before the restore (the damaged
    # profile and the new recording included).
    assert subset(tree_state(practice.data_dir), ("sessions",), inside=False) == subset(
        changed, ("sessions",), inside=False
    )


def test_include_accepts_a_group(
    practice: Practice, demo_practice: Practice, backups, password_file: Path
) -> None:
    original = plaintext_tree(demo_practice.data_dir, practice.key)
    change_data(practice)
    changed = tree_state(practice.data_dir)
    r = restore(practice, backups.manual, "--include", "records", password_file=password_file)
    assert r.returncode == 0, r.stderr
    now = plaintext_tree(practice.data_dir, practice.key)
    assert subset(now, CORE, inside=True) == subset(original, CORE, inside=True)
    assert subset(
        tree_state(practice.data_dir), tuple(c.rstrip("/") for c in CORE), inside=False
    ) == subset(changed, tuple(c.rstrip("/") for c in CORE), inside=False)


def test_before_restore_folder_is_listed_and_undoes_the_restore(
    practice: Practice, backups, password_file: Path
) -> None:
    change_data(practice)
    changed = tree_state(practice.data_dir)
    assert restore(practice, backups.manual, password_file=password_file).returncode == 0
    [kept] = before_restore_dirs(practice)
    listing = run_cli("list", "--json", "--no-media", *practice_args(practice))
    assert listing.returncode == 0, listing.stderr
    points = {p["path"]: p for p in json.loads(listing.stdout)["points"]}
    assert points[str(kept)]["kind"] == "before-restore"
    assert points[str(kept)]["account_match"] == "yes"
    undo = restore(practice, kept)
    assert undo.returncode == 0, undo.stderr
    assert tree_state(practice.data_dir) == changed
    assert len(before_restore_dirs(practice)) == 2  # the undone restore is kept as well


def test_restore_into_another_folder_leaves_data_alone(
    practice: Practice, demo_practice: Practice, backups, password_file: Path, tmp_path: Path
) -> None:
    before = tree_state(practice.data_dir)
    target = tmp_path / "elsewhere"
    r = restore(practice, backups.manual, "--to", str(target), password_file=password_file)
    assert r.returncode == 0, r.stderr
    assert tree_state(practice.data_dir) == before
    assert before_restore_dirs(practice) == []
    got = plaintext_tree(target, practice.key)
    want = subset(plaintext_tree(demo_practice.data_dir, practice.key), NOT_IN_MANUAL, inside=False)
    assert got == want
    # A non-empty target is refused.
    again = restore(practice, backups.manual, "--to", str(target), password_file=password_file)
    assert again.returncode == 2 and "empty" in again.stderr


def test_new_computer_gets_a_fresh_account_key_and_data(
    demo_practice: Practice, backups, password_file: Path, tmp_path: Path
) -> None:
    root = tmp_path / "new-laptop"
    root.mkdir()
    data, key_path = root / "Data", root / "account.key"
    args = ["--data-dir", data, "--account-key", key_path]
    r = run_cli("restore", backups.manual, "--yes", "--password-file", password_file, *args)
    assert r.returncode == 3, r.stderr  # done, with a warning: a new account key
    assert key_path.exists() and data.is_dir()
    if not IS_WINDOWS:
        assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    new_key = AccountKey.load(key_path)
    assert new_key.key_id != demo_practice.key.key_id
    assert "new account key" in (r.stdout + r.stderr).lower()
    want = subset(
        plaintext_tree(demo_practice.data_dir, demo_practice.key), NOT_IN_MANUAL, inside=False
    )
    assert plaintext_tree(data, new_key) == want
    assert sorted(p.name for p in root.iterdir()) == ["Data", "account.key"]


def test_new_computer_refuses_what_needs_the_original_key(backups, tmp_path: Path) -> None:
    for point, what in ((backups.auto, "backup"), (backups.folder, "folder backup")):
        root = tmp_path / f"laptop-{what.replace(' ', '-')}"
        root.mkdir()
        r = run_cli(
            "restore",
            point,
            "--yes",
            "--data-dir",
            root / "Data",
            "--account-key",
            root / "account.key",
            env={"THERABAK_MEDIA_ROOTS": ""},
        )
        assert r.returncode == 4, r.stderr
        assert "original account key" in r.stderr and backups.key_id in r.stderr
        assert list(root.iterdir()) == []


def test_dry_run_shows_the_plan_and_changes_nothing(
    practice: Practice, backups, password_file: Path
) -> None:
    change_data(practice)
    before = tree_state(practice.data_dir)
    r = run_cli("restore", backups.auto, "--dry-run", "--json", *practice_args(practice))
    assert r.returncode == 0, r.stderr
    last = json.loads(r.stdout.splitlines()[-1])
    assert last["event"] == "summary" and last["operation"] == "restore-plan"
    plan = last["plan"]
    actions = {c["id"]: c["action"] for c in plan["categories"]}
    assert actions["sessions"] == "restore" and actions["audio"] == "not-in-backup"
    assert plan["keep_old_at"].startswith(str(practice.root / "Data.before-restore-"))
    assert plan["carry_files"] > 0
    assert tree_state(practice.data_dir) == before
    assert before_restore_dirs(practice) == [] and leftovers(practice.root) == []


def test_json_event_stream_ends_with_a_summary(practice: Practice, backups) -> None:
    r = run_cli("restore", backups.auto, "--yes", "--json", *practice_args(practice))
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()]
    kinds = {e["event"] for e in events}
    assert {"phase", "progress", "summary"} <= kinds
    assert events[-1]["event"] == "summary" and events[-1]["operation"] == "restore"
    assert events[-1]["before_restore"].startswith(str(practice.root / "Data.before-restore-"))
    phases = [e["name"] for e in events if e["event"] == "phase"]
    # every file is checked while it is staged (README "Restoring"): no read-back pass
    assert phases.index("staging") < phases.index("syncing") < phases.index("swapping")
    assert "verifying" not in phases


def test_password_from_stdin_as_the_app_sends_it(practice: Practice, backups) -> None:
    from restore_helpers import PASSWORD

    r = run_cli(
        "restore",
        backups.manual,
        "--yes",
        "--json",
        "--password-stdin",
        *practice_args(practice),
        input=PASSWORD + "\n",
    )
    assert r.returncode == 0, r.stderr
    assert PASSWORD not in r.stdout and PASSWORD not in r.stderr


def _on_a_terminal(args: list, answer: str) -> tuple[int, str]:
    """Run the CLI with stdin and stderr on a pseudo-terminal; answer the question."""
    import os
    import select
    import subprocess
    import sys

    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "therabak", *map(str, args)],
        stdin=slave,
        stderr=slave,
        stdout=subprocess.PIPE,
        env=dict(os.environ, THERABAK_MEDIA_ROOTS=""),
    )
    os.close(slave)
    seen = b""
    answered = False
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            proc.kill()
            raise AssertionError(f"no prompt; saw {seen!r}")
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
        if not answered and b"Restore now? [y/N]" in seen:
            os.write(master, answer.encode() + b"\n")
            answered = True
    proc.wait(timeout=60)
    os.close(master)
    return proc.returncode, seen.decode("utf-8", "replace")


@pytest.mark.skipif(IS_WINDOWS, reason="pseudo-terminals are POSIX")
def test_on_a_terminal_it_shows_what_is_replaced_and_asks(practice: Practice, backups) -> None:
    change_data(practice)
    before = tree_state(practice.data_dir)
    code, screen = _on_a_terminal(["restore", backups.auto, *practice_args(practice)], "n")
    assert code == 130 and "nothing was changed" in screen
    assert tree_state(practice.data_dir) == before
    for expected in (
        "Sessions",
        "REPLACED",
        "Audio recordings",
        "kept",
        "The current data folder will be kept as",
        "To undo: therabak restore",
    ):
        assert expected in screen, expected
    code, screen = _on_a_terminal(["restore", backups.auto, *practice_args(practice)], "y")
    assert code == 0, screen
    assert len(before_restore_dirs(practice)) == 1


def test_data_folder_gone_but_key_kept(
    practice: Practice, demo_practice: Practice, backups
) -> None:
    shutil.rmtree(practice.data_dir)
    r = restore(practice, backups.folder)
    assert r.returncode == 0, r.stderr
    assert tree_state(practice.data_dir) == tree_state(demo_practice.data_dir)
    assert before_restore_dirs(practice) == [] and leftovers(practice.root) == []
    assert "new account key" not in (r.stdout + r.stderr).lower()


def test_folder_backup_into_another_folder_with_include(
    practice: Practice, demo_practice: Practice, backups, tmp_path: Path
) -> None:
    before = tree_state(practice.data_dir)
    target = tmp_path / "only-audio"
    r = restore(practice, backups.folder, "--to", str(target), "--include", "audio")
    assert r.returncode == 0, r.stderr
    assert tree_state(practice.data_dir) == before
    assert tree_state(target) == subset(tree_state(demo_practice.data_dir), ("audio",), inside=True)


@pytest.mark.skipif(IS_WINDOWS, reason="symbolic links need privileges on Windows")
def test_a_link_as_the_target_folder_is_refused_up_front(
    practice: Practice, backups, tmp_path: Path
) -> None:
    """--to a link to an empty folder: refused before any work (it used to stage all of
    it and then fail with 'the target folder is not empty'), nothing written anywhere."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = tmp_path / "Restored"
    link.symlink_to(elsewhere)
    r = restore(practice, backups.auto, "--to", str(link))
    assert r.returncode == 2, r.stderr
    assert "is a link" in r.stderr
    assert list(elsewhere.iterdir()) == [] and link.is_symlink()
    assert leftovers(tmp_path) == []
