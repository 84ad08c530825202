"""Split sets in-process (archive/volumes/): the sink against a model of the stream,
the volume header, the set checks that name what is wrong, reading with holes.

The command-line round trips, salvage, EFBIG and kill -9 are in tests/test_volumes_cli.py.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive_support import build_archive
from therabak import faults
from therabak.archive.byteio import FileSink
from therabak.archive.reader import ArchiveReader
from therabak.archive.volumes import (
    MIN_VOLUME_SIZE,
    VOLUME_HEADER_SIZE,
    VolumeHeader,
    VolumeMissing,
    VolumeSink,
    VolumeSource,
    delete_later_orphans,
    delete_set,
    describe_set,
    first_volume,
    later_volumes,
    open_source,
    set_size,
    volume_path,
    volume_size_for,
    volumes_needed,
)
from therabak.archive.volumes.setcheck import check_set
from therabak.archive.writer import ArchiveWriter, Protection
from therabak.errors import DamagedArchiveError, NotEnoughSpaceError
from therabak.faults import Failpoints
from therabak.jobs.verify import verify_archive

MiB = 1 << 20


@pytest.fixture
def efbig(monkeypatch: pytest.MonkeyPatch):
    """Set ``efbig-at`` for this process (as THERABAK_FAILPOINTS would)."""

    def at(n: int | None) -> None:
        monkeypatch.setattr(faults, "ACTIVE", Failpoints(efbig_at=n))

    return at


def stream_of(paths: list[Path]) -> bytes:
    """The archive bytes a set holds: the first file whole, the others after their header."""
    data = paths[0].read_bytes()
    for p in paths[1:]:
        data += p.read_bytes()[VOLUME_HEADER_SIZE:]
    return data


def header_of(path: Path) -> VolumeHeader:
    return VolumeHeader.parse(path.read_bytes()[:VOLUME_HEADER_SIZE])


def write_set(tmp_path: Path, files: dict[str, bytes], volume_size: int | None, name="X"):
    """A real archive of *files* written through a VolumeSink and published."""
    final = tmp_path / f"{name}.therabak"
    sink = VolumeSink(final, volume_size=volume_size)
    writer = ArchiveWriter(
        sink, protection=Protection(unprotected=True), kind="manual", categories=("other",)
    )
    for path, data in files.items():
        ew = writer.begin(path=path, category="other", mtime_ns=1)
        ew.write(data)
        ew.finish()
    writer.finish()
    sink.sync()
    sink.close()
    return sink.publish()


def random_files(n: int, size: int, seed: int = 1) -> dict[str, bytes]:
    rng = random.Random(seed)
    return {f"f{i:02d}": rng.randbytes(size + rng.randrange(size)) for i in range(n)}


def read_all(path: Path, **kw) -> dict[str, bytes]:
    with ArchiveReader.open(path, **kw) as reader:
        reader.unlock()
        return {e.path: reader.read_entry(e) for e in reader.read_index().entries}


# ---- single files stay exactly as they were -----------------------------------------------------


def test_an_unsplit_set_is_byte_for_byte_what_a_file_sink_writes(tmp_path: Path) -> None:
    """Single-file archives do not change: the same writes, truncates and syncs through a
    VolumeSink (no size, or a size never reached) and through FileSink give the same file."""
    rng = random.Random(7)
    ops = []
    for _ in range(300):
        if ops and rng.random() < 0.1:
            ops.append(("truncate", rng.random()))
        else:
            ops.append(("write", rng.randbytes(rng.choice([1, 20, 5000, 70_000, 1_100_000]))))
    outputs = []
    for make in (
        lambda p: FileSink(p),
        lambda p: VolumeSink(p.with_suffix(".therabak"), volume_size=None),
        lambda p: VolumeSink(p.with_suffix(".therabak"), volume_size=1 << 40),
    ):
        folder = tmp_path / str(len(outputs))
        folder.mkdir()
        sink = make(folder / "a")
        for kind, arg in ops:
            if kind == "write":
                sink.write(arg)
            else:
                sink.truncate(max(0, sink.tell() - int(2_000_000 * arg)))
        sink.sync()
        sink.close()
        [written] = [p for p in folder.iterdir()]
        outputs.append(written.read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]
    assert len(outputs[0]) > 10 * MiB


def test_an_archive_that_fits_is_one_file(tmp_path: Path) -> None:
    paths = write_set(tmp_path, random_files(3, 10_000), volume_size=MIN_VOLUME_SIZE)
    assert paths == [tmp_path / "X.therabak"]
    assert not later_volumes(paths[0])
    assert isinstance(open_source(paths[0]), type(open_source(paths[0])))
    assert read_all(paths[0]) == random_files(3, 10_000)


# ---- the sink against a model -------------------------------------------------------------------

# Sizes around the buffer (1 MiB) and the volume sizes, or anything: hypothesis on its
# own prefers small numbers, which would never fill a volume.
write_size = st.one_of(
    st.sampled_from([1, 80, 4096, 70_000, 1 << 20, (1 << 20) + 20, 1_500_000]),
    st.integers(1, 1_500_000),
)
op = st.one_of(
    st.tuples(st.just("write"), write_size),
    st.tuples(st.just("write"), write_size),
    st.tuples(st.just("truncate"), st.floats(0.0, 1.0)),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ops=st.lists(op, min_size=4, max_size=14),
    volume_size=st.sampled_from([MIN_VOLUME_SIZE, MIN_VOLUME_SIZE + 12_345, 3 * MiB, None]),
    refuse_at=st.sampled_from([None, MIN_VOLUME_SIZE + 1, 2 * MiB - 3, 5 * MiB]),
)
def test_the_sink_stores_exactly_the_stream(tmp_path_factory, efbig, ops, volume_size, refuse_at):
    """Whatever is written and truncated (also back across volume boundaries), and
    wherever the file system refuses a larger file (efbig-at: a short write, then EFBIG),
    the volumes hold exactly the stream: every volume below its size, every header right."""
    efbig(refuse_at)
    folder = tmp_path_factory.mktemp("sink")
    sink = VolumeSink(folder / "S.therabak", volume_size=volume_size)
    model = bytearray()
    rng = random.Random(len(ops))
    head = b"THERABAK" + bytes(18) + os.urandom(16)  # an archive id where archives keep it
    for kind, arg in [("write", 0), *ops]:
        if kind == "write":
            data = head if not model else rng.randbytes(arg)
            sink.write(memoryview(bytearray(data)) if rng.random() < 0.5 else data)
            model += data
        else:
            cut = max(len(head), int(len(model) * arg))
            sink.truncate(cut)
            del model[cut:]
        assert sink.tell() == len(model)
    sink.sync()
    sink.close()
    paths = sink.publish()
    efbig(None)
    assert stream_of(paths) == bytes(model)
    limit = min(s for s in (volume_size, refuse_at, 1 << 60) if s is not None)
    assert all(p.stat().st_size <= limit for p in paths)
    start = paths[0].stat().st_size
    for k, p in enumerate(paths[1:], start=2):
        h = header_of(p)
        assert (h.number, h.count, h.start, h.archive_id) == (k, len(paths), start, head[26:42])
        assert h.length == p.stat().st_size - VOLUME_HEADER_SIZE
        start += h.length
    if len(paths) > 1:  # read back as one stream
        with open_source(paths[-1]) as source:
            assert source.size == len(model)
            at = rng.randrange(len(model))
            assert source.read_at(at, 3 * MiB) == bytes(model[at : at + 3 * MiB])
    assert not list(folder.glob("*.partial"))


@pytest.mark.parametrize("volume_size", [None, 3 * MiB])
@pytest.mark.parametrize("chunk", [1000, 900_000, 3_000_000])
def test_a_refusal_moves_on_to_the_next_volume_without_losing_a_byte(
    tmp_path: Path, efbig, volume_size: int | None, chunk: int
) -> None:
    """The file system takes 1 MiB + 1 bytes per file (a short write, then EFBIG); the
    bytes it did not take, buffered or given, all go to the next volume, in order."""
    efbig(MiB + 1)
    sink = VolumeSink(tmp_path / "S.therabak", volume_size=volume_size)
    model = b"THERABAK" + bytes(18) + os.urandom(16)
    sink.write(model)
    while len(model) < 6 * MiB:
        data = os.urandom(chunk)
        sink.write(data)
        model += data
    sink.sync()
    sink.close()
    paths = sink.publish()
    assert sink.refused_at == MiB + 1 and sink.volume_size == MiB + 1
    assert [p.stat().st_size for p in paths[:-1]] == [MiB + 1] * (len(paths) - 1)
    assert stream_of(paths) == model


def test_a_refusal_below_the_smallest_volume_stops_the_backup(tmp_path: Path, efbig) -> None:
    efbig(300_000)
    folder = tmp_path / "usb"
    folder.mkdir()
    sink = VolumeSink(folder / "S.therabak")
    with pytest.raises(NotEnoughSpaceError, match="cannot hold a file larger than 300.0 kB"):
        for _ in range(10):
            sink.write(os.urandom(100_000))
        sink.sync()
    sink.discard()
    assert list(folder.iterdir()) == []


def test_discard_removes_every_volume(tmp_path: Path) -> None:
    folder = tmp_path / "usb"
    folder.mkdir()
    sink = VolumeSink(folder / "S.therabak", volume_size=MIN_VOLUME_SIZE)
    sink.write(b"THERABAK" + bytes(40))
    sink.write(os.urandom(3 * MiB))
    assert sink.count == 4 and len(list(folder.iterdir())) == 4
    sink.discard()
    assert list(folder.iterdir()) == []


def test_publish_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "S.therabak.002").write_bytes(b"someone's")
    sink = VolumeSink(tmp_path / "S.therabak", volume_size=MIN_VOLUME_SIZE)
    sink.write(b"THERABAK" + bytes(40) + os.urandom(MiB))
    sink.sync()
    sink.close()
    with pytest.raises(FileExistsError):
        sink.publish()
    assert (tmp_path / "S.therabak.002").read_bytes() == b"someone's"
    assert not (tmp_path / "S.therabak").exists()


# ---- arithmetic ---------------------------------------------------------------------------------


def test_volume_sizes_and_counts() -> None:
    assert volume_size_for(None) is None
    assert volume_size_for((4 << 30) - 1) == (4 << 30) - (16 << 20)
    assert volume_size_for((4 << 30) - 1, 700 * MiB) == 700 * MiB
    assert volume_size_for((4 << 30) - 1, 5 << 30) == (4 << 30) - (16 << 20)
    assert volume_size_for(None, 5 * MiB) == 5 * MiB
    assert volumes_needed(10, None) == 1
    assert volumes_needed(MiB, MiB) == 1
    assert volumes_needed(MiB + 1, MiB) == 2
    assert volumes_needed(2 * MiB - VOLUME_HEADER_SIZE, MiB) == 2
    assert volumes_needed(2 * MiB - VOLUME_HEADER_SIZE + 1, MiB) == 3
    assert set_size(3 * MiB, MiB) == 3 * MiB + 3 * VOLUME_HEADER_SIZE


def test_the_arithmetic_matches_what_is_written(tmp_path: Path) -> None:
    paths = write_set(tmp_path, random_files(6, 900_000), volume_size=MIN_VOLUME_SIZE)
    archive = sum(p.stat().st_size for p in paths) - (len(paths) - 1) * VOLUME_HEADER_SIZE
    assert volumes_needed(archive, MIN_VOLUME_SIZE) == len(paths) >= 5
    assert set_size(archive, MIN_VOLUME_SIZE) == sum(p.stat().st_size for p in paths)


# ---- names --------------------------------------------------------------------------------------


def test_names(tmp_path: Path) -> None:
    first = tmp_path / "TheraPsy-Backup-2026-01-05_101500.therabak"
    assert volume_path(first, 1) == first
    assert volume_path(first, 2).name == first.name + ".002"
    assert volume_path(first, 123).name == first.name + ".123"
    assert first_volume(volume_path(first, 7)) == first
    assert first_volume(first) == first
    assert first_volume(tmp_path / "x.therabak.001") == tmp_path / "x.therabak.001"
    whole = build_archive(tmp_path / "renamed.therabak.002", {"a": b"1"}).path
    assert first_volume(whole) == whole  # a whole archive named like a later volume


# ---- the header ---------------------------------------------------------------------------------


def test_volume_header_round_trip_and_damage() -> None:
    h = VolumeHeader(os.urandom(16), 3, 5, 123_456_789, 4_000_000)
    data = h.pack()
    assert len(data) == VOLUME_HEADER_SIZE == 80
    assert VolumeHeader.parse(data + b"rest") == h
    for i in range(8, VOLUME_HEADER_SIZE):  # any damaged byte after the magic is noticed
        bad = bytearray(data)
        bad[i] ^= 0x40
        with pytest.raises(DamagedArchiveError, match="damaged"):
            VolumeHeader.parse(bytes(bad))
    with pytest.raises(DamagedArchiveError, match="not a volume"):
        VolumeHeader.parse(b"THERABAK" + data[8:])
    with pytest.raises(DamagedArchiveError, match="cut off"):
        VolumeHeader.parse(data[:40])


# ---- sets on disk: what is wrong is named -------------------------------------------------------


@pytest.fixture
def a_set(tmp_path: Path):
    files = random_files(12, 400_000)
    paths = write_set(tmp_path, files, volume_size=MIN_VOLUME_SIZE)
    assert len(paths) >= 5
    return files, paths


def problem(path: Path) -> str:
    with pytest.raises(DamagedArchiveError) as err:
        ArchiveReader.open(path)
    assert err.value.exit_code == 5
    return str(err.value)


def test_a_set_reads_as_one_archive_from_any_volume(a_set) -> None:
    files, paths = a_set
    for p in (paths[0], paths[2], paths[-1]):
        assert read_all(p) == files
    with ArchiveReader.open(paths[3]) as reader:
        reader.unlock()
        assert verify_archive(reader).damaged == []
        assert reader.source.volumes == len(paths)
        assert reader.source.disk_size == sum(p.stat().st_size for p in paths)


def test_missing_middle_volume(a_set) -> None:
    _, paths = a_set
    n = len(paths)
    paths[2].unlink()
    for p in (paths[0], paths[1], paths[-1]):
        assert problem(p) == f"Volume 3 of {n} is missing: {paths[2]}."


def test_missing_last_volume(a_set) -> None:
    _, paths = a_set
    n = len(paths)
    paths[-1].unlink()
    assert problem(paths[0]) == f"Volume {n} of {n} is missing: {paths[-1]}."


def test_missing_first_volume(a_set) -> None:
    _, paths = a_set
    paths[0].unlink()
    for p in (paths[0], paths[3]):
        assert problem(p).startswith(f"Volume 1 of {len(paths)} of this split backup is missing")


def test_swapped_volumes(a_set, tmp_path: Path) -> None:
    _, paths = a_set
    n = len(paths)
    os.replace(paths[1], tmp_path / "t")
    os.replace(paths[2], paths[1])
    os.replace(tmp_path / "t", paths[2])
    text = problem(paths[0])
    assert f"{paths[1]} holds volume 3 of {n}, not volume 2" in text
    assert f"{paths[2]} holds volume 2 of {n}, not volume 3" in text
    assert "swapped or renamed" in text


def test_a_volume_of_another_backup(a_set, tmp_path: Path) -> None:
    files, paths = a_set
    (tmp_path / "o").mkdir()
    other = write_set(tmp_path / "o", files, MIN_VOLUME_SIZE)
    shutil.copyfile(other[2], paths[2])
    assert problem(paths[0]) == (
        f"Volume 3 of {len(paths)} is missing: {paths[2]} belongs to another backup."
    )


def test_cut_off_last_and_first_volume(a_set) -> None:
    _, paths = a_set
    n = len(paths)
    size = paths[-1].stat().st_size
    os.truncate(paths[-1], size - 1000)
    assert problem(paths[0]) == (
        f"Volume {n} of {n} is cut off: {paths[-1]} has {size - 1000} of its {size} bytes."
    )
    os.truncate(paths[-1], size - 1000)
    with open(paths[-1], "ab") as f:
        f.write(bytes(1000))
    os.truncate(paths[0], MIN_VOLUME_SIZE - 7)
    assert problem(paths[2]) == (
        f"Volume 1 of {n} is cut off: {paths[0]} has {MIN_VOLUME_SIZE - 7} of its "
        f"{MIN_VOLUME_SIZE} bytes."
    )


def test_damaged_volume_header(a_set) -> None:
    _, paths = a_set
    with open(paths[3], "r+b") as f:
        f.seek(30)
        f.write(b"\xff")
    assert problem(paths[0]) == (
        f"Volume 4 of {len(paths)} cannot be used: {paths[3]}: its volume header is damaged."
    )


def test_an_unfinished_volume_is_not_part_of_a_set(a_set) -> None:
    _, paths = a_set
    h = header_of(paths[2])
    data = bytearray(paths[2].read_bytes())
    data[:VOLUME_HEADER_SIZE] = VolumeHeader(h.archive_id, 3, 0, h.start, 0).pack()
    paths[2].write_bytes(bytes(data))
    assert "is an unfinished volume" in problem(paths[0])


def checked(paths: list[Path]):
    """check_set on the set as it lies on disk now."""
    first = paths[0]
    return check_set(
        first, first.stat().st_size, header_of(paths[1]).archive_id, later_volumes(first)
    )


def test_a_volume_under_two_names(a_set) -> None:
    _, paths = a_set
    n = len(paths)
    shutil.copyfile(paths[2], paths[3])  # volume 3 twice, volume 4 gone
    assert checked(paths).problems == [
        f"{paths[3]} and {paths[2]} both claim to be volume 3.",
        f"Volume 4 of {n} is missing: {paths[3]}.",
    ]


def test_a_volume_that_does_not_begin_where_the_one_before_ends(a_set) -> None:
    _, paths = a_set
    n = len(paths)
    h = header_of(paths[2])
    data = bytearray(paths[2].read_bytes())
    moved = VolumeHeader(h.archive_id, h.number, h.count, h.start + 1, h.length)
    data[:VOLUME_HEADER_SIZE] = moved.pack()
    paths[2].write_bytes(bytes(data))
    check = checked(paths)
    assert check.problems == [
        f"Volume 3 of {n} does not continue volume 2: {paths[2]} (damaged or from another "
        "copy of the backup).",
        f"Volume 4 of {n} does not continue volume 3: {paths[3]} (damaged or from another "
        "copy of the backup).",
    ]
    assert check.holes()[0][:2] == (h.start, h.start + 1)


def test_too_long_volumes_are_named_and_read_only_as_far_as_they_go(a_set) -> None:
    files, paths = a_set
    n = len(paths)
    first_size = paths[0].stat().st_size
    whole = checked(paths)
    with open(paths[0], "ab") as f:
        f.write(bytes(100))
    with open(paths[-1], "ab") as f:
        f.write(bytes(100))
    check = checked(paths)
    assert check.problems == [
        f"Volume {n} of {n} is longer than it should be: {paths[-1]}.",
        f"Volume 1 of {n} is longer than it should be: {paths[0]}.",
    ]
    assert check.parts[0].length == first_size  # the first is read up to where 2 begins
    assert [(p.start, p.length) for p in check.parts] == [(p.start, p.length) for p in whole.parts]
    assert check.size == whole.size and check.holes() == []
    assert check.disk_size == whole.disk_size + 200


def test_several_problems_are_named_together(a_set) -> None:
    _, paths = a_set
    n = len(paths)
    paths[1].unlink()
    paths[3].unlink()
    assert problem(paths[0]) == (
        f"Volume 2 of {n} is missing: {paths[1]}. Volume 4 of {n} is missing: {paths[3]}."
    )
    for p in paths[4:]:
        p.unlink()
    text = problem(paths[0])  # three named, the rest counted
    assert text.startswith(f"Volume 2 of {n} is missing: {paths[1]}. Volume 4 of")
    more = n - 5  # missing: 2, 4, 5 ... n; the first three are named
    tail = {0: ".", 1: ". And 1 more problem."}.get(more, f". And {more} more problems.")
    assert text.endswith(f"is missing: {paths[4]}{tail}")


def test_describe_set_for_listings(a_set) -> None:
    _, paths = a_set
    info = describe_set(paths[0])
    assert info.volumes == len(paths) and info.problems == []
    assert info.disk_size == sum(p.stat().st_size for p in paths)
    paths[2].unlink()
    info = describe_set(paths[0])
    assert info.volumes == len(paths)
    assert info.problems == [f"Volume 3 of {len(paths)} is missing: {paths[2]}."]


def test_a_whole_archive_ignores_files_named_like_volumes(tmp_path: Path) -> None:
    built = build_archive(tmp_path / "A.therabak", {"a": b"x" * 1000})
    (tmp_path / "A.therabak.002").write_bytes(b"junk")
    assert describe_set(built.path) is None
    assert read_all(built.path) == {"a": b"x" * 1000}


# ---- salvage: holes -----------------------------------------------------------------------------


def test_holes_are_named_and_skipped(a_set) -> None:
    files, paths = a_set
    missing = header_of(paths[2])
    paths[2].unlink()
    with ArchiveReader.open(paths[0], salvage=True) as reader:
        reader.unlock()
        source = reader.source
        assert isinstance(source, VolumeSource)
        assert source.problems == [f"Volume 3 of {len(paths)} is missing: {paths[2]}."]
        where = f"the missing volume 3 of {len(paths)} ({paths[2]})"
        assert source.missing_part(missing.start + 10, 5) == where
        assert source.missing_part(missing.start - 5, 5) is None
        with pytest.raises(VolumeMissing, match="missing volume 3"):
            source.read_at(missing.start - 5, 10)
        assert source.present_span(missing.start) == (
            missing.start + missing.length,
            source.size,
        )
        index = reader.read_index()  # the index is in the last volume: intact
        outside = [
            e
            for e in index.entries
            if e.offset + e.length <= missing.start or e.offset >= missing.start + missing.length
        ]
        assert 0 < len(outside) < len(files)
        for e in outside:
            assert reader.read_entry(e) == files[e.path]
        found = {s.path: s for s in reader.scan_entries()}
        assert {p for p, s in found.items() if s.ok} == {e.path for e in outside}
        damaged = [s for s in found.values() if not s.ok]
        assert all("missing volume 3" in s.error for s in damaged)


def test_salvage_of_a_cut_off_last_volume_scans(a_set) -> None:
    files, paths = a_set
    os.truncate(paths[-1], VOLUME_HEADER_SIZE + 100)  # the index is gone
    with ArchiveReader.open(paths[0], salvage=True) as reader:
        reader.unlock()
        with pytest.raises(DamagedArchiveError):
            reader.read_index()
        ok = {s.path for s in reader.scan_entries() if s.ok}
        assert ok and ok < set(files)
        for s in reader.scan_entries():
            if s.ok:
                assert reader.read_entry(s.as_index_entry()) == files[s.path]


# ---- deleting -----------------------------------------------------------------------------------


def test_delete_set_deletes_the_first_volume_first(a_set, tmp_path: Path) -> None:
    _, paths = a_set
    stray = tmp_path / "X.therabak.099"
    stray.write_bytes(b"not a volume of this set")
    deleted = delete_set(paths[0])
    assert deleted == paths  # the first volume first
    assert not any(p.exists() for p in paths)
    assert stray.exists()  # not a volume of this set


def test_orphaned_later_volumes_are_removed_unless_someone_writes_them(tmp_path: Path) -> None:
    files = random_files(6, 300_000)
    paths = write_set(tmp_path, files, MIN_VOLUME_SIZE, name="TheraPsy-Backup-1")
    kept = write_set(tmp_path, files, MIN_VOLUME_SIZE, name="TheraPsy-Backup-2")
    other = write_set(tmp_path, files, MIN_VOLUME_SIZE, name="Mine")
    paths[0].unlink()
    kept[0].unlink()
    other[0].unlink()
    fake = tmp_path / "TheraPsy-Backup-3.therabak.002"
    fake.write_bytes(b"not a volume")
    asked = []

    def writing(folder: Path, first_name: str) -> bool:
        asked.append(first_name)
        return first_name == "TheraPsy-Backup-2.therabak"

    removed = delete_later_orphans(tmp_path, writing)
    assert sorted(removed) == sorted(paths[1:])
    assert all(p.exists() for p in kept[1:] + other[1:]) and fake.exists()
    assert "Mine.therabak" not in asked


def test_only_a_few_volumes_are_open_at_once(a_set, monkeypatch: pytest.MonkeyPatch) -> None:
    files, paths = a_set
    monkeypatch.setattr(VolumeSource, "MAX_OPEN", 2)
    with ArchiveReader.open(paths[0]) as reader:
        reader.unlock()
        assert verify_archive(reader).damaged == []
        assert len(reader.source._sources) == 2
        for e in reversed(reader.read_index().entries):  # back and forth across volumes
            assert reader.read_entry(e) == files[e.path]
            assert len(reader.source._sources) <= 2


def test_retention_deletes_whole_sets(tmp_path: Path) -> None:
    """Automatic backups split on a FAT folder: retention deletes every volume of a set
    it drops (the first first), and keeps the kept ones whole."""
    from therabak.jobs.auto import apply_retention
    from therabak.settings import AutoSettings

    folder = tmp_path / "auto"
    folder.mkdir()
    files = random_files(4, 400_000)
    sets = [
        write_set(folder, files, MIN_VOLUME_SIZE, name=f"TheraPsy-Auto-2026-01-0{d}_120000")
        for d in (1, 2, 3)
    ]
    assert all(len(s) >= 2 for s in sets)
    deleted = apply_retention(folder, AutoSettings(keep_daily=1, keep_weekly=0, keep_monthly=0))
    assert sorted(deleted) == sorted([sets[0][0], sets[1][0]])
    assert sorted(folder.iterdir()) == sorted(sets[2])
