"""Reading a whole snapshot (``snapshots/<64 hex>``, untrusted bytes): its name and hash,
its header, the sealed body opened, its size checked, then decompressed and read piece by
piece as a JSON document, entry by entry (each element of ``"entries"`` checked and
converted as it is decoded: never the whole body's text, never a document of every
entry's dict). The types, the header and the encoder are ``store/snapshot.py``; the
layout is FORMAT.md, "snapshots/"."""

from __future__ import annotations

import codecs
import hashlib
import json
import json.scanner
import re
from collections.abc import Callable, Iterable, Iterator
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
from therabak.store.snapshot_body import EntrySpans, ParentBody, StoredBody
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
    keys: StoreKeys,
    data: bytes,
    name: str,
    *,
    check_name: bool = True,
    keep_body: bool = False,
    read_again: Callable[[int, int], bytes] | None = None,
) -> Snapshot:
    """Open and check a whole snapshot (untrusted bytes). Without *check_name* (salvage),
    a snapshot found under another name is read too; its id is its hash. With
    *keep_body* (a backup's parent), the snapshot keeps its compressed body and where
    each entry lies in it (``Snapshot.body``, store/snapshot_body.py), so that the next
    snapshot can take over the encoded text of the entries it takes over unchanged:
    with *read_again* (``(offset, length) -> bytes`` of the stored snapshot: where that
    is cheap, a local store) not the bytes but where they are (``StoredBody``)."""
    snapshot_id = hashlib.sha256(data).hexdigest()
    if check_name and snapshot_id_of(name) != snapshot_id:
        raise damaged(name, _("its name is not its hash"))
    header, start = parse_header(data, name)
    if header.store_id != keys.store_id:
        raise damaged(name, _("it belongs to another store"))
    packed = unseal(keys.snapshot, memoryview(data)[start:], _AAD + header.raw, name=name)
    # the snapshot's own sealed bytes, kept for a parent (no copy); else let go here: the
    # caller lets go of them too (Store.load_snapshot keeps no reference)
    sealed: memoryview | StoredBody | None = None
    if keep_body:
        view = memoryview(data)[start:]
        sealed = view if read_again is None else StoredBody(read_again, start, view)
        del view
    del data
    try:
        declared = zstandard.frame_content_size(packed)
    except zstandard.ZstdError:
        declared = -1
    if declared not in range(0, MAX_BODY + 1):  # checked before anything is decompressed
        raise damaged(name, _("not readable"))
    spans = EntrySpans() if keep_body else None
    entries = _Entries(name, spans)
    text = _BodyText(packed, declared)
    try:
        doc = _streamed_document(text, entries.add)
    except (zstandard.ZstdError, ValueError, RecursionError):
        raise damaged(name, _("not readable")) from None
    snapshot = _snapshot_of(doc, entries, snapshot_id, header, name)
    # offsets in the text are offsets in the body's bytes only when it is ASCII (what
    # every writer writes): another body is read as well, but keeps nothing for reuse
    if sealed is not None and spans is not None and text.ascii and doc.get("entries") is _STREAMED:
        snapshot.body = ParentBody(
            sealed, keys.snapshot_key, _AAD + header.raw, snapshot.entries, spans
        )
    return snapshot


#: decompressed bytes per piece of a body's text: the body is never in memory whole
#: (100,000 files: a 31 MB string beside the entries, and its bytes before that)
PIECE = 1 << 16


class _BodyText:
    """The body's text, decompressed and decoded piece by piece (iterate once). UTF-8
    without a BOM is what every writer writes (the body is ASCII: ``ascii`` says whether
    every piece was); a hostile body in UTF-16 or with a BOM, which json.loads would take
    from bytes, is refused (UnicodeDecodeError is a ValueError), and so is a frame whose
    content is not the size its header declares."""

    def __init__(self, packed: bytes | memoryview, declared: int) -> None:
        self.packed = packed
        self.declared = declared
        self.ascii = True

    def __iter__(self) -> Iterator[str]:
        reader = zstandard.ZstdDecompressor().stream_reader(self.packed)
        decoder = codecs.getincrementaldecoder("utf-8")("strict")
        total = 0
        while chunk := reader.read(PIECE):
            total += len(chunk)
            if total > self.declared:
                raise ValueError("more than declared")
            if self.ascii and not chunk.isascii():
                self.ascii = False
            yield decoder.decode(chunk)
        if total != self.declared:
            raise ValueError("less than declared")
        yield decoder.decode(b"", final=True)


_SCAN = json.scanner.make_scanner(json.JSONDecoder())  # raw_decode without its frame
_SPACE = re.compile(r"[ \t\n\r]*")
_NUMBER_GOES_ON = frozenset("0123456789.eE+-")
_STREAMED = object()  # the "entries" member: handed on one by one, not kept


class _Text:
    """Text that comes in pieces, parsed from the front: what was parsed is let go when
    the next piece comes. A value cut by a piece's end is decoded again once more text
    is there (at least as much again as was left: linear, whatever a value's length)."""

    __slots__ = ("_pieces", "base", "buf", "end", "pos")

    def __init__(self, pieces: Iterable[str]) -> None:
        self._pieces = iter(pieces)
        self.buf = ""
        self.base = 0  # where buf begins in the whole text
        self.pos = 0
        self.end = False  # every piece is in buf

    def more(self) -> bool:
        """Read on; False when there was nothing more to read."""
        if self.end:
            return False
        parts = [self.buf[self.pos :]]
        want, got = len(parts[0]), 0
        while got <= want:
            piece = next(self._pieces, None)
            if piece is None:
                self.end = True
                break
            parts.append(piece)
            got += len(piece)
        self.base += self.pos
        self.buf, self.pos = "".join(parts), 0
        return True

    def skip_space(self) -> None:
        while True:
            self.pos = _SPACE.match(self.buf, self.pos).end()
            if self.pos < len(self.buf) or not self.more():
                return

    def at(self, char: str) -> bool:
        """Is *char* next (after skip_space)?"""
        return self.buf.startswith(char, self.pos)

    def value(self) -> Any:
        """The JSON value that begins here (ValueError as json's)."""
        return self.item()[0]

    def closed_after_member(self, close: str) -> bool:
        """After a member of an object or array: True at its closing *close* (read),
        False after a ``,`` (read, and the space after it)."""
        self.skip_space()
        if self.at(","):
            self.pos += 1
            self.skip_space()
            return False
        if self.at(close):
            self.pos += 1
            return True
        raise ValueError(f"',' or '{close}' expected")

    def item(self) -> tuple[Any, int, int]:
        """The JSON value that begins here, with where it begins and ends in the whole
        text. The scanner is ``raw_decode``'s own, called without its Python frame; a value
        cut by a piece's end is decoded again once more text is there."""
        while True:
            pos = self.pos
            try:
                value, end = _SCAN(self.buf, pos)
            except StopIteration:
                if self.more():
                    continue
                raise ValueError("a value expected") from None  # raw_decode's error, plain
            except (ValueError, RecursionError):
                if self.more():
                    continue
                raise
            if self.end or (end < len(self.buf) and self.buf[end] not in _NUMBER_GOES_ON):
                self.pos = end
                return value, self.base + pos, self.base + end
            self.more()

    def rest(self) -> str:
        while self.more():
            pass
        return self.buf[self.pos :]


def _streamed_document(pieces: Iterable[str], on_entry) -> Any:
    """``json.loads`` of the text that *pieces* make up, except that each element of the
    top-level object's ``"entries"`` array goes to *on_entry* as soon as it is decoded,
    and the array is not kept (the member is ``_STREAMED``): the body of a snapshot of
    100,000 files as one document of dicts took ~170 MB at the start of every backup,
    and as one string 31 MB; this way one entry's dict and a piece or two of the text
    live at a time. Any other document is ``json.loads``'s (ValueError as there; a key
    given twice is refused too)."""
    text = _Text(pieces)
    text.skip_space()
    if not text.at("{"):
        return json.loads(text.rest())
    doc: dict[str, Any] = {}
    text.pos += 1
    text.skip_space()
    if text.at("}"):
        text.pos += 1
    else:
        while True:
            if not text.at('"'):
                raise ValueError("a key expected")
            key = text.value()
            if key in doc:
                raise ValueError("a key given twice")
            text.skip_space()
            if not text.at(":"):
                raise ValueError("':' expected")
            text.pos += 1
            text.skip_space()
            if key == "entries" and text.at("["):
                text.pos += 1
                _stream_array(text, on_entry)
                doc[key] = _STREAMED
            else:
                doc[key] = text.value()
            if text.closed_after_member("}"):
                break
    text.skip_space()
    if text.pos != len(text.buf):
        raise ValueError("extra data")
    return doc


def _stream_array(text: _Text, on_item) -> None:
    """The elements of the array whose ``[`` was just read to *on_item*, with where each
    begins and ends in the whole text, up to its ``]``. This runs for every file of the
    parent at the start of every backup: the scanner is ``raw_decode``'s own, called
    without its Python frame (``_Text.item``)."""
    text.skip_space()
    if text.at("]"):
        text.pos += 1
        return
    while True:
        item, start, end = text.item()
        on_item(item, start, end)
        del item
        if text.closed_after_member("]"):
            return


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
        # a path given twice is refused: while the paths come in ascending order (as
        # every writer writes them) none can be, and none is kept; from the first that
        # does not, a set of every path (for 113,000 files 4 MB and ~10 ms less)
        self.last = ""  # the path before (every path is longer than this)
        self.seen: set[str] | None = None
        self.categories: dict[str, str] = {}  # one str object per category (each checked once)
        self.paths = _PathCheck()
        self.total = 0

    def add(self, raw: Any, start: int = -1, end: int = -1) -> None:
        entry = _entry_of(raw, self.name, self.categories, self.paths)
        path = entry.path
        seen = self.seen
        if seen is None:
            if path > self.last:
                self.last = path
            else:
                seen = self.seen = {e.path for e in self.entries}
        if seen is not None:
            if path in seen:
                raise damaged(self.name, _("the same path twice"))
            seen.add(path)
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
    parsed.seen = None
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
