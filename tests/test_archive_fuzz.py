"""Property tests: every parser of untrusted archive bytes, and the whole reader on mutated
real archives, either succeed or raise a TherabakError (exit 4/5 material) -- never
another exception, and never hang.

Argon2 stays out of the loops: the mutated archives use a ``none`` or an ``account``
slot, or a password archive whose key was cached (``reader.archive_key`` set directly).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import struct
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
import zstandard
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from archive_support import CheapPassword, MemorySource, build_archive
from therabak.archive.header import (
    CHECKSUM_SIZE,
    DEFAULT_HEADER_SIZE,
    build_header,
    parse_header,
)
from therabak.archive.index import check_entry_meta, parse_index
from therabak.archive.layout import (
    ENTRY_HEAD,
    ENTRY_MAGIC,
    FRAME,
    META_NONCE,
    TRAILER_SIZE,
    build_trailer,
    frame,
    index_key,
    meta_key,
    parse_frame,
    parse_trailer,
)
from therabak.archive.reader import ArchiveReader
from therabak.archive.writer import Protection
from therabak.crypto.kdf import Argon2Params
from therabak.crypto.slots import Slot
from therabak.crypto.stream import StreamSealer
from therabak.errors import TherabakError
from therabak.jobs.verify import verify_archive
from therabak.practice.account import AccountKey
from therabak.storedpaths import check_relative_path

FUZZ = settings(
    max_examples=200,
    deadline=timedelta(seconds=5),  # a hang shows up as a deadline failure
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MANY = settings(FUZZ, max_examples=500)

ACCOUNT = AccountKey(hashlib.sha256(b"fuzz account").digest())


def _files() -> dict[str, object]:
    text = ("Klient berichtet über verbesserte Schlafqualität. " * 300).encode()
    return {
        "sessions/K0001/a.json": text,  # compressed
        "audio/K0001/b.opus": [os.urandom(700), os.urandom(700), os.urandom(5)],  # 3 chunks
        "empty.txt": b"",
        "documents/K0001/Arztbrief 1.pdf": os.urandom(300),
    }


@functools.cache
def base_archive(kind: str) -> tuple[bytes, bytes]:
    """(archive bytes, archive key) of a small real archive, built once per session."""
    protection = {
        "none": Protection(unprotected=True),
        "account": Protection(account_key=ACCOUNT.key, account_key_id=ACCOUNT.key_id),
        "password": CheapPassword(password="fuzz"),
    }[kind]
    with tempfile.TemporaryDirectory(prefix="therabak-fuzz-") as folder:
        built = build_archive(
            Path(folder) / f"{kind}.therabak",
            _files(),
            protection=protection,
            account_key_id=ACCOUNT.id_hex,
            skipped=[{"path": "x/y", "reason": "gone"}],
        )
        return built.bytes, built.archive_key


def exercise_reader(data: bytes, kind: str, key: bytes) -> None:
    """Everything a user can make the reader do with an archive; only TherabakError may
    escape, and every chunk of content read must come out of the real files."""
    try:
        reader = ArchiveReader(MemorySource(data))
    except TherabakError:
        event("refused at the header")
        return
    try:
        if kind == "password":
            reader.header.verify_mac(key)
            reader.archive_key = key
        else:
            reader.unlock(account=ACCOUNT)
    except TherabakError:
        event("refused at unlock")
        return
    try:
        index = reader.read_index()
        event("index read")
    except TherabakError:
        event("index refused")
        index = None
    if index is not None:
        for entry in index.entries:
            try:
                content = reader.read_entry(entry)
            except TherabakError:
                event("an entry refused")
                continue
            assert hashlib.sha256(content).hexdigest() == entry.sha256
    salvaged = list(reader.scan_entries())
    for found in salvaged:  # salvage hands out only what an index entry could hold
        assert (
            check_entry_meta(
                {
                    "p": found.path,
                    "c": found.category,
                    "m": found.mtime_ns,
                    "r": found.raw,
                    "k": found.key_id,
                }
            )[0]
            == found.path
        )
    event(f"salvage found {min(len(salvaged), 5)} entries ({sum(e.ok for e in salvaged)} ok)")
    verify_archive(reader)


# ---- the whole reader on mutated real archives --------------------------------------------------

KINDS = st.sampled_from(["none", "account", "password"])


@st.composite
def mutated(draw):
    kind = draw(KINDS)
    data, key = base_archive(kind)
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(
            st.sampled_from(["flip", "flip", "truncate", "insert", "delete", "overwrite", "zero"])
        )
        if not buf:
            break
        # bias towards the interesting places: header, entry heads, frames, index, trailer
        hot = draw(st.sampled_from(["any", "header", "body", "body", "tail", "entry"]))
        if hot == "header":
            at = draw(st.integers(0, min(len(buf), DEFAULT_HEADER_SIZE) - 1))
        elif hot == "tail":
            at = draw(st.integers(max(0, len(buf) - 600), len(buf) - 1))
        elif hot == "body":
            at = draw(st.integers(min(DEFAULT_HEADER_SIZE, len(buf) - 1), len(buf) - 1))
        elif hot == "entry":
            starts = [i for i in range(len(buf)) if buf.startswith(ENTRY_MAGIC, i)] or [0]
            at = min(draw(st.sampled_from(starts)) + draw(st.integers(0, 60)), len(buf) - 1)
        else:
            at = draw(st.integers(0, len(buf) - 1))
        if op == "flip":
            buf[at] ^= draw(st.integers(1, 255))
        elif op == "truncate":
            del buf[at:]
        elif op == "insert":
            buf[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif op == "delete":
            del buf[at : at + draw(st.integers(1, 64))]
        elif op == "overwrite":
            patch = draw(st.binary(min_size=1, max_size=32))
            buf[at : at + len(patch)] = patch
        else:
            n = draw(st.integers(1, 5000))
            buf[at : at + n] = bytes(min(n, len(buf) - at))
    return kind, bytes(buf), key


@MANY
@given(mutated())
def test_reader_on_mutated_archives(case):
    kind, data, key = case
    exercise_reader(data, kind, key)


@FUZZ
@given(KINDS, st.binary(max_size=8192))
def test_reader_on_garbage_after_a_real_header(kind, tail):
    data, key = base_archive(kind)
    exercise_reader(data[:DEFAULT_HEADER_SIZE] + tail, kind, key)


@FUZZ
@given(st.binary(max_size=5000))
def test_reader_on_pure_garbage(data):
    exercise_reader(data, "none", b"\0" * 32)
    exercise_reader(b"THERABAK" + data, "none", b"\0" * 32)


def test_the_unmutated_archives_read_back():
    for kind in ("none", "account", "password"):
        data, key = base_archive(kind)
        reader = ArchiveReader(MemorySource(data))
        reader.archive_key = key
        assert len(reader.read_index().entries) == 4
        assert verify_archive(reader).damaged == []


# ---- authenticated but hostile content (someone who knows the key crafted it) --------------------


def _with_index(kind: str, plaintext: bytes) -> tuple[bytes, bytes]:
    """The base archive with its index replaced by *plaintext*, properly sealed."""
    data, key = base_archive(kind)
    header = parse_header(data[:DEFAULT_HEADER_SIZE])
    offset, _ = parse_trailer(
        data[-TRAILER_SIZE:],
        archive_size=len(data),
        header_size=header.header_size,
        archive_id=header.archive_id,
    )
    sealer = StreamSealer(index_key(key, header.fixed_hash(), offset))
    sealed = sealer.seal(plaintext, last=True)
    index = frame(len(sealed), compressed=False, last=True) + sealed
    return (data[:offset] + index + build_trailer(offset, len(index), header.archive_id), key)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)
FIELD = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.text(max_size=70)
    | st.sampled_from(
        ["ab" * 32, "0011223344556677", "sessions", "CON", "../x", "a/b", 4096, 2**62]
    )
)


@st.composite
def index_documents(draw):
    keys = st.sampled_from(["p", "c", "s", "m", "h", "o", "l", "r", "k", "x"])
    entries = draw(st.lists(st.dictionaries(keys, FIELD, max_size=9), max_size=6))
    doc = {"v": draw(st.sampled_from([1, 1, 1, 2, "1", None, True])), "entries": entries}
    if draw(st.booleans()):
        doc["account_key_id"] = draw(FIELD)
    if draw(st.booleans()):
        doc["skipped"] = draw(JSONISH)
    return doc


@MANY
@given(st.one_of(index_documents(), JSONISH))
def test_parse_index_on_json_structures(doc):
    try:
        data = json.dumps(doc).encode()
    except (ValueError, OverflowError):
        return
    try:
        index = parse_index(data, archive_size=1 << 20)
    except TherabakError:
        return
    for e in index.entries:  # what gets through is what the format promises
        assert check_relative_path(e.path) == e.path
        assert 0 <= e.offset <= e.offset + e.length <= 1 << 20


@FUZZ
@given(st.binary(max_size=2000))
def test_parse_index_on_bytes(data):
    try:
        parse_index(data, archive_size=1 << 20)
    except TherabakError:
        pass


@FUZZ
@given(KINDS, st.one_of(index_documents(), JSONISH), st.booleans())
def test_sealed_hostile_index(kind, doc, compress):
    """An index that authenticates but says anything: zstd and JSON checks hold."""
    plain = json.dumps(doc).encode()
    if compress:
        plain = zstandard.ZstdCompressor().compress(plain)
    data, key = _with_index(kind, plain)
    exercise_reader(data, kind, key)


@FUZZ
@given(KINDS, st.binary(max_size=300))
def test_sealed_index_of_random_bytes(kind, blob):
    data, key = _with_index(kind, blob)
    exercise_reader(data, kind, key)


def _with_meta_entry(kind: str, meta: bytes, content: list[tuple[bytes, bool]]) -> tuple:
    """The base archive's body followed by one crafted entry (sealed properly), no index."""
    from therabak.archive.layout import data_key
    from therabak.crypto.stream import FLAG_COMPRESSED

    data, key = base_archive(kind)
    header = parse_header(data[:DEFAULT_HEADER_SIZE])
    offset, _ = parse_trailer(
        data[-TRAILER_SIZE:],
        archive_size=len(data),
        header_size=header.header_size,
        archive_id=header.archive_id,
    )
    salt = os.urandom(16)
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    sealed_meta = AESGCM(meta_key(key, salt)).encrypt(META_NONCE, meta, None)
    entry = ENTRY_HEAD.pack(ENTRY_MAGIC, salt, len(sealed_meta)) + sealed_meta
    sealer = StreamSealer(data_key(key, salt))
    for i, (payload, compressed) in enumerate(content):
        last = i == len(content) - 1
        sealed = sealer.seal(payload, last=last, flags=FLAG_COMPRESSED if compressed else 0)
        entry += frame(len(sealed), compressed=compressed, last=last) + sealed
    return data[:offset] + entry, key  # no index, no trailer: the salvage path


@FUZZ
@given(
    KINDS,
    st.one_of(
        JSONISH,
        st.fixed_dictionaries(
            {"p": FIELD, "c": FIELD, "m": FIELD}, optional={"r": FIELD, "k": FIELD}
        ),
    ),
    st.lists(st.tuples(st.binary(max_size=200), st.booleans()), min_size=1, max_size=3),
)
def test_sealed_hostile_entries(kind, meta, content):
    """Entries that authenticate but carry odd metadata or non-zstd 'compressed' chunks."""
    blob = json.dumps(meta).encode()
    data, key = _with_meta_entry(kind, blob, content)
    exercise_reader(data, kind, key)


_MEMORY_PROBE = r"""
import json, resource, sys, zstandard
sys.path.insert(0, sys.argv[1])
import test_archive_fuzz as t
from archive_support import MemorySource
from therabak.archive.reader import ArchiveReader

def peaks():
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return int(status["VmPeak"].split()[0]) // 1024, int(status["VmHWM"].split()[0]) // 1024

size = int(sys.argv[2])
cobj = zstandard.ZstdCompressor().compressobj(size=size)  # streamed: the probe stays small
zeros = bytes(1 << 20)
bomb = b"".join(cobj.compress(zeros[: min(len(zeros), size - i)])
                for i in range(0, size, len(zeros))) + cobj.flush()
data, key = t._with_meta_entry("none", b'{"p": "a", "c": "other", "m": 1}', [(bomb, True)])
idx_data, idx_key = t.base_archive("none")
before = peaks()
reader = ArchiveReader(MemorySource(data))
reader.archive_key = key
found = [e for e in reader.scan_entries() if e.path == "a"]
reader = ArchiveReader(MemorySource(idx_data))
reader.archive_key = idx_key
reader.read_index()
after = peaks()
print(json.dumps({"bomb": len(bomb), "ok": found[0].ok, "error": found[0].error,
                  "vm_peak": after[0] - before[0], "rss_peak": after[1] - before[1]}))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (Linux)")
@pytest.mark.parametrize("size", [(4 << 20) + 1, 1 << 30])
def test_decompression_bombs_are_refused_without_allocating(size):
    """A compressed chunk of a few KB (authenticated: someone who knows the password made
    it) that expands beyond the 4 MiB chunk limit is refused before zstd allocates its
    output; and reading an index never reserves the 1 GiB index limit up front (on
    Windows that would be committed memory). Measured in a fresh process."""
    import subprocess

    r = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(Path(__file__).parent), str(size)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    probe = json.loads(r.stdout)
    assert probe["bomb"] < 64 << 10
    assert not probe["ok"] and "too large" in probe["error"]
    assert probe["rss_peak"] < 32, probe
    assert probe["vm_peak"] < 256, probe


def test_a_compressed_chunk_without_a_size_is_refused():
    unsized = zstandard.ZstdCompressor(write_content_size=False).compress(b"x" * 1000)
    data, key = _with_meta_entry(
        "none", json.dumps({"p": "a", "c": "other", "m": 1}).encode(), [(unsized, True)]
    )
    reader = ArchiveReader(MemorySource(data))
    reader.archive_key = key
    (found,) = [e for e in reader.scan_entries() if e.path == "a"]
    assert not found.ok


# ---- the small parsers ------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=5000))
def test_parse_header_on_bytes(data):
    for region in (data, b"THERABAK" + struct.pack(">HI", 1, len(data) + 14) + data):
        try:
            parse_header(region)
        except TherabakError:
            pass


def _good_header() -> bytes:
    key = bytes(32)
    slots = [
        Slot.password(
            key, "x", Argon2Params(salt=bytes(16), time_cost=1, lanes=1, memory_kib=8192)
        ),
        Slot.account(key, ACCOUNT.key, ACCOUNT.key_id),
        Slot.none(key),
    ]
    return build_header(
        archive_key=key,
        slots=slots,
        kind="manual",
        categories=("audio", "sessions"),
        header_size=1024,
    )[0]


GOOD_HEADER = _good_header()


@MANY
@given(
    st.lists(
        st.tuples(st.integers(0, len(GOOD_HEADER) - CHECKSUM_SIZE - 1), st.integers(0, 255)),
        min_size=1,
        max_size=8,
    )
)
def test_parse_header_behind_a_valid_checksum(changes):
    """Mutations with the checksum recomputed reach every field check."""
    buf = bytearray(GOOD_HEADER)
    for at, value in changes:
        buf[at] = value
    body = bytes(buf[:-CHECKSUM_SIZE])
    region = body + hashlib.sha256(body).digest()
    try:
        header = parse_header(region)
    except TherabakError:
        return
    for slot in header.slots:  # whatever parsed can be examined without surprises
        if slot.type.label == "password":
            try:
                slot.argon2_params().check()
            except TherabakError:
                pass
        elif slot.type.label == "account":
            slot.unwrap_account(ACCOUNT.key, ACCOUNT.key_id)
    _ = header.protection, header.account_key_ids, header.fixed_hash()
    try:
        header.verify_mac(bytes(32))
    except TherabakError:
        pass


@FUZZ
@given(st.integers(0, 255), st.binary(max_size=120))
def test_slot_parser(type_byte, body):
    try:
        slot = Slot.parse(type_byte, body)
    except TherabakError:
        return
    if slot.type.label == "password":
        params = slot.argon2_params()
        try:
            params.check()
        except TherabakError:
            return
        assume(params.time_cost * params.memory_kib <= 3 * 65536)  # keep the test quick
        assert slot.unwrap_password("guess") is None
    elif slot.type.label == "account":
        assert slot.unwrap_account(ACCOUNT.key, ACCOUNT.key_id) is None
    else:
        assert len(slot.unwrap_none()) == 32


@FUZZ
@given(
    st.binary(min_size=0, max_size=60),
    st.integers(0, 2**64),
    st.integers(0, 2**17),
    st.binary(min_size=16, max_size=16),
)
def test_trailer_parser(data, size, header_size, archive_id):
    try:
        offset, length = parse_trailer(
            data, archive_size=size, header_size=header_size, archive_id=archive_id
        )
    except TherabakError:
        return
    assert header_size <= offset and offset + length + TRAILER_SIZE == size


@FUZZ
@given(st.binary(min_size=FRAME.size, max_size=FRAME.size))
def test_frame_parser(word):
    try:
        length, _, _ = parse_frame(word)
    except TherabakError:
        return
    assert 16 <= length <= (4 << 20) + 1024


PATH_TEXT = st.lists(
    st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
    | st.sampled_from(["/", ".", "..", "\\", ":", " ", "\ud800", "\udfff", "CON", "nul", "a"]),
    max_size=30,
).map("".join)


@FUZZ
@given(PATH_TEXT)
def test_path_checker(path):
    try:
        checked = check_relative_path(path)
    except TherabakError:
        return
    parts = checked.split("/")
    assert ".." not in parts and "" not in parts and "." not in parts
    # where a backslash separates too, nothing climbs out or starts at a root or drive
    assert ".." not in checked.replace("\\", "/").split("/")
    assert not checked.startswith(("/", "\\")) and not re.match("[A-Za-z]:", checked)
    assert "\x00" not in checked
    os.fsencode(checked)  # every accepted name is bytes a POSIX file system can hold
