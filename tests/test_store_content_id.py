"""A store's content id (config version 2: keyed BLAKE3; version 1: HMAC-SHA256 of the
chunk's SHA-256) and packs written into a local folder as they fill (issues 16 and 19:
the first backup's CPU time)."""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

import pytest

from store_support import CheapPassword, create_store, open_store
from therabak import faults
from therabak.storage.local import LocalStorage
from therabak.store.backup import SnapshotMeta
from therabak.store.blob import FLAG_COMPRESSED, BlobInfo, blob_aad, blob_id_of, open_blob
from therabak.store.check import check
from therabak.store.config import NAME as CONFIG_NAME
from therabak.store.core import Store
from therabak.store.errors import DamagedStoreError, StoreFullError
from therabak.store.keys import SEAL_OVERHEAD, ContentId, StoreKeys, new_store_key, seal
from therabak.store.snapshot import SnapshotKind

CHUNK = 64 << 10


def meta() -> SnapshotMeta:
    return SnapshotMeta(kind=SnapshotKind.MANUAL, categories=("other",))


def write_files(store: Store, files: dict[str, bytes]):
    with store.begin_backup(None, meta()) as w:
        for path, data in files.items():
            f = w.add_file(path, "other", mtime_ns=1)
            for i in range(0, len(data), 50_000):  # not in whole chunks
                f.write(data[i : i + 50_000])
            f.finish()
        snapshot = w.commit()
    return w, snapshot


def chunks(data: bytes) -> list[bytes]:
    return [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]


FILES = {
    "audio/long.opus": os.urandom(5 * CHUNK + 123),  # several chunks
    "notes/one.json": b"{}" * 1000,  # one chunk (compressed)
    "notes/empty.json": b"",
}


def test_a_new_store_identifies_chunks_by_keyed_blake3(tmp_path: Path):
    """Config version 2: each chunk's id is BLAKE3 keyed with the store's BLAKE3 id key;
    the snapshot still holds each file's plaintext SHA-256, and it all reads back."""
    store = create_store(tmp_path / "store", chunk_size=CHUNK, pack_size=1 << 20)
    _w, snapshot = write_files(store, FILES)
    raw = (tmp_path / "store" / CONFIG_NAME).read_bytes()
    assert raw[8:10] == b"\0\2" and raw[43] == ContentId.BLAKE3
    reopened = open_store(tmp_path / "store")
    assert reopened.config.content_id is ContentId.BLAKE3
    assert reopened.keys.content_id is ContentId.BLAKE3
    for entry in snapshot.entries:
        data = FILES[entry.path]
        assert list(entry.blobs) == [reopened.keys.blake3_id(c) for c in chunks(data)]
        assert entry.sha256 == hashlib.sha256(data).hexdigest()
        assert reopened.read_file(entry) == data
    assert not check(reopened, read_data=True).problems


def test_a_version_1_store_keeps_its_hmac_sha256_ids(tmp_path: Path):
    """A store made before BLAKE3 ids (config version 1) is backed up into with its own
    ids: its chunks still deduplicate, and every point reads back."""
    store = create_store(
        tmp_path / "store", chunk_size=CHUNK, pack_size=1 << 20, content_id=ContentId.HMAC_SHA256
    )
    assert len((tmp_path / "store" / CONFIG_NAME).read_bytes()) == 107
    write_files(store, FILES)
    reopened = open_store(tmp_path / "store")
    assert reopened.config.content_id is ContentId.HMAC_SHA256 and reopened.config.version == 1
    w, snapshot = write_files(reopened, FILES)
    assert w.stats.blobs_new == 0 and w.stats.blobs_known == 7  # 6 + 1 chunks, all held
    keys = reopened.keys
    for entry in snapshot.entries:
        data = FILES[entry.path]
        assert list(entry.blobs) == [
            hmac.digest(keys.id_key, hashlib.sha256(c).digest(), "sha256") for c in chunks(data)
        ]
        assert reopened.read_file(entry) == data
    assert not check(reopened, read_data=True).problems


def sealed_blob(keys: StoreKeys, content: bytes, blob_id: bytes) -> tuple[BlobInfo, bytes]:
    sealed = seal(keys.blob, content, blob_aad(blob_id, 0, len(content)))
    return BlobInfo(blob_id, 0, len(content) + SEAL_OVERHEAD, len(content)), sealed


@pytest.mark.parametrize("content_id", [ContentId.BLAKE3, ContentId.HMAC_SHA256])
def test_a_blob_is_checked_against_its_id(content_id):
    """A blob sealed (authentically) under an id that is not its content's is refused on
    reading: the id check holds for either content id, and a salvage that does not know
    the store's content id accepts a blob of either, nothing else."""
    keys = StoreKeys(os.urandom(16), new_store_key(), content_id)
    content, other = os.urandom(1000), os.urandom(1000)
    right, _ = blob_id_of(keys, content)
    wrong, _ = blob_id_of(keys, other)
    plain, _digest = open_blob(keys, *sealed_blob(keys, content, right), "packs/x")
    assert plain == content
    with pytest.raises(DamagedStoreError, match="content and id differ"):
        open_blob(keys, *sealed_blob(keys, content, wrong), "packs/x")
    unknown = StoreKeys(keys.store_id, keys.master, None)
    assert open_blob(unknown, *sealed_blob(keys, content, right), "packs/x")[0] == content
    with pytest.raises(DamagedStoreError, match="content and id differ"):
        open_blob(unknown, *sealed_blob(keys, content, wrong), "packs/x")
    # the other construction's id of the same content is not this store's
    other_kind = StoreKeys(keys.store_id, keys.master, ContentId(3 - content_id))
    foreign, _ = blob_id_of(other_kind, content)
    assert foreign != right
    with pytest.raises(DamagedStoreError, match="content and id differ"):
        open_blob(keys, *sealed_blob(keys, content, foreign), "packs/x")


def test_a_blake3_store_without_its_config_is_salvaged(tmp_path: Path):
    """The content id is in the config: a salvage without it still reads every file."""
    store = create_store(tmp_path / "store", chunk_size=CHUNK, pack_size=1 << 20)
    _w, snapshot = write_files(store, FILES)
    (tmp_path / "store" / CONFIG_NAME).unlink()
    salvaged = open_store(tmp_path / "store", salvage=True)
    assert salvaged.read_only and salvaged.keys.content_id is None
    for entry in snapshot.entries:
        assert salvaged.read_file(entry) == FILES[entry.path]


class _Watched(LocalStorage):
    """A folder that notes the objects put whole, and how big the temporary file a pack
    is being written into was each time a blob was sealed."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.put_whole: list[str] = []
        self.partial_sizes: list[int] = []

    def _put(self, name, source, size, *, durable):
        self.put_whole.append(name)
        super()._put(name, source, size, durable=durable)

    def open_deferred(self):
        partial = super().open_deferred()
        watched = self
        write = partial.write

        class Watch:
            def write(self, data):
                write(data)
                watched.partial_sizes.append(partial.size)

            def publish(self, name, **how):
                partial.publish(name, **how)

            def discard(self):
                partial.discard()

        return Watch()


def test_packs_are_written_into_a_local_folder_as_they_fill(tmp_path: Path):
    """Each blob goes to the pack's file as soon as it is sealed (no pack-sized buffer
    copied out at the end); the pack gets its name when complete, and nothing is left in
    the temporary folder."""
    storage = _Watched(tmp_path / "store")
    store = Store.create(storage, CheapPassword("pw"), chunk_size=CHUNK, pack_size=1 << 20)
    data = os.urandom(40 * CHUNK)
    _w, snapshot = write_files(store, {"audio/a.opus": data})
    assert not [n for n in storage.put_whole if n.startswith("packs/")]
    assert storage.partial_sizes[:3] == [(CHUNK + SEAL_OVERHEAD) * i for i in (1, 2, 3)]
    packs = list((tmp_path / "store" / "packs").rglob("*"))
    assert len([p for p in packs if p.is_file()]) >= 2
    assert list((tmp_path / "store" / ".tmp").iterdir()) == []
    assert open_store(tmp_path / "store", password="pw").read_file(snapshot.entries[0]) == data


def test_a_failed_pack_write_fails_the_backup_and_leaves_no_partial_pack(
    tmp_path: Path, monkeypatch
):
    """No space in the middle of a pack: the backup fails (exit 6: StoreFullError), the
    pack's temporary file is removed, no snapshot is written, and the store still holds
    only whole packs (a later backup works)."""
    store = create_store(tmp_path / "store", chunk_size=CHUNK, pack_size=1 << 20)
    monkeypatch.setenv("THERABAK_FAILPOINTS", f"enospc-after={store.written[0] + 3 * CHUNK}")
    faults.reload()
    try:
        with pytest.raises(StoreFullError):
            write_files(store, {"audio/a.opus": os.urandom(40 * CHUNK)})
    finally:
        monkeypatch.delenv("THERABAK_FAILPOINTS")
        faults.reload()
    root = tmp_path / "store"
    assert list((root / ".tmp").iterdir()) == []
    assert not list((root / "snapshots").glob("*")) if (root / "snapshots").exists() else True
    again = open_store(root)
    _w, snapshot = write_files(again, FILES)
    assert not check(again, read_data=True).problems
    assert again.read_file(next(e for e in snapshot.entries if e.path == "audio/long.opus"))


def test_compressed_blobs_keep_their_blake3_ids(tmp_path: Path):
    """A compressed chunk's id is its plaintext's (the flag and the frame change nothing)."""
    store = create_store(tmp_path / "store", chunk_size=CHUNK, pack_size=1 << 20)
    data = b"session note " * 20_000
    _w, snapshot = write_files(store, {"notes/long.json": data})
    entry = snapshot.entries[0]
    reopened = open_store(tmp_path / "store")
    infos = [reopened.blob_info(b) for b in entry.blobs]
    assert all(i is not None and i.flags & FLAG_COMPRESSED for i in infos)
    assert list(entry.blobs) == [reopened.keys.blake3_id(c) for c in chunks(data)]
    assert reopened.read_file(entry) == data


def test_a_local_folder_makes_deferred_objects_durable_while_later_ones_are_put(tmp_path: Path):
    """put_deferred: an object put two puts ago is fsynced by the thread that puts (a
    backup's uploader), so the barrier at the commit is left only the last ones."""
    import io

    storage = LocalStorage(tmp_path / "store")
    names = [f"packs/0{i}/0{i}" + "0" * 62 for i in range(4)]
    for name in names:
        storage.put_deferred(name, io.BytesIO(b"x" * 1000), 1000)
    left = {p.relative_to(tmp_path / "store").as_posix() for p in storage._unsynced}
    assert left == set(names[2:])
    storage.sync()
    assert not storage._unsynced and not storage._unsynced_dirs
    assert [storage.get(n) for n in names] == [b"x" * 1000] * 4
