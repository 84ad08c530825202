"""WrittenFiles: a restore's staging folder must hold exactly the files the restore wrote
(checked before the swap by a walk of metadata, no file read)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import IS_WINDOWS
from therabak.datafolder.filecopy import create_under
from therabak.datafolder.written_tree import WrittenFiles

FILES = ["a.json", "sessions/K0001/1.json", "sessions/K0001/2.json", "audio/K0001/x.opus"]


def _written(root: Path) -> WrittenFiles:
    written = WrittenFiles()
    for rel in FILES:
        fd, _path = create_under(root, rel)
        try:
            os.write(fd, rel.encode() * 3)
            written.add(rel, os.fstat(fd))
        finally:
            os.close(fd)
    return written


def test_the_folder_as_written_passes(tmp_path: Path) -> None:
    written = _written(tmp_path)
    (tmp_path / "empty-folder").mkdir()  # a folder alone is harmless
    assert written.unexpected_entries(tmp_path) == []
    assert len(written) == len(FILES)


def test_a_file_replaced_added_removed_or_changed_in_size_is_named(tmp_path: Path) -> None:
    written = _written(tmp_path)
    victim = tmp_path / "sessions/K0001/1.json"
    same = victim.read_bytes()
    # kept open (POSIX): its inode number is not handed to the new file at once
    held = None if IS_WINDOWS else open(victim, "rb")  # noqa: SIM115
    victim.unlink()
    victim.write_bytes(same)  # the same bytes, another file
    if held is not None:
        held.close()
    (tmp_path / "sessions/K0001/extra.json").write_bytes(b"{}")
    (tmp_path / "a.json").unlink()
    with open(tmp_path / "audio/K0001/x.opus", "ab") as f:
        f.write(b"more")
    assert written.unexpected_entries(tmp_path) == [
        "a.json",
        "audio/K0001/x.opus",
        "sessions/K0001/1.json",
        "sessions/K0001/extra.json",
    ]


def test_a_folder_moved_aside_is_named(tmp_path: Path) -> None:
    written = _written(tmp_path)
    (tmp_path / "sessions").rename(tmp_path / "sessions.aside")
    (tmp_path / "sessions").mkdir()
    assert written.unexpected_entries(tmp_path) == [
        "sessions.aside/K0001/1.json",
        "sessions.aside/K0001/2.json",
        "sessions/K0001/1.json",
        "sessions/K0001/2.json",
    ]


@pytest.mark.skipif(IS_WINDOWS, reason="symbolic links need privileges there")
def test_planted_links_are_named_and_never_followed(tmp_path: Path) -> None:
    root = tmp_path / "staging"
    root.mkdir()
    written = _written(root)
    outside = tmp_path / "outside"
    (outside / "K0001").mkdir(parents=True)
    for rel in ("K0001/1.json", "K0001/2.json"):  # what the link leads to looks right
        (outside / rel).write_bytes((root / "sessions" / rel).read_bytes())
    (root / "sessions").rename(root / "sessions.aside")
    os.symlink(outside, root / "sessions")
    os.symlink(outside / "K0001/1.json", root / "b.json")
    bad = written.unexpected_entries(root)
    assert "sessions" in bad and "b.json" in bad
    assert "sessions/K0001/1.json" in bad  # written, now behind a link: gone


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_a_named_pipe_is_named(tmp_path: Path) -> None:
    written = _written(tmp_path)
    os.mkfifo(tmp_path / "sessions" / "pipe")
    assert written.unexpected_entries(tmp_path) == ["sessions/pipe"]
