"""What the CLI and the app both show is worked out once (therabak.presentation): every
kind of restore point has its words, in English and in German."""

from __future__ import annotations

import pytest

from therabak.i18n import speaking
from therabak.points.point import PointKind
from therabak.presentation import KIND_DESCRIPTIONS, KIND_LABELS, kind_description, kind_label


def test_every_point_kind_has_a_label_and_every_restorable_one_a_description() -> None:
    assert set(KIND_LABELS) == set(PointKind)
    assert set(KIND_DESCRIPTIONS) == set(PointKind) - {PointKind.UNREADABLE}


@pytest.mark.parametrize(
    ("kind", "label", "description"),
    [
        (PointKind.AUTOMATIC, "automatic", "automatic backup"),
        (PointKind.BEFORE_RESTORE, "before restore", "data from before a restore"),
    ],
)
def test_a_kind_in_words(kind: PointKind, label: str, description: str) -> None:
    with speaking("en"):
        assert (kind_label(kind), kind_description(kind)) == (label, description)
    with speaking("de"):
        assert kind_label(kind) != label and kind_description(kind) != description


# ---- what a finished backup did (one wording for the CLI and the app) ---------------------


def _store_result(**changes):
    from therabak.jobs.store_backup import StoreBackupResult

    fields = dict(
        store="/media/usb/TheraPsy-Backups",
        snapshot="3f2a9c1b" * 8,
        created_store=False,
        files=1200,
        files_reused=1199,
        files_read=1,
        bytes_total=2_000_000_000,
        bytes_new=120_000_000,
        bytes_stored=121_000_000,
        duration_s=75.0,
        verified=True,
    )
    fields.update(changes)
    return StoreBackupResult(**fields)


def test_a_store_backup_in_lines() -> None:
    from therabak.presentation import Tone, store_backup_lines

    with speaking("en"):
        lines = store_backup_lines(_store_result())
        assert [(line.text, line.tone) for line in lines] == [
            (
                "1,200 files, 2.0 GB of data; 120.0 MB new, 121.0 MB written; took 1:15.",
                Tone.PLAIN,
            ),
            ("1,199 files unchanged since the last backup were not read again.", Tone.QUIET),
            ("Verified: what this backup wrote was read back and every file checked.", Tone.PLAIN),
        ]


@pytest.mark.parametrize(
    ("changes", "last"),
    [
        (
            {"verified": False},
            "VERIFICATION FAILED: what this backup wrote is damaged on the destination.",
        ),
        ({"verified": None}, "Not verified (verify after writing was off)."),
        (
            {"verified": None, "verify_cancelled": True},
            None,
        ),  # each front says it, with its choices
    ],
)
def test_a_store_backup_says_its_check(changes: dict, last: str | None) -> None:
    from therabak.presentation import store_backup_lines

    with speaking("en"):
        lines = store_backup_lines(_store_result(files_reused=0, **changes))
    assert "not read again" not in " ".join(line.text for line in lines)  # nothing reused
    assert (lines[-1].text if len(lines) > 1 else None) == last


def test_a_backup_lists_what_needs_attention() -> None:
    from therabak.events import FileOutcome
    from therabak.presentation import Tone, outcome_lines

    result = _store_result(
        retried=[
            FileOutcome(path="a.json", outcome="recovered", attempts=2),
            FileOutcome(path="b.wav", outcome="raw", attempts=5),
        ],
        skipped=[("c.pdf", "in use")],
    )
    with speaking("en"):
        lines = outcome_lines(result)
    assert [(line.text, line.tone, line.items) for line in lines] == [
        ("1 file needed retries and was recovered.", Tone.PLAIN, ()),
        (
            "1 file could not be decrypted and was stored raw (restorable on this account only):",
            Tone.ALARM,
            ("b.wav",),
        ),
        ("1 file is NOT in the backup:", Tone.ALARM, ("c.pdf (in use)",)),
    ]
    assert outcome_lines(_store_result()) == []
