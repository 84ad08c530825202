"""kill -9 during a restore (fault points in every phase, and after N bytes written).

Afterwards ``Data`` is complete and equal to the old or the new state, never a mix; the
old state is never lost; the next therabak command completes or rolls back the swap and
cleans up, and a new restore succeeds.
"""

from __future__ import annotations

import pytest

from conftest import Practice, run_cli
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
from therabak.jobs.swap import MANIFEST_NAME

CORE = ("profiles/", "sessions/", "therapists/", "finances/")

# (failpoint spec, which state Data must hold once the next command has recovered)
KILL_POINTS = [
    ("crash-at=restore.staging", "old"),  # after the first staged file
    ("crash-after-bytes=1000", "old"),  # in the middle of the first staged file
    ("crash-after-bytes=20000", "old"),  # further into staging
    ("crash-at=restore.carry", "old"),  # while carrying over the current data
    ("crash-at=restore.verify", "old"),  # everything staged and verified, no journal yet
    ("crash-at=restore.journal", "old"),  # journal written, nothing renamed
    ("crash-at=restore.swap", "new"),  # between the two renames: Data does not exist
    ("crash-at=restore.swapped", "new"),  # both renames done, journal not yet removed
]

pytest_plugins = ["restore_helpers"]  # its fixtures: backups, other_account, ...


@pytest.mark.parametrize(("failpoint", "outcome"), KILL_POINTS, ids=[k for k, _ in KILL_POINTS])
def test_kill_during_restore(
    practice: Practice, demo_practice: Practice, backups, failpoint: str, outcome: str
) -> None:
    change_data(practice)
    old = tree_state(practice.data_dir)
    old_plain = plaintext_tree(practice.data_dir, practice.key)
    original = plaintext_tree(demo_practice.data_dir, practice.key)
    new_plain = {**subset(old_plain, CORE, inside=False), **subset(original, CORE, inside=True)}

    r = restore(practice, backups.auto, env={"THERABAK_FAILPOINTS": failpoint})
    assert r.returncode not in (0, 1, 2, 3, 4, 5, 6, 7), (r.returncode, r.stderr)  # killed

    # Right after the kill: the old state exists, whole, somewhere; Data is never a mix.
    kept = [d for d in before_restore_dirs(practice) if tree_state(d, skip=(MANIFEST_NAME,)) == old]
    if practice.data_dir.exists():
        state = tree_state(practice.data_dir)
        assert state == old or plaintext_tree(practice.data_dir, practice.key) == new_plain
        assert state == old or kept
    else:
        assert kept, "Data is gone and the old data is not kept"

    # The next command that touches Data recovers.
    s = run_cli("status", *practice_args(practice))
    assert s.returncode in (0, 3), s.stderr
    if outcome == "old":
        assert tree_state(practice.data_dir) == old
        assert before_restore_dirs(practice) == []
    else:
        assert plaintext_tree(practice.data_dir, practice.key) == new_plain
        [kept_dir] = before_restore_dirs(practice)
        assert tree_state(kept_dir, skip=(MANIFEST_NAME,)) == old
        assert (kept_dir / MANIFEST_NAME).is_file()
        assert "interrupted restore was completed" in s.stderr
    assert leftovers(practice.root) == []

    # And a restore afterwards simply works.
    again = restore(practice, backups.auto)
    assert again.returncode == 0, again.stderr
    assert plaintext_tree(practice.data_dir, practice.key) == new_plain


@pytest.mark.parametrize("failpoint", ["crash-at=restore.staging", "crash-at=restore.swap"])
def test_kill_during_a_new_computer_restore(
    demo_practice: Practice, backups, tmp_path, failpoint: str
) -> None:
    """No Data and no key yet: after a kill, the next run ends with a complete Data folder
    readable with the key on disk, or with no Data at all and a restore that then works."""
    from restore_helpers import PASSWORD
    from therabak.practice.account import AccountKey

    root = tmp_path / "new-laptop"
    root.mkdir()
    pw = tmp_path / "pw.txt"
    pw.write_text(PASSWORD + "\n")
    args = [
        "restore",
        backups.manual,
        "--yes",
        "--password-file",
        pw,
        "--data-dir",
        root / "Data",
        "--account-key",
        root / "account.key",
    ]
    r = run_cli(*args, env={"THERABAK_FAILPOINTS": failpoint, "THERABAK_MEDIA_ROOTS": ""})
    assert r.returncode not in (0, 1, 2, 3, 4, 5, 6, 7), r.stderr
    s = run_cli("status", "--data-dir", root / "Data", "--account-key", root / "account.key")
    assert s.returncode in (0, 3), s.stderr
    assert leftovers(root) == []
    if not (root / "Data").exists():
        assert run_cli(*args).returncode == 0
    key = AccountKey.load(root / "account.key")
    want = {
        k: v
        for k, v in plaintext_tree(demo_practice.data_dir, demo_practice.key).items()
        if not k.startswith(
            ("settings/session-templates/", "templates/", "autocomplete/", "backgrounds/", "icd10/")
        )
    }
    assert plaintext_tree(root / "Data", key) == want
