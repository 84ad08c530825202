"""The at-rest envelope (practice/FORMAT.md): round trips, streaming, tampering."""

from __future__ import annotations

import hashlib
import io
import os
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from therabak.errors import DecryptionError, ExitCode, ForeignKeyError
from therabak.practice.account import AccountKey
from therabak.practice.envelope import (
    HEADER_SIZE,
    MAGIC,
    EnvelopeHeader,
    EnvelopeWriter,
    iter_plaintext,
    open_bytes,
    parse_header,
    seal_bytes,
)

LOG2 = 12  # 4 KiB chunks keep the byte-level tests fast
CHUNK = 1 << LOG2
TAG = 16
BLOCK = CHUNK + TAG


@pytest.fixture(scope="module")
def key() -> AccountKey:
    return AccountKey.generate()


def decrypt_file(path: Path, key: AccountKey) -> bytes:
    """The whole plaintext of a sealed file on disk, through the streaming reader."""
    with path.open("rb") as f:
        header = parse_header(f.read(HEADER_SIZE))
        assert header is not None, "not a sealed file"
        return b"".join(iter_plaintext(f, header, key))


def chunk_at(i: int) -> slice:
    start = HEADER_SIZE + i * BLOCK
    return slice(start, start + BLOCK)


# ---- round trips ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK], ids=lambda n: f"{n}B"
)
def test_round_trip(key: AccountKey, tmp_path: Path, size: int) -> None:
    plaintext = os.urandom(size)
    path = tmp_path / "sealed.bin"
    with (
        path.open("wb") as f,
        EnvelopeWriter(f, key, EnvelopeHeader.new(key, chunk_log2=LOG2)) as w,
    ):
        # uneven writes: the writer must re-chunk whatever it is given
        for i in range(0, size, 1000):
            w.write(plaintext[i : i + 1000])
    sealed = path.read_bytes()
    # layout of FORMAT.md: header, then full chunks, the last one holding 0..CHUNK bytes
    chunks = max(1, -(-size // CHUNK))
    assert len(sealed) == HEADER_SIZE + size + chunks * TAG
    assert sealed[:8] == MAGIC and sealed[8:16] == key.key_id
    assert sealed[16] == LOG2 and sealed[17:20] == b"\0\0\0"
    if size >= 16:
        assert plaintext[:16] not in sealed
    assert decrypt_file(path, key) == plaintext
    assert open_bytes(key, sealed) == plaintext


def test_seal_bytes_accepts_an_iterable_and_every_file_gets_a_new_salt(key: AccountKey) -> None:
    a = seal_bytes(key, [b"abc", b"def"], chunk_log2=LOG2)
    b = seal_bytes(key, b"abcdef", chunk_log2=LOG2)
    assert open_bytes(key, a) == open_bytes(key, b) == b"abcdef"
    assert a[20:36] != b[20:36] and a[HEADER_SIZE:] != b[HEADER_SIZE:]


def test_default_chunk_size_is_one_mebibyte(key: AccountKey) -> None:
    sealed = seal_bytes(key, bytes((1 << 20) + 1))
    assert sealed[16] == 20
    assert len(sealed) == HEADER_SIZE + (1 << 20) + 1 + 2 * TAG


def _pieces(total: int, piece: int = 1 << 20) -> Iterator[bytes]:
    """*total* bytes of varied content, made one piece at a time (never held whole)."""
    base = os.urandom(piece)
    for i in range(total // piece):
        yield i.to_bytes(8, "big") + base[8:]


@pytest.mark.slow
def test_256_mib_streams_through_disk_with_flat_memory(key: AccountKey, tmp_path: Path) -> None:
    total = 256 << 20
    path = tmp_path / "big.sealed"
    written = hashlib.sha256()
    tracemalloc.start()
    try:
        with path.open("wb") as f, EnvelopeWriter(f, key) as w:
            for piece in _pieces(total):
                written.update(piece)
                w.write(piece)
        _, write_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        read = hashlib.sha256()
        n = 0
        with path.open("rb") as f:
            header = parse_header(f.read(HEADER_SIZE))
            assert header is not None
            for plain in iter_plaintext(f, header, key):
                read.update(plain)
                n += len(plain)
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        size = path.stat().st_size
        path.unlink()  # pytest keeps old temp folders: do not leave 256 MiB behind
    assert size == HEADER_SIZE + total + 256 * TAG
    assert n == total and read.digest() == written.digest()
    limit = 8 << 20
    assert write_peak < limit, f"writer peak {write_peak / 2**20:.1f} MiB"
    assert read_peak < limit, f"reader peak {read_peak / 2**20:.1f} MiB"


# ---- tampering ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sealed(key: AccountKey) -> bytes:
    """3 full chunks and a short last one: chunk 0 first, 1 and 2 middle, 3 last."""
    return seal_bytes(key, os.urandom(3 * CHUNK + 100), chunk_log2=LOG2)


def flip(data: bytes, offset: int, mask: int = 0x01) -> bytes:
    b = bytearray(data)
    b[offset] ^= mask
    return bytes(b)


def swap(data: bytes, i: int, j: int) -> bytes:
    b = bytearray(data)
    b[chunk_at(i)], b[chunk_at(j)] = data[chunk_at(j)], data[chunk_at(i)]
    return bytes(b)


TAMPERINGS = {
    "flip key id": lambda s: flip(s, 8),
    "flip key id last byte": lambda s: flip(s, 15, 0x80),
    "chunk_log2 to another valid size": lambda s: flip(s, 16),  # 12 -> 13
    "chunk_log2 out of range": lambda s: flip(s, 16, 0xF0),
    "flip reserved": lambda s: flip(s, 18),
    "flip salt": lambda s: flip(s, 20 + 7),
    "flip first chunk": lambda s: flip(s, HEADER_SIZE + 5),
    "flip middle chunk": lambda s: flip(s, chunk_at(1).start + CHUNK // 2),
    "flip middle chunk tag": lambda s: flip(s, chunk_at(2).stop - 1),
    "flip last tag": lambda s: flip(s, len(s) - 1),
    "truncate to header": lambda s: s[:HEADER_SIZE],
    "truncate inside header": lambda s: s[: HEADER_SIZE - 1],
    "truncate at chunk boundary": lambda s: s[: chunk_at(2).stop],
    "drop the last chunk": lambda s: s[: chunk_at(3).start],
    "truncate mid-chunk": lambda s: s[: chunk_at(1).start + 1000],
    "truncate to less than a tag": lambda s: s[: chunk_at(1).start + 5],
    "cut last byte": lambda s: s[:-1],
    "append a byte": lambda s: s + b"\0",
    "append a whole chunk": lambda s: s + s[chunk_at(1)],
    "duplicate a chunk": lambda s: s[: chunk_at(1).stop] + s[chunk_at(1)] + s[chunk_at(2).start :],
    "drop a middle chunk": lambda s: s[: chunk_at(1).start] + s[chunk_at(2).start :],
    "swap two chunks": lambda s: swap(s, 0, 1),
    "swap middle chunks": lambda s: swap(s, 1, 2),
}


@pytest.mark.parametrize("how", list(TAMPERINGS))
def test_tampering_raises_decryption_error(
    key: AccountKey, sealed: bytes, tmp_path: Path, how: str
) -> None:
    bad = TAMPERINGS[how](sealed)
    assert bad != sealed
    with pytest.raises(DecryptionError):
        open_bytes(key, bad)
    path = tmp_path / "bad"
    path.write_bytes(bad)
    with pytest.raises(DecryptionError):
        decrypt_file(path, key)


def test_splicing_a_chunk_from_another_file_with_the_same_key_fails(
    key: AccountKey, sealed: bytes
) -> None:
    other = seal_bytes(key, os.urandom(3 * CHUNK + 100), chunk_log2=LOG2)
    for i in (0, 1, 3):
        spliced = bytearray(sealed)
        spliced[chunk_at(i)] = other[chunk_at(i)]
        with pytest.raises(DecryptionError):
            open_bytes(key, bytes(spliced))
    # the header of one file with the body of the other
    with pytest.raises(DecryptionError):
        open_bytes(key, other[:HEADER_SIZE] + sealed[HEADER_SIZE:])


def test_untampered_fixture_opens(key: AccountKey, sealed: bytes) -> None:
    # guards the tampering tests: they must fail because of the change, not the fixture
    assert len(open_bytes(key, sealed)) == 3 * CHUNK + 100


# ---- keys and plain files -------------------------------------------------------------


def test_foreign_key_names_both_key_ids(key: AccountKey, sealed: bytes) -> None:
    other = AccountKey.generate()
    with pytest.raises(ForeignKeyError) as info:
        open_bytes(other, sealed)
    message = str(info.value)
    assert key.id_hex in message and other.id_hex in message
    assert "another account" in message
    assert info.value.key_id == key.id_hex and info.value.expected == other.id_hex
    assert info.value.exit_code == ExitCode.CANNOT_UNLOCK


def test_foreign_key_never_yields_plaintext(key: AccountKey, sealed: bytes) -> None:
    f = io.BytesIO(sealed)
    header = parse_header(f.read(HEADER_SIZE))
    it = iter_plaintext(f, header, AccountKey.generate())
    with pytest.raises(ForeignKeyError):
        next(it)


@pytest.mark.parametrize(
    "data",
    [b"", b"T", b"TPSYENC", b"TPSYENC2" + bytes(40), b"%PDF-1.7\n...", b"\xff\xd8\xff\xe0" * 100],
    ids=["empty", "one byte", "magic prefix", "next version magic", "pdf", "jpeg"],
)
def test_plain_file_passes_through(key: AccountKey, data: bytes) -> None:
    assert parse_header(data) is None
    assert open_bytes(key, data) == data


def test_magic_with_truncated_header_is_damaged_not_plain(key: AccountKey) -> None:
    with pytest.raises(DecryptionError, match="truncated"):
        open_bytes(key, MAGIC + key.key_id)


def test_chunk_size_change_fails_even_for_a_one_chunk_file(key: AccountKey) -> None:
    # one short chunk reads the same whatever the chunk size: only the header binding
    # of the file key (FORMAT.md) notices the change
    small = seal_bytes(key, b"short note", chunk_log2=LOG2)
    for new_log2 in (LOG2 + 1, 20, 24):
        bad = bytearray(small)
        bad[16] = new_log2
        with pytest.raises(DecryptionError):
            open_bytes(key, bytes(bad))


def test_bytes_follow_format_md(key: AccountKey) -> None:
    """Decrypt with nothing but FORMAT.md and the primitives (what another reader would do)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    plaintext = os.urandom(CHUNK + 10)
    sealed = seal_bytes(key, plaintext, chunk_log2=LOG2)
    header, salt = sealed[:HEADER_SIZE], sealed[20:36]
    file_key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=salt, info=b"therapsy envelope v1" + header[:20]
    ).derive(key.key)
    aead = AESGCM(file_key)
    first = aead.decrypt((0).to_bytes(11, "big") + b"\x00", sealed[chunk_at(0)], None)
    last = aead.decrypt((1).to_bytes(11, "big") + b"\x01", sealed[chunk_at(1).start :], None)
    assert first + last == plaintext
