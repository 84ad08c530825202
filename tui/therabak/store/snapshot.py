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
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from json.encoder import encode_basestring_ascii as _json_str
from typing import Any

import zstandard
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from therabak.errors import DamagedArchiveError
from therabak.i18n import _
from therabak.store.binary import Reader, i16, i64, u16, u64
from therabak.store.blob import ID_SIZE
from therabak.store.config import MAX_CHUNK_SIZE
from therabak.store.errors import DamagedStoreError
from therabak.store.keys import NONCE_SIZE, STORE_ID_SIZE, StoreKeys, unseal
from therabak.storedpaths import MAX_PATH_LENGTH, check_relative_path

PREFIX = "snapshots/"
MAGIC = b"TBSNAP01"
VERSION = 1
BODY_VERSION = 1
CHECKSUM_SIZE = 32
MAX_CATEGORIES_LENGTH = 4096
MAX_BODY = 1 << 30  # decompressed
_NOT_A_BYTE = re.compile(r"[\ud800-\udc7f\udd00-\udfff]")
MAX_COMPONENT_LENGTH = 255
_INT_LIMIT = 1 << 62
_HEX_DIGITS = "0123456789abcdef"
_ENCODE_BATCH = 1024  # entries per piece of a snapshot's body given to zstd
#: zstd level of a snapshot's body: on the bench practice's (8.7 MB of JSON, mostly hex)
#: level 1 took 13 ms and gave 2.88 MB, level 3 30 ms and 3.17 MB
BODY_LEVEL = 1
_UNSAFE_LEAVES = frozenset({"", ".", ".."})
_FIXED = 8 + 2 + 2 + STORE_ID_SIZE + 8 + 2 + 1 + 1 + 8 + 8 + 2
_AAD = b"therabak store snapshot v1"
_NAME_RE = re.compile(r"snapshots/([0-9a-f]{64})")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX16 = re.compile(r"[0-9a-f]{16}")
_CATEGORY = re.compile(r"[a-z0-9][a-z0-9.\-]{0,63}")
_ENTRY_KEYS = frozenset({"p", "c", "s", "m", "i", "z", "h", "b", "e", "r", "k"})
_TOP_KEYS = frozenset({"v", "host", "account_key_id", "parent", "program", "skipped", "entries"})


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
) -> tuple[str, bytearray]:
    """(snapshot id, bytes)."""
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
    entries = entries if isinstance(entries, list) else list(entries)
    # ASCII (escaped): as many bytes as characters. The size is declared up front, as
    # parse_snapshot requires: a first pass counts it without keeping the pieces (for
    # 100,000 files they were 30 MB at the peak of the commit), the second compresses
    # them as they are encoded, in batches, and zstd's output is sealed as it comes
    # (AES-256-GCM as a stream: the same bytes as ``seal``) into the one buffer that is
    # the snapshot: neither the body nor its compressed form is ever whole in memory
    # beside it (for 113,000 files the compressed body, sealed body and the joined
    # snapshot were three 10 MB copies at the peak of the commit)
    size = len(start) + sum(len(e.to_json()) for e in entries) + max(len(entries) - 1, 0) + 2
    public = header.to_bytes()
    nonce = os.urandom(NONCE_SIZE)
    sink = _SealingSink(keys.snapshot_key, nonce, _AAD + public, bytearray(public + nonce))
    cctx = zstandard.ZstdCompressor(level=BODY_LEVEL, write_content_size=True)
    with cctx.stream_writer(sink, size=size, closefd=False) as writer:
        writer.write(start)
        for i in range(0, len(entries), _ENCODE_BATCH):
            batch = ",".join([e.to_json() for e in entries[i : i + _ENCODE_BATCH]])
            writer.write((f",{batch}" if i else batch).encode("ascii"))
        writer.write(b"]}")
    data = sink.finish()
    return hashlib.sha256(data).hexdigest(), data


class _SealingSink:
    """A file-like sink: what is written is encrypted (AES-256-GCM, streamed) onto *out*;
    :meth:`finish` appends the tag and gives *out*, laid out as ``seal`` lays it out."""

    __slots__ = ("_encryptor", "_out")

    def __init__(self, key: bytes, nonce: bytes, aad: bytes, out: bytearray) -> None:
        self._encryptor = Cipher(algorithms.AES(key), modes.GCM(nonce)).encryptor()
        self._encryptor.authenticate_additional_data(aad)
        self._out = out

    def write(self, data: bytes | memoryview) -> int:
        self._out += self._encryptor.update(data)
        return len(data)

    def flush(self) -> None:
        pass

    def finish(self) -> bytearray:
        self._out += self._encryptor.finalize()
        self._out += self._encryptor.tag
        return self._out


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


def parse_snapshot(keys: StoreKeys, data: bytes, name: str, *, check_name: bool = True) -> Snapshot:
    """Open and check a whole snapshot (untrusted bytes). Without *check_name* (salvage),
    a snapshot found under another name is read too; its id is its hash."""
    snapshot_id = hashlib.sha256(data).hexdigest()
    if check_name and snapshot_id_of(name) != snapshot_id:
        raise damaged(name, _("its name is not its hash"))
    header, start = parse_header(data, name)
    if header.store_id != keys.store_id:
        raise damaged(name, _("it belongs to another store"))
    packed = unseal(keys.snapshot, memoryview(data)[start:], _AAD + header.raw, name=name)
    try:
        declared = zstandard.frame_content_size(packed)
    except zstandard.ZstdError:
        declared = -1
    if declared not in range(0, MAX_BODY + 1):  # checked before anything is decompressed
        raise damaged(name, _("not readable"))
    try:
        body = zstandard.ZstdDecompressor().decompress(packed, max_output_size=MAX_BODY)
        del packed
        # text first, and the bytes let go before the document is built: for 32,000 files
        # 9 MB less at the peak of every backup's start. UTF-8 without a BOM is what every
        # writer writes (the body is ASCII); a hostile body in UTF-16 or with a BOM, which
        # json.loads would take from bytes, is refused (UnicodeDecodeError is a ValueError).
        text = body.decode("utf-8")
        del body
    except (zstandard.ZstdError, ValueError):
        raise damaged(name, _("not readable")) from None
    entries = _Entries(name)
    try:
        doc = _streamed_document(text, entries.add)
    except (ValueError, RecursionError):
        raise damaged(name, _("not readable")) from None
    del text
    return _snapshot_of(doc, entries, snapshot_id, header, name)


_DECODE = json.JSONDecoder().raw_decode
_SPACE = re.compile(r"[ \t\n\r]*")
_STREAMED = object()  # the "entries" member: handed on one by one, not kept


def _streamed_document(text: str, on_entry) -> Any:
    """``json.loads(text)``, except that each element of the top-level object's
    ``"entries"`` array goes to *on_entry* as soon as it is decoded, and the array is not
    kept (the member is ``_STREAMED``): the body of a snapshot of 100,000 files as one
    document of dicts took ~170 MB at the start of every backup; this way one entry's
    dict lives at a time. Any other document is ``json.loads``'s (ValueError as there;
    a key given twice is refused too)."""
    space = _SPACE.match
    pos = space(text, 0).end()
    if not text.startswith("{", pos):
        doc = json.loads(text)
        return doc
    doc: dict[str, Any] = {}
    pos = space(text, pos + 1).end()
    if text.startswith("}", pos):
        pos += 1
    else:
        while True:
            if not text.startswith('"', pos):
                raise ValueError("a key expected")
            key, pos = _DECODE(text, pos)
            if key in doc:
                raise ValueError("a key given twice")
            pos = space(text, pos).end()
            if not text.startswith(":", pos):
                raise ValueError("':' expected")
            pos = space(text, pos + 1).end()
            if key == "entries" and text.startswith("[", pos):
                pos = _stream_array(text, space(text, pos + 1).end(), on_entry)
                doc[key] = _STREAMED
            else:
                doc[key], pos = _DECODE(text, pos)
            pos = space(text, pos).end()
            if text.startswith(",", pos):
                pos = space(text, pos + 1).end()
                continue
            if text.startswith("}", pos):
                pos += 1
                break
            raise ValueError("',' or '}' expected")
    if space(text, pos).end() != len(text):
        raise ValueError("extra data")
    return doc


def _stream_array(text: str, pos: int, on_item) -> int:
    """The elements of the array whose first one begins at *pos* to *on_item*; returns
    where the array ends."""
    space = _SPACE.match
    if text.startswith("]", pos):
        return pos + 1
    while True:
        item, pos = _DECODE(text, pos)
        on_item(item)
        del item
        pos = space(text, pos).end()
        if text.startswith(",", pos):
            pos = space(text, pos + 1).end()
            continue
        if text.startswith("]", pos):
            return pos + 1
        raise ValueError("',' or ']' expected")


class _PathCheck:
    """:func:`path_problem` for every path of one snapshot, each distinct folder checked
    once: a snapshot of 32,000 files has about 2,000 folders.

    Exactly as strict as :func:`path_problem` on each path (tests/test_store_fuzz.py
    compares the two): a path passes it if and only if its folder (the part before its
    last ``/``) passes and its last name is a safe name, because the policy checks the
    start of a path (absolute, drive, UNC) and each of its names on its own, and the whole
    length. So a path whose folder passed before and whose last name holds nothing the
    policy looks at (no backslash, no NUL, not empty, ``.`` or ``..``, at most 255
    characters) passes without the full check; any other path gets the full check, and
    when it passes its folder is remembered (every folder of a safe path is safe)."""

    __slots__ = ("folders",)

    def __init__(self) -> None:
        self.folders: set[str] = set()

    def problem(self, path: Any) -> str | None:
        if type(path) is str:
            folder, _sep, leaf = path.rpartition("/")
            if (
                folder in self.folders
                and leaf not in _UNSAFE_LEAVES
                and len(leaf) <= MAX_COMPONENT_LENGTH
                and len(path) <= MAX_PATH_LENGTH
                and "\\" not in leaf
                and "\x00" not in leaf
            ):
                return None
        problem = path_problem(path)
        if problem is None:
            folder = path.rpartition("/")[0]
            if folder:
                self.folders.add(folder)
        return problem


class _Entries:
    """The entries of a snapshot as they are parsed, each checked (and converted) at once."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.entries: list[SnapshotEntry] = []
        self.seen: set[str] = set()
        self.categories: dict[str, str] = {}  # one str object per category (each checked once)
        self.paths = _PathCheck()
        self.total = 0

    def add(self, raw: Any) -> None:
        entry = _entry_of(raw, self.name, self.categories, self.paths)
        path = entry.path
        if path in self.seen:
            raise damaged(self.name, _("the same path twice"))
        self.seen.add(path)
        self.entries.append(entry)
        self.total += entry.size


def _snapshot_of(
    doc: Any, parsed: _Entries, snapshot_id: str, header: SnapshotHeader, name: str
) -> Snapshot:
    if not isinstance(doc, dict) or doc.get("v") != BODY_VERSION or set(doc) - _TOP_KEYS:
        raise damaged(name, _("version"))
    host, account, parent, program = (
        doc.get("host", ""),
        doc.get("account_key_id", ""),
        doc.get("parent"),
        doc.get("program", ""),
    )
    if not isinstance(host, str) or len(host) > 255 or not isinstance(program, str):
        raise damaged(name, _("host"))
    if not isinstance(account, str) or (account and not _HEX16.fullmatch(account)):
        raise damaged(name, _("account"))
    if parent is not None and not (isinstance(parent, str) and _HEX64.fullmatch(parent)):
        raise damaged(name, _("parent"))
    skipped = doc.get("skipped", [])
    if not isinstance(skipped, list) or not all(
        isinstance(s, dict) and all(isinstance(v, str) for v in s.values()) for s in skipped
    ):
        raise damaged(name, _("skipped"))
    raw_entries = doc.get("entries")
    if raw_entries is not _STREAMED:
        if not isinstance(raw_entries, list):
            raise damaged(name, _("entries"))
        raw_entries.reverse()
        while raw_entries:  # consumed as converted: the dicts go as the entries come
            parsed.add(raw_entries.pop())
    parsed.seen.clear()
    if parsed.total != header.size:
        raise damaged(name, _("its size and files differ"))
    return Snapshot(
        snapshot_id,
        header,
        parsed.entries,
        host=host,
        account_key_id=account,
        parent=parent,
        program=program,
        skipped=skipped,
    )


def _entry_of(raw: Any, name: str, categories: dict[str, str], paths: _PathCheck) -> SnapshotEntry:
    """One entry of the body (untrusted): every field checked, in a tight loop (this runs
    for every file of the parent snapshot at the start of every backup)."""
    if type(raw) is not dict or not raw.keys() <= _ENTRY_KEYS:
        raise damaged(name, _("an entry"))
    get = raw.get
    path = get("p")
    problem = paths.problem(path)
    if problem:
        raise damaged(name, problem)
    category = get("c")
    known = categories.get(category) if type(category) is str else None
    if known is None:
        if not isinstance(category, str) or not _CATEGORY.fullmatch(category):
            raise damaged(name, _("category"))
        known = categories[category] = category
    size = get("s")
    if type(size) is not int or not 0 <= size < _INT_LIMIT:
        raise damaged(name, _("size"))
    mtime = get("m")
    if type(mtime) is not int or not -_INT_LIMIT <= mtime < _INT_LIMIT:
        raise damaged(name, _("mtime"))
    sha = get("h")
    # "only lowercase hex digits": nothing is left when they are stripped from both ends
    if type(sha) is not str or len(sha) != 64 or sha.strip(_HEX_DIGITS):
        raise damaged(name, _("hash"))
    blob_hex = get("b")
    if type(blob_hex) is not str or len(blob_hex) % (2 * ID_SIZE) or blob_hex.strip(_HEX_DIGITS):
        raise damaged(name, _("content references"))
    refs = bytes.fromhex(blob_hex)
    count = len(refs) // ID_SIZE
    if (size == 0) != (not count) or count > size or size > count * MAX_CHUNK_SIZE:
        raise damaged(name, _("content references"))
    identity = get("i", "")
    if type(identity) is not str or len(identity) > 128:
        raise damaged(name, _("file identity"))
    source_size = get("z", -1)
    if type(source_size) is not int or not -1 <= source_size < _INT_LIMIT:
        raise damaged(name, _("size"))
    if source_size == size:  # one int object for both (most files): 32 bytes less each
        source_size = size
    sealed = get("e")
    raw_flag = get("r", False)
    key_id = get("k", "")
    if (
        (sealed is not None and type(sealed) is not bool)
        or type(raw_flag) is not bool
        or type(key_id) is not str
        or (raw_flag and not _HEX16.fullmatch(key_id))
        or (not raw_flag and key_id)
    ):
        raise damaged(name, _("raw entry"))
    return SnapshotEntry(
        path,
        known,
        size,
        mtime,
        bytes.fromhex(sha),
        refs,
        identity,
        source_size,
        True if raw_flag else sealed,
        raw_flag,
        key_id,
    )
