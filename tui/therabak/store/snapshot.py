"""Snapshots (``snapshots/<64 hex>``): one per backup, its complete index. The commit.

A snapshot is a public header (magic, version, store id, time and UTC offset, kind,
content size, bytes the backup added, categories, checksum) followed by the sealed
body: a zstd-compressed JSON document with every file (path, category, size, mtime,
file identity, plaintext SHA-256, raw flag and key id, its blobs) and the facts of the
backup (host, the practice's account key id, the parent snapshot, what was skipped).
The public header is the body's associated data, so it cannot be changed either. A
snapshot is named by the SHA-256 of its bytes. Layout in FORMAT.md, "snapshots/".

File names are kept exactly as the source file system gives them: a name that is not
valid Unicode (POSIX bytes carried as ``surrogateescape``, or a Windows name with a lone
surrogate) is written as JSON ``\\uXXXX`` escapes of its lone surrogates, which JSON
keeps as they are (the body is ASCII JSON).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from json.encoder import encode_basestring_ascii as _json_str
from typing import Any, Protocol, TypeVar

import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from therabak.errors import DamagedArchiveError, TherabakError
from therabak.i18n import _
from therabak.store.binary import Reader, i16, i64, u16, u64
from therabak.store.blob import ID_SIZE
from therabak.store.errors import DamagedStoreError
from therabak.store.keys import NONCE_SIZE, STORE_ID_SIZE, StoreKeys
from therabak.store.snapshot_body import BodyCopier, ParentBody
from therabak.storedpaths import check_relative_path

PREFIX = "snapshots/"
MAGIC = b"TBSNAP01"
VERSION = 1
BODY_VERSION = 1
CHECKSUM_SIZE = 32
MAX_CATEGORIES_LENGTH = 4096
MAX_BODY = 1 << 30  # decompressed
_NOT_A_BYTE = re.compile(r"[\ud800-\udc7f\udd00-\udfff]")
_ENCODE_BATCH = 1024  # entries per piece of a snapshot's body given to zstd
#: zstd level of a snapshot's body: on the bench practice's (8.7 MB of JSON, mostly hex)
#: level 1 took 13 ms and gave 2.88 MB, level 3 30 ms and 3.17 MB
BODY_LEVEL = 1
_FIXED = 8 + 2 + 2 + STORE_ID_SIZE + 8 + 2 + 1 + 1 + 8 + 8 + 2
_AAD = b"therabak store snapshot v1"
_NAME_RE = re.compile(r"snapshots/([0-9a-f]{64})")
_CATEGORY = re.compile(r"[a-z0-9][a-z0-9.\-]{0,63}")


class SnapshotKind(StrEnum):
    MANUAL = "manual"
    AUTO = "auto"


KIND_CODES = {SnapshotKind.MANUAL: 1, SnapshotKind.AUTO: 2}
KIND_OF_CODE = {v: k for k, v in KIND_CODES.items()}


def snapshot_name(snapshot_id: str) -> str:
    return f"{PREFIX}{snapshot_id}"


def snapshot_id_of(name: str) -> str | None:
    m = _NAME_RE.fullmatch(name)
    return m.group(1) if m else None


def damaged(name: str, what: str) -> DamagedStoreError:
    return DamagedStoreError(
        _("{name} is damaged ({what}).").format(name=name, what=what), name=name
    )


def path_problem(path: Any) -> str | None:
    """Why *path* cannot be a file's path in a snapshot, or None: the one name policy of
    every backup (:func:`therabak.archive.index.check_relative_path`): only what is unsafe
    wherever it is written is refused; a name another system cannot hold is kept as the
    source gave it, and the restore's name plan decides what it becomes on the target.
    One difference: a lone surrogate that stands for no byte (an NTFS name with an
    unpaired UTF-16 surrogate) is kept too, as the name Windows gave."""
    try:
        check_relative_path(_NOT_A_BYTE.sub("_", path) if isinstance(path, str) else path)
    except DamagedArchiveError as e:
        return e.message
    return None


_FIELDS = (
    "path",
    "category",
    "size",
    "mtime_ns",
    "digest",
    "refs",
    "identity",
    "source_size",
    "sealed",
    "raw",
    "key_id",
)


class SnapshotEntry:
    """One file of a snapshot.

    Compact, as a backup holds one for every file of the parent and of the new snapshot
    (for 113,000 files each byte here is 113 kB at the peak): the plaintext hash is kept
    as its 32 bytes (``digest``; :attr:`sha256` gives the hex) and the content references
    as one ``bytes`` of their ids joined (``refs``; :attr:`blobs` gives the tuple), not as
    a 64-character string and a tuple of 1-element ``bytes``."""

    __slots__ = _FIELDS

    path: str  # relative to Data, "/"-separated, exactly as the file system gave it
    category: str
    size: int  # content bytes (plaintext; for a raw entry the sealed file)
    mtime_ns: int
    digest: bytes  # SHA-256 of the content
    refs: bytes  # the ids of its blobs, joined (ID_SIZE bytes each)
    identity: str  # the file's identity on its file system ("" when unknown)
    source_size: int  # the file's size in Data when read (-1: unknown)
    sealed: bool | None  # sealed at rest in Data (an envelope)
    raw: bool  # the content is the still-sealed envelope (account key key_id)
    key_id: str

    def __init__(
        self,
        path: str,
        category: str,
        size: int,
        mtime_ns: int,
        sha256: str | bytes,
        blobs: tuple[bytes, ...] | bytes = (),
        identity: str = "",
        source_size: int = -1,
        sealed: bool | None = None,
        raw: bool = False,
        key_id: str = "",
    ) -> None:
        self.path = path
        self.category = category
        self.size = size
        self.mtime_ns = mtime_ns
        self.digest = bytes.fromhex(sha256) if isinstance(sha256, str) else sha256
        self.refs = blobs if isinstance(blobs, bytes) else b"".join(blobs)
        self.identity = identity
        self.source_size = source_size
        self.sealed = sealed
        self.raw = raw
        self.key_id = key_id

    @property
    def sha256(self) -> str:
        """The content's SHA-256, hex."""
        return self.digest.hex()

    @property
    def blobs(self) -> tuple[bytes, ...]:
        refs = self.refs
        if len(refs) == ID_SIZE:
            return (refs,)
        return tuple(refs[i : i + ID_SIZE] for i in range(0, len(refs), ID_SIZE))

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in _FIELDS)

    def __eq__(self, other: object) -> bool:
        if type(other) is not SnapshotEntry:
            return NotImplemented
        return self._values() == other._values()

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass was

    def __repr__(self) -> str:
        return "SnapshotEntry({})".format(
            ", ".join(f"{name}={getattr(self, name)!r}" for name in _FIELDS)
        )

    def to_json(self) -> str:
        text = (
            f'{{"p":{_json_str(self.path)},"c":{_json_str(self.category)},"s":{int(self.size)},'
            f'"m":{int(self.mtime_ns)},"h":"{self.digest.hex()}","b":"{self.refs.hex()}"'
        )
        if self.identity:
            text += f',"i":{_json_str(self.identity)}'
        if self.source_size >= 0:
            text += f',"z":{int(self.source_size)}'
        if self.sealed is not None:
            text += ',"e":true' if self.sealed else ',"e":false'
        if self.raw:
            text += f',"r":true,"k":{_json_str(self.key_id)}'
        return text + "}"


@dataclass(frozen=True)
class SnapshotHeader:
    """The public part: what ``list`` shows without a password."""

    store_id: bytes
    created: datetime  # aware, in the creator's UTC offset
    kind: SnapshotKind
    categories: tuple[str, ...]
    size: int  # content bytes of the files it holds
    added: int  # bytes this backup added to the store
    raw: bytes = field(default=b"", repr=False)  # the header's bytes

    def to_bytes(self) -> bytes:
        cats = ",".join(self.categories).encode("ascii")
        offset = self.created.utcoffset() or timedelta(0)
        head = (
            MAGIC
            + u16(VERSION)
            + u16(_FIXED + len(cats) + CHECKSUM_SIZE)
            + self.store_id
            + i64(int(self.created.timestamp()))
            + i16(int(offset.total_seconds() // 60))
            + bytes((KIND_CODES[self.kind], 0))
            + u64(self.size)
            + u64(self.added)
            + u16(len(cats))
            + cats
        )
        return head + hashlib.sha256(head).digest()


@dataclass
class Snapshot:
    snapshot_id: str
    header: SnapshotHeader
    entries: list[SnapshotEntry]
    host: str = ""
    account_key_id: str = ""
    parent: str | None = None
    program: str = ""
    skipped: list[dict[str, str]] = field(default_factory=list)
    # a backup's parent: its body kept for the next snapshot (store/snapshot_body.py)
    body: ParentBody | None = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        return snapshot_name(self.snapshot_id)

    @property
    def created(self) -> datetime:
        return self.header.created

    @property
    def kind(self) -> SnapshotKind:
        return self.header.kind

    def blob_ids(self) -> set[bytes]:
        ids: set[bytes] = set()
        for e in self.entries:
            refs = e.refs
            if len(refs) == ID_SIZE:
                ids.add(refs)
            else:
                ids.update(e.blobs)
        return ids


def encode_snapshot(
    keys: StoreKeys,
    header: SnapshotHeader,
    entries: Iterable[SnapshotEntry],
    *,
    host: str,
    account_key_id: str,
    parent: str | None,
    program: str,
    skipped: list[dict[str, str]],
    parent_body: ParentBody | None = None,
) -> tuple[str, bytearray]:
    """(snapshot id, bytes). With *parent_body* (the parent's, store/snapshot_body.py),
    the text of the parent's entries that *entries* holds as they were is copied from it;
    a body that cannot be read again as it was read (a stored one damaged or changed
    since, or not readable now) is not copied from: every entry is encoded anew.
    :func:`stream_snapshot` into memory (a remote store puts the bytes whole)."""
    sid, _size, out = stream_snapshot(
        keys,
        header,
        entries if isinstance(entries, list) else list(entries),
        _MemoryOut,
        host=host,
        account_key_id=account_key_id,
        parent=parent,
        program=program,
        skipped=skipped,
        parent_body=parent_body,
    )
    return sid, out.data


#: what reading a parent's body again can fail with (then every entry is encoded anew)
_BODY_NOT_READ = (ValueError, InvalidTag, zstandard.ZstdError, OSError, TherabakError)


class SnapshotOut(Protocol):
    """Where a snapshot's bytes go as they are made (``Store.open_deferred``'s object)."""

    def write(self, data: bytes | bytearray | memoryview) -> None: ...

    def discard(self) -> None: ...


_Out = TypeVar("_Out", bound=SnapshotOut)


class _MemoryOut:
    """A snapshot's bytes kept in memory (:func:`encode_snapshot`)."""

    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.data += data

    def discard(self) -> None:
        self.data = bytearray()


def stream_snapshot(
    keys: StoreKeys,
    header: SnapshotHeader,
    entries: list[SnapshotEntry],
    open_out: Callable[[], _Out],
    *,
    host: str,
    account_key_id: str,
    parent: str | None,
    program: str,
    skipped: list[dict[str, str]],
    parent_body: ParentBody | None = None,
) -> tuple[str, int, _Out]:
    """:func:`encode_snapshot`, its bytes written to an object of *open_out* as they are
    made, never whole in memory (for 113,000 files 10 MB at the peak of the commit):
    (snapshot id, size, the object written, to publish under the snapshot's name). An
    object written with the parent's body that fails is discarded, and a new one is
    written with every entry encoded anew; on an error, nothing is left."""
    meta = (host, account_key_id, parent, program, skipped)
    for body in (parent_body, None) if parent_body is not None else (None,):
        out = open_out()
        try:
            sid, size = _encoded(keys, header, entries, meta, body, out)
            return sid, size, out
        except _OutFailed as e:  # writing failed (a full disk): no second try
            out.discard()
            raise e.error from None
        except _BODY_NOT_READ:
            out.discard()
            if body is None:
                raise
        except BaseException:
            out.discard()
            raise
    raise AssertionError("unreachable")  # the last pass returns or raises


def _encoded(
    keys: StoreKeys,
    header: SnapshotHeader,
    entries: list[SnapshotEntry],
    meta: tuple[str, str, str | None, str, list[dict[str, str]]],
    parent_body: ParentBody | None,
    out: SnapshotOut,
) -> tuple[str, int]:
    """(id, size): the snapshot's bytes written to *out*."""
    host, account_key_id, parent, program, skipped = meta
    head = {
        "v": BODY_VERSION,
        "host": host,
        "account_key_id": account_key_id,
        "parent": parent,
        "program": program,
        "skipped": skipped,
    }
    text = json.dumps(head, ensure_ascii=True, separators=(",", ":"))
    start = f'{text[:-1]},"entries":['.encode("ascii")
    # the pieces of the entries' text: an entry to encode, or a run of the parent's
    # entries taken over as they were, copied from its body (store/snapshot_body.py)
    plan = parent_body.plan(entries) if parent_body is not None else entries
    # ASCII (escaped): as many bytes as characters. The size is declared up front, as
    # parse_snapshot requires: a first pass counts it without keeping the pieces (for
    # 100,000 files they were 30 MB at the peak of the commit), the second compresses
    # them as they are encoded, in batches, and zstd's output is sealed as it comes
    # (AES-256-GCM as a stream: the same bytes as ``seal``) into the one buffer that is
    # the snapshot: neither the body nor its compressed form is ever whole in memory
    # beside it (for 113,000 files the compressed body, sealed body and the joined
    # snapshot were three 10 MB copies at the peak of the commit)
    size = (
        len(start)
        + sum(p[1] - p[0] if type(p) is tuple else len(p.to_json()) for p in plan)
        + max(len(plan) - 1, 0)
        + 2
    )
    public = header.to_bytes()
    nonce = os.urandom(NONCE_SIZE)
    sink = _SealingSink(keys.snapshot_key, nonce, _AAD + public, public + nonce, out)
    cctx = zstandard.ZstdCompressor(level=BODY_LEVEL, write_content_size=True)
    with cctx.stream_writer(sink, size=size, closefd=False) as writer:
        writer.write(start)
        if parent_body is None:
            for i in range(0, len(entries), _ENCODE_BATCH):
                batch = ",".join([e.to_json() for e in entries[i : i + _ENCODE_BATCH]])
                writer.write((f",{batch}" if i else batch).encode("ascii"))
        else:
            with parent_body.copier() as copier:
                _write_plan(plan, writer.write, copier)
        writer.write(b"]}")
    sink.finish()
    return sink.hash.hexdigest(), sink.size


def _write_plan(plan: list, write, copier: BodyCopier) -> None:
    """The entries' text of *plan* (entries, and spans of the parent's body) to *write*,
    comma-separated; the entries encoded in batches."""
    batch: list[str] = []
    written = False  # anything written yet (then a comma goes before what comes)
    for piece in plan:
        if type(piece) is tuple:
            if batch:
                write(("," if written else "").encode("ascii") + ",".join(batch).encode("ascii"))
                batch, written = [], True
            if written:
                write(b",")
            copier.copy(piece, write)
            written = True
            continue
        batch.append(piece.to_json())
        if len(batch) >= _ENCODE_BATCH:
            write(("," if written else "").encode("ascii") + ",".join(batch).encode("ascii"))
            batch, written = [], True
    if batch:
        write(("," if written else "").encode("ascii") + ",".join(batch).encode("ascii"))


class _OutFailed(Exception):
    """Writing a snapshot's bytes out failed with *error* (told apart from a failure to
    read the parent's body again, which only costs encoding every entry)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class _SealingSink:
    """A file-like sink: what is written is encrypted (AES-256-GCM, streamed) after *head*
    onto *out* as it comes; :meth:`finish` appends the tag, laid out as ``seal`` lays it
    out. ``hash`` is the SHA-256 of every byte, ``size`` their number."""

    __slots__ = ("_encryptor", "_out", "hash", "size")

    def __init__(self, key: bytes, nonce: bytes, aad: bytes, head: bytes, out: SnapshotOut) -> None:
        self._encryptor = Cipher(algorithms.AES(key), modes.GCM(nonce)).encryptor()
        self._encryptor.authenticate_additional_data(aad)
        self._out = out
        self.hash = hashlib.sha256()
        self.size = 0
        self._put(head)

    def _put(self, data: bytes) -> None:
        self.hash.update(data)
        self.size += len(data)
        try:
            self._out.write(data)
        except BaseException as e:
            raise _OutFailed(e) from e

    def write(self, data: bytes | memoryview) -> int:
        self._put(self._encryptor.update(data))
        return len(data)

    def flush(self) -> None:
        pass

    def finish(self) -> None:
        self._put(self._encryptor.finalize())
        self._put(self._encryptor.tag)


def parse_header(data: bytes, name: str) -> tuple[SnapshotHeader, int]:
    """The public header (untrusted bytes; needs no key) and where the body starts."""
    r = Reader(data, name)
    if r.take(8) != MAGIC:
        raise r.damaged(_("not a snapshot"))
    if r.u16() != VERSION:
        raise r.damaged(_("version"))
    size = r.u16()
    store_id = r.take(STORE_ID_SIZE)
    created_s = r.i64()
    offset_min = r.i16()
    kind_code, flags = r.u8(), r.u8()
    content, added = r.u64(), r.u64()
    cat_len = r.u16()
    if size != _FIXED + cat_len + CHECKSUM_SIZE or cat_len > MAX_CATEGORIES_LENGTH:
        raise r.damaged(_("header size"))
    cats_raw = r.take(cat_len)
    if hashlib.sha256(data[: r.pos]).digest() != r.take(CHECKSUM_SIZE):
        raise r.damaged(_("checksum"))
    if kind_code not in KIND_OF_CODE or flags or not -1440 < offset_min < 1440:
        raise r.damaged(_("header"))
    try:
        cats_text = cats_raw.decode("ascii")
    except UnicodeDecodeError:
        raise r.damaged(_("categories")) from None
    categories = tuple(cats_text.split(",")) if cats_text else ()
    if any(not _CATEGORY.fullmatch(c) for c in categories):
        raise r.damaged(_("categories"))
    try:
        tz = timezone(timedelta(minutes=offset_min))
        created = datetime.fromtimestamp(created_s, UTC).astimezone(tz)
    except (OverflowError, OSError, ValueError):
        raise r.damaged(_("time")) from None
    header = SnapshotHeader(
        store_id, created, KIND_OF_CODE[kind_code], categories, content, added, data[: r.pos]
    )
    return header, r.pos
