"""kill -9 during a restore onto a new computer (no Data, no account key yet).

The kill points of a restore over existing data (every phase, and after N bytes
written) are in test_kill_matrix.py, with those of the other jobs.
"""

from __future__ import annotations

import pytest

from conftest import Practice, record_figure, run_cli
from restore_helpers import leftovers, plaintext_tree

pytest_plugins = ["restore_helpers"]  # its fixtures: backups, other_account, ...


@pytest.mark.parametrize("failpoint", ["crash-at=restore.staging", "crash-at=restore.swap"])
def test_kill_during_a_new_computer_restore(
    demo_practice: Practice, backups, tmp_path, record_property, failpoint: str
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
    record_figure(record_property, "kill points survived", 1)
