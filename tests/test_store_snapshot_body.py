"""A snapshot takes over its parent's encoded entries (store/snapshot_body.py): only the
parent's own entry objects, only as runs that lie one after another in the parent, and
the snapshot reads (and restores) exactly as one encoded anew. Real files, real crypto."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import zstandard

from conftest import Practice
from store_support import (
    backup_data,
    create_store,
    manual_store_request,
    open_store,
    plaintext_tree,
    snapshot_tree,
)
from therabak.jobs.store_backup import run_store_backup
from therabak.store.place import store_folder
from therabak.store.snapshot import (
    _AAD,
    Snapshot,
    SnapshotEntry,
    encode_snapshot,
    parse_header,
    snapshot_name,
)
from therabak.store.snapshot_body import BodyCopier
from therabak.store.snapshot_read import parse_snapshot


def _body_text(store, snapshot_id: str) -> str:
    """The decrypted, decompressed body of a snapshot, as it is in the store."""
    from therabak.store.keys import unseal

    name = snapshot_name(snapshot_id)
    data = store.storage.get(name)
    header, start = parse_header(data, name)
    packed = unseal(store.keys.snapshot, memoryview(data)[start:], _AAD + header.raw, name=name)
    return zstandard.ZstdDecompressor().decompress(packed).decode("ascii")


def _entries_text(body: str) -> str:
    return body[body.index('"entries":[') :]


class _CopySpy:
    """Counts what BodyCopier.copy copies (the real copy runs)."""

    def __init__(self, monkeypatch) -> None:
        self.copied = 0
        real = BodyCopier.copy

        def copy(copier, span, write):
            n = real(copier, span, write)
            self.copied += n
            return n

        monkeypatch.setattr(BodyCopier, "copy", copy)


def _backed_up_parent(practice: Practice, tmp_path: Path):
    """A store holding one backup of *practice*, and that point read as a backup's parent
    (with its body)."""
    store = create_store(tmp_path / "store")
    backup_data(store, practice.data_dir, practice.key)
    parent = store.latest(keep_body=True)
    assert parent is not None and parent.body is not None
    return store, parent


def test_a_second_backup_with_nothing_changed_copies_the_parents_entries(
    practice: Practice, tmp_path: Path, monkeypatch
) -> None:
    dest = tmp_path / "dest"
    first = run_store_backup(manual_store_request(practice.data_dir, practice.key, dest))
    spy = _CopySpy(monkeypatch)
    second = run_store_backup(manual_store_request(practice.data_dir, practice.key, dest))
    assert second.files_reused == second.files == first.files > 10

    store = open_store(store_folder(dest))
    parent_body = _body_text(store, first.snapshot)
    child_body = _body_text(store, second.snapshot)
    # every entry's text came from the parent's body, in one piece
    entries_text = _entries_text(parent_body)
    assert spy.copied == len(entries_text) - len('"entries":[') - len("]}")
    assert _entries_text(child_body) == entries_text
    assert json.loads(child_body)["parent"] == first.snapshot
    child = store.load_snapshot(second.snapshot)
    assert child.entries == store.load_snapshot(first.snapshot).entries
    assert snapshot_tree(store, child) == plaintext_tree(practice.data_dir, practice.key)


def _three_files(data: Path) -> dict[str, bytes]:
    content = {name: os.urandom(3000 + i) for i, name in enumerate(["a.bin", "b.bin", "c.bin"])}
    folder = data / "documents"
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in content.items():
        (folder / name).write_bytes(body)
    return content


def test_a_file_changed_between_parent_and_child_is_encoded_anew(
    practice: Practice, tmp_path: Path, monkeypatch
) -> None:
    """A file in the middle of a run of unchanged files, changed in place with its size
    kept: the runs before and after it are copied, it is read and encoded anew."""
    content = _three_files(practice.data_dir)
    store = create_store(tmp_path / "store")
    backup_data(store, practice.data_dir, practice.key)
    changed = practice.data_dir / "documents" / "b.bin"
    new = os.urandom(len(content["b.bin"]))
    before = changed.stat()
    changed.write_bytes(new)
    os.utime(changed, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))

    spy = _CopySpy(monkeypatch)
    parent = store.latest(keep_body=True)
    assert parent is not None and parent.body is not None
    child = backup_data(store, practice.data_dir, practice.key, parent=parent)
    assert child.read == ["documents/b.bin"]
    assert 0 < spy.copied < len(_entries_text(_body_text(store, parent.snapshot_id)))

    reread = open_store(tmp_path / "store").load_snapshot(child.snapshot.snapshot_id)
    entry = next(e for e in reread.entries if e.path == "documents/b.bin")
    assert entry.sha256 == hashlib.sha256(new).hexdigest()
    assert entry.mtime_ns == before.st_mtime_ns + 1_000_000_000
    assert [e for e in reread.entries if e.path != "documents/b.bin"] == [
        e for e in parent.entries if e.path != "documents/b.bin"
    ]
    assert snapshot_tree(store, reread) == plaintext_tree(practice.data_dir, practice.key)


def test_a_file_gone_from_a_run_does_not_come_back(
    practice: Practice, tmp_path: Path, monkeypatch
) -> None:
    """The parent's a, b, c; b deleted: a and c are copied as two runs, never the text
    from a to c (which holds b)."""
    _three_files(practice.data_dir)
    store = create_store(tmp_path / "store")
    backup_data(store, practice.data_dir, practice.key)
    (practice.data_dir / "documents" / "b.bin").unlink()

    spy = _CopySpy(monkeypatch)
    parent = store.latest(keep_body=True)
    child = backup_data(store, practice.data_dir, practice.key, parent=parent)
    assert child.read == [] and spy.copied > 0
    reread = open_store(tmp_path / "store").load_snapshot(child.snapshot.snapshot_id)
    paths = [e.path for e in reread.entries]
    assert "documents/b.bin" not in paths
    assert {"documents/a.bin", "documents/c.bin"} <= set(paths)
    assert snapshot_tree(store, reread) == plaintext_tree(practice.data_dir, practice.key)


#: what a test snapshot says of itself beside its entries (the parent's body: copied from)
_ABOUT = {"host": "h", "account_key_id": "", "parent": None, "program": "p", "skipped": []}


def _flipped(body):
    """*body* (a parent's) with one bit of its sealed bytes flipped: it fails its tag."""
    from therabak.store.snapshot_body import ParentBody

    flipped = bytearray(bytes(body.sealed))
    flipped[len(flipped) // 2] ^= 1
    return ParentBody(memoryview(bytes(flipped)), body.key, body.aad, body.entries, body.spans)


def _encoded(store, parent: Snapshot, entries: list[SnapshotEntry]) -> tuple[str, bytearray]:
    """(id, bytes) of the snapshot of *entries*, copied from *parent*'s body where it can."""
    return encode_snapshot(store.keys, parent.header, entries, **_ABOUT, parent_body=parent.body)


def _encode(store, parent: Snapshot, entries: list[SnapshotEntry]) -> Snapshot:
    sid, data = _encoded(store, parent, entries)
    return parse_snapshot(store.keys, bytes(data), snapshot_name(sid))


def _copy(e: SnapshotEntry, **change) -> SnapshotEntry:
    fields = dict(
        path=e.path,
        category=e.category,
        size=e.size,
        mtime_ns=e.mtime_ns,
        sha256=e.digest,
        blobs=e.refs,
        identity=e.identity,
        source_size=e.source_size,
        sealed=e.sealed,
        raw=e.raw,
        key_id=e.key_id,
    )
    return SnapshotEntry(**{**fields, **change})


def test_only_the_parents_own_entry_objects_in_their_order_are_copied(
    practice: Practice, tmp_path: Path
) -> None:
    store = create_store(tmp_path / "store")
    backup_data(store, practice.data_dir, practice.key)
    parent = store.latest(keep_body=True)
    assert parent is not None and parent.body is not None and len(parent.entries) >= 3
    own = parent.entries
    plan = parent.body.plan
    assert len(plan(own)) == 1 and isinstance(plan(own)[0], tuple)
    # an equal entry that is not the parent's object is encoded, not copied
    twin = _copy(own[1])
    assert twin == own[1]
    pieces = plan([own[0], twin, *own[2:]])
    assert pieces[1] is twin and isinstance(pieces[0], tuple) and isinstance(pieces[2], tuple)
    # changed in a copy (another mtime): encoded as it is now
    changed = _copy(own[1], mtime_ns=own[1].mtime_ns + 1)
    got = _encode(store, parent, [own[0], changed, *own[2:]])
    assert got.entries[1].mtime_ns == own[1].mtime_ns + 1
    assert got.entries[0] == own[0] and got.entries[2:] == own[2:]
    # a gap (the second left out) and entries out of the parent's order: runs apart
    assert len(plan([own[0], *own[2:]])) == 2
    swapped = [own[1], own[0], *own[2:]]
    assert len(plan(swapped)) == 3
    assert _encode(store, parent, swapped).entries == swapped


def test_a_snapshot_keeps_its_body_only_when_asked(practice: Practice, tmp_path: Path) -> None:
    store = create_store(tmp_path / "store")
    backup_data(store, practice.data_dir, practice.key)
    plain = store.latest()
    kept = store.latest(keep_body=True)
    assert plain is not None and kept is not None
    assert plain.body is None
    assert kept.body is not None and len(kept.body.spans) == len(kept.entries)
    assert plain == kept  # the body is no part of what a snapshot is


def test_a_body_that_is_not_ascii_keeps_nothing_and_is_encoded_anew(tmp_path: Path) -> None:
    """A body with a raw (not escaped) non-ASCII character (no writer writes one, a
    reader takes it): its offsets would not be its bytes', so nothing is kept."""
    store = create_store(tmp_path / "store")
    with store.begin_backup(None, _meta()) as writer:
        f = writer.add_file("Müller.txt", "other", mtime_ns=1)
        f.write(b"x")
        f.finish(source_size=1)
        snap = writer.commit()
    body = _body_text(store, snap.snapshot_id)
    assert "\\u00fc" in body
    raw = body.replace("\\u00fc", "ü").encode("utf-8")
    header = snap.header.to_bytes()
    from therabak.store.keys import seal

    data = header + seal(
        store.keys.snapshot,
        zstandard.ZstdCompressor(write_content_size=True).compress(raw),
        _AAD + header,
    )
    name = snapshot_name(hashlib.sha256(data).hexdigest())
    parsed = parse_snapshot(store.keys, data, name, keep_body=True)
    assert parsed.entries[0].path == "Müller.txt"
    assert parsed.body is None


def _meta():
    from therabak.store.backup import SnapshotMeta
    from therabak.store.snapshot import SnapshotKind

    return SnapshotMeta(kind=SnapshotKind.MANUAL, categories=("other",))


def test_a_parent_body_that_does_not_open_is_never_copied(
    practice: Practice, tmp_path: Path
) -> None:
    """The kept bytes are opened again as a stream when copied: bytes that are not the
    ones read (one flipped) fail at the end of the stream, and the snapshot is encoded
    anew from its entries (nothing of those bytes in it)."""
    import pytest
    from cryptography.exceptions import InvalidTag

    store, parent = _backed_up_parent(practice, tmp_path)
    body = parent.body
    parent.body = _flipped(body)
    with pytest.raises((InvalidTag, zstandard.ZstdError)), parent.body.copier() as copier:
        copier.copy((body.spans.starts[0], body.spans.ends[-1]), lambda _piece: None)
    got = _encode(store, parent, parent.entries)
    assert got.entries == parent.entries
    parent.body = body
    assert _encode(store, parent, parent.entries).entries == parent.entries


def test_a_parent_from_a_local_store_keeps_where_its_body_is_not_its_bytes(
    practice: Practice, tmp_path: Path, monkeypatch
) -> None:
    """A local store's parent reads its body again when the next snapshot is encoded
    (not held from the start of the backup); a file changed since (one byte) is not
    copied from: the new snapshot is encoded anew and reads as the same entries."""
    from therabak.store.snapshot_body import StoredBody

    store, parent = _backed_up_parent(practice, tmp_path)
    assert isinstance(parent.body.sealed, StoredBody)
    stored = store.storage.get(parent.name)
    assert stored.endswith(bytes(parent.body.sealed))
    spy = _CopySpy(monkeypatch)
    same, text = _encoded_text(store, parent)
    assert same.entries == parent.entries and spy.copied > 0
    assert _entries_text(text) == _entries_text(_body_text(store, parent.snapshot_id))
    # the parent's file damaged after it was read: the copy fails its tag, the snapshot
    # is encoded anew from the entries read before
    path = tmp_path / "store" / parent.name
    path.chmod(0o600)
    damaged = bytearray(stored)
    damaged[len(stored) - 40] ^= 1
    path.write_bytes(bytes(damaged))
    again, again_text = _encoded_text(store, parent)
    assert again.entries == parent.entries
    assert again_text == text


def _encoded_text(store, parent: Snapshot) -> tuple[Snapshot, str]:
    """The snapshot *parent*'s entries make with its body, read back, and its body's text."""
    from therabak.store.keys import unseal

    sid, data = _encoded(store, parent, parent.entries)
    name = snapshot_name(sid)
    header, start = parse_header(bytes(data), name)
    packed = unseal(store.keys.snapshot, memoryview(data)[start:], _AAD + header.raw, name=name)
    text = zstandard.ZstdDecompressor().decompress(packed).decode("ascii")
    return parse_snapshot(store.keys, bytes(data), name), text


def test_the_copier_opens_the_whole_body_even_when_it_copies_only_its_start(
    practice: Practice, tmp_path: Path, monkeypatch
) -> None:
    import pytest
    from cryptography.exceptions import InvalidTag

    import therabak.store.snapshot_body as snapshot_body
    from therabak.store.snapshot_body import ParentBody

    monkeypatch.setattr(snapshot_body, "_READ", 64)  # read in pieces, as a large body is
    many = practice.data_dir / "documents" / "many"  # a body of several zstd blocks
    many.mkdir(parents=True)
    for n in range(3000):
        (many / f"{n:05d}.txt").write_bytes(b"%d" % n)

    store, parent = _backed_up_parent(practice, tmp_path)
    body = parent.body
    first = (body.spans.starts[0], body.spans.ends[0])
    out = bytearray()
    with body.copier() as copier:
        copier.copy(first, out.extend)
    assert json.loads(out)["p"] == parent.entries[0].path
    tail = bytearray(bytes(body.sealed))
    tail[-17] ^= 1  # the last byte of the ciphertext, far after the first entry
    changed = ParentBody(memoryview(bytes(tail)), body.key, body.aad, body.entries, body.spans)
    with pytest.raises(InvalidTag), changed.copier() as copier:
        copier.copy(first, out.extend)


class _Out:
    """An object a snapshot is streamed to (as ``Store.open_deferred``'s, in memory)."""

    def __init__(self, fail_after: int = -1) -> None:
        self.data = bytearray()
        self.discarded = False
        self.fail_after = fail_after

    def write(self, data) -> None:
        if 0 <= self.fail_after <= len(self.data):
            raise OSError(28, "No space left on device")
        self.data += data

    def discard(self) -> None:
        self.discarded = True


def _stream(store, parent: Snapshot, outs: list[_Out]):
    from therabak.store.snapshot import stream_snapshot

    handed: list[_Out] = []

    def open_out() -> _Out:
        handed.append(outs.pop(0))
        return handed[-1]

    result = stream_snapshot(
        store.keys,
        parent.header,
        parent.entries,
        open_out,
        **_ABOUT,
        parent_body=parent.body,
    )
    return result, handed


def test_a_streamed_snapshot_is_the_one_encoded_in_memory_and_a_failed_write_is_not_retried(
    practice: Practice, tmp_path: Path
) -> None:
    import pytest

    store, parent = _backed_up_parent(practice, tmp_path)
    (sid, size, out), handed = _stream(store, parent, [_Out()])
    assert len(handed) == 1 and not out.discarded and size == len(out.data)
    assert hashlib.sha256(out.data).hexdigest() == sid
    assert parse_snapshot(store.keys, bytes(out.data), snapshot_name(sid)).entries == (
        parent.entries
    )
    # a write that fails (a full disk) is said as it is, once: no second object
    outs = [_Out(fail_after=200), _Out()]
    with pytest.raises(OSError, match="No space"):
        _stream(store, parent, outs)
    assert len(outs) == 1


def test_a_streamed_snapshot_whose_parent_body_fails_is_written_anew(
    practice: Practice, tmp_path: Path
) -> None:

    store, parent = _backed_up_parent(practice, tmp_path)
    body = parent.body
    parent.body = _flipped(body)
    (sid, _size, out), handed = _stream(store, parent, [_Out(), _Out()])
    assert handed[0].discarded and handed[1] is out and not out.discarded
    assert parse_snapshot(store.keys, bytes(out.data), snapshot_name(sid)).entries == (
        parent.entries
    )
