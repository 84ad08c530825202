"""The store's byte formats piece by piece (store/FORMAT.md): config, key files, blobs,
pack headers, index files, snapshots, locks. Each round-trips, and each refuses what was
changed, cut, moved or sealed with another key."""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from archive_support import cheap_params
from therabak.crypto.slots import Slot, SlotType
from therabak.errors import WrongPasswordError
from therabak.practice.account import AccountKey
from therabak.store.blob import FLAG_COMPRESSED, BlobInfo, Compressor, open_blob, seal_blob
from therabak.store.config import StoreConfig, parse_config
from therabak.store.errors import DamagedStoreError, PasswordNeeded
from therabak.store.index import BlobIndex, IndexFile, PackRecord, encode_index, parse_index
from therabak.store.keyfile import KeyFile, Unlock, parse_keyfile, unlock_store
from therabak.store.keys import ContentId, StoreKeys, new_store_key
from therabak.store.locks import LockInfo, encode_lock, parse_lock
from therabak.store.pack import PackBuilder, PackedBlob, pack_name, parse_header, sealed_header_of
from therabak.store.snapshot import (
    SnapshotEntry,
    SnapshotHeader,
    SnapshotKind,
    encode_snapshot,
    path_problem,
    snapshot_name,
)
from therabak.store.snapshot_read import parse_snapshot


def keys_for(store_id: bytes | None = None) -> StoreKeys:
    return StoreKeys(store_id or os.urandom(16), new_store_key())


def test_derived_keys_differ_per_purpose_and_store():
    k = new_store_key()
    a, b = StoreKeys(b"A" * 16, k), StoreKeys(b"B" * 16, k)
    assert a.id_key != a.mac_key
    assert a.id_key != b.id_key  # the store id is the salt
    assert "master" not in repr(a) and k.hex() not in repr(a)


# ---- config -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_id", "version", "size"),
    [(ContentId.BLAKE3, 2, 108), (ContentId.HMAC_SHA256, 1, 107)],
)
def test_config_round_trip_and_mac(content_id, version, size):
    """A new store's config is version 2 (BLAKE3 ids, one byte more); version 1 (the
    stores made before, HMAC-SHA256 ids) is still read, and written byte for byte as it
    was (its MAC is over the same bytes)."""
    cfg = StoreConfig.new(created=1_800_000_000, content_id=content_id)
    keys = keys_for(cfg.store_id)
    data = cfg.to_bytes(keys)
    assert len(data) == size and data[8:10] == bytes((0, version))
    parsed = parse_config(data)
    assert (parsed.store_id, parsed.chunk_size, parsed.pack_size, parsed.content_id) == (
        cfg.store_id,
        1 << 20,
        16 << 20,
        content_id,
    )
    assert parsed.to_bytes(keys) == data
    parsed.verify(keys)
    with pytest.raises(DamagedStoreError, match="does not belong"):
        parsed.verify(keys_for(cfg.store_id))  # another store key


def test_a_version_1_config_is_the_layout_stores_were_made_with():
    """The bytes of a version 1 config, laid out by hand as FORMAT.md said before the
    content id came: read as HMAC-SHA256 ids."""
    import hashlib
    import struct

    keys = keys_for(b"S" * 16)
    body = (
        b"TBSTORE1"
        + struct.pack(">H", 1)
        + b"S" * 16
        + struct.pack(">qBII", 7, 1, 1 << 20, 16 << 20)
    )
    signed = body + keys.mac(b"therabak store config v1", body)
    parsed = parse_config(signed + hashlib.sha256(signed).digest())
    parsed.verify(keys)
    assert parsed.content_id is ContentId.HMAC_SHA256 and parsed.version == 1


@pytest.mark.parametrize("bad", [0, 1, 3, 255])
def test_config_refuses_an_unknown_content_id(bad):
    """Version 2 names BLAKE3 (2); 1 is version 1's and never in a version 2 config."""
    import hashlib

    cfg = StoreConfig.new(created=0)
    data = bytearray(cfg.to_bytes(keys_for(cfg.store_id)))
    data[43] = bad
    data[-32:] = hashlib.sha256(data[:-32]).digest()
    with pytest.raises(DamagedStoreError, match="content id"):
        parse_config(bytes(data))


@pytest.mark.parametrize("where", [0, 9, 12, 36, 40, 43, 50, 80, 107])
def test_config_refuses_any_changed_byte(where):
    cfg = StoreConfig.new(created=0)
    data = bytearray(cfg.to_bytes(keys_for(cfg.store_id)))
    data[where] ^= 1
    with pytest.raises(DamagedStoreError, match="config is damaged"):
        parse_config(bytes(data))


def test_config_limits_are_enforced_by_writer_and_reader():
    with pytest.raises(DamagedStoreError):
        StoreConfig.new(created=0, chunk_size=100)
    with pytest.raises(DamagedStoreError):
        StoreConfig.new(created=0, chunk_size=1 << 20, pack_size=1 << 20)  # < 2 chunks


# ---- key files ----------------------------------------------------------------------------------


def password_keyfile(keys: StoreKeys, password: str, **kw) -> KeyFile:
    slot = Slot.password(keys.master, password, cheap_params())
    return KeyFile.new(keys.store_id, [slot], created=1, **kw)


def test_keyfile_round_trip_any_slots():
    keys = keys_for()
    account = AccountKey.generate()
    slots = [
        Slot.password(keys.master, "pw", cheap_params()),
        Slot.account(keys.master, account.key, account.key_id),
    ]
    kf = KeyFile.new(keys.store_id, slots, created=5, supersedes=[b"x" * 16])
    parsed = parse_keyfile(kf.to_bytes(keys), kf.name)
    assert parsed.slot_types == (SlotType.PASSWORD, SlotType.ACCOUNT)
    assert parsed.supersedes == (b"x" * 16,)
    assert parsed.verify(keys)
    found, used, how = unlock_store([parsed], Unlock(account=account), lambda k: True)
    assert found.master == keys.master and how is SlotType.ACCOUNT
    found, used, how = unlock_store([parsed], Unlock(password="pw"), lambda k: True)
    assert found.master == keys.master and how is SlotType.PASSWORD


def test_keyfile_bound_to_its_name_and_checksum():
    keys = keys_for()
    kf = password_keyfile(keys, "pw")
    data = kf.to_bytes(keys)
    other = password_keyfile(keys, "pw")
    with pytest.raises(DamagedStoreError, match="another key file"):
        parse_keyfile(data, other.name)  # swapped names
    broken = bytearray(data)
    broken[40] ^= 1
    with pytest.raises(DamagedStoreError, match="checksum"):
        parse_keyfile(bytes(broken), kf.name)


def test_unlock_errors_say_what_is_missing():
    keys = keys_for()
    kf = password_keyfile(keys, "right")
    with pytest.raises(PasswordNeeded):
        unlock_store([kf], Unlock(), lambda k: True)
    with pytest.raises(WrongPasswordError, match="Wrong password"):
        unlock_store([kf], Unlock(password="wrong"), lambda k: True)


def test_a_slot_from_another_store_is_never_taken():
    """Same password, other store key: the slot opens, but the MACs do not hold."""
    ours, theirs = keys_for(), keys_for()
    foreign = password_keyfile(theirs, "same")
    foreign = KeyFile(ours.store_id, foreign.file_id, 1, (), foreign.slots)  # claims ours
    with pytest.raises(DamagedStoreError, match="does not fit"):
        unlock_store([foreign], Unlock(password="same"), lambda k: k.master == ours.master)


# ---- blobs --------------------------------------------------------------------------------------


def test_blob_round_trip_compressed_and_not():
    keys = keys_for()
    for chunk, compressed in ((b"Sitzungsnotiz " * 500, True), (os.urandom(5000), False)):
        from therabak.store.blob import blob_id_of

        blob_id, digest = blob_id_of(keys, chunk)
        sealed, info = seal_blob(keys, blob_id, chunk, Compressor(), first=True)
        assert bool(info.flags & FLAG_COMPRESSED) is compressed
        plain, d2 = open_blob(keys, info, sealed, "p")
        assert plain == chunk and d2 == digest == hashlib.sha256(chunk).digest()


def test_blob_ids_are_keyed():
    chunk = b"the same note"
    from therabak.store.blob import blob_id_of

    a, _ = blob_id_of(keys_for(), chunk)
    b, _ = blob_id_of(keys_for(), chunk)
    assert a != b and a != hashlib.sha256(chunk).digest()


def test_blob_cannot_be_swapped_flipped_or_cut():
    from therabak.store.blob import blob_id_of

    keys = keys_for()
    one, two = b"first chunk " * 100, b"second chunk " * 100
    id1, _ = blob_id_of(keys, one)
    id2, _ = blob_id_of(keys, two)
    s1, i1 = seal_blob(keys, id1, one, Compressor(), first=True)
    s2, i2 = seal_blob(keys, id2, two, Compressor(), first=True)
    with pytest.raises(DamagedStoreError):
        open_blob(keys, i1, s2[: i1.length] if len(s2) >= i1.length else s2, "p")
    with pytest.raises(DamagedStoreError):  # the flag is authenticated
        open_blob(
            keys, BlobInfo(id1, i1.flags ^ FLAG_COMPRESSED, i1.length, i1.raw_length), s1, "p"
        )
    with pytest.raises(DamagedStoreError):
        open_blob(keys, i1, s1[:-1], "p")
    with pytest.raises(DamagedStoreError):  # another store's key
        open_blob(keys_for(), i1, s1, "p")


# ---- packs --------------------------------------------------------------------------------------


def build_pack(keys: StoreKeys, chunks: list[bytes]):
    from therabak.store.blob import blob_id_of

    builder = PackBuilder(keys, 1 << 20)
    for c in chunks:
        blob_id, _ = blob_id_of(keys, c)
        builder.add(*seal_blob(keys, blob_id, c, Compressor(), first=True))
    return builder.finish()


def test_pack_describes_itself():
    keys = keys_for()
    pack = build_pack(keys, [b"a" * 1000, os.urandom(3000), b"c" * 10])
    data = bytes(pack.data)
    blobs = parse_header(keys, sealed_header_of(data, pack.name), len(data), pack.name)
    assert [b.info for b in blobs] == [b.info for b in pack.blobs]
    assert [b.offset for b in blobs] == [0, blobs[1].offset, blobs[2].offset]
    assert pack.name == pack_name(hashlib.sha256(sealed_header_of(data, "p")).hexdigest())
    for b in blobs:
        open_blob(keys, b.info, data[b.offset : b.offset + b.info.length], pack.name)


def test_pack_header_must_match_the_pack_size():
    keys = keys_for()
    pack = build_pack(keys, [b"x" * 100])
    data = bytes(pack.data)
    with pytest.raises(DamagedStoreError, match="size and header differ"):
        parse_header(keys, sealed_header_of(data, "p"), len(data) + 1, "p")
    with pytest.raises(DamagedStoreError):  # header of another store
        parse_header(keys_for(), sealed_header_of(data, "p"), len(data), "p")


# ---- index files --------------------------------------------------------------------------------


def test_index_round_trip_and_name():
    keys = keys_for()
    pack = build_pack(keys, [b"1" * 50, b"2" * 60])
    name, data = encode_index(keys, IndexFile({pack.pack_id: PackRecord(pack.size, pack.blobs)}))
    parsed = parse_index(keys, data, name)
    assert parsed.packs[pack.pack_id].blobs == pack.blobs
    with pytest.raises(DamagedStoreError, match="not its hash"):
        parse_index(keys, data, "index/" + "0" * 64)


def test_index_refuses_blobs_out_of_place_or_out_of_their_limits():
    """Each blob record of an index file well sealed by someone with the key: a blob past
    the pack's end, overlapping or before the one listed before it, or described beyond a
    blob's limits (a length that does not match, an unknown flag) is refused."""
    keys = keys_for()
    pack = build_pack(keys, [b"1" * 50, b"2" * 60])
    first, second = pack.blobs

    def parse(size: int, *blobs: PackedBlob) -> IndexFile:
        name, data = encode_index(keys, IndexFile({pack.pack_id: PackRecord(size, list(blobs))}))
        return parse_index(keys, data, name)

    assert parse(pack.size, first, second).packs[pack.pack_id].blobs == [first, second]
    end = second.offset + second.info.length
    for size, blobs in [
        (end + 7, (first, second)),  # the second blob runs into the trailer
        (pack.size, (second, first)),  # out of order
        (pack.size, (first, PackedBlob(second.info, first.offset + 1))),  # overlapping
        (pack.size, (first, PackedBlob(replace(second.info, flags=0x80), second.offset))),
        (pack.size, (first, PackedBlob(replace(second.info, length=1), second.offset))),
    ]:
        with pytest.raises(DamagedStoreError):
            parse(size, *blobs)
    # each limit of a blob's description on its own, named as such
    from therabak.store.blob import FLAG_COMPRESSED, MAX_SEALED
    from therabak.store.config import MAX_CHUNK_SIZE
    from therabak.store.keys import SEAL_OVERHEAD

    info = second.info
    plain = info.flags & ~FLAG_COMPRESSED
    for bad in [
        replace(info, flags=info.flags | 0x02),  # an unknown flag
        replace(info, raw_length=0),
        replace(info, raw_length=MAX_CHUNK_SIZE + 1, flags=info.flags | FLAG_COMPRESSED),
        replace(info, length=SEAL_OVERHEAD - 1, flags=info.flags | FLAG_COMPRESSED),
        replace(info, length=MAX_SEALED + 1, flags=info.flags | FLAG_COMPRESSED),
        replace(info, flags=plain, length=info.raw_length + SEAL_OVERHEAD + 1),
    ]:
        with pytest.raises(DamagedStoreError, match="a blob's description"):
            parse(pack.size + MAX_SEALED + 2, first, PackedBlob(bad, second.offset))
    for good in [
        replace(info, flags=plain, length=info.raw_length + SEAL_OVERHEAD),
        replace(info, flags=info.flags | FLAG_COMPRESSED, length=SEAL_OVERHEAD),
    ]:
        parse(pack.size + MAX_SEALED + 2, first, PackedBlob(good, second.offset))


def test_blob_index_keeps_every_copy():
    keys = keys_for()
    a = build_pack(keys, [b"same"])
    b = build_pack(keys, [b"same", b"other"])
    index = BlobIndex()
    index.add_pack(a.pack_id, PackRecord(a.size, a.blobs))
    index.add_pack(b.pack_id, PackRecord(b.size, b.blobs))
    blob_id = a.blobs[0].info.id
    assert {loc.pack_id for loc in index.locate(blob_id)} == {a.pack_id, b.pack_id}
    # the compact records give back each blob's description and place exactly
    assert PackRecord(b.size, b.blobs).blobs == b.blobs
    other = b.blobs[1]
    assert [(loc.pack_id, loc.blob) for loc in index.locate(other.info.id)] == [(b.pack_id, other)]
    assert {loc.blob for loc in index.locate(blob_id)} == {a.blobs[0], b.blobs[0]}
    index.remove_pack(a.pack_id)
    assert [loc.pack_id for loc in index.locate(blob_id)] == [b.pack_id]
    index.remove_pack(b.pack_id)
    assert blob_id not in index and len(index) == 0


# ---- snapshots ----------------------------------------------------------------------------------

SURROGATE_NAMES = [
    "sessions/K0001/Gespräch-\udcfc.json",  # a POSIX name with the Latin-1 byte 0xFC
    "documents/\udce4\udcf6\udcfc.pdf",
    "other/lone-\ud800-surrogate.txt",  # a Windows name with a lone high surrogate
    "other/Zoë und Jürgen.txt",
]


def make_snapshot(keys: StoreKeys, paths: list[str], **kw):
    entries = [
        SnapshotEntry(
            path=p,
            category="other",
            size=3,
            mtime_ns=1,
            sha256="ab" * 32,
            blobs=(os.urandom(32),),
            identity="1:2",
            source_size=40,
            sealed=True,
        )
        for p in paths
    ]
    header = SnapshotHeader(
        store_id=keys.store_id,
        created=datetime(2026, 3, 1, 10, 0, tzinfo=timezone(timedelta(hours=1))),
        kind=SnapshotKind.MANUAL,
        categories=("other", "sessions"),
        size=3 * len(entries),
        added=0,
    )
    sid, data = encode_snapshot(
        keys,
        header,
        entries,
        host="h",
        account_key_id="00" * 8,
        parent=kw.get("parent"),
        program="t",
        skipped=[],
    )
    return sid, data, entries


def test_snapshot_keeps_names_exactly_even_when_not_unicode():
    keys = keys_for()
    sid, data, entries = make_snapshot(keys, SURROGATE_NAMES)
    assert data.isascii() is False  # sealed, but the JSON inside is ASCII
    snap = parse_snapshot(keys, data, snapshot_name(sid))
    assert [e.path for e in snap.entries] == SURROGATE_NAMES
    assert snap.entries == entries
    assert snap.created == datetime(2026, 3, 1, 10, 0, tzinfo=timezone(timedelta(hours=1)))
    # the bytes of a POSIX name come back as they were
    assert snap.entries[1].path.encode("utf-8", "surrogateescape") == b"documents/\xe4\xf6\xfc.pdf"


def test_snapshot_bound_to_name_header_and_store():
    keys = keys_for()
    sid, data, _ = make_snapshot(keys, ["a.txt"])
    with pytest.raises(DamagedStoreError, match="not its hash"):
        parse_snapshot(keys, data, snapshot_name("0" * 64))
    changed = bytearray(data)
    changed[38] = 2  # kind manual -> auto, with a fitting checksum: the AEAD refuses it
    head_len = int.from_bytes(changed[10:12], "big")
    changed[head_len - 32 : head_len] = hashlib.sha256(changed[: head_len - 32]).digest()
    forged = bytes(changed)
    with pytest.raises(DamagedStoreError, match="fails authentication"):
        parse_snapshot(keys, forged, snapshot_name(hashlib.sha256(forged).hexdigest()))
    other = StoreKeys(keys.store_id, new_store_key())
    with pytest.raises(DamagedStoreError):
        parse_snapshot(other, data, snapshot_name(sid))


@pytest.mark.parametrize(
    "path",
    ["", "/etc/passwd", "../up.txt", "a/../../b", "C:/x", "a\\..\\b", "a//b", "a\x00b"],
)
def test_snapshot_paths_that_are_refused(path):
    assert path_problem(path) is not None


@pytest.mark.parametrize("path", ["a\\b", "con.txt", "a/b.", "a/b ", "Termin 14:00.txt", "x\ud800"])
def test_snapshot_keeps_names_another_system_cannot_hold(path):
    """One name policy: only unsafe paths are refused; the restore maps the rest."""
    assert path_problem(path) is None


def test_a_hostile_path_in_a_snapshot_is_refused():
    keys = keys_for()
    sid, data, _ = make_snapshot(keys, ["../outside.txt"])
    with pytest.raises(DamagedStoreError):
        parse_snapshot(keys, data, snapshot_name(sid))


# ---- locks --------------------------------------------------------------------------------------


def test_lock_round_trip_is_bound_to_its_name():
    keys = keys_for()
    info = LockInfo("locks/" + "a" * 32, "host", 42, "user", "backup", False, 1.0, 2.0)
    data = encode_lock(keys, info)
    assert b"host" not in data and b"user" not in data  # sealed
    assert parse_lock(keys, data, info.name) == info
    with pytest.raises(DamagedStoreError):
        parse_lock(keys, data, "locks/" + "b" * 32)
