"""Writing one backup into a store: files in, blobs into packs, a snapshot as the commit.

::

    writer = store.begin_backup(parent, SnapshotMeta(kind=..., categories=...))
    for each file:
        entry = writer.unchanged(path, size, mtime_ns, identity)
        if entry: writer.reuse(entry, category=...)      # not read at all (or, for many
                                                         # at once: writer.reuse_all(...))
        else:
            f = writer.add_file(path, category, mtime_ns=..., identity=...)
            ... f.write(plaintext) ...                   # any number of times
            f.finish()   (or f.abort(): a failed read attempt leaves nothing in the snapshot)
    snapshot = writer.commit()                           # or writer.abort()

A file's content is cut into chunks of the store's chunk size; each chunk's keyed id is
looked up, and only chunks the store does not hold yet are sealed and packed. A file's
first chunk is identified on the caller's thread, later ones on the backup's chunk thread
(a few per file waiting: ``store/file_writer.py``), while the caller reads on and the
background hasher takes the whole file's SHA-256: the two hashing passes over a large file
run beside each other. Full packs are put by background threads (as many as the storage's
``puts_in_flight``: one for a local folder) while the next fills, without waiting for
each to be durable; into a local folder a pack is written as it fills (each blob right
after it was sealed) and the background thread only publishes it under its name. Commit puts
the last pack, an index file for the new packs (and for packs an interrupted backup
left, whose headers were verified when the index was loaded: adopted), then makes them
all durable at once (``Store.sync``, the storage's barrier), then puts the snapshot.
Until the snapshot is put, nothing refers to the new packs: a kill leaves
only packs that the next backup adopts or prune reclaims.

``add_file``, ``reuse`` and the file writers may be used from several threads (one file
writer per thread); ``commit`` and ``abort`` once, from one.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from therabak import __version__, faults
from therabak.i18n import _
from therabak.store.blob import ID_SIZE, Compressor, blob_aad, blob_id_of
from therabak.store.errors import DamagedStoreError, StoreError
from therabak.store.file_writer import FileWriter
from therabak.store.index import PackRecord
from therabak.store.locks import this_host
from therabak.store.pack import FinishedPack, PackBuilder, pack_name
from therabak.store.snapshot import (
    Snapshot,
    SnapshotEntry,
    SnapshotHeader,
    SnapshotKind,
    encode_snapshot,
    parse_header,
    path_problem,
    snapshot_name,
    stream_snapshot,
)

if TYPE_CHECKING:  # concurrent.futures (and logging) only when a file has a second chunk
    from concurrent.futures import Future, ThreadPoolExecutor

_STOP = object()


class FileLike(Protocol):
    """A file of a scan, as :meth:`BackupWriter.unchanged_all` looks at it."""

    path: str
    size: int
    mtime_ns: int

    @property
    def identity(self) -> str: ...


@dataclass
class SnapshotMeta:
    """What the caller says about a backup."""

    kind: SnapshotKind
    categories: tuple[str, ...]
    account_key_id: str = ""  # the practice's account key (hex) when the backup was made
    host: str = field(default_factory=this_host)
    created: datetime | None = None  # default: now, in local time


@dataclass
class BackupStats:
    files: int = 0  # in the snapshot
    files_reused: int = 0  # taken from the parent without reading
    bytes_in: int = 0  # content bytes of every file in the snapshot
    bytes_read: int = 0  # content bytes that went through write()
    bytes_new: int = 0  # content bytes of chunks the store did not hold
    blobs_new: int = 0
    blobs_known: int = 0
    packs: int = 0
    bytes_added: int = 0  # bytes put into the store (packs, index, snapshot)


def _recategorised(entry: SnapshotEntry, category: str) -> SnapshotEntry:
    """*entry* (a parent's) under another category (the rules put the file elsewhere now)."""
    return SnapshotEntry(
        path=entry.path,
        category=category,
        size=entry.size,
        mtime_ns=entry.mtime_ns,
        sha256=entry.digest,
        blobs=entry.refs,
        identity=entry.identity,
        source_size=entry.source_size,
        sealed=entry.sealed,
        raw=entry.raw,
        key_id=entry.key_id,
    )


def same_file(prev: SnapshotEntry, size: int, mtime_ns: int, identity: str = "") -> bool:
    """Is a file of *size* bytes in Data, modified at *mtime_ns*, with *identity*, still
    the one *prev* (the parent snapshot's entry) was read from? Size, mtime and identity
    (when both know it) must match; a raw entry never does (the file may decrypt now)."""
    if prev.raw or prev.source_size != size or prev.mtime_ns != mtime_ns:
        return False
    return not (prev.identity and identity and prev.identity != identity)


class BackupWriter:
    """One backup into a store (see the module docstring)."""

    def __init__(self, store, parent: Snapshot | None, meta: SnapshotMeta) -> None:
        self.store = store
        self.keys = store.keys
        self.meta = meta
        self.parent = parent
        self.stats = BackupStats()
        self._mutex = threading.Lock()
        self._lock = store.lock(exclusive=False, what=_("backup")).acquire()
        try:
            self._index = store.reload_index()  # after the lock: no prune can change it now
        except BaseException:
            self._lock.release()
            raise
        self._adopted = set(store.unindexed)
        self._buffers: list[bytearray] = []  # buffers of packs that were put, for reuse
        self._buffers_made = 0  # pack buffers made: at most one more than puts in flight
        self._buffer_free = threading.Condition(self._mutex)
        self._pending: set[bytes] = set()  # chunks packed but not yet in a put pack
        self._pack: PackBuilder | None = None  # made by the first new chunk
        self._streamed = True  # packs are written as they fill, where the storage can
        self._new_packs: list[str] = []
        self._entries: dict[str, SnapshotEntry] = {}
        self._skipped: list[dict[str, str]] = []
        self._parent_entries = {e.path: e for e in parent.entries} if parent else {}
        # the parent's blobs the index lacks, looked up once (as a set, not per file): the
        # index only grows while this backup holds its lock, so a blob held now is held at
        # the commit; a file with a blob of these is tested against the index then
        self._parent_missing = self._index.missing_of(parent.entries) if parent else set()
        if parent is not None:  # the parent's ids are the index's: held once
            self._index.share_ids(e.refs for e in parent.entries if len(e.refs) == ID_SIZE)
        self._in_flight = max(1, int(getattr(store.storage, "puts_in_flight", 1)))
        self._queue: queue.Queue = queue.Queue()
        self._failed: BaseException | None = None
        self._uploaders = [
            threading.Thread(target=self._upload_loop, name=f"store-packs-{i}", daemon=True)
            for i in range(self._in_flight)
        ]
        for thread in self._uploaders:
            thread.start()
        self._chunker: ThreadPoolExecutor | None = None  # made by a file's second chunk
        self.closed = False
        self.snapshot: Snapshot | None = None

    def _new_pack(self) -> None:
        """The pack to fill next, in the buffer of a pack that was put; a new buffer
        only while fewer than ``puts_in_flight`` + 1 exist (else this waits for a put to
        end: two threads fill packs, and without the bound a third 16 MiB buffer was
        made while one pack was put and the next waited for it). Where the storage can
        (a local folder), the pack is written to it as it fills (``open_deferred``) and
        the buffer holds one sealed chunk at a time. Called with the mutex held
        (released while waiting)."""
        cfg = self.store.config
        while self._pack is None:
            if self._failed is not None:
                raise self._failed
            if self._buffers:
                buffer: bytearray | None = self._buffers.pop()
            elif self._buffers_made <= self._in_flight:
                self._buffers_made += 1
                buffer = None  # PackBuilder makes it
            else:
                self._buffer_free.wait(timeout=0.5)
                continue
            try:
                stream = self.store.open_deferred() if self._streamed else None
            except BaseException:
                if buffer is not None:
                    self._buffers.append(buffer)
                raise
            self._streamed = stream is not None
            self._pack = PackBuilder(self.keys, cfg.pack_size, cfg.chunk_size, buffer, stream)
            self._buffer_free.notify_all()  # another thread waiting for one fills it too

    # ---- the parent: files that need not be read -------------------------------------------

    @property
    def chunk_size(self) -> int:
        """The store's chunk size: what a file writer cuts its content into."""
        return self.store.config.chunk_size

    def parent_entry(self, path: str) -> SnapshotEntry | None:
        return self._parent_entries.get(path)

    def unchanged(
        self, path: str, size: int, mtime_ns: int, identity: str = ""
    ) -> SnapshotEntry | None:
        """The parent's entry for *path* when the file is unchanged since (same size in
        Data, mtime and identity; identity only when both know it) and every chunk of it
        is still in the store; else None (read the file). A raw entry is never reused: the
        file may decrypt now."""
        prev = self._parent_entries.get(path)
        if prev is None or not same_file(prev, size, mtime_ns, identity):
            return None
        return prev if self._holds(prev) else None

    def unchanged_all(self, files: Iterable[FileLike]) -> list[SnapshotEntry | None]:
        """:meth:`unchanged` for every file of a scan (each with ``path``, ``size``,
        ``mtime_ns`` and ``identity``), in order: the same test, in one loop (a call or
        three per file less: for 32,000 files ~25 ms of a second backup's CPU)."""
        parent = self._parent_entries
        missing = self._parent_missing
        out: list[SnapshotEntry | None] = []
        append = out.append
        for f in files:
            prev = parent.get(f.path)
            if (
                prev is None
                or prev.raw
                or prev.source_size != f.size
                or prev.mtime_ns != f.mtime_ns
            ):
                append(None)
                continue
            if prev.identity:  # identity only when both know it (same_file)
                identity = f.identity
                if identity and identity != prev.identity:
                    append(None)
                    continue
            if missing and not missing.isdisjoint(prev.blobs) and not self._holds(prev):
                append(None)
                continue
            append(prev)
        return out

    def _holds(self, entry: SnapshotEntry) -> bool:
        """Does the store hold every blob of *entry* (a parent's entry)? Only a file with a
        blob the index lacked when the backup began is looked up again."""
        missing = self._parent_missing
        if not missing or missing.isdisjoint(entry.blobs):
            return True
        with self._mutex:
            return self._index.holds_all(entry.blobs, self._pending)

    @property
    def new_packs(self) -> list[str]:
        """The ids of the packs this backup put (so far)."""
        with self._mutex:
            return list(self._new_packs)

    def reuse(self, entry: SnapshotEntry, *, category: str | None = None) -> SnapshotEntry:
        """Put *entry* (from the parent) into this snapshot without reading the file."""
        self._check_held(entry)
        if category is None or category == entry.category:
            self.add_entry(entry, read=0, reused=True)  # the same object: no copy in memory
            return entry
        new = _recategorised(entry, category)
        self.add_entry(new, read=0, reused=True)
        return new

    def reuse_all(self, reused: Iterable[tuple[SnapshotEntry, str]]) -> None:
        """:meth:`reuse` for many entries (each with its category now), the writer's lock
        taken once: every entry is checked first, so a refusal adds none of them."""
        self._check_open()
        items = [
            (e if c == e.category else _recategorised(e, c))
            for e, c in reused
            if self._check_held(e)
        ]
        with self._mutex:
            entries, stats = self._entries, self.stats
            for entry in items:
                old = entries.get(entry.path)
                if old is not None:
                    stats.bytes_in -= old.size
                    stats.files -= 1
                entries[entry.path] = entry
                stats.bytes_in += entry.size
            stats.files += len(items)
            stats.files_reused += len(items)

    def _check_held(self, entry: SnapshotEntry) -> bool:
        """True when the store holds every blob of *entry*, else DamagedStoreError."""
        if not self._holds(entry):
            raise DamagedStoreError(
                _("{path}: its content is no longer in the store; read it again.").format(
                    path=entry.path
                )
            )
        return True

    # ---- new content ------------------------------------------------------------------------

    def add_file(
        self,
        path: str,
        category: str,
        *,
        mtime_ns: int,
        identity: str = "",
        sealed: bool | None = None,
        raw: bool = False,
        key_id: str = "",
        source_size: int = -1,
    ) -> FileWriter:
        self._check_open()
        problem = path_problem(path)
        if problem:
            raise StoreError(
                _("{path} cannot be stored: {problem}").format(path=path, problem=problem)
            )
        return FileWriter(
            self,
            path=path,
            category=category,
            mtime_ns=mtime_ns,
            identity=identity,
            sealed=sealed,
            raw=raw,
            key_id=key_id,
            source_size=source_size,
        )

    def skip(self, path: str, reason: str) -> None:
        with self._mutex:
            self._skipped.append({"path": path, "reason": str(reason)})

    def _check_open(self) -> None:
        if self.closed:
            raise StoreError(_("The backup was already committed or aborted."))
        if self._failed is not None:
            raise self._failed

    def store_chunk(
        self, blob_id: bytes, chunk: bytes, compressor: Compressor, *, first: bool
    ) -> None:
        self._check_open()
        with self._mutex:
            if blob_id in self._index or blob_id in self._pending:
                self.stats.blobs_known += 1
                return
            self._pending.add(blob_id)
        try:
            payload, flags = compressor.payload(chunk, first=first)
            aad = blob_aad(blob_id, flags, len(chunk))
            full = None
            with self._mutex:  # sealed straight into the pack being filled
                if self._pack is None:  # the buffer of a pack that was put, if one is free
                    self._new_pack()
                assert self._pack is not None
                self._pack.seal_into(self.keys.blob, payload, aad, blob_id, flags, len(chunk))
                self.stats.blobs_new += 1
                self.stats.bytes_new += len(chunk)
                if self._pack.full:
                    full = self._pack.finish()
                    self._pack = None
                    if full.stream is not None:  # written: its chunk buffer is free now
                        self._buffers.append(full.buffer)
                        self._buffer_free.notify_all()
        except BaseException as e:
            with self._mutex:
                self._pending.discard(blob_id)
                pack = self._pack
                if pack is not None and pack.broken:  # a write failed: the pack is lost,
                    pack.discard()  # and so is this backup (its blobs were counted in)
                    self._pack = None
                    if self._failed is None:
                        self._failed = e
            raise
        if full is not None:
            self._send(full)

    def chunk_later(self, piece: bytes, compressor: Compressor) -> Future[bytes]:
        """Identify and store *piece* on the chunk thread (one for the backup, so a
        file's compressor is used by one thread at a time); the future gives its id."""
        self._check_open()
        with self._mutex:
            if self._chunker is None:
                from concurrent.futures import ThreadPoolExecutor

                self._chunker = ThreadPoolExecutor(1, thread_name_prefix="store-chunks")
            chunker = self._chunker
        return chunker.submit(self._identify_and_store, piece, compressor)

    def _identify_and_store(self, piece: bytes, compressor: Compressor) -> bytes:
        blob_id, _digest = blob_id_of(self.keys, piece)
        self.store_chunk(blob_id, piece, compressor, first=False)
        return blob_id

    def _send(self, pack: FinishedPack) -> None:
        """Hand *pack* to the uploaders once fewer than ``puts_in_flight`` packs are being
        put: memory holds the pack being filled and at most that many more."""
        while True:  # wait for an uploader, but notice when one failed
            self._check_open()
            with self._queue.all_tasks_done:
                if self._queue.unfinished_tasks >= self._in_flight:
                    self._queue.all_tasks_done.wait(timeout=0.5)
                    continue
            self._queue.put(pack)
            return

    def _upload_loop(self) -> None:
        while True:
            pack = self._queue.get()
            try:
                if pack is _STOP:
                    return
                if self._failed is None:
                    self._upload(pack)
                elif pack.stream is not None:
                    pack.stream.discard()
            except BaseException as e:  # noqa: BLE001 - handed to the writer's thread
                self._failed = e
            finally:
                pack = None  # its buffer goes now, not when the next one comes
                self._queue.task_done()

    def _upload(self, pack: FinishedPack) -> None:
        # durable at the commit's barrier (store.sync): nothing refers to it before
        if pack.stream is not None:
            pack.stream.publish(pack.name)
        else:
            self.store.put(pack.name, pack.data, durable=False)
        faults.point("store.pack")
        with self._mutex:
            self._index.add_pack(
                pack.pack_id,
                PackRecord(pack.size, pack.blobs),
                ids=[b.info.id for b in pack.blobs],  # the entries' own id objects
            )
            for b in pack.blobs:
                self._pending.discard(b.info.id)
            self._new_packs.append(pack.pack_id)
            self.stats.packs += 1
            self.stats.bytes_added += pack.size
            if pack.stream is None:  # the next pack fills it: no new 16 MiB
                self._buffers.append(pack.buffer)
                self._buffer_free.notify_all()

    def add_entry(self, entry: SnapshotEntry, *, read: int, reused: bool = False) -> None:
        self._check_open()
        with self._mutex:
            old = self._entries.get(entry.path)
            if old is not None:
                self.stats.bytes_in -= old.size
                self.stats.files -= 1
            self._entries[entry.path] = entry
            self.stats.files += 1
            self.stats.bytes_in += entry.size
            self.stats.bytes_read += read
            if reused:
                self.stats.files_reused += 1

    # ---- the end ------------------------------------------------------------------------------

    def commit(self) -> Snapshot:
        """Put what is left, the index, then the snapshot (the commit); returns it."""
        self._check_open()
        try:
            with self._mutex:
                last = self._pack.finish() if self._pack is not None and len(self._pack) else None
                if self._pack is not None and last is None:
                    self._pack.discard()  # begun, but nothing was written into it
                self._pack = None
            if last is not None:
                self._send(last)
            self._queue.join()
            self._check_open()
            last = None  # the last pack's buffer too (it is put)
            with self._mutex:  # no pack is filled any more: their buffers (16 MiB each) go
                self._buffers.clear()  # before the index and the snapshot are encoded
            adopted = sorted(self._adopted & set(self._index.packs))
            packs = [*self._new_packs, *adopted]
            for index_file in self._index.files_for(packs):
                name = self.store.write_index(index_file, durable=False)
                self.stats.bytes_added += self.store.storage.size(name) or 0
                faults.point("store.index")
            # the barrier: every pack and index file is durable before the snapshot that
            # needs them is put (packs adopted from a run that died are made so too)
            self.store.sync(also=[pack_name(p) for p in adopted])
            faults.point("store.synced")
            self._lock.confirm()
            snapshot = self._snapshot()
            faults.point("store.snapshot")
            self.store.unindexed.difference_update(self._adopted)
            self.snapshot = snapshot
            return snapshot
        finally:
            self._close()

    def _snapshot(self) -> Snapshot:
        created = (self.meta.created or datetime.now().astimezone()).replace(microsecond=0)
        if created.tzinfo is None:
            created = created.astimezone()
        if self.parent is not None and created <= self.parent.created:
            # times are whole seconds: a backup made in its parent's second (or on a clock
            # set back) is one second after it, so the newest point ("latest", the next
            # parent, retention) is always the one made last
            created = (self.parent.created + timedelta(seconds=1)).astimezone(created.tzinfo)
        entries = sorted(self._entries.values(), key=lambda e: e.path)
        # what only the files' part of the backup needed goes before the snapshot is
        # encoded, the peak of the commit (for 113,000 files two dicts of 3.7 MB each):
        # nothing is added or looked up from here on (the writer closes, even on an error)
        self._entries.clear()
        self._parent_entries = {}
        self._parent_missing = set()
        size = sum(e.size for e in entries)
        categories = tuple(sorted(set(self.meta.categories)))
        # the snapshot's own size is not known before it is encoded: added counts the rest
        header = SnapshotHeader(
            store_id=self.store.store_id,
            created=created,
            kind=SnapshotKind(self.meta.kind),
            categories=categories,
            size=size,
            added=self.stats.bytes_added,
        )
        about = {
            "host": self.meta.host,
            "account_key_id": self.meta.account_key_id,
            "parent": self.parent.snapshot_id if self.parent else None,
            "program": f"therabak {__version__}",
            "skipped": self._skipped,
            "parent_body": self.parent.body if self.parent is not None else None,
        }
        first = self.store.open_deferred("snapshots/")
        if first is None:  # (a remote storage) the bytes in memory, put whole
            snapshot_id, data = encode_snapshot(self.keys, header, entries, **about)
            self.store.put(snapshot_name(snapshot_id), data)
            self.stats.bytes_added += len(data)
            del data  # the snapshot's bytes go before the Snapshot is returned
        else:
            # written to the store as they are made (a local folder): never whole in
            # memory (113,571 files: 10 MB at the peak of the commit), then published
            # under its name and made durable as a put would (the commit)
            opened = [first]
            snapshot_id, size, out = stream_snapshot(
                self.keys,
                header,
                entries,
                lambda: opened.pop() if opened else self.store.open_deferred("snapshots/"),
                **about,
            )
            try:  # its bytes durable before its name: the name is the commit
                out.publish(snapshot_name(snapshot_id), durable=True)
            except BaseException:
                out.discard()
                raise
            self.store.sync()
            self.stats.bytes_added += size
        parsed, _start = parse_header(header.to_bytes(), snapshot_name(snapshot_id))
        return Snapshot(
            snapshot_id,
            parsed,
            entries,
            host=self.meta.host,
            account_key_id=self.meta.account_key_id,
            parent=self.parent.snapshot_id if self.parent else None,
            program=f"therabak {__version__}",
            skipped=list(self._skipped),
        )

    def abort(self) -> None:
        """No snapshot: what was packed stays for the next backup to adopt, or for prune."""
        if not self.closed:
            self._close()

    def _close(self) -> None:
        if self.closed:
            return
        if self._chunker is not None:  # chunks handed to it are packed (and full packs
            self._chunker.shutdown(wait=True)  # sent) first, as if stored on the spot
        self.closed = True
        try:
            while True:  # drop what waits; the pack being put finishes
                try:
                    dropped = self._queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(dropped, FinishedPack) and dropped.stream is not None:
                    dropped.stream.discard()
                self._queue.task_done()
            for _thread in self._uploaders:
                self._queue.put(_STOP)
            for thread in self._uploaders:
                thread.join()
        finally:
            self._buffers.clear()  # 16 MiB each: not kept while a verify reads back
            if self._pack is not None:
                self._pack.discard()  # streamed: its temporary file goes
            self._pack = None
            self._lock.release()

    def __enter__(self) -> BackupWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None or not self.closed:
            self.abort()


__all__ = ["BackupStats", "BackupWriter", "FileWriter", "SnapshotMeta", "same_file"]
