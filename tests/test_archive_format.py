"""The archive format's building blocks: header, key slots, Argon2 limits, index checks,
trailer and the STREAM properties (archive/FORMAT.md, DESIGN.md section 4)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
import time
from datetime import datetime, timedelta, timezone

import pytest
import zstandard

from archive_support import (
    CheapPassword,
    MemorySource,
    build_archive,
    cheap_params,
    entry_frames,
    open_unlocked,
)
from therabak.archive.header import (
    DEFAULT_HEADER_SIZE,
    NotAnArchiveError,
    build_header,
    parse_header,
    read_header_size,
)
from therabak.archive.index import ArchiveIndex, IndexEntry, parse_index
from therabak.archive.layout import (
    FRAME,
    TRAILER_SIZE,
    build_trailer,
    parse_frame,
    parse_trailer,
)
from therabak.archive.reader import ArchiveReader, EntryDamaged, PasswordNeeded
from therabak.archive.writer import Protection
from therabak.crypto.kdf import Argon2Params
from therabak.crypto.slots import Slot, SlotType
from therabak.crypto.stream import StreamOpener, StreamSealer
from therabak.errors import (
    AccountKeyNeededError,
    DamagedArchiveError,
    DecryptionError,
    OtherAccountError,
    WrongPasswordError,
)
from therabak.practice.account import AccountKey
from therabak.storedpaths import check_relative_path

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))


def _header(slots=None, key=KEY, **kw):
    kw.setdefault("kind", "manual")
    kw.setdefault("categories", ("sessions", "audio", "profiles"))
    return build_header(archive_key=key, slots=slots or [Slot.none(key)], **kw)


def _recompute_checksum(region: bytes) -> bytes:
    body = region[:-32]
    return body + hashlib.sha256(body).digest()


def _password_salt_offset(header) -> int:
    # fixed part, slot count (1), slot type (1) and length (2); the salt starts the body
    return len(header.fixed) + 1 + 3


# ---- header ------------------------------------------------------------------------------


def test_header_round_trip():
    created = datetime(2026, 3, 29, 1, 30, 15, tzinfo=timezone(timedelta(hours=2)))
    archive_id = os.urandom(16)
    account = AccountKey(OTHER_KEY)
    slots = [
        Slot.password(KEY, "geheim", cheap_params()),
        Slot.account(KEY, account.key, account.key_id),
    ]
    region, built = _header(slots, created=created, archive_id=archive_id, kind="auto")
    assert len(region) == DEFAULT_HEADER_SIZE
    parsed = parse_header(region)
    assert parsed.created == created and parsed.created.utcoffset() == timedelta(hours=2)
    assert parsed.kind == "auto"
    assert parsed.archive_id == archive_id
    assert parsed.categories == ("audio", "profiles", "sessions")
    assert [s.type for s in parsed.slots] == [SlotType.PASSWORD, SlotType.ACCOUNT]
    assert [s.body for s in parsed.slots] == [s.body for s in slots]
    assert parsed.fixed == built.fixed and parsed.fixed_hash() == built.fixed_hash()
    assert parsed.mac == built.mac and parsed.mac_offset == built.mac_offset
    assert parsed.protection == "password"
    assert parsed.account_key_ids == [account.key_id]
    parsed.verify_mac(KEY)
    with pytest.raises(DamagedArchiveError):
        parsed.verify_mac(OTHER_KEY)


def test_header_holds_no_secret_and_repr_hides_slots():
    region, header = _header([Slot.none(KEY)])
    assert "body" not in repr(header) and KEY.hex() not in repr(header)
    # the none slot is the key in clear by definition; a password slot never is
    region, _ = _header([Slot.password(KEY, "geheim", cheap_params())])
    assert KEY not in region and b"geheim" not in region


@pytest.mark.parametrize("size", [512, 1000, 65536])
def test_header_sizes(size):
    region, _ = _header(header_size=size)
    assert parse_header(region).header_size == size == len(region)


def test_header_must_fit_and_slot_count_is_bounded():
    with pytest.raises(ValueError):
        _header([Slot.none(KEY)] * 9)
    with pytest.raises(ValueError):
        _header([Slot.password(KEY, "x", cheap_params())] * 8, header_size=512)


@pytest.mark.parametrize(
    "prefix, error",
    [
        (b"", NotAnArchiveError),
        (b"PK\x03\x04zip file....", NotAnArchiveError),
        (b"THERABAK", DamagedArchiveError),  # cut after the magic
        (b"THERABAK" + struct.pack(">HI", 2, 4096), DamagedArchiveError),  # future version
        (b"THERABAK" + struct.pack(">HI", 1, 511), DamagedArchiveError),
        (b"THERABAK" + struct.pack(">HI", 1, 65537), DamagedArchiveError),
    ],
)
def test_header_size_prefix_is_checked(prefix, error):
    with pytest.raises(error):
        read_header_size(prefix[:14])


def test_every_single_bit_flip_in_a_header_is_damage(tmp_path):
    region, _ = _header([Slot.password(KEY, "geheim", cheap_params())], header_size=512)
    for offset in range(0, len(region), 7):
        mutated = bytearray(region)
        mutated[offset] ^= 0x10
        with pytest.raises(DamagedArchiveError):
            parse_header(bytes(mutated))


def test_header_fields_are_checked_behind_the_checksum():
    region, header = _header()
    for offset, value in ((24, 9), (25, 1), (22, 0x7F)):  # kind, flags, UTC offset
        mutated = bytearray(region)
        mutated[offset] = value
        with pytest.raises(DamagedArchiveError, match="fields"):
            parse_header(_recompute_checksum(bytes(mutated)))
    mutated = bytearray(region)
    mutated[header.mac_offset + 40] = 1  # padding must stay zero
    with pytest.raises(DamagedArchiveError, match="padding"):
        parse_header(_recompute_checksum(bytes(mutated)))


# ---- damage versus wrong password ------------------------------------------------------------


def test_flipped_salt_is_damage_not_a_wrong_password(tmp_path):
    built = build_archive(
        tmp_path / "a.therabak", {"a.txt": b"x"}, protection=CheapPassword(password="richtig")
    )
    data = bytearray(built.bytes)
    header = parse_header(bytes(data[:DEFAULT_HEADER_SIZE]))
    data[_password_salt_offset(header) + 3] ^= 0x01
    damaged = tmp_path / "damaged.therabak"
    damaged.write_bytes(data)
    with pytest.raises(DamagedArchiveError) as info:
        ArchiveReader.open(damaged)
    assert not isinstance(info.value, WrongPasswordError)
    assert info.value.exit_code == 5

    with ArchiveReader.open(built.path) as reader:
        with pytest.raises(WrongPasswordError) as info:
            reader.unlock(password="falsch")
        assert not isinstance(info.value, DamagedArchiveError)
        assert info.value.exit_code == 4
        assert reader.archive_key is None
        with pytest.raises(PasswordNeeded):
            reader.unlock()
        assert reader.unlock(password="richtig") == "password"
        assert reader.archive_key == built.archive_key


def test_salt_change_with_recomputed_checksum_reads_as_wrong_password(tmp_path):
    """What the checksum is for: without it, damage would look like a wrong password."""
    built = build_archive(
        tmp_path / "a.therabak", {"a.txt": b"x"}, protection=CheapPassword(password="richtig")
    )
    data = bytearray(built.bytes)
    header = parse_header(bytes(data[:DEFAULT_HEADER_SIZE]))
    data[_password_salt_offset(header)] ^= 0x01
    data[:DEFAULT_HEADER_SIZE] = _recompute_checksum(bytes(data[:DEFAULT_HEADER_SIZE]))
    reader = ArchiveReader(MemorySource(bytes(data)))
    with pytest.raises(WrongPasswordError):
        reader.unlock(password="richtig")


def test_header_mac_catches_a_slot_from_another_archive(tmp_path):
    """Same password, slot copied from archive B into A, checksum recomputed: the slot
    unwraps (to B's key), and only the MAC tells that the header was tampered with."""
    a = build_archive(
        tmp_path / "a.therabak", {"a.txt": b"a" * 100}, protection=CheapPassword(password="gleich")
    )
    b = build_archive(
        tmp_path / "b.therabak", {"b.txt": b"b" * 100}, protection=CheapPassword(password="gleich")
    )
    ha, hb = (
        parse_header(a.bytes[:DEFAULT_HEADER_SIZE]),
        parse_header(b.bytes[:DEFAULT_HEADER_SIZE]),
    )
    start = len(ha.fixed) + 1
    assert len(hb.fixed) + 1 == start and ha.mac_offset == hb.mac_offset
    data = bytearray(a.bytes)
    data[start : ha.mac_offset] = b.bytes[start : hb.mac_offset]
    data[:DEFAULT_HEADER_SIZE] = _recompute_checksum(bytes(data[:DEFAULT_HEADER_SIZE]))
    reader = ArchiveReader(MemorySource(bytes(data)))  # the checksum is fine now
    with pytest.raises(DamagedArchiveError, match="header"):
        reader.unlock(password="gleich")
    assert reader.archive_key is None


def test_header_mac_covers_the_fixed_part(tmp_path):
    built = build_archive(tmp_path / "a.therabak", {"a.txt": b"x"})
    data = bytearray(built.bytes)
    data[14:22] = struct.pack(">q", 0)  # back-date the creation time
    data[:DEFAULT_HEADER_SIZE] = _recompute_checksum(bytes(data[:DEFAULT_HEADER_SIZE]))
    reader = ArchiveReader(MemorySource(bytes(data)))
    with pytest.raises(DamagedArchiveError):
        reader.unlock()


# ---- Argon2 limits -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "t, p, m",
    [
        (0, 4, 65536),
        (17, 4, 65536),
        (2**32 - 1, 4, 65536),
        (3, 0, 65536),
        (3, 17, 65536),
        (3, 2**32 - 1, 65536),
        (3, 4, 8191),
        (3, 4, 1024 * 1024 + 1),
        (3, 4, 2**32 - 1),
        (5, 4, 1024 * 1024),  # each inside its range, but t * m is too much work
        (16, 16, 1024 * 1024),
    ],
)
def test_absurd_argon2_parameters_are_refused_before_any_work(tmp_path, t, p, m):
    built = build_archive(
        tmp_path / "a.therabak", {"a.txt": b"x"}, protection=CheapPassword(password="pw")
    )
    data = bytearray(built.bytes)
    header = parse_header(bytes(data[:DEFAULT_HEADER_SIZE]))
    at = _password_salt_offset(header) + 16
    data[at : at + 12] = struct.pack(">III", t, p, m)
    data[:DEFAULT_HEADER_SIZE] = _recompute_checksum(bytes(data[:DEFAULT_HEADER_SIZE]))
    reader = ArchiveReader(MemorySource(bytes(data)))
    start = time.perf_counter()
    with pytest.raises(DamagedArchiveError, match="outside safe limits"):
        reader.unlock(password="pw")
    # Refused before Argon2 runs: one derivation at these settings would take far longer
    # (minutes, or gigabytes of memory).
    assert time.perf_counter() - start < 0.5


def test_argon2_limits_accept_the_defaults_and_the_edges():
    Argon2Params.new().check()
    for t, p, m in ((1, 1, 8192), (16, 16, 8192), (4, 4, 1024 * 1024), (3, 16, 65536)):
        Argon2Params(salt=bytes(16), time_cost=t, lanes=p, memory_kib=m).check()
    with pytest.raises(DamagedArchiveError):
        Argon2Params(salt=bytes(15)).check()
    new = Argon2Params.new()
    assert (new.time_cost, new.lanes, new.memory_kib) >= (3, 4, 65536)  # RFC 9106 option 2


# ---- key slots -------------------------------------------------------------------------------


def test_password_slot():
    slot = Slot.password(KEY, "Pässwört", cheap_params())
    parsed = Slot.parse(1, slot.body)
    assert parsed.unwrap_password("Pässwört") == KEY
    assert parsed.unwrap_password("Passwort") is None
    assert parsed.argon2_params().time_cost == 1
    assert "Pässwört" not in repr(slot) and KEY.hex() not in repr(slot)


def test_account_slot():
    mine, other = AccountKey(OTHER_KEY), AccountKey.generate()
    slot = Slot.parse(2, Slot.account(KEY, mine.key, mine.key_id).body)
    assert slot.key_id == mine.key_id
    assert slot.unwrap_account(mine.key, mine.key_id) == KEY
    assert slot.unwrap_account(other.key, other.key_id) is None
    # right id, wrong key bytes (a forged id): the tag fails, nothing is returned
    assert slot.unwrap_account(other.key, mine.key_id) is None


def test_none_slot():
    slot = Slot.parse(3, Slot.none(KEY).body)
    assert slot.unwrap_none() == KEY and slot.key_id is None


@pytest.mark.parametrize(
    "type_byte, size",
    [(0, 32), (4, 32), (255, 0), (1, 91), (1, 93), (2, 71), (3, 31), (3, 33), (1, 0)],
)
def test_slot_parse_rejects_bad_types_and_sizes(type_byte, size):
    with pytest.raises(DamagedArchiveError):
        Slot.parse(type_byte, bytes(size))


def test_protection_builds_the_slots_it_names(tmp_path):
    account = AccountKey.generate()
    assert [s.type for s in Protection(unprotected=True).slots(KEY)] == [SlotType.NONE]
    assert [s.type for s in CheapPassword(password="x").slots(KEY)] == [SlotType.PASSWORD]
    acc = Protection(account_key=account.key, account_key_id=account.key_id)
    assert [s.type for s in acc.slots(KEY)] == [SlotType.ACCOUNT]
    with pytest.raises(ValueError):
        Protection().slots(KEY)
    with pytest.raises(ValueError):
        Protection(account_key=account.key, account_key_id=account.key_id, unprotected=True).slots(
            KEY
        )
    shown = repr(
        Protection(password="hunter2", account_key=account.key, account_key_id=account.key_id)
    )
    assert "hunter2" not in shown and account.key.hex() not in shown and "password" in shown


def test_unlock_by_slot_kind(tmp_path):
    mine, other = AccountKey.generate(), AccountKey.generate()
    acc = build_archive(
        tmp_path / "acc.therabak",
        {"a": b"1"},
        kind="auto",
        protection=Protection(account_key=mine.key, account_key_id=mine.key_id),
    )
    with ArchiveReader.open(acc.path) as reader:
        assert reader.header.protection == "account" and not reader.needs_password
        assert reader.account_matches(mine) is True and reader.account_matches(other) is False
        with pytest.raises(OtherAccountError) as info:
            reader.unlock(account=other)
        assert mine.id_hex in str(info.value) and other.id_hex in str(info.value)
        with pytest.raises(AccountKeyNeededError):
            reader.unlock()
        assert reader.unlock(account=mine) == "account"
        assert reader.read_entry(reader.read_index().entries[0]) == b"1"
    none = build_archive(tmp_path / "none.therabak", {"a": b"1"})
    with ArchiveReader.open(none.path) as reader:
        assert reader.header.protection == "none" and reader.account_matches(mine) is None
        assert reader.unlock() == "none"


# ---- index -----------------------------------------------------------------------------------

H = "ab" * 32


def _entry(path="sessions/K0001/a.json", offset=4096, length=100, **kw) -> dict:
    e = {"p": path, "c": "sessions", "s": 10, "m": 1, "h": H, "o": offset, "l": length}
    e.update(kw)
    return e


def _doc(*entries, **kw) -> bytes:
    import json

    doc = {"v": 1, "account_key_id": "0011223344556677", "skipped": [], "entries": list(entries)}
    doc.update(kw)
    return json.dumps(doc).encode()


def test_index_round_trip():
    entries = [
        IndexEntry("sessions/K0001/2026-01-05-01.json", "sessions", 1234, 17, H, 4096, 1310),
        IndexEntry(
            "audio/Müller 1.opus",
            "audio",
            0,
            18,
            "cd" * 32,
            5406,
            90,
            raw=True,
            key_id="0011223344556677",
            sealed=True,  # a raw entry is the sealed file itself
        ),
    ]
    index = ArchiveIndex(entries, "8899aabbccddeeff", [{"path": "x", "reason": "gone"}])
    parsed = parse_index(index.to_bytes(), archive_size=10_000)
    assert parsed == index
    assert parsed.by_category() == {"sessions": [entries[0]], "audio": [entries[1]]}


@pytest.mark.parametrize(
    "path",
    [
        "../evil",
        "a/../../b",
        "a/..",
        "./a",
        "a/./b",
        "a//b",
        "a/",
        "",
        "/etc/passwd",
        "C:/Windows/x",
        "c:x",
        "C:",
        "\\\\server\\share\\x",
        "\\Windows\\x",  # rooted where a backslash separates
        "a\\..\\..\\b",  # climbs out where a backslash separates
        "sessions/x\\..",
        "..\\x",
        "a\x00b",
        "x" * 256,
        "a/" * 16384 + "b",
        "sessions/\ud800.json",  # a surrogate that stands for no byte
        "a\udfffb",
    ],
)
def test_index_rejects_unsafe_paths(path):
    with pytest.raises(DamagedArchiveError):
        check_relative_path(path)
    with pytest.raises(DamagedArchiveError):
        parse_index(_doc(_entry(path)), archive_size=10_000)


def test_index_text_paths_must_be_text():
    """A byte that is not UTF-8 is stored as "pb" (bytes); in "p" its surrogate is a lie."""
    assert check_relative_path("a\udc80b") == "a\udc80b"  # how os.fsdecode carries b"\x80"
    with pytest.raises(DamagedArchiveError, match="not text"):
        parse_index(_doc(_entry("a\udc80b")), archive_size=10_000)


@pytest.mark.parametrize(
    "path",
    [
        "a",
        "sessions/K0001/2026-01-05-01.json",
        "Müller ä.pdf",
        "CONSOLE.txt",
        "a.b.c",
        ".hidden",
        "x" * 255,
        "com10",
        "sessions/comment.json",
        "CONIN",
        "conin$x.txt",
        "COM\u00b4.txt",
        "LPT4\u00b9",
        # names some other system cannot hold: a reader keeps them, the target decides
        "a\\b",
        "sessions/a.json:stream",
        "sessions/a:b",  # (at the top, "a:" would be a drive)
        "Termin 14:00.txt",
        "a*b",
        "a?b",
        'a"b',
        "a<b",
        "a|b",
        "a\nb",
        "a\x1fb",
        "CON",
        "con",
        "nul.txt",
        "sessions/NUL.json",
        "COM1",
        "com1.tar.gz",
        "LPT9",
        "aux",
        "prn.x",
        "COM0",
        "lpt0.txt",
        "sessions/COM\u00b9.json",
        "LPT\u00b3",
        "CONIN$",
        "sessions/conout$.txt",
        "sessions/CON .json",
        "NUL  .tar.gz",
        "a.",
        "a/b.",
        "a ",
        "sessions/x /y",
        "ü" * 255,  # 510 bytes: more than Linux holds, fine on NTFS; the target decides
        "a/" * 1999 + "b",  # 3,999 characters
        "bad\udcff\udcfe.txt",  # bytes that are not UTF-8, as os.fsdecode carries them
        "x\\y",
        "a..b\\c",
    ],
)
def test_index_accepts_safe_paths(path):
    assert check_relative_path(path) == path
    entry = IndexEntry(path, "other", 1, 2, H, 4096, 100)
    parsed = parse_index(ArchiveIndex([entry]).to_bytes(), archive_size=10_000)
    assert parsed.entries == [entry]


def test_index_stores_bytes_that_are_not_utf8_as_bytes():
    """A POSIX name is bytes: one that is not UTF-8 is stored as "pb" (base64 of the
    bytes), the index says version 2, and it reads back exactly; an index of text names
    stays version 1, byte for byte what it was."""
    odd = os.fsdecode(b"documents/K0001/bad\xff\xfe.txt")
    data = ArchiveIndex([IndexEntry(odd, "documents", 1, 2, H, 4096, 100)]).to_bytes()
    doc = json.loads(data)
    assert doc["v"] == 2 and "p" not in doc["entries"][0]
    assert base64.b64decode(doc["entries"][0]["pb"]) == b"documents/K0001/bad\xff\xfe.txt"
    assert parse_index(data, archive_size=10_000).entries[0].path == odd
    plain = ArchiveIndex([IndexEntry("a:b", "other", 1, 2, H, 4096, 100)]).to_bytes()
    assert json.loads(plain)["v"] == 1
    for bad in ({"pb": "not base64!"}, {"pb": 5}, {"pb": "YQ==", "p": "a"}):
        entry = _entry("x")
        del entry["p"]
        entry.update(bad)
        with pytest.raises(DamagedArchiveError):
            parse_index(_doc(entry), archive_size=10_000)


@pytest.mark.parametrize("value", [None, 5, b"a", ["a"], {"a": 1}])
def test_index_rejects_non_string_paths(value):
    with pytest.raises(DamagedArchiveError):
        check_relative_path(value)


@pytest.mark.parametrize(
    ("size", "length", "raw", "ok"),
    [
        (0, 41, False, True),
        (4 << 20, 61, False, True),  # one chunk of zeros compresses to a few bytes
        (1 << 60, 100_000, False, False),  # exabytes claimed for 100 kB: a lie
        ((100_000 // 20) * (4 << 20) + 1, 100_000, False, False),
        (5000, 5000, True, True),  # raw entries are never compressed
        (5001, 5000, True, False),
    ],
)
def test_index_refuses_sizes_an_entry_cannot_hold(size, length, raw, ok):
    """Each chunk holds at most 4 MiB and costs at least a frame word and a tag, so an
    entry of *length* bytes cannot hold more; a larger size (which made a restore ask
    for exabytes of space, exit 6) is damage (exit 5)."""
    extra = {"r": True, "k": "0011223344556677"} if raw else {}
    doc = _doc(_entry(offset=4096, length=length, s=size, **extra))
    if ok:
        assert parse_index(doc, archive_size=1 << 40).entries[0].size == size
    else:
        with pytest.raises(DamagedArchiveError, match="impossible size"):
            parse_index(doc, archive_size=1 << 40)


def test_index_rejects_the_same_path_twice_but_not_names_another_system_takes_as_one():
    """Exactly the same path twice is a crafted index. Two names a Windows or macOS target
    would take for one (case, NFC/NFD) are two files of a Linux practice, and ß is never
    ss: the restore's target decides (namemap), the reader keeps both."""
    a = _entry("sessions/K0001/a.json", offset=4096, length=100)
    b = _entry("sessions/K0001/a.json", offset=4196, length=100)
    with pytest.raises(DamagedArchiveError, match="twice"):
        parse_index(_doc(a, b), archive_size=10_000)
    for other in ("Sessions/k0001/A.JSON", "sessions/K0001/b.json"):
        b["p"] = other
        assert len(parse_index(_doc(a, b), archive_size=10_000).entries) == 2
    pairs = [("Straße.txt", "Strasse.txt"), ("Müller.txt", "Mu\u0308ller.txt")]
    for x, y in pairs:
        doc = _doc(_entry(x, offset=4096, length=100), _entry(y, offset=4196, length=100))
        assert [e.path for e in parse_index(doc, archive_size=10_000).entries] == [x, y]


@pytest.mark.parametrize(
    "offsets",
    [
        [(4096, 100), (4150, 100)],  # overlap
        [(5000, 100), (4096, 100)],  # not in increasing order
        [(4096, 100), (4096, 100)],  # the same bytes twice
        [(9950, 100)],  # beyond the body
        [(2**63, 1)],
        [(-1, 10)],
        [(4096, -5)],
    ],
)
def test_index_rejects_bad_offsets(offsets):
    entries = [_entry(f"f{i}", offset=o, length=n) for i, (o, n) in enumerate(offsets)]
    with pytest.raises(DamagedArchiveError):
        parse_index(_doc(*entries), archive_size=10_000)


@pytest.mark.parametrize(
    "change",
    [
        {"h": "AB" * 32},
        {"h": "ab" * 31},
        {"h": "ab" * 33},
        {"h": "zz" * 32},
        {"h": None},
        {"h": 5},
        {"c": "Sessions"},
        {"c": "../x"},
        {"c": ""},
        {"c": 3},
        {"c": "a" * 65},
        {"s": -1},
        {"s": 1.5},
        {"s": True},
        {"s": "10"},
        {"m": None},
        {"o": "4096"},
        {"r": 1},
        {"r": True},
        {"r": True, "k": "xyz"},
        {"k": 5},
        {"extra": 1},
    ],
)
def test_index_rejects_bad_fields(change):
    with pytest.raises(DamagedArchiveError):
        parse_index(_doc(_entry(**change)), archive_size=10_000)


@pytest.mark.parametrize(
    "doc",
    [
        b"",
        b"not json",
        b"[]",
        b"null",
        b'{"v": 3, "entries": []}',
        b'{"entries": []}',
        b'{"v": 1}',
        b'{"v": 1, "entries": {}}',
        b'{"v": 1, "entries": [5]}',
        b'{"v": 1, "entries": [], "account_key_id": "XYZ"}',
        b'{"v": 1, "entries": [], "skipped": [{"path": 5}]}',
        b'{"v": 1, "entries": [], "skipped": "x"}',
        b"\xff\xfe",
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_index_rejects_bad_documents(doc):
    with pytest.raises(DamagedArchiveError):
        parse_index(doc, archive_size=10_000)


# ---- trailer and frames ------------------------------------------------------------------------


def test_trailer_round_trip_and_checks():
    archive_id = os.urandom(16)
    trailer = build_trailer(5000, 300, archive_id)
    assert len(trailer) == TRAILER_SIZE
    size = 5000 + 300 + TRAILER_SIZE
    assert parse_trailer(trailer, archive_size=size, header_size=4096, archive_id=archive_id) == (
        5000,
        300,
    )
    for offset in range(TRAILER_SIZE):
        mutated = bytearray(trailer)
        mutated[offset] ^= 0x04
        with pytest.raises(DamagedArchiveError):
            parse_trailer(
                bytes(mutated), archive_size=size, header_size=4096, archive_id=archive_id
            )
    with pytest.raises(DamagedArchiveError, match="another backup"):
        parse_trailer(trailer, archive_size=size, header_size=4096, archive_id=bytes(16))
    with pytest.raises(DamagedArchiveError):
        parse_trailer(trailer, archive_size=size + 1, header_size=4096, archive_id=archive_id)
    with pytest.raises(DamagedArchiveError):  # index inside the header region
        parse_trailer(trailer, archive_size=size, header_size=8192, archive_id=archive_id)
    with pytest.raises(DamagedArchiveError):
        parse_trailer(trailer[:-1], archive_size=size, header_size=4096, archive_id=archive_id)


@pytest.mark.parametrize("word", [0, 15, (4 << 20) + 1025, 0x3FFFFFFF, 0xFFFFFFFF])
def test_frame_lengths_are_bounded(word):
    with pytest.raises(DamagedArchiveError):
        parse_frame(FRAME.pack(word))


def test_frame_bits():
    assert parse_frame(FRAME.pack(16 | 1 << 31)) == (16, True, False)
    assert parse_frame(FRAME.pack(100 | 1 << 30)) == (100, False, True)


# ---- STREAM ------------------------------------------------------------------------------------


def _sealed(key, pieces):
    s = StreamSealer(key)
    return [s.seal(p, last=i == len(pieces) - 1) for i, p in enumerate(pieces)]


def _open_all(key, chunks):
    o = StreamOpener(key)
    out = [o.open(c, last=i == len(chunks) - 1) for i, c in enumerate(chunks)]
    assert o.finished
    return out


def test_stream_round_trip_and_tampering():
    pieces = [b"a" * 10, b"b" * 10, b"c" * 5]
    chunks = _sealed(KEY, pieces)
    assert _open_all(KEY, chunks) == pieces
    with pytest.raises(DecryptionError):  # reordered
        _open_all(KEY, [chunks[1], chunks[0], chunks[2]])
    with pytest.raises(DecryptionError):  # truncated: the new last chunk lacks the flag
        _open_all(KEY, chunks[:2])
    with pytest.raises(DecryptionError):  # extended: the last chunk is not last any more
        _open_all(KEY, [*chunks, chunks[2]])
    with pytest.raises(DecryptionError):  # dropped from the middle
        _open_all(KEY, [chunks[0], chunks[2]])
    with pytest.raises(DecryptionError):  # another key (another file or archive)
        _open_all(OTHER_KEY, chunks)
    with pytest.raises(DecryptionError):  # compression flag flipped
        StreamOpener(KEY).open(chunks[0], last=False, flags=0x02)
    opener = StreamOpener(KEY)
    for i, c in enumerate(chunks):
        opener.open(c, last=i == 2)
    with pytest.raises(DecryptionError):  # anything after the final chunk
        opener.open(chunks[2], last=True)
    with pytest.raises(DecryptionError):
        StreamOpener(KEY).open(b"short", last=True)


def _two_chunk_files(tmp_path, name, protection, contents):
    files = {p: [c[:1024], c[1024:]] for p, c in contents.items()}
    return build_archive(tmp_path / name, files, protection=protection)


def _swap(data: bytearray, a, b) -> None:
    """Swap two frames of equal length (frame word included)."""
    assert a.length == b.length
    pa, pb = bytes(data[a.offset : a.end]), bytes(data[b.offset : b.end])
    data[a.offset : a.end], data[b.offset : b.end] = pb, pa


def _read_damage(data: bytes, key: bytes, path: str) -> str:
    reader = ArchiveReader(MemorySource(data))
    reader.archive_key = key
    entry = next(e for e in reader.read_index().entries if e.path == path)
    with pytest.raises(EntryDamaged) as info:
        reader.read_entry(entry)
    assert info.value.path == path
    return info.value.reason


def test_archive_stream_detects_reordering_truncation_and_swaps(tmp_path):
    rnd = {"x": os.urandom(2048), "y": os.urandom(2048)}
    built = _two_chunk_files(tmp_path, "a.therabak", None, rnd)
    data = built.bytes
    ex, ey = built.index.entries
    fx, fy = entry_frames(data, ex.offset), entry_frames(data, ey.offset)
    assert len(fx) == len(fy) == 2 and fx[1].last and not fx[0].last

    with open_unlocked(built.path, built.archive_key) as reader:
        assert reader.read_entry(ex) == rnd["x"] and reader.read_entry(ey) == rnd["y"]

    # reorder the two chunks of x (and move the last bit with them, as an attacker would)
    reordered = bytearray(data)
    reordered[fx[0].offset : fx[1].end] = (
        FRAME.pack(fx[1].length)
        + data[fx[1].offset + 4 : fx[1].end]
        + FRAME.pack(fx[0].length | 1 << 30)
        + data[fx[0].offset + 4 : fx[0].end]
    )
    assert "authentication" in _read_damage(bytes(reordered), built.archive_key, "x")

    # truncate x after its first chunk, marking that one last: in place, the index sees
    # bytes after the last chunk; cut out, a salvage scan (no index) meets the crypto
    truncated = bytearray(data)
    truncated[fx[0].offset : fx[0].offset + 4] = FRAME.pack(fx[0].length | 1 << 30)
    _read_damage(bytes(truncated), built.archive_key, "x")
    cut = bytes(truncated[: fx[1].offset] + truncated[fx[1].end :])
    reader = ArchiveReader(MemorySource(cut))
    reader.archive_key = built.archive_key
    found = {e.path: e for e in reader.scan_entries()}
    assert not found["x"].ok and "authentication" in found["x"].error
    assert found["y"].ok and found["y"].sha256 == hashlib.sha256(rnd["y"]).hexdigest()

    # swap a chunk between two entries of the same archive
    swapped = bytearray(data)
    _swap(swapped, fx[0], fy[0])
    _read_damage(bytes(swapped), built.archive_key, "x")
    _read_damage(bytes(swapped), built.archive_key, "y")


def test_chunk_swapped_between_two_archives_with_the_same_password(tmp_path):
    content = {"same/path.bin": os.urandom(2048)}
    a = _two_chunk_files(tmp_path, "a.therabak", CheapPassword(password="gleich"), content)
    b = _two_chunk_files(tmp_path, "b.therabak", CheapPassword(password="gleich"), content)
    ea, eb = a.index.entries[0], b.index.entries[0]
    fa, fb = entry_frames(a.bytes, ea.offset), entry_frames(b.bytes, eb.offset)
    data = bytearray(a.bytes)
    data[fa[1].offset : fa[1].end] = b.bytes[fb[1].offset : fb[1].end]
    assert "chunk 1" in _read_damage(bytes(data), a.archive_key, "same/path.bin")
    # a whole entry copied from B fails too (its metadata is sealed under B's key)
    data = bytearray(a.bytes)
    data[ea.offset : ea.offset + ea.length] = b.bytes[eb.offset : eb.offset + eb.length]
    _read_damage(bytes(data), a.archive_key, "same/path.bin")


# ---- salvaged metadata ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "meta",
    [
        {"p": "../x", "c": "other", "m": 1},
        {"p": "a", "c": "../../etc", "m": 1},
        {"p": "a", "c": ["other"], "m": 1},
        {"p": "a", "m": 1},
        {"p": "a", "c": "other", "m": 1, "r": "yes", "k": "0011223344556677"},
        {"p": "a", "c": "other", "m": 1, "r": True, "k": "not hex"},
        {"p": "a", "c": "other", "m": 1, "r": True},
    ],
)
def test_salvage_checks_metadata_like_the_index(tmp_path, meta):
    """An entry whose (authenticated) metadata an index could not hold is not salvaged."""
    import json

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from therabak.archive.layout import ENTRY_HEAD, ENTRY_MAGIC, META_NONCE, data_key, meta_key
    from therabak.archive.layout import frame as frame_word

    built = build_archive(tmp_path / "a.therabak", {"good": b"fine"})
    key, salt = built.archive_key, os.urandom(16)
    sealed_meta = AESGCM(meta_key(key, salt)).encrypt(META_NONCE, json.dumps(meta).encode(), None)
    sealed = StreamSealer(data_key(key, salt)).seal(b"content", last=True)
    entry = (
        ENTRY_HEAD.pack(ENTRY_MAGIC, salt, len(sealed_meta))
        + sealed_meta
        + frame_word(len(sealed), compressed=False, last=True)
        + sealed
    )
    e = built.index.entries[0]
    data = built.bytes[: e.offset + e.length] + entry  # index and trailer gone
    reader = ArchiveReader(MemorySource(data))
    reader.archive_key = key
    found = list(reader.scan_entries())
    assert [(f.path, f.ok) for f in found] == [("good", True)]


def test_salvaged_raw_entry_keeps_its_key_id(tmp_path):
    built = build_archive(tmp_path / "a.therabak", {"r": b"sealed bytes"}, raw={"r"})
    reader = ArchiveReader(MemorySource(built.bytes))
    reader.archive_key = built.archive_key
    (found,) = reader.scan_entries()
    assert found.ok and found.raw and found.key_id == "00112233aabbccdd"


def test_salvage_never_trusts_a_key_slot_copied_from_another_archive(tmp_path):
    """Damaged header (stale checksum) whose account slot comes from another archive of the
    same account: that slot opens, but to the other archive's key. Salvage must not take
    it; the password slot gives this archive's key, confirmed by an entry's metadata."""
    from archive_support import archive_layout
    from therabak.practice.account import AccountKey

    account = AccountKey(hashlib.sha256(b"salvage account").digest())
    protection = CheapPassword(
        password="gleich", account_key=account.key, account_key_id=account.key_id
    )
    a = build_archive(tmp_path / "a.therabak", {"a.txt": b"a" * 100}, protection=protection)
    b = build_archive(tmp_path / "b.therabak", {"b.txt": b"b" * 100}, protection=protection)
    start, end = archive_layout(a.bytes, a.archive_key).header["key slot 2 (account)"]
    b_start, b_end = archive_layout(b.bytes, b.archive_key).header["key slot 2 (account)"]
    data = a.bytes[:start] + b.bytes[b_start:b_end] + a.bytes[end:]
    with pytest.raises(DamagedArchiveError, match="checksum"):
        ArchiveReader(MemorySource(data))
    reader = ArchiveReader(MemorySource(data), salvage=True)
    assert "checksum" in reader.damage
    with pytest.raises(DamagedArchiveError, match="none of its key slots"):
        reader.unlock(account=account)
    assert reader.archive_key is None
    reader.unlock(password="gleich", account=account)
    assert reader.archive_key == a.archive_key and reader.unlocked_with == "password"
    assert "MAC" in reader.damage
    assert [e.path for e in reader.scan_entries() if e.ok] == ["a.txt"]


def test_lenient_parsing_is_only_for_salvage(tmp_path):
    built = build_archive(tmp_path / "a.therabak", {"a.txt": b"x"})
    data = bytearray(built.bytes)
    data[0:8] = b"XHERABAK"
    with pytest.raises(DamagedArchiveError, match="not a therabak"):
        ArchiveReader(MemorySource(bytes(data)))
    reader = ArchiveReader(MemorySource(bytes(data)), salvage=True)
    assert {"checksum", "magic"} <= set(reader.damage)
    reader.unlock()
    assert [e.path for e in reader.scan_entries() if e.ok] == ["a.txt"]


@pytest.mark.parametrize("files", [0, 1, 1023, 1024, 2500])
def test_index_compressed_is_its_bytes_in_one_frame(files):
    """The writer compresses the index as it encodes it (never the whole text in
    memory): one zstd frame that declares its size and holds exactly to_bytes(), the
    version included (2 as soon as one path needs its bytes, wherever it comes)."""
    odd = os.fsdecode(b"documents/K0001/bad\xff\xfe.txt")
    entries = [
        IndexEntry(
            f"sessions/K{i % 40:02d}/Sitzung {i} \u00e4\u20ac.json",
            "sessions",
            i,
            2,
            H,
            4096 + i,
            100,
        )
        for i in range(files)
    ]
    skipped = [{"path": "x\u00fc", "reason": "busy"}]
    for with_odd in (False, True):
        if with_odd and files:
            entries[files // 2] = IndexEntry(odd, "documents", 1, 2, H, 4096, 100)
        index = ArchiveIndex(entries, account_key_id="ab" * 8, skipped=skipped)
        packed = index.compressed(3)
        assert zstandard.frame_content_size(packed) == len(index.to_bytes())
        assert zstandard.ZstdDecompressor().decompress(packed) == index.to_bytes()
        assert json.loads(index.to_bytes())["v"] == (2 if with_odd and files else 1)
