"""Reading a whole snapshot (``snapshots/<64 hex>``, untrusted bytes): its name and hash,
its header, the sealed body opened and decompressed with bounds checked first, and the
JSON document read entry by entry (each element of ``"entries"`` checked and converted as
it is decoded, never a document of every entry's dict). The types, the header and the
encoder are ``store/snapshot.py``; the layout is FORMAT.md, "snapshots/"."""

from __future__ import annotations

import hashlib
import json
import json.scanner
import re
from typing import Any

import zstandard

from therabak.i18n import _
from therabak.store.blob import ID_SIZE
from therabak.store.config import MAX_CHUNK_SIZE
from therabak.store.keys import StoreKeys, unseal
from therabak.store.snapshot import (
    _AAD,
    _CATEGORY,
    BODY_VERSION,
    MAX_BODY,
    Snapshot,
    SnapshotEntry,
    SnapshotHeader,
    damaged,
    parse_header,
    path_problem,
    snapshot_id_of,
)
from therabak.store.snapshot_body import EntrySpans, ParentBody
from therabak.storedpaths import MAX_PATH_LENGTH

MAX_COMPONENT_LENGTH = 255
_INT_LIMIT = 1 << 62
_HEX_DIGITS = "0123456789abcdef"
_new = object.__new__
_UNSAFE_LEAVES = frozenset({"", ".", ".."})
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX16 = re.compile(r"[0-9a-f]{16}")
_ENTRY_KEYS = frozenset({"p", "c", "s", "m", "i", "z", "h", "b", "e", "r", "k"})
_TOP_KEYS = frozenset({"v", "host", "account_key_id", "parent", "program", "skipped", "entries"})


def parse_snapshot(
    keys: StoreKeys, data: bytes, name: str, *, check_name: bool = True, keep_body: bool = False
) -> Snapshot:
    """Open and check a whole snapshot (untrusted bytes). Without *check_name* (salvage),
    a snapshot found under another name is read too; its id is its hash. With
    *keep_body* (a backup's parent), the snapshot keeps its compressed body and where
    each entry lies in it (``Snapshot.body``, store/snapshot_body.py), so that the next
    snapshot can take over the encoded text of the entries it takes over unchanged."""
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
    # offsets in the text are offsets in the body's bytes only when it is ASCII (what
    # every writer writes): another body is read as well, but keeps nothing for reuse
    spans = EntrySpans() if keep_body and text.isascii() else None
    entries = _Entries(name, spans)
    try:
        doc = _streamed_document(text, entries.add)
    except (ValueError, RecursionError):
        raise damaged(name, _("not readable")) from None
    del text
    snapshot = _snapshot_of(doc, entries, snapshot_id, header, name)
    if spans is not None and doc.get("entries") is _STREAMED:
        sealed = memoryview(bytes(data))[start:]  # the snapshot's own bytes (no copy of bytes)
        snapshot.body = ParentBody(
            sealed, keys.snapshot_key, _AAD + header.raw, snapshot.entries, spans
        )
    return snapshot


_DECODE = json.JSONDecoder().raw_decode
_SCAN = json.scanner.make_scanner(json.JSONDecoder())  # raw_decode without its frame
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
    """The elements of the array whose first one begins at *pos* to *on_item* (with
    where each begins and ends in *text*); returns where the array ends. The scanner is
    ``raw_decode``'s own, called without its Python frame, and the white space the
    writer never writes (between elements) is looked for only where it may be: this
    runs for every file of the parent at the start of every backup."""
    space = _SPACE.match
    scan = _SCAN
    if text.startswith("]", pos):
        return pos + 1
    while True:
        try:
            item, end = scan(text, pos)
        except StopIteration:  # what raw_decode turns into its JSONDecodeError
            raise ValueError("a value expected") from None
        on_item(item, pos, end)
        del item
        if text.startswith(",", end):
            pos = end + 1
            if not text.startswith("{", pos):
                pos = space(text, pos).end()
            continue
        pos = space(text, end).end()
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

    def __init__(self, name: str, spans: EntrySpans | None = None) -> None:
        self.name = name
        self.spans = spans  # where each entry lies in the body (kept for reuse), or None
        self.entries: list[SnapshotEntry] = []
        self.seen: set[str] = set()
        self.categories: dict[str, str] = {}  # one str object per category (each checked once)
        self.paths = _PathCheck()
        self.total = 0

    def add(self, raw: Any, start: int = -1, end: int = -1) -> None:
        entry = _entry_of(raw, self.name, self.categories, self.paths)
        path = entry.path
        if path in self.seen:
            raise damaged(self.name, _("the same path twice"))
        self.seen.add(path)
        self.entries.append(entry)
        self.total += entry.size
        if self.spans is not None:
            self.spans.add(start, end)


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
        parsed.spans = None  # not where they lie in the body: nothing kept for reuse
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
    # made without SnapshotEntry's __init__ (its conversions are for callers with hex
    # or tuples; everything here is converted already): a third of the time, per file
    entry = _new(SnapshotEntry)
    entry.path = path
    entry.category = known
    entry.size = size
    entry.mtime_ns = mtime
    entry.digest = bytes.fromhex(sha)
    entry.refs = refs
    entry.identity = identity
    entry.source_size = source_size
    entry.sealed = True if raw_flag else sealed
    entry.raw = raw_flag
    entry.key_id = key_id
    return entry
