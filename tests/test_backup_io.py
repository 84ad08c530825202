"""The fast paths of a backup: reading sources, hashing behind, sealing, writing behind.

These paths were rewritten for speed (tests/bench/run.py); these tests pin what must not
change: the bytes read, the errors raised for damaged sources, the archive content and
its SHA-256, truncation on abort, and HKDF's output.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import threading
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from therabak.archive import byteio, hashing
from therabak.archive import writer as writer_module
from therabak.archive.byteio import FileSink, FileSource
from therabak.archive.index import ArchiveIndex, IndexEntry
from therabak.archive.reader import ArchiveReader
from therabak.archive.writer import ArchiveWriter, Protection
from therabak.crypto.stream import StreamSealer, derive_key
from therabak.datafolder.filecopy import CreateAhead, UnsafePath
from therabak.errors import DecryptionError
from therabak.jobs.verify import verify_archive
from therabak.practice.account import AccountKey
from therabak.practice.envelope import (
    HEADER_SIZE,
    EnvelopeHeader,
    EnvelopeWriter,
    open_bytes,
    seal_bytes,
)
from therabak.practice.source import SMALL_FILE, SourceChanged, read_plaintext

KEY = AccountKey(bytes(range(32)))


def _read(path: Path, key: AccountKey = KEY) -> tuple[bytes, list[int], object]:
    parts: list[bytes] = []
    counted: list[int] = []
    info = read_plaintext(path, "x", key, parts.append, on_bytes=counted.append)
    return b"".join(parts), counted, info


@pytest.mark.parametrize("length", [1, 7, 16, 31, 32])
@pytest.mark.parametrize("salt", [b"", b"s", bytes(16), bytes(range(32)), bytes(range(80))])
def test_derive_key_is_rfc5869_hkdf_sha256(length: int, salt: bytes) -> None:
    ikm, info = os.urandom(32), os.urandom(40)
    expected = HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)
    assert derive_key(ikm, salt=salt, info=info, length=length) == expected


# chunk_log2=12: 4 KiB chunks, so chunk boundaries are cheap to reach; sizes above
# SMALL_FILE take the streaming path (readinto a reused buffer), the others one read.
SEALED_CASES = [
    (12, 0),
    (12, 1),
    (12, 4095),
    (12, 4096),
    (12, 4097),
    (12, 3 * 4096 + 5),
    (12, SMALL_FILE),  # on disk above SMALL_FILE: streamed
    (12, SMALL_FILE + 2 * 4096),  # streamed, ends on a chunk boundary
    (20, 0),
    (20, (1 << 20) - 100),  # one read
    (20, 1 << 20),  # exactly one full chunk: streamed (header + tag exceed SMALL_FILE)
    (20, (5 << 19) + 3),  # 2.5 MiB: streamed, three chunks
]


@pytest.mark.parametrize(("chunk_log2", "size"), SEALED_CASES)
def test_sealed_file_reads_back_and_counts_every_source_byte(
    tmp_path: Path, chunk_log2: int, size: int
) -> None:
    data = os.urandom(size)
    path = tmp_path / "f"
    path.write_bytes(seal_bytes(KEY, data, chunk_log2=chunk_log2))
    plain, counted, info = _read(path)
    assert plain == data
    assert sum(counted) == path.stat().st_size
    assert info.sealed and info.plaintext_size == size and info.size == path.stat().st_size


@pytest.mark.parametrize("size", [0, 5, HEADER_SIZE, SMALL_FILE, SMALL_FILE + 1, 3 << 20])
def test_plain_file_passes_through(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "f"
    path.write_bytes(data)
    old = time.time() - 60  # a file emptied just now is taken for one being rewritten
    os.utime(path, (old, old))
    plain, counted, info = _read(path)
    assert plain == data and sum(counted) == size
    assert not info.sealed and info.plaintext_size == size


def _sealed_file(tmp_path: Path, size: int, chunk_log2: int) -> tuple[Path, bytes]:
    path = tmp_path / f"sealed-{size}-{chunk_log2}"
    path.write_bytes(seal_bytes(KEY, os.urandom(size), chunk_log2=chunk_log2))
    return path, path.read_bytes()


# (plaintext size, chunk_log2): one-read path and streaming path, several chunks each.
DAMAGE_SHAPES = [(3 * 4096 + 100, 12), (SMALL_FILE + 3 * 4096 + 100, 12)]


@pytest.mark.parametrize(("size", "chunk_log2"), DAMAGE_SHAPES)
def test_dropping_the_last_chunk_fails(tmp_path: Path, size: int, chunk_log2: int) -> None:
    path, blob = _sealed_file(tmp_path, size, chunk_log2)
    last = (len(blob) - HEADER_SIZE) % ((1 << chunk_log2) + 16)
    path.write_bytes(blob[: len(blob) - last])  # ends on a chunk boundary, no last flag
    with pytest.raises(DecryptionError):
        _read(path)


@pytest.mark.parametrize(("size", "chunk_log2"), DAMAGE_SHAPES)
@pytest.mark.parametrize("extra", [1, 20, 4096 + 16])
def test_appended_bytes_fail(tmp_path: Path, size: int, chunk_log2: int, extra: int) -> None:
    path, blob = _sealed_file(tmp_path, size, chunk_log2)
    path.write_bytes(blob + os.urandom(extra))
    with pytest.raises(DecryptionError):
        _read(path)


@pytest.mark.parametrize(("size", "chunk_log2"), DAMAGE_SHAPES)
@pytest.mark.parametrize("where", [HEADER_SIZE + 5, -5])
def test_a_flipped_byte_fails(tmp_path: Path, size: int, chunk_log2: int, where: int) -> None:
    path, blob = _sealed_file(tmp_path, size, chunk_log2)
    damaged = bytearray(blob)
    damaged[where] ^= 1
    path.write_bytes(bytes(damaged))
    with pytest.raises(DecryptionError):
        _read(path)


@pytest.mark.parametrize("cut", [HEADER_SIZE, HEADER_SIZE + 10])
def test_a_file_cut_inside_the_first_chunk_fails(tmp_path: Path, cut: int) -> None:
    path, blob = _sealed_file(tmp_path, 5000, 12)
    path.write_bytes(blob[:cut])
    with pytest.raises(DecryptionError):
        _read(path)


def test_a_file_that_grows_while_read_is_a_changed_source(tmp_path: Path) -> None:
    path, _blob = _sealed_file(tmp_path, 3 << 20, 20)  # streamed: several writes
    grown = []

    def write(chunk: bytes) -> None:
        if not grown:
            with path.open("ab") as f:
                f.write(b"more")
            grown.append(True)

    with pytest.raises((SourceChanged, DecryptionError)):
        read_plaintext(path, "x", KEY, write)


# ---- the archive writer ---------------------------------------------------------------


def _archive(tmp_path: Path, files: dict[str, list[bytes]], abort: set[str] = frozenset()):
    path = tmp_path / "a.therabak"
    sink = FileSink(path)
    writer = ArchiveWriter(
        sink, protection=Protection(unprotected=True), kind="manual", categories=("audio",)
    )
    for name, parts in files.items():
        ew = writer.begin(path=name, category="audio", mtime_ns=1)
        for part in parts:
            ew.write(part)
        if name in abort:
            ew.abort()
        else:
            ew.finish()
    writer.finish(account_key_id="00" * 8)
    sink.sync()
    sink.close()
    return path, writer


def test_large_entries_hashed_in_the_background_round_trip(tmp_path: Path) -> None:
    big = [os.urandom(1 << 20) for _ in range(5)] + [os.urandom(12345)]
    huge = [os.urandom(9 << 20)]  # one write larger than a chunk: split into 4 MiB chunks
    small = [b"a" * 100, b"b" * 50]
    mutable = [bytearray(os.urandom(1 << 20))]  # a buffer the caller may change later
    files = {"audio/big": big, "audio/huge": huge, "audio/small": small, "audio/mut": mutable}
    path, writer = _archive(tmp_path, files)
    for entry in writer.entries:
        expected = b"".join(bytes(p) for p in files[entry.path])
        assert entry.sha256 == hashlib.sha256(expected).hexdigest()
        assert entry.size == len(expected)
    with ArchiveReader.open(path) as reader:
        reader.unlock()
        for entry in reader.read_index().entries:
            assert reader.read_entry(entry) == b"".join(bytes(p) for p in files[entry.path])
        assert not verify_archive(reader).damaged


def test_a_buffer_changed_after_write_changes_neither_hash_nor_content(tmp_path: Path) -> None:
    buf = bytearray(os.urandom(1 << 20))
    original = bytes(buf)
    sink = FileSink(tmp_path / "a.therabak")
    writer = ArchiveWriter(
        sink, protection=Protection(unprotected=True), kind="manual", categories=("audio",)
    )
    ew = writer.begin(path="audio/x", category="audio", mtime_ns=1)
    ew.write(buf)
    buf[:] = bytes(len(buf))  # the caller reuses its buffer
    entry = ew.finish()
    writer.finish()
    sink.sync()
    sink.close()
    assert entry.sha256 == hashlib.sha256(original).hexdigest()
    with ArchiveReader.open(tmp_path / "a.therabak") as reader:  # and so is the content
        reader.unlock()
        assert reader.read_entry(entry) == original


class _Gate:
    """Keeps the background hasher busy until released (to make ordering bugs certain)."""

    def __init__(self) -> None:
        self.open = threading.Event()

    def update(self, _data: bytes) -> None:
        self.open.wait(10)


def test_small_writes_after_large_ones_are_hashed_in_order(tmp_path: Path) -> None:
    sink = FileSink(tmp_path / "a.therabak")
    archive = ArchiveWriter(
        sink, protection=Protection(unprotected=True), kind="manual", categories=("audio",)
    )
    ew = archive.begin(path="audio/x", category="audio", mtime_ns=1)
    parts = [os.urandom(1 << 20), b"tail", os.urandom(1 << 20), b"end"]
    gate = _Gate()
    hashing.background_hasher().update(gate, b"")
    try:
        for part in parts:
            ew.write(part)
    finally:
        gate.open.set()
    entry = ew.finish()
    sink.discard()
    assert entry.sha256 == hashlib.sha256(b"".join(parts)).hexdigest()


def test_aborted_large_entries_leave_no_trace(tmp_path: Path) -> None:
    files = {
        "audio/a": [os.urandom(1 << 20) for _ in range(3)],
        "audio/failed": [os.urandom(1 << 20) for _ in range(4)],
        "audio/b": [os.urandom(300_000)],
    }
    path, writer = _archive(tmp_path, files, abort={"audio/failed"})
    assert [e.path for e in writer.entries] == ["audio/a", "audio/b"]
    assert writer.entries[1].offset == writer.entries[0].offset + writer.entries[0].length
    with ArchiveReader.open(path) as reader:
        reader.unlock()
        result = verify_archive(reader)
        assert not result.damaged and result.files_ok == 2
        assert [s.path for s in reader.scan_entries()] == ["audio/a", "audio/b"]


def test_file_sink_write_behind_and_truncate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(byteio, "WRITE_BEHIND", 64 << 10)
    path = tmp_path / "out"
    sink = FileSink(path, buffer_size=16 << 10)
    expected = bytearray()
    for i in range(200):
        block = os.urandom(5000 + i)
        sink.write(block)
        expected += block
        if i % 50 == 49:  # rewind behind the write-behind position, then go on
            cut = len(expected) - 150_000
            sink.truncate(cut)
            del expected[cut:]
    assert sink.tell() == len(expected)
    sink.sync()
    sink.close()
    assert path.read_bytes() == bytes(expected)
    with FileSource(path) as source:
        assert source.read_at(0, len(expected)) == bytes(expected)


def test_envelope_header_is_still_the_documented_one() -> None:
    header = EnvelopeHeader.new(KEY, salt=bytes(16))
    assert header.raw[:8] == b"TPSYENC1" and len(header.raw) == HEADER_SIZE


# ---- JSON written without an encoder must equal json.dumps ---------------------------

ODD_PATHS = ["sessions/K0001/a.json", 'Müller "x" \\ \n\u2028\x01 😀', "a" * 300]


@pytest.mark.parametrize("path", ODD_PATHS)
@pytest.mark.parametrize("raw", [False, True])
def test_entry_metadata_is_the_json_of_format_md(path: str, raw: bool) -> None:
    meta = {"p": path, "c": "sessions", "m": 1767600000000000000}
    if raw:
        meta.update(r=True, k="00ff00ff00ff00ff")
    expected = json.dumps(meta, ensure_ascii=False, separators=(",", ":")).encode()
    assert writer_module._meta_json(path, "sessions", meta["m"], raw, "00ff00ff00ff00ff") == (
        expected
    )


def test_index_bytes_are_the_json_of_format_md() -> None:
    entries = [
        IndexEntry(
            path=path,
            category="sessions",
            size=i * 1000,
            mtime_ns=1767600000000000000 + i,
            sha256="ab" * 32,
            offset=4096 + i * 100,
            length=100,
            raw=i % 2 == 1,
            key_id="00ff00ff00ff00ff" if i % 2 else "",
            sealed=(None, True, False)[i % 3],
        )
        for i, path in enumerate(ODD_PATHS * 2)
    ]
    index = ArchiveIndex(
        entries=entries, account_key_id="12" * 8, skipped=[{"path": "x ä", "reason": "y"}]
    )
    compact = []
    for e in entries:
        d = {"p": e.path, "c": e.category, "s": e.size, "m": e.mtime_ns, "h": e.sha256}
        d.update(o=e.offset, l=e.length)
        if e.raw:
            d.update(r=True, k=e.key_id)
        if e.sealed is not None:
            d.update(e=e.sealed)
        compact.append(d)
    doc = {"v": 1, "account_key_id": "12" * 8, "skipped": index.skipped, "entries": compact}
    assert index.to_bytes() == json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    assert ArchiveIndex(entries=[]).to_bytes() == (
        b'{"v":1,"account_key_id":"","skipped":[],"entries":[]}'
    )


# ---- the envelope writer (restore re-seals every file with it) -------------------------


def _reference_envelope(parts: list[bytes], header: EnvelopeHeader) -> bytes:
    """The envelope as FORMAT.md defines it: full chunks, the last one flagged."""
    data = b"".join(bytes(p) for p in parts)
    sealer = StreamSealer(header.file_key(KEY))
    size = header.chunk_size
    chunks = [data[i : i + size] for i in range(0, len(data), size)] or [b""]
    return header.raw + b"".join(
        sealer.seal(c, last=i == len(chunks) - 1) for i, c in enumerate(chunks)
    )


ENVELOPE_SPLITS = [
    [],
    [b""],
    [b"x"],
    [4096],
    [4096, 4096],
    [4095, 1],
    [4097],
    [1, 4096, 0, 8192, 3],
    [10000, 4096, 5],
    [8192],
]


@pytest.mark.parametrize("split", ENVELOPE_SPLITS, ids=str)
@pytest.mark.parametrize("as_bytearray", [False, True])
def test_envelope_writer_bytes_follow_format_md(split: list, as_bytearray: bool) -> None:
    parts = [p if isinstance(p, bytes) else os.urandom(p) for p in split]
    header = EnvelopeHeader.new(KEY, chunk_log2=12, salt=bytes(16))
    expected = _reference_envelope(parts, header)
    out = io.BytesIO()
    with EnvelopeWriter(out, KEY, header) as w:
        for p in parts:
            if as_bytearray:
                p = bytearray(p)
                w.write(p)
                p[:] = bytes(len(p))  # the caller reuses its buffer
            else:
                w.write(p)
    assert out.getvalue() == expected
    assert open_bytes(KEY, out.getvalue()) == b"".join(parts)


# ---- files created ahead (restore staging) --------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links need privileges there")
def test_create_ahead_creates_in_order_and_reports_errors_at_their_file(tmp_path: Path) -> None:
    root = tmp_path / "staging"
    root.mkdir()
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside", root / "link")  # a folder that is a link: refused
    rels = [f"sessions/K{i:04d}/{j}.json" for i in range(30) for j in range(5)]
    rels.insert(70, "link/evil.json")
    ahead = CreateAhead(root, rels)
    try:
        for rel in rels:
            if rel.startswith("link/"):
                with pytest.raises(UnsafePath):
                    ahead.take(rel)
                continue
            fd, path = ahead.take(rel)
            os.write(fd, rel.encode())
            os.close(fd)
            assert path == root / rel
    finally:
        ahead.close()
    assert not any((tmp_path / "outside").iterdir())
    assert all((root / r).read_text() == r for r in rels if not r.startswith("link/"))


def test_create_ahead_close_before_the_end_leaves_no_open_file(tmp_path: Path) -> None:
    rels = [f"a/{i}" for i in range(500)]
    before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    ahead = CreateAhead(tmp_path, rels)
    fd, _ = ahead.take("a/0")
    os.close(fd)
    for _ in range(10_000):  # let it get ahead: files created but not taken
        if ahead._queue.full():
            break
        threading.Event().wait(0.001)
    ahead.close()
    if before is not None:
        assert len(os.listdir("/proc/self/fd")) == before
