"""The snapshots of every screen (test_snapshots.py), in German.

The same scenarios at 80x24, with the app's language German: every text from the
catalog, German numbers ("1,9 MB"), ages ("vor 20 Tagen") and dates ("02.03.2026 10:30").
The SVGs live in ``__snapshots__/test_snapshots_de/``; look at them after
``--snapshot-update`` (long German words must not be cut or wrap badly).
"""

from __future__ import annotations

import pytest

from app.test_snapshots import *  # noqa: F403 - the scenarios and their fixtures
from app.test_snapshots import pinned_restore_time, points, store_points  # noqa: F401 - fixtures


@pytest.fixture(autouse=True)
def german():
    from therabak import i18n

    i18n.set_language("de")
    yield
    i18n.set_language("en")
