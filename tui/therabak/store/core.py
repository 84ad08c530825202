"""The backup store: create, open, list and read snapshots, change the password.

Everything goes through a :class:`~therabak.storage.base.Storage` (a folder, later S3,
SFTP, WebDAV): object names only, no file-system calls. What is read without a
password (key files, :func:`~therabak.store.public.peek`, the snapshots' public headers)
is ``store/public.py``; putting one object ``store/objects.py``; unlocking (config, key
files and their problems) ``store/opening.py``; reading the index files and the packs'
headers ``store/loaded_index.py``. Writing a backup is
``store/backup.py``; forget and prune ``store/prune.py``; check ``store/check.py``.
The bytes are in FORMAT.md beside this file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from therabak import faults
from therabak.archive.hashing import Sha256Behind
from therabak.crypto.kdf import Argon2Params
from therabak.crypto.recovery import RecoveryCode
from therabak.crypto.slots import Slot, SlotType, with_recovery, without_recovery
from therabak.errors import UsageError
from therabak.i18n import _, ngettext
from therabak.storage.base import ObjectExistsError, ObjectNotFoundError, Storage, StorageError
from therabak.store import config as config_mod
from therabak.store.blob import BlobInfo, open_blob
from therabak.store.config import StoreConfig, parse_config
from therabak.store.errors import (
    DamagedFileError,
    DamagedStoreError,
    StoreError,
)
from therabak.store.index import (
    BlobIndex,
    IndexFile,
    Location,
    PackRecord,
)
from therabak.store.keyfile import PREFIX as KEYS_PREFIX
from therabak.store.keyfile import (
    KeyFile,
    SlotMaker,
    Unlock,
    current_keyfiles,
)
from therabak.store.keys import ContentId, StoreKeys, new_store_key
from therabak.store.loaded_index import index_from_headers, load_index
from therabak.store.locks import StoreLock
from therabak.store.objects import StreamedObject, put_object
from therabak.store.opening import open_keys
from therabak.store.pack import pack_name
from therabak.store.problems import Problem
from therabak.store.public import (
    MIN_ID_PREFIX,
    SnapshotInfo,
    list_snapshots,
    store_exists,
)
from therabak.store.snapshot import PREFIX as SNAPSHOTS_PREFIX
from therabak.store.snapshot import (
    Snapshot,
    SnapshotEntry,
    snapshot_id_of,
    snapshot_name,
)
from therabak.store.snapshot_read import parse_snapshot

if TYPE_CHECKING:
    from therabak.store.backup import BackupWriter, SnapshotMeta


class Store:
    """An open (unlocked) backup store. Reading is thread-safe; see ``begin_backup``."""

    def __init__(
        self,
        storage: Storage,
        config: StoreConfig,
        keys: StoreKeys,
        keyfile: KeyFile,
        keyfiles: list[KeyFile],
        unlocked_with: SlotType,
        problems: list[Problem],
        *,
        salvage: bool = False,
    ) -> None:
        self.storage = storage
        self.config = config
        if keys.content_id is not config.content_id:  # ids are made as the config says
            keys = dataclasses.replace(keys, content_id=config.content_id)
        self.keys = keys
        self.keyfile = keyfile  # the key file that opened the store
        self.keyfiles = keyfiles  # every authentic key file
        self.unlocked_with = unlocked_with
        self.problems = problems  # found while opening (damaged or superseded key files ...)
        self.read_only = salvage  # opened despite a damaged config: reading only
        self.written = [0]  # bytes put by this process (failpoints)
        self._index: BlobIndex | None = None
        self._index_lock = threading.Lock()
        self.index_problems: list[Problem] = []
        self.index_files: list[str] = []  # names of the index files read (or unreadable)
        self.superseded_index: set[str] = set()  # index files a newer one replaces
        self.unindexed: set[str] = set()  # packs no index file names (adopted from headers)
        self.missing_packs: dict[str, PackRecord] = {}  # named by an index, not in the storage
        self._header_index: BlobIndex | None = None
        self.notes: list[str] = []  # what reading had to work around (found elsewhere ...)

    # ---- creating and opening -------------------------------------------------------------

    @classmethod
    def create(
        cls,
        storage: Storage,
        protection: SlotMaker,
        *,
        created: int | None = None,
        chunk_size: int = config_mod.DEFAULT_CHUNK_SIZE,
        pack_size: int = config_mod.DEFAULT_PACK_SIZE,
        content_id: ContentId = ContentId.BLAKE3,
    ) -> Store:
        """Make a new store in an empty *storage*: a key file first, the config last (the
        config is the store's commit; key files without a config are what a create that
        was interrupted left, and are removed by the next create)."""
        if storage.size(config_mod.NAME) is not None:
            raise StoreError(
                _("There is a backup store in {place} already.").format(place=storage.location)
            )
        if store_exists(storage):
            raise DamagedStoreError(
                _(
                    "{place} holds parts of a backup store without its config: it is damaged, "
                    "not empty; refusing to make a new store over it."
                ).format(place=storage.location),
                name=config_mod.NAME,
            )
        for obj in list(storage.list(KEYS_PREFIX)):  # an interrupted create's key file
            storage.delete(obj.name)
        now = int(time.time()) if created is None else created
        cfg = StoreConfig.new(
            created=now, chunk_size=chunk_size, pack_size=pack_size, content_id=content_id
        )
        key = new_store_key()
        keys = StoreKeys(cfg.store_id, key, content_id)
        slots = protection.slots(key)
        keyfile = KeyFile.new(cfg.store_id, slots, created=now)
        written = [0]
        put_object(storage, keyfile.name, keyfile.to_bytes(keys), written)
        faults.point("store.create")
        data = cfg.to_bytes(keys)
        put_object(storage, config_mod.NAME, data, written)
        store = cls(storage, parse_config(data), keys, keyfile, [keyfile], slots[0].type, [])
        store.written = written
        return store

    @classmethod
    def open(cls, storage: Storage, unlock: Unlock, *, salvage: bool = False) -> Store:
        """Open the store in *storage* with what *unlock* holds. With *salvage*, a damaged
        or missing config is put up with (the store can then only be read)."""
        o = open_keys(storage, unlock, salvage=salvage)
        return cls(
            storage,
            o.config,
            o.keys,
            o.keyfile,
            o.keyfiles,
            o.unlocked_with,
            o.problems,
            salvage=o.salvage,
        )

    @property
    def location(self) -> str:
        return self.storage.location

    @property
    def store_id(self) -> bytes:
        return self.config.store_id

    def put(self, name: str, data: bytes | bytearray | memoryview, *, durable: bool = True) -> None:
        """Put an object; not *durable*: only after the next :meth:`sync`."""
        if self.read_only:
            raise StoreError(_("The store was opened for salvage only; it cannot be changed."))
        put_object(self.storage, name, data, self.written, durable=durable)

    def open_deferred(self, what: str = "packs/") -> StreamedObject | None:
        """An object to write piece by piece and publish under its name when complete
        (durable after the next :meth:`sync`), or None where the storage has none.
        *what*: the kind of object, for messages."""
        if self.read_only:
            raise StoreError(_("The store was opened for salvage only; it cannot be changed."))
        partial = self.storage.open_deferred()
        if partial is None:
            return None
        return StreamedObject(self.storage, partial, self.written, what)

    def sync(self, *, also: Iterable[str] = ()) -> None:
        """The durability barrier: every object put so far (and the objects *also*, put
        by a process that died) survives a power loss."""
        self.storage.sync(also=also)

    def lock(self, *, exclusive: bool, what: str) -> StoreLock:
        """A lock on the store (not yet taken: use it as a context manager)."""
        return StoreLock(self.storage, self.keys, exclusive=exclusive, what=what)

    # ---- the index ----------------------------------------------------------------------------

    def index(self) -> BlobIndex:
        """Where every blob lies: the index files, completed from the headers of packs no
        index names (left by an interrupted backup: adopted) and without packs that are gone."""
        with self._index_lock:
            if self._index is None:
                self._index = self._load_index()
            return self._index

    def reload_index(self) -> BlobIndex:
        with self._index_lock:
            self._index = None  # not two indexes in memory while the new one is read
            self._index = self._load_index()
            return self._index

    def _load_index(self) -> BlobIndex:
        loaded = load_index(self.storage, self.keys)
        self.index_problems = loaded.problems
        self.index_files = loaded.files
        self.superseded_index = loaded.superseded
        self.unindexed = loaded.unindexed
        self.missing_packs = loaded.missing_packs
        self._header_index = None
        return loaded.index

    def header_index(self) -> BlobIndex:
        """The index rebuilt from every pack's own header (read only when a blob is not
        where the index says: damaged index files, packs swapped or renamed)."""
        with self._index_lock:
            if self._header_index is None:
                self._header_index = index_from_headers(self.storage, self.keys)
            return self._header_index

    # ---- snapshots ----------------------------------------------------------------------------

    def snapshots(self, problems: list[Problem] | None = None) -> list[SnapshotInfo]:
        """Every snapshot, oldest first, from their public headers (damaged ones are left
        out and reported in *problems*)."""
        return list_snapshots(self.storage, self.store_id, problems if problems is not None else [])

    def resolve(self, ref: str) -> str:
        """The snapshot id that *ref* (an id, or at least 8 of its first hex digits) names."""
        ref = ref.strip().lower()
        if snapshot_id_of(snapshot_name(ref)) == ref:
            return ref
        if len(ref) < MIN_ID_PREFIX or any(c not in "0123456789abcdef" for c in ref):
            raise UsageError(
                _("Not a snapshot id: {ref} (give at least {n} hex digits)").format(
                    ref=ref, n=MIN_ID_PREFIX
                )
            )
        matches = [
            sid
            for obj in self.storage.list(SNAPSHOTS_PREFIX + ref[:2])
            if (sid := snapshot_id_of(obj.name)) and sid.startswith(ref)
        ]
        if not matches:
            raise UsageError(_("No snapshot {ref} in this store.").format(ref=ref))
        if len(matches) > 1:
            raise UsageError(
                _("{ref} names more than one snapshot; give more digits.").format(ref=ref)
            )
        return matches[0]

    def load_snapshot(
        self, snapshot_id: str, *, salvage: bool = False, keep_body: bool = False
    ) -> Snapshot:
        """A snapshot, checked. With *salvage*, one stored under another name (swapped,
        renamed) is still read: its content authenticates; its id is then its hash. With
        *keep_body*, a backup's parent: see ``parse_snapshot``."""
        name = snapshot_name(snapshot_id)
        storage = self.storage
        # no reference kept here: the parser lets the bytes go once it has opened them
        # (a parent's, with *keep_body*, are kept by the snapshot itself; where reading
        # a part of them again is cheap, as from a local store, only where they are)
        return parse_snapshot(
            self.keys,
            self._snapshot_bytes(name),
            name,
            check_name=not salvage,
            keep_body=keep_body,
            read_again=(
                (lambda offset, length: storage.get(name, offset, length))
                if keep_body and storage.cheap_partial_reads
                else None
            ),
        )

    def _snapshot_bytes(self, name: str) -> bytes:
        try:
            return self.storage.get(name)
        except ObjectNotFoundError:
            raise DamagedStoreError(_("{name} is missing.").format(name=name), name=name) from None

    def latest(
        self,
        *,
        kind: str | None = None,
        account_key_id: str | None = None,
        keep_body: bool = False,
    ) -> Snapshot | None:
        """The newest readable snapshot (of *kind*, of the practice *account_key_id*): the
        parent of the next backup (*keep_body*: for a backup that will write a snapshot
        after it, see ``parse_snapshot``)."""
        for info in reversed(self.snapshots()):
            if kind is not None and info.header.kind != kind:
                continue
            try:
                snap = self.load_snapshot(info.snapshot_id, keep_body=keep_body)
            except DamagedStoreError:
                continue
            if account_key_id is None or snap.account_key_id == account_key_id:
                return snap
        return None

    # ---- reading content ----------------------------------------------------------------------

    def read_blob(
        self, blob_id: bytes, *, path: str = "", check_id: bool = True
    ) -> tuple[bytes, bytes]:
        """(plaintext, SHA-256) of a blob: tried where the index says, then wherever the
        packs' own headers say. DamagedFileError naming *path* when no copy is intact.
        *check_id*: see :func:`~therabak.store.blob.open_blob`."""
        tried: set[tuple[str, int]] = set()
        errors: list[str] = []
        for source in (self.index, self.header_index):  # the headers only if needed
            for loc in source().locate(blob_id):
                if (loc.pack_id, loc.blob.offset) in tried:
                    continue
                tried.add((loc.pack_id, loc.blob.offset))
                try:
                    found = self._read_at(loc, check_id)
                except (DamagedStoreError, StorageError) as e:
                    errors.append(getattr(e, "message", str(e)))
                    continue
                if errors or source == self.header_index:
                    self.notes.append(
                        _("{path}: read from {name}, not where the index says").format(
                            path=path or blob_id.hex()[:16], name=pack_name(loc.pack_id)
                        )
                    )
                return found
        reason = errors[0] if errors else self._lost_where(blob_id)
        raise DamagedFileError(
            _("{path}: {reason}").format(path=path or blob_id.hex()[:16], reason=reason),
            path=path,
            reason=reason,
        )

    def _lost_where(self, blob_id: bytes) -> str:
        """Why a blob is in no pack: the pack an index names for it is missing, or none."""
        for pack_id, record in self.missing_packs.items():
            if any(b.info.id == blob_id for b in record.blobs):
                return _("its content was in {name}, which is missing").format(
                    name=pack_name(pack_id)
                )
        return _("its content is in no pack of the store")

    def _read_at(self, loc: Location, check_id: bool = True) -> tuple[bytes, bytes]:
        name = pack_name(loc.pack_id)
        sealed = self.storage.get_immutable(name, loc.blob.offset, loc.info.length)
        return open_blob(self.keys, loc.info, sealed, name, check_id=check_id)

    def blob_info(self, blob_id: bytes) -> BlobInfo | None:
        locs = self.index().locate(blob_id)
        return locs[0].info if locs else None

    def open_file(self, entry: SnapshotEntry) -> Iterator[bytes]:
        """The content of *entry*, chunk by chunk (bounded memory), every chunk checked; at
        the end its size and SHA-256. DamagedFileError (naming the path) on any mismatch:
        a reader must discard what it got. A file of several chunks is hashed whole on
        the background hasher (while its next chunk is read and the caller writes this
        one), and that hash stands for its chunks' own: each chunk is still authenticated
        (AES-GCM, its id in the associated data), only its SHA-256 is not taken twice."""
        whole = Sha256Behind() if len(entry.blobs) != 1 else None
        check_id = whole is None
        size = 0
        digest = b""
        for blob_id in entry.blobs:
            plain, digest = self.read_blob(blob_id, path=entry.path, check_id=check_id)
            size += len(plain)
            if whole is not None:
                whole.update(plain)
            elif not digest:  # a BLAKE3 store: the id was not made from the SHA-256
                digest = hashlib.sha256(plain).digest()
            yield plain
        hexdigest = whole.hexdigest() if whole is not None else digest.hex()
        if size != entry.size or hexdigest != entry.sha256:
            reason = _("its content does not match the snapshot")
            raise DamagedFileError(
                _("{path}: {reason}").format(path=entry.path, reason=reason),
                path=entry.path,
                reason=reason,
            )

    def read_file(self, entry: SnapshotEntry) -> bytes:
        """The whole content of a (small) file."""
        return b"".join(self.open_file(entry))

    def file_problem(self, entry: SnapshotEntry) -> str | None:
        """None when *entry* reads back intact, else why not (a salvage read)."""
        try:
            for _chunk in self.open_file(entry):
                pass
        except DamagedStoreError as e:
            return e.message
        return None

    def salvage(self, snapshot: Snapshot) -> Iterator[tuple[SnapshotEntry, str | None]]:
        """Every file of *snapshot* with None when it reads back intact, else the reason:
        a damaged pack costs only the files whose content lies in it."""
        for entry in snapshot.entries:
            yield entry, self.file_problem(entry)

    # ---- writing ------------------------------------------------------------------------------

    def begin_backup(self, parent: Snapshot | None, meta: SnapshotMeta) -> BackupWriter:
        """A backup into this store (takes a shared lock until commit or abort)."""
        from therabak.store.backup import BackupWriter

        if self.read_only:
            raise StoreError(_("The store was opened for salvage only; it cannot be changed."))
        return BackupWriter(self, parent, meta)

    def write_index(self, index_file: IndexFile, *, durable: bool = True) -> str:
        from therabak.store.index import encode_index

        name, data = encode_index(self.keys, index_file)
        try:
            self.put(name, data, durable=durable)
        except ObjectExistsError:
            pass  # the same index (same bytes) is there already
        return name

    # ---- the password ------------------------------------------------------------------------

    def change_password(self, new_password: str, *, params: Argon2Params | None = None) -> KeyFile:
        """Give the key file that opened the store a new password slot (other slots kept):
        the new key file is put first, superseding the old, then the old is deleted, so a
        kill between the two leaves a store that opens (with either password until the
        next password change or prune removes the old key file)."""
        if not new_password:
            raise UsageError(_("The password is empty."))
        slots = [s for s in self.keyfile.slots if s.type is not SlotType.PASSWORD]
        slots.insert(0, Slot.password(self.keys.master, new_password, params))
        return self.rewrite_slots(slots, what=_("password change"), point="passwd.added")

    def set_recovery_code(self, code: RecoveryCode) -> KeyFile:
        """Give the store a recovery slot for *code* beside its password (replacing an
        earlier code, which then opens nothing), crash-safely like a password change."""
        if not any(s.type is SlotType.PASSWORD for s in self.keyfile.slots):
            raise UsageError(
                _(
                    "Only a backup store with a password can have a recovery code; this one "
                    "is locked with an account key or has no password: {place}"
                ).format(place=self.location)
            )
        slots = with_recovery(list(self.keyfile.slots), self.keys.master, code)
        return self.rewrite_slots(slots, what=_("recovery code"), point="recovery.added")

    def remove_recovery_code(self) -> KeyFile | None:
        """Take the recovery slot away (None when there is none: nothing is written)."""
        if not self.has_recovery_code:
            return None
        slots = without_recovery(list(self.keyfile.slots))
        return self.rewrite_slots(slots, what=_("recovery code"), point="recovery.added")

    @property
    def has_recovery_code(self) -> bool:
        return any(s.type is SlotType.RECOVERY for kf in self.keyfiles for s in kf.slots)

    def rewrite_slots(self, slots: list[Slot], *, what: str, point: str) -> KeyFile:
        """Replace the key file that opened the store by one holding *slots*, under an
        exclusive lock: the new key file is put (durable) first, naming the old one as
        superseded, then the old one and any other superseded ones are deleted. A kill
        between the two leaves a store that opens with the old slots and the new ones;
        a kill before leaves it as it was. Other key files stay as they are."""
        with self.lock(exclusive=True, what=what):
            old = self.keyfile
            _current, superseded = current_keyfiles(self.keyfiles)
            new = KeyFile.new(
                self.store_id,
                slots,
                created=int(time.time()),
                supersedes=[old.file_id],
            )
            self.put(new.name, new.to_bytes(self.keys))
            faults.point(point)
            self.storage.delete(old.name)
            for kf in superseded:
                if kf.file_id != old.file_id:
                    self.storage.delete(kf.name)
            self.keyfiles = [kf for kf in self.keyfiles if kf not in (old, *superseded)] + [new]
            self.keyfile = new
            self.problems = [p for p in self.problems if not p.name.startswith(KEYS_PREFIX)]
            return new


def describe_affected(affected: Iterable[tuple[str, str]]) -> str:
    items = sorted(set(affected))
    shown = ", ".join(f"{path} ({sid[:MIN_ID_PREFIX]})" for sid, path in items[:5])
    more = len(items) - 5
    if more > 0:
        shown += " " + ngettext("and {n} more", "and {n} more", more).format(n=more)
    return shown


__all__ = ["Store", "describe_affected"]
