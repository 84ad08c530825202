"""Fuzzing every parser of the store's untrusted bytes (hypothesis).

Each parser meets random bytes, valid objects with bytes flipped, cut or inserted, and —
where the bytes are sealed — well-sealed documents with hostile contents (someone who
knows the password can write anything). The only acceptable outcomes: a parsed object
that keeps every documented limit, or ``DamagedStoreError``; never another exception,
never a hang or a huge allocation.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct

import pytest
import zstandard
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from therabak.store.blob import BlobInfo, open_blob
from therabak.store.config import StoreConfig, parse_config
from therabak.store.errors import DamagedStoreError
from therabak.store.index import IndexFile, PackRecord, encode_index, parse_index
from therabak.store.keyfile import parse_keyfile
from therabak.store.keys import ContentId, StoreKeys, new_store_key, seal
from therabak.store.locks import parse_lock
from therabak.store.pack import header_length, parse_header
from therabak.store.snapshot import parse_header as parse_snapshot_header
from therabak.store.snapshot import path_problem, snapshot_name
from therabak.store.snapshot_read import parse_snapshot

KEYS = StoreKeys(b"S" * 16, new_store_key())
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

mutation = st.tuples(
    st.sampled_from(["flip", "cut", "insert"]), st.integers(0, 10_000), st.binary(max_size=8)
)


def mutate(data: bytes, how: tuple[str, int, bytes]) -> bytes:
    kind, at, extra = how
    at = at % (len(data) + 1)
    if kind == "flip" and data:
        at = min(at, len(data) - 1)
        return data[:at] + bytes([data[at] ^ 0x55]) + data[at + 1 :]
    if kind == "cut":
        return data[:at]
    return data[:at] + (extra or b"\0") + data[at:]


def only_damage(fn, *args):  # noqa: D103
    try:
        return fn(*args)
    except DamagedStoreError:
        return None


# ---- config -------------------------------------------------------------------------------------

VALID_CONFIG = StoreConfig.new(created=1).to_bytes(KEYS)  # version 2 (BLAKE3 ids)
VALID_CONFIG_V1 = StoreConfig.new(created=1, content_id=ContentId.HMAC_SHA256).to_bytes(KEYS)


@FUZZ
@given(st.binary(max_size=200))
def test_config_random_bytes(data):
    only_damage(parse_config, data)


@FUZZ
@given(mutation, st.sampled_from([VALID_CONFIG, VALID_CONFIG_V1]))
def test_config_mutated(how, valid):
    cfg = only_damage(parse_config, mutate(valid, how))
    if cfg is not None:
        assert 64 << 10 <= cfg.chunk_size <= 16 << 20
        assert cfg.content_id in (ContentId.HMAC_SHA256, ContentId.BLAKE3)


@FUZZ
@given(st.integers(0, 255), st.integers(0, 65535))
def test_config_any_content_id_and_version(content_id, version):
    import hashlib

    body = bytearray(VALID_CONFIG[:-32])
    body[8:10] = struct.pack(">H", version)
    body[43] = content_id
    data = bytes(body) + hashlib.sha256(body).digest()
    cfg = only_damage(parse_config, data)
    if cfg is not None:
        assert version == 2 and content_id == 2 and cfg.content_id is ContentId.BLAKE3


@FUZZ
@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.integers(0, 255))
def test_config_any_sizes_within_limits(chunk, pack, mode):
    import hashlib

    body = bytearray(VALID_CONFIG[:-32])
    body[34] = mode
    body[35:39] = struct.pack(">I", chunk)
    body[39:43] = struct.pack(">I", pack)
    data = bytes(body) + hashlib.sha256(body).digest()
    cfg = only_damage(parse_config, data)
    if cfg is not None:
        assert cfg.chunk_size == chunk and 2 * chunk <= cfg.pack_size <= 1 << 30


# ---- key files ----------------------------------------------------------------------------------


def _valid_keyfile():
    from archive_support import cheap_params
    from therabak.crypto.slots import Slot
    from therabak.store.keyfile import KeyFile

    kf = KeyFile.new(KEYS.store_id, [Slot.password(KEYS.master, "x", cheap_params())], created=1)
    return kf.name, kf.to_bytes(KEYS)


KEYFILE_NAME, VALID_KEYFILE = _valid_keyfile()


@FUZZ
@given(st.binary(max_size=400))
def test_keyfile_random_bytes(data):
    only_damage(parse_keyfile, data, KEYFILE_NAME)


@FUZZ
@given(mutation)
def test_keyfile_mutated(how):
    only_damage(parse_keyfile, mutate(VALID_KEYFILE, how), KEYFILE_NAME)


@FUZZ
@given(st.binary(min_size=10, max_size=400))
def test_keyfile_any_body_with_a_good_checksum(body):
    """Random structure behind a valid magic and checksum: the layout checks must hold."""
    import hashlib

    data = b"TBSKEYS1" + body
    data += hashlib.sha256(data).digest()
    kf = only_damage(parse_keyfile, data, KEYFILE_NAME)
    if kf is not None:
        assert 1 <= len(kf.slots) <= 8


# ---- blobs --------------------------------------------------------------------------------------

blob_info = st.builds(
    BlobInfo,
    st.binary(min_size=32, max_size=32),
    st.integers(0, 255),
    st.integers(0, 1 << 25),
    st.integers(0, 1 << 25),
)


@FUZZ
@given(blob_info, st.binary(max_size=300))
def test_blob_random(info, sealed):
    only_damage(open_blob, KEYS, info, sealed, "p")


@FUZZ
@given(st.binary(max_size=64), st.integers(1, 1 << 24), st.booleans())
def test_blob_well_sealed_hostile_payload(payload, claimed, as_zstd):
    """A key holder seals anything, e.g. a zstd frame that claims gigabytes (a bomb)."""
    from therabak.store.blob import blob_aad

    if as_zstd:
        payload = zstandard.ZstdCompressor(write_content_size=True).compress(payload * 50)
    blob_id = os.urandom(32)
    flags = 1 if as_zstd else 0
    sealed = seal(KEYS.blob, payload, blob_aad(blob_id, flags, claimed))
    assert (
        only_damage(open_blob, KEYS, BlobInfo(blob_id, flags, len(sealed), claimed), sealed, "p")
        is None
    )


# ---- pack headers -------------------------------------------------------------------------------


@FUZZ
@given(st.binary(min_size=8, max_size=8), st.integers(0, 1 << 31))
def test_pack_trailer(trailer, size):
    n = only_damage(header_length, trailer, size, "p")
    if n is not None:
        assert n <= size - 8


@FUZZ
@given(st.binary(max_size=600), st.integers(0, 1 << 26))
def test_pack_header_well_sealed_random_contents(plain, size):
    sealed = seal(KEYS.pack, plain, b"therabak store pack header v1" + KEYS.store_id)
    blobs = only_damage(parse_header, KEYS, sealed, size, "p")
    if blobs is not None:
        assert sum(b.info.length for b in blobs) + len(sealed) + 8 == size


@FUZZ
@given(st.integers(0, 2**32 - 1), st.binary(max_size=200), st.integers(0, 1 << 26))
def test_pack_header_huge_counts_allocate_nothing(count, rest, size):
    plain = b"\x01" + struct.pack(">I", count) + rest
    sealed = seal(KEYS.pack, plain, b"therabak store pack header v1" + KEYS.store_id)
    only_damage(parse_header, KEYS, sealed, size, "p")


# ---- index files --------------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=600))
def test_index_well_sealed_random_contents(plain):
    import hashlib

    data = seal(KEYS.index, plain, b"therabak store index v1" + KEYS.store_id)
    name = "index/" + hashlib.sha256(data).hexdigest()
    parsed = only_damage(parse_index, KEYS, data, name)
    if parsed is not None:
        for record in parsed.packs.values():
            for b in record.blobs:
                assert b.offset + b.info.length <= record.size - 8


@FUZZ
@given(mutation)
def test_index_mutated(how):
    name, data = encode_index(KEYS, IndexFile({"ab" * 32: PackRecord(100, [])}))
    only_damage(parse_index, KEYS, mutate(data, how), name)


# ---- snapshots ----------------------------------------------------------------------------------

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=20),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4)
    ),
    max_leaves=20,
)
entry = st.fixed_dictionaries(
    {
        "p": st.one_of(st.sampled_from(["a.txt", "../x", "a/b", "a\udcfc"]), json_value),
        "c": st.one_of(st.sampled_from(["sessions", "audio", "BAD", ""]), json_value),
        "s": st.one_of(st.integers(-5, 5), st.just(2**63), json_value),
        "m": st.one_of(st.integers(-5, 5), json_value),
        "h": st.one_of(st.sampled_from(["ab" * 32, "zz", ""]), json_value),
        "b": st.one_of(st.sampled_from(["", "cd" * 32, "cd" * 31, "xy" * 32]), json_value),
    },
    optional={
        "e": json_value,
        "r": json_value,
        "k": st.one_of(st.sampled_from(["00" * 8, "x"]), json_value),
        "i": json_value,
        "z": json_value,
    },
)


def snapshot_header_bytes(size: int) -> bytes:
    from datetime import UTC, datetime

    from therabak.store.snapshot import SnapshotHeader, SnapshotKind

    return SnapshotHeader(
        KEYS.store_id, datetime(2026, 1, 1, tzinfo=UTC), SnapshotKind.MANUAL, ("a",), size, 0
    ).to_bytes()


def seal_body(doc, size: int = 0) -> tuple[str, bytes]:
    header = snapshot_header_bytes(size)
    text = json.dumps(doc).encode() if not isinstance(doc, bytes) else doc
    body = zstandard.ZstdCompressor(write_content_size=True).compress(text)
    data = header + seal(KEYS.snapshot, body, b"therabak store snapshot v1" + header)
    return snapshot_name(hashlib.sha256(data).hexdigest()), data


@FUZZ
@given(st.lists(entry, max_size=4), st.integers(0, 20), json_value)
def test_snapshot_well_sealed_hostile_documents(entries, size, extra):
    doc = {"v": 1, "host": "h", "account_key_id": "", "parent": None, "entries": entries}
    if isinstance(extra, dict):
        doc.update({k: v for k, v in extra.items() if k not in ("v", "entries")})
    name, data = seal_body(doc, size)
    snap = only_damage(parse_snapshot, KEYS, data, name)
    if snap is not None:
        assert sum(e.size for e in snap.entries) == size
        for e in snap.entries:
            assert path_problem(e.path) is None
            assert (e.size == 0) == (not e.blobs)


@FUZZ
@given(json_value)
def test_snapshot_any_json(doc):
    name, data = seal_body(doc)
    only_damage(parse_snapshot, KEYS, data, name)


@FUZZ
@given(st.binary(max_size=300))
def test_snapshot_public_header_random(data):
    only_damage(parse_snapshot_header, data, "snapshots/x")


@FUZZ
@given(mutation)
def test_snapshot_mutated(how):
    name, data = seal_body({"v": 1, "entries": []})
    changed = mutate(data, how)
    import hashlib

    only_damage(parse_snapshot, KEYS, changed, snapshot_name(hashlib.sha256(changed).hexdigest()))


def test_snapshot_zstd_bomb_is_refused_before_decompressing():
    import hashlib

    from therabak.store.snapshot import SnapshotHeader, SnapshotKind

    header = SnapshotHeader(
        KEYS.store_id,
        __import__("datetime").datetime(2026, 1, 1).astimezone(),
        SnapshotKind.MANUAL,
        (),
        0,
        0,
    ).to_bytes()
    frame = bytearray(zstandard.ZstdCompressor(write_content_size=True).compress(b"{}"))
    bomb = zstandard.ZstdCompressor(write_content_size=False).compress(b" " * (1 << 20))
    for body in (bytes(frame), bomb):
        data = header + seal(KEYS.snapshot, body, b"therabak store snapshot v1" + header)
        name = snapshot_name(hashlib.sha256(data).hexdigest())
        assert only_damage(parse_snapshot, KEYS, data, name) is None


# ---- locks --------------------------------------------------------------------------------------


@FUZZ
@given(json_value)
def test_lock_any_json(doc):
    name = "locks/" + "a" * 32
    data = seal(
        KEYS.lock,
        json.dumps(doc).encode(),
        b"therabak store lock v1" + KEYS.store_id + name.encode(),
    )
    only_damage(parse_lock, KEYS, data, name)


GOOD_ENTRY = {"p": "a.txt", "c": "sessions", "s": 1, "m": 1, "h": "ab" * 32, "b": "cd" * 32}
ODD_VALUES = [None, True, -1, 2**64, 1.5, "x", "", [], {}, ["a"], {"a": 1}]


@FUZZ
@given(
    st.sampled_from([*GOOD_ENTRY, "e", "r", "k", "i", "z", "unknown"]),
    st.one_of(st.sampled_from(ODD_VALUES), json_value),
)
def test_snapshot_each_field_of_a_good_entry_with_any_value(key, value):
    """One field at a time: every other field valid, so every check is reached."""
    doc = {"v": 1, "entries": [{**GOOD_ENTRY, key: value}]}
    name, data = seal_body(doc, 1)
    snap = only_damage(parse_snapshot, KEYS, data, name)
    if snap is not None:
        e = snap.entries[0]
        assert isinstance(e.size, int) and isinstance(e.mtime_ns, int)
        assert isinstance(e.path, str) and isinstance(e.identity, str)
        assert e.sealed in (None, True, False) and isinstance(e.raw, bool)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("h", "AB" * 32),
        ("h", "ab" * 31),
        ("h", "ab" * 33),
        ("h", "ab" * 31 + "a\n"),
        ("h", " " + "ab" * 31 + "a"),
        ("h", "ab" * 31 + "ag"),
        ("b", "CD" * 32),
        ("b", "cd" * 31),
        ("b", "cd" * 32 + "c"),
        ("b", "cd" * 31 + "c "),
        ("b", "cd" * 31 + "cx"),
        ("s", 1.0),
        ("s", True),
        ("m", 1.0),
        ("z", -1.0),
        ("z", -2),
        ("e", 0),
        ("unknown", 1),
    ],
)
def test_snapshot_entry_with_one_bad_field_is_refused(key, value):
    name, data = seal_body({"v": 1, "entries": [{**GOOD_ENTRY, key: value}]}, 1)
    with pytest.raises(DamagedStoreError):
        parse_snapshot(KEYS, data, name)
    good_name, good = seal_body({"v": 1, "entries": [GOOD_ENTRY]}, 1)
    assert parse_snapshot(KEYS, good, good_name).entries[0].sha256 == "ab" * 32


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "utf-8-sig"])
def test_snapshot_body_in_another_encoding_is_refused(encoding):
    """The body is UTF-8 (ASCII) text; json.loads would take UTF-16/32 or a BOM from
    bytes, the parser (which decodes first, to free the bytes early) does not."""
    doc = {"v": 1, "entries": [GOOD_ENTRY]}
    name, data = seal_body(json.dumps(doc).encode(encoding), 1)
    with pytest.raises(DamagedStoreError, match="not readable"):
        parse_snapshot(KEYS, data, name)
    name, data = seal_body(json.dumps(doc).encode("utf-8"), 1)
    assert parse_snapshot(KEYS, data, name).entries[0].path == "a.txt"


# The parser checks each distinct folder of a snapshot once and only the last name of each
# path (store/snapshot_read.py, _PathCheck). It must refuse exactly what the one name policy
# (path_problem, the whole path each time) refuses, whatever came before in the snapshot.
PATH_PARTS = ["a", "b", ".", "..", "", "x\\..", "..\\y", "a\\b", "n\x00", "C:", "\\\\srv"]
PATH_PARTS += ["\udcfc", "\ud800", "CON", "t.", "x" * 255, "y" * 256]


def check_paths_like_the_policy(paths: list[str]) -> None:
    name, data = seal_body({"v": 1, "entries": [{**GOOD_ENTRY, "p": p} for p in paths]}, len(paths))
    refused = [p for p in paths if path_problem(p) is not None]
    if refused:
        with pytest.raises(DamagedStoreError) as e:
            parse_snapshot(KEYS, data, name)
        assert path_problem(refused[0]) in str(e.value)
    else:
        assert [e.path for e in parse_snapshot(KEYS, data, name).entries] == paths


@FUZZ
@given(
    st.lists(
        st.lists(st.sampled_from(PATH_PARTS), min_size=1, max_size=4).map("/".join),
        min_size=1,
        max_size=8,
        unique=True,
    )
)
def test_snapshot_paths_checked_per_folder_refuse_what_the_policy_refuses(paths):
    check_paths_like_the_policy(paths)


DEEP = "/".join(["d" * 255] * 127 + ["e" * 100])  # 32,612 characters: a safe folder


@pytest.mark.parametrize(
    "leaf",
    ["..", ".", "", "x\x00", "y" * 256, "..\\up", "a\\..", "z" * (32767 - len(DEEP))],
)
def test_snapshot_an_unsafe_last_name_in_a_folder_already_seen_is_refused(leaf):
    """The folder passed with a safe file; a second file in it with an unsafe last name
    (or one that makes the whole path too long) is still refused."""
    for folder in ("a/b", DEEP):
        check_paths_like_the_policy([f"{folder}/ok.txt", f"{folder}/{leaf}"])
    too_long = f"{DEEP}/{'z' * (32767 - len(DEEP))}"  # a short name, too long a path
    assert len(too_long) == 32768 and path_problem(too_long) is not None


@FUZZ
@given(mutation)
def test_keyfile_mutated_lenient(how):
    """The lenient parse (a damaged key file whose slots may still open) keeps the layout
    checks: it never fails with anything but DamagedStoreError."""
    data = mutate(VALID_KEYFILE, how)
    kf = only_damage(lambda: parse_keyfile(data, KEYFILE_NAME, lenient=True))
    if kf is not None:
        assert 1 <= len(kf.slots) <= 8


def _loads_or_none(text: str):
    """``json.loads`` (None when it refuses), and whether the top-level object had a key
    twice (which the streamed parse refuses)."""
    pairs_seen: list[list] = []

    def hook(pairs):
        pairs_seen.append(pairs)
        return dict(pairs)

    try:
        doc = json.loads(text, object_pairs_hook=hook)
    except (ValueError, RecursionError):
        return None, False
    top = pairs_seen[-1] if isinstance(doc, dict) else []
    return doc, len({k for k, _v in top}) != len(top)


def _streamed_or_none(text: str, piece: int = 0):
    """The streamed parse of *text*, handed over whole or in pieces of *piece* characters."""
    from therabak.store.snapshot_read import _STREAMED, _streamed_document

    pieces = [text[i : i + piece] for i in range(0, len(text), piece)] if piece else [text]
    items: list = []

    def take(item, start: int, end: int) -> None:
        # where the parse says the element lies is exactly its text (what a backup
        # copies into the next snapshot: store/snapshot_body.py)
        assert json.dumps(json.loads(text[start:end])) == json.dumps(item)
        items.append(item)

    try:
        doc = _streamed_document(pieces, take)
    except (ValueError, RecursionError):
        return None
    if isinstance(doc, dict) and doc.get("entries") is _STREAMED:
        doc = {**doc, "entries": items}
    else:
        assert items == []
    return doc


@FUZZ
@given(
    st.one_of(json_value, st.fixed_dictionaries({"v": json_value, "entries": json_value})),
    st.sampled_from([None, 0, 2]),
    st.sampled_from([(",", ":"), (", ", ": "), (" ,", " :")]),
    st.lists(mutation, max_size=2),
)
@example({"v": 1, "entries": [{"p": "a"}, 2]}, None, (",", ":"), [("insert", 29, b",")])
@example({"v": 1, "entries": []}, None, (",", ":"), [("insert", 1, b'"v":2,')])
@example({"entries": [1, [2]], "v": 0}, 0, (",", ":"), [("cut", 18, b"")])
@example({"v": None, "entries": 10.0}, None, (",", ":"), [])  # "10." + "0": a number cut
@example({"v": 1, "entries": [-2.5e-7, 3e12]}, None, (",", ":"), [])
def test_snapshot_body_streamed_is_exactly_json_loads(doc, indent, separators, hows):
    """The streamed parse of a snapshot's body (each entry handed on as decoded) takes
    exactly what ``json.loads`` takes, with the same result, and refuses what it refuses
    (and, unlike it, a key given twice at the top)."""
    text = json.dumps(doc, indent=indent, separators=separators)
    for how in hows:
        text = mutate(text.encode("utf-8", "surrogatepass"), how).decode("utf-8", "replace")
    expected, twice = _loads_or_none(text)
    for piece in (0, 1, 2, 5):  # whole, and cut anywhere (a body is read in pieces)
        got = _streamed_or_none(text, piece)
        if expected is None or twice:
            assert got is None, piece
        else:
            assert got == expected, piece


@pytest.mark.parametrize("piece", [1, 3, 64, 1 << 20])
def test_snapshot_body_read_in_pieces_of_any_size(monkeypatch, piece):
    """A body is decompressed and parsed piece by piece: whatever the pieces' size (a
    number, a string, an escape or a multi-byte character cut between two), the entries
    are the same; a frame cut short is refused."""
    from therabak.store import snapshot_read

    monkeypatch.setattr(snapshot_read, "PIECE", piece)
    entries = [
        {**GOOD_ENTRY, "p": f'dir {i}/n\u00e4me "{i}" \u20ac.txt', "s": 1000 + i} for i in range(40)
    ]
    doc = {"v": 1, "host": "h\u00e9", "entries": entries}
    size = sum(e["s"] for e in entries)
    name, data = seal_body(json.dumps(doc, ensure_ascii=False).encode(), size)
    snap = parse_snapshot(KEYS, data, name)
    assert [e.path for e in snap.entries] == [e["p"] for e in entries]
    assert [e.size for e in snap.entries] == [e["s"] for e in entries]
    assert snap.host == "h\u00e9"
    # the same body, its frame cut short (sealed as it is: only a writer's bug could)
    frame = zstandard.ZstdCompressor(write_content_size=True).compress(json.dumps(doc).encode())
    header = snapshot_header_bytes(size)
    cut = header + seal(KEYS.snapshot, frame[:-9], b"therabak store snapshot v1" + header)
    with pytest.raises(DamagedStoreError, match="not readable"):
        parse_snapshot(KEYS, cut, snapshot_name(hashlib.sha256(cut).hexdigest()))
