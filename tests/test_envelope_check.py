"""SealCheck: an envelope checked as it is written, by opening the sealed bytes again in
memory and comparing them with the plaintext that went in (what a restore does instead
of reading every staged file back)."""

from __future__ import annotations

import io
import random

import pytest

from therabak.practice.account import AccountKey
from therabak.practice.envelope import EnvelopeHeader, EnvelopeWriter, open_bytes
from therabak.practice.envelope_check import SealCheck, SealCheckFailed

LOG2 = 12  # 4 KiB chunks: many chunks from little data
CHUNK = 1 << LOG2
SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 17]


@pytest.fixture(scope="module")
def key() -> AccountKey:
    return AccountKey.generate()


def _pieces(data: bytes, rng: random.Random) -> list[bytes]:
    out, i = [], 0
    while i < len(data):
        n = rng.choice([1, 7, CHUNK - 3, CHUNK, CHUNK + 5, 3 * CHUNK])
        out.append(data[i : i + n])
        i += n
    return out


class _Out(io.BytesIO):
    """The file the envelope goes to; *broken* changes what the writer hands on."""

    def __init__(self, broken=None) -> None:
        super().__init__()
        self.broken = broken
        self.calls = 0

    def write(self, data) -> int:
        self.calls += 1
        data = bytes(data)
        if self.broken is not None:
            data = self.broken(self.calls, data)
        return super().write(data)


def _seal(
    key: AccountKey, data: bytes, seed: int, *, broken=None, feed=None, known: bool = True
) -> bytes:
    """Seal *data* in random pieces through a SealCheck (the writer's output altered by
    *broken*, the plaintext the writer gets by *feed*; with *known* the check is told the
    writer's file key, as a restore does); returns the bytes written."""
    rng = random.Random(seed)
    sink = _Out()
    check = SealCheck(sink, key)

    class Broken:  # between the writer and the check: what a buggy sealer would emit
        def write(self, b):
            b = bytes(b)
            if broken is not None:
                Broken.calls += 1
                b = broken(Broken.calls, b)
            return check.write(b)

    Broken.calls = 0
    header = EnvelopeHeader.new(key, chunk_log2=LOG2)
    writer = EnvelopeWriter(Broken(), key, header)
    if known:
        check.know_key(header.raw, writer.file_key)
    for piece in _pieces(data, rng):
        check.expect(piece)
        writer.write(piece if feed is None else feed(piece))
    writer.close()
    check.finish()
    return sink.getvalue()


@pytest.mark.parametrize("size", SIZES)
def test_an_intact_envelope_passes_and_is_written_as_sealed(key: AccountKey, size: int) -> None:
    data = random.Random(size).randbytes(size)
    for seed in range(4):
        written = _seal(key, data, seed, known=seed % 2 == 0)
        assert open_bytes(key, written) == data


@pytest.mark.parametrize("known", [True, False], ids=["key-known", "key-derived"])
@pytest.mark.parametrize("size", [1, CHUNK, 2 * CHUNK, 3 * CHUNK + 17])
def test_any_flipped_byte_of_the_sealers_output_is_caught(
    key: AccountKey, size: int, known: bool
) -> None:
    """Header bytes included: a flipped salt or key id gives another file key (or none),
    also when the check was told the writer's key for the header it wrote."""
    data = random.Random(size).randbytes(size)
    total = len(_seal(key, data, 0))
    for offset in sorted({0, 8, 20, 35, 36, 37, total // 2, total - 17, total - 1}):
        seen = [0]

        def flip(_call: int, b: bytes, offset=offset, seen=seen) -> bytes:
            start, seen[0] = seen[0], seen[0] + len(b)
            if start <= offset < seen[0]:
                b = bytearray(b)
                b[offset - start] ^= 0x01
            return bytes(b)

        with pytest.raises(SealCheckFailed):
            _seal(key, data, 0, broken=flip, known=known)


def test_a_sealer_that_seals_other_plaintext_is_caught(key: AccountKey) -> None:
    """The envelope authenticates (the sealer sealed it properly), but it opens to bytes
    other than those that went in: one byte changed, one dropped, one added."""
    data = random.Random(1).randbytes(2 * CHUNK + 100)

    def changed(p: bytes) -> bytes:
        return bytes([p[0] ^ 0x40]) + p[1:] if len(p) > 1000 else p

    for feed in (changed, lambda p: p[:-1], lambda p: p + b"x"):
        with pytest.raises(SealCheckFailed):
            _seal(key, data, 2, feed=feed)


def test_a_stream_cut_short_or_dropped_chunk_or_other_key_is_caught(key: AccountKey) -> None:
    data = random.Random(2).randbytes(3 * CHUNK + 5)
    block = CHUNK + 16
    # the last sealed chunk never handed on: the stream has no last chunk
    with pytest.raises(SealCheckFailed):
        _seal(key, data, 3, broken=lambda call, b: b if len(b) == block or call == 1 else b"")
    # the second sealed chunk dropped (the first goes with the header)
    with pytest.raises(SealCheckFailed):
        _seal(key, data, 3, broken=lambda call, b: b"" if call == 2 else b)
    # a header naming another account's key
    other = AccountKey.generate()
    other_header = EnvelopeHeader.new(other, chunk_log2=LOG2).raw
    with pytest.raises(SealCheckFailed):
        _seal(key, data, 3, broken=lambda call, b: other_header + b[36:] if call == 1 else b)


def test_memory_holds_about_one_chunk(key: AccountKey) -> None:
    check = SealCheck(_Out(), key)
    writer = EnvelopeWriter(check, key, EnvelopeHeader.new(key, chunk_log2=LOG2))
    peak = 0
    for _ in range(200):
        piece = b"\x07" * 1000
        check.expect(piece)
        writer.write(piece)
        peak = max(peak, len(check._expected))
    writer.close()
    check.finish()
    assert peak <= 2 * CHUNK + 1000
