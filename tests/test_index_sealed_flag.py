"""The index's optional per-entry ``e`` flag (sealed at rest), within format version 1."""

from __future__ import annotations

import json

import pytest

from therabak.archive.index import ArchiveIndex, IndexEntry, parse_index
from therabak.errors import DamagedArchiveError


def _entry(**kw) -> IndexEntry:
    base = dict(
        path="sessions/a.json",
        category="sessions",
        size=3,
        mtime_ns=1,
        sha256="0" * 64,
        offset=4096,
        length=100,
    )
    base.update(kw)
    return IndexEntry(**base)


@pytest.mark.parametrize("sealed", [True, False, None])
def test_round_trip(sealed) -> None:
    data = ArchiveIndex([_entry(sealed=sealed)], account_key_id="ab" * 8).to_bytes()
    doc = json.loads(data)
    assert ("e" in doc["entries"][0]) == (sealed is not None)
    assert parse_index(data, archive_size=10_000).entries[0].sealed is sealed


def test_index_written_before_the_flag_still_reads() -> None:
    doc = {
        "v": 1,
        "account_key_id": "",
        "skipped": [],
        "entries": [
            {
                "p": "sessions/a.json",
                "c": "sessions",
                "s": 3,
                "m": 1,
                "h": "0" * 64,
                "o": 4096,
                "l": 100,
            }
        ],
    }
    [entry] = parse_index(json.dumps(doc).encode(), archive_size=10_000).entries
    assert entry.sealed is None


def test_raw_entries_are_sealed_and_bad_flags_are_refused() -> None:
    data = ArchiveIndex([_entry(raw=True, key_id="cd" * 8, sealed=True)]).to_bytes()
    assert parse_index(data, archive_size=10_000).entries[0].sealed is True
    doc = json.loads(ArchiveIndex([_entry(sealed=True)]).to_bytes())
    doc["entries"][0]["e"] = "yes"
    with pytest.raises(DamagedArchiveError):
        parse_index(json.dumps(doc).encode(), archive_size=10_000)
