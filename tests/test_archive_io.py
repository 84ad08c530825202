"""Archive writer and reader: round trips, chunking, compression, aborted entries, salvage."""

from __future__ import annotations

import hashlib
import os

import pytest

from archive_support import (
    MemorySource,
    build_archive,
    entry_frames,
    open_unlocked,
    regions,
)
from therabak.archive.byteio import FileSink, FileSource
from therabak.archive.layout import MAX_CHUNK, TRAILER_SIZE
from therabak.archive.reader import ArchiveReader
from therabak.archive.writer import ArchiveWriter, Protection
from therabak.errors import DamagedArchiveError
from therabak.jobs.verify import INDEX, verify_archive

MiB = 1 << 20
SIZES = [
    0,
    1,
    15,
    16,
    17,
    1000,
    MiB - 1,
    MiB,
    MiB + 1,
    MAX_CHUNK - 1,
    MAX_CHUNK,
    MAX_CHUNK + 1,
    2 * MAX_CHUNK + 7,
]


def _content(size: int, seed: int) -> bytes:
    # half text (compressible), half random: exercises both frame kinds
    text = (f"Sitzung {seed}: Klient berichtet über verbesserte Schlafqualität. " * 100).encode()
    text = (text * (size // len(text) + 1))[: size // 2]
    return text + os.urandom(size - len(text))


def test_round_trip_of_many_sizes(tmp_path):
    files = {f"f/{size:08d}.bin": _content(size, i) for i, size in enumerate(SIZES)}
    built = build_archive(tmp_path / "a.therabak", files)
    with ArchiveReader.open(built.path) as reader:
        reader.unlock()
        index = reader.read_index()
        assert [e.path for e in index.entries] == list(files)
        for e in index.entries:
            content = files[e.path]
            assert e.size == len(content)
            assert e.sha256 == hashlib.sha256(content).hexdigest()
            assert reader.read_entry(e) == content
        assert verify_archive(reader).damaged == []


@pytest.mark.parametrize(
    "pieces, chunks",
    [
        ([], 1),  # an empty file is one empty last chunk
        ([b"x"], 1),
        ([os.urandom(MiB)], 1),  # exactly one chunk
        ([os.urandom(MAX_CHUNK)], 1),  # the largest chunk
        ([os.urandom(MAX_CHUNK + 1)], 2),
        ([os.urandom(1000)] * 5, 5),  # one chunk per write
        ([os.urandom(2 * MAX_CHUNK + 1)], 3),
    ],
)
def test_chunking(tmp_path, pieces, chunks):
    built = build_archive(tmp_path / "a.therabak", {"f": pieces})
    data = built.bytes
    frames = entry_frames(data, built.index.entries[0].offset)
    assert len(frames) == chunks
    assert [f.last for f in frames] == [False] * (chunks - 1) + [True]
    e = built.index.entries[0]
    assert frames[-1].end == e.offset + e.length
    with open_unlocked(built.path, built.archive_key) as reader:
        assert reader.read_entry(e) == b"".join(pieces)


def test_compression_only_when_it_shrinks(tmp_path):
    text = ("Ressourcenaktivierung: Spaziergänge, Kontakt zu Freunden. " * 40_000).encode()
    noise = os.urandom(3 * MiB)
    built = build_archive(
        tmp_path / "a.therabak",
        {
            "text": [text[:MiB], text[MiB : 2 * MiB], text[2 * MiB :]],
            "noise": [noise[:MiB], noise[MiB : 2 * MiB], noise[2 * MiB :]],
            "tiny": b"ab",  # too small to shrink
        },
    )
    data = built.bytes
    by_path = {e.path: e for e in built.index.entries}
    text_frames = entry_frames(data, by_path["text"].offset)
    assert all(f.compressed for f in text_frames)
    assert by_path["text"].length < len(text) // 10
    noise_frames = entry_frames(data, by_path["noise"].offset)
    assert not any(f.compressed for f in noise_frames)
    assert by_path["noise"].length > len(noise)  # stored as is, plus framing and tags
    assert not any(f.compressed for f in entry_frames(data, by_path["tiny"].offset))
    with open_unlocked(built.path, built.archive_key) as reader:
        assert reader.read_entry(by_path["text"]) == text
        assert reader.read_entry(by_path["noise"]) == noise


def test_compression_stops_for_an_entry_whose_first_chunk_does_not_shrink(tmp_path):
    first = os.urandom(MiB)
    later = b"\0" * MiB  # would compress, but the entry was judged incompressible
    built = build_archive(tmp_path / "a.therabak", {"f": [first, later, later]})
    frames = entry_frames(built.bytes, built.index.entries[0].offset)
    assert [f.compressed for f in frames] == [False, False, False]


def test_raw_entries_are_never_compressed(tmp_path):
    built = build_archive(tmp_path / "a.therabak", {"r": b"\0" * MiB}, raw={"r"})
    e = built.index.entries[0]
    assert e.raw and e.key_id == "00112233aabbccdd"
    assert not any(f.compressed for f in entry_frames(built.bytes, e.offset))


def test_an_aborted_entry_leaves_no_trace(tmp_path):
    def write(path, with_aborted: bool):
        sink = FileSink(path)
        writer = ArchiveWriter(
            sink, protection=Protection(unprotected=True), kind="manual", categories=("other",)
        )
        ew = writer.begin(path="a", category="other", mtime_ns=1)
        ew.write(b"A" * 5000)
        ew.finish()
        sizes = []
        if with_aborted:
            for n in (0, 10, 3 * MiB, 5 * MiB):  # aborts before, inside and after the buffer
                ew = writer.begin(path="gone", category="other", mtime_ns=1)
                before = sink.tell()
                ew.write(os.urandom(n))
                ew.abort()
                sizes.append(before)
                assert sink.tell() == ew.offset
        ew = writer.begin(path="b", category="other", mtime_ns=1)
        ew.write(b"B" * 7000)
        ew.finish()
        writer.finish()
        sink.sync()
        sink.close()
        return writer

    clean = write(tmp_path / "clean.therabak", False)
    dirty = write(tmp_path / "dirty.therabak", True)
    assert [e.path for e in dirty.entries] == ["a", "b"]
    assert [e.offset for e in dirty.entries] == [e.offset for e in clean.entries]
    assert [e.length for e in dirty.entries] == [e.length for e in clean.entries]
    assert (tmp_path / "dirty.therabak").stat().st_size == (
        tmp_path / "clean.therabak"
    ).stat().st_size
    with open_unlocked(tmp_path / "dirty.therabak", dirty.archive_key) as reader:
        assert [e.path for e in reader.read_index().entries] == ["a", "b"]
        assert [s.path for s in reader.scan_entries()] == ["a", "b"]  # not even in the body
        assert verify_archive(reader).damaged == []


def _salvage(path, key):
    with open_unlocked(path, key) as reader:
        return {e.path: e for e in reader.scan_entries()}


def _files(n=6):
    return {f"sessions/K{i:04d}/note.json": _content(1000 + i * 40_000, i) for i in range(n)}


@pytest.mark.parametrize("destroy", ["trailer", "index", "index+trailer", "truncate-index"])
def test_salvage_finds_every_entry_without_the_index(tmp_path, destroy):
    files = _files()
    built = build_archive(tmp_path / "a.therabak", files)
    data = bytearray(built.bytes)
    r = regions(bytes(data))
    if "trailer" in destroy:
        data[r["trailer"][0] :] = bytes(TRAILER_SIZE)
    if destroy.startswith("index"):
        start, end = r["index"]
        data[start:end] = os.urandom(end - start)
    if destroy == "truncate-index":
        del data[r["index"][0] + 10 :]
    path = tmp_path / "broken.therabak"
    path.write_bytes(bytes(data))
    with open_unlocked(path, built.archive_key) as reader, pytest.raises(DamagedArchiveError):
        reader.read_index()
    found = _salvage(path, built.archive_key)
    assert set(found) == set(files)
    for p, e in found.items():
        assert e.ok, e.error
        assert e.sha256 == hashlib.sha256(files[p]).hexdigest() and e.size == len(files[p])
        assert e.category == "other" and not e.raw
    by_path = {e.path: e for e in built.index.entries}
    for p, e in found.items():  # salvaged entries point at the same bytes as the index did
        assert e.as_index_entry() == by_path[p]
    with open_unlocked(path, built.archive_key) as reader:
        result = verify_archive(reader)
    assert [p for p, _ in result.damaged] == [INDEX] and result.files_ok == len(files)


def test_salvage_resynchronises_past_a_damaged_entry(tmp_path):
    files = _files()
    built = build_archive(tmp_path / "a.therabak", files)
    data = bytearray(built.bytes)
    r = regions(bytes(data))
    data[r["trailer"][0] :] = bytes(TRAILER_SIZE)
    entries = built.index.entries
    victims = {entries[1].path, entries[3].path}
    data[entries[1].offset + entries[1].length // 2] ^= 0xFF  # inside its chunks
    data[entries[3].offset + 30] ^= 0xFF  # inside its sealed metadata: not even its name
    path = tmp_path / "broken.therabak"
    path.write_bytes(bytes(data))
    found = _salvage(path, built.archive_key)
    assert {p for p, e in found.items() if e.ok} == set(files) - victims
    assert not found[entries[1].path].ok and "authentication" in found[entries[1].path].error
    assert entries[3].path not in found  # its metadata does not decrypt: skipped over
    with open_unlocked(path, built.archive_key) as reader:
        result = verify_archive(reader)
    assert result.files_ok == len(files) - 2
    assert {p for p, _ in result.damaged} == {INDEX, entries[1].path}


def test_damage_with_the_index_intact_names_the_file(tmp_path):
    files = _files()
    built = build_archive(tmp_path / "a.therabak", files)
    victim = built.index.entries[2]
    data = bytearray(built.bytes)
    data[victim.offset + victim.length - 5] ^= 0x01  # the last chunk's tag
    path = tmp_path / "broken.therabak"
    path.write_bytes(bytes(data))
    with open_unlocked(path, built.archive_key) as reader:
        result = verify_archive(reader)
    assert [p for p, _ in result.damaged] == [victim.path]
    assert result.files_ok == len(files) - 1 and result.exit_code == 5


def test_unexplained_bytes_in_the_body_are_reported(tmp_path):
    """Bytes smuggled between entries are reported even though every entry checks out."""
    sink = FileSink(tmp_path / "a.therabak")
    writer = ArchiveWriter(
        sink, protection=Protection(unprotected=True), kind="manual", categories=("other",)
    )
    for name in ("a", "b"):
        ew = writer.begin(path=name, category="other", mtime_ns=1)
        ew.write(name.encode() * 100)
        ew.finish()
        sink.write(b"hidden payload")
    writer.finish()
    sink.close()
    with open_unlocked(tmp_path / "a.therabak", writer.archive_key) as reader:
        result = verify_archive(reader)
    assert result.files_ok == 2
    assert [r for _, r in result.damaged] == [
        "unexplained bytes before b",
        "unexplained bytes before the index",
    ]


def test_file_source_reads_exactly(tmp_path):
    path = tmp_path / "f"
    payload = os.urandom(3 * MiB + 5)
    path.write_bytes(payload)
    with FileSource(path) as src:
        assert src.size == len(payload)
        assert src.read_at(MiB - 3, 2 * MiB) == payload[MiB - 3 : 3 * MiB - 3]
        assert src.read_at(len(payload) - 2, 100) == payload[-2:]
        assert src.read_at(len(payload) + 5, 10) == b""
        with pytest.raises(ValueError):
            src.read_at(-1, 3)
    assert MemorySource(payload).read_at(5, 5) == payload[5:10]


def test_sink_is_private_and_discard_removes_it(tmp_path):
    sink = FileSink(tmp_path / "x.partial")
    sink.write(b"abc")
    if os.name != "nt":
        assert (tmp_path / "x.partial").stat().st_mode & 0o777 == 0o600
    sink.discard()
    assert not (tmp_path / "x.partial").exists()
    FileSink(tmp_path / "y").close()
    with pytest.raises(FileExistsError):  # never overwrites
        FileSink(tmp_path / "y")
