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
