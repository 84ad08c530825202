"""The archive's index: one record per stored file, sealed at the end of the archive.

The index is parsed from bytes an attacker may have crafted (someone who knows the
password can build any archive), so :func:`parse_index` checks every field and every
path before anything uses it.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from json.encoder import encode_basestring as _json_str
from typing import Any

import zstandard

from therabak.archive.layout import FRAME, MAX_CHUNK
from therabak.crypto.stream import TAG_SIZE
from therabak.errors import DamagedArchiveError
from therabak.i18n import _
from therabak.storedpaths import check_relative_path, path_from, path_json, path_member, text_of

#: Version 1: paths as text ("p"). Version 2: a path that is not valid UTF-8 (POSIX
#: names are bytes) is stored as its bytes ("pb"); written only when an entry needs it.
INDEX_VERSION = 1
INDEX_VERSION_BYTES = 2
READABLE_VERSIONS = frozenset({INDEX_VERSION, INDEX_VERSION_BYTES})
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX16 = re.compile(r"[0-9a-f]{16}")
_CATEGORY = re.compile(r"[a-z0-9][a-z0-9.\-]{0,63}")
_ENCODE_BATCH = 1024  # entries encoded and compressed at a time


@dataclass(slots=True)  # one per file: no dict each (100,000 files: 11 MB)
class IndexEntry:
    path: str  # relative, "/"-separated
    category: str
    size: int  # bytes of the stored content (plaintext; for raw entries the sealed file)
    mtime_ns: int
    sha256: str  # hex, of the content above
    offset: int  # where the entry starts in the archive
    length: int  # bytes the entry occupies in the archive
    raw: bool = False  # still sealed with the account key named by key_id
    key_id: str = ""
    # Was the source file sealed at rest (an envelope) in Data? None: not recorded (archives
    # written before the flag existed, or entries found by a salvage scan).
    sealed: bool | None = None


@dataclass
class ArchiveIndex:
    entries: list[IndexEntry]
    account_key_id: str = ""  # the practice's account key when the backup was made
    skipped: list[dict[str, str]] = field(default_factory=list)  # files left out, and why

    def to_bytes(self) -> bytes:
        # The entries written out directly: the same text json.dumps gives for
        # [_compact(e) ...] (a test compares them), in a fraction of the time.
        entries = ",".join(map(_entry_json, self.entries))
        version = INDEX_VERSION if '"pb":' not in entries else INDEX_VERSION_BYTES
        return f"{self._head(version)}{entries}]}}".encode()

    def compressed(self, level: int) -> bytes:
        """:meth:`to_bytes` as one zstd frame (its size declared), without the whole text
        in memory: a first pass counts the bytes and notes whether a path needs version 2,
        the second compresses the entries in batches as they are encoded (for 113,000
        files the joined entries, the document and its bytes were ~90 MB at the end of a
        single-file backup)."""
        entries = self.entries
        count, needs_bytes = 0, False
        for e in entries:
            text = _entry_json(e)
            count += len(text) if text.isascii() else len(text.encode())
            if not needs_bytes and '"pb":' in text:
                needs_bytes = True
        version = INDEX_VERSION_BYTES if needs_bytes else INDEX_VERSION
        start = self._head(version).encode()
        size = len(start) + count + max(len(entries) - 1, 0) + 2
        out = io.BytesIO()
        cctx = zstandard.ZstdCompressor(level=level, write_content_size=True)
        with cctx.stream_writer(out, size=size, closefd=False) as writer:
            writer.write(start)
            for i in range(0, len(entries), _ENCODE_BATCH):
                batch = ",".join([_entry_json(e) for e in entries[i : i + _ENCODE_BATCH]])
                writer.write((f",{batch}" if i else batch).encode())
            writer.write(b"]}")
        return out.getvalue()

    def _head(self, version: int) -> str:
        """The document up to its first entry."""
        skipped = [{k: text_of(v) for k, v in s.items()} for s in self.skipped]
        head = {"v": version, "account_key_id": self.account_key_id, "skipped": skipped}
        text = json.dumps(head, ensure_ascii=False, separators=(",", ":"))
        return f'{text[:-1]},"entries":['

    def by_category(self) -> dict[str, list[IndexEntry]]:
        out: dict[str, list[IndexEntry]] = {}
        for e in self.entries:
            out.setdefault(e.category, []).append(e)
        return out


_SHORT = {
    "path": "p",
    "category": "c",
    "size": "s",
    "mtime_ns": "m",
    "sha256": "h",
    "offset": "o",
    "length": "l",
    "raw": "r",
    "key_id": "k",
    "sealed": "e",
}
_LONG = {v: k for k, v in _SHORT.items()}
_LONG["pb"] = "path"  # the path as bytes (base64), when it is not valid UTF-8


def _entry_json(e: IndexEntry) -> str:
    if not (type(e.size) is type(e.mtime_ns) is type(e.offset) is type(e.length) is int):
        return json.dumps(_compact(e), ensure_ascii=False, separators=(",", ":"))
    text = (
        f'{{{path_json(e.path)},"c":{_json_str(e.category)},"s":{e.size},'
        f'"m":{e.mtime_ns},"h":{_json_str(e.sha256)},"o":{e.offset},"l":{e.length}'
    )
    if e.raw:
        text += f',"r":{json.dumps(e.raw)},"k":{_json_str(e.key_id)}'
    if e.sealed is not None:
        text += f',"e":{json.dumps(e.sealed)}'
    return text + "}"


def _compact(e: IndexEntry) -> dict[str, Any]:
    d = {
        **path_member(e.path),
        "c": e.category,
        "s": e.size,
        "m": e.mtime_ns,
        "h": e.sha256,
        "o": e.offset,
        "l": e.length,
    }
    if e.raw:
        d["r"], d["k"] = e.raw, e.key_id
    if e.sealed is not None:
        d["e"] = e.sealed
    return d


def check_entry_meta(meta: dict[str, Any]) -> tuple[str, str, int, bool, str]:
    """(path, category, mtime_ns, raw, key id) from an entry's sealed metadata, checked as
    strictly as an index entry (the salvage scan trusts nothing else)."""
    path = check_relative_path(path_from(meta))
    category = meta.get("c")
    if not isinstance(category, str) or not _CATEGORY.fullmatch(category):
        raise DamagedArchiveError(_("entry metadata is damaged (category)"))
    raw_flag, key_id = meta.get("r", False), meta.get("k", "")
    if (
        not isinstance(raw_flag, bool)
        or not isinstance(key_id, str)
        or (raw_flag and not _HEX16.fullmatch(key_id))
    ):
        raise DamagedArchiveError(_("entry metadata is damaged (raw entry)"))
    mtime = meta.get("m")
    if not isinstance(mtime, int) or isinstance(mtime, bool) or mtime < 0:
        mtime = 0
    return path, category, mtime, raw_flag, key_id if raw_flag else ""


def _int(value: Any, what: str, limit: int = 1 << 62) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limit:
        raise DamagedArchiveError(_("The backup's index is damaged ({what}).").format(what=what))
    return value


def _most_content(length: int, *, raw: bool) -> int:
    """The most content an entry of *length* bytes can hold: every chunk takes at least a
    frame word and a tag and holds at most MAX_CHUNK bytes (raw entries are never
    compressed). A larger size in the index is a lie that would, for instance, make a
    restore ask for exabytes of space."""
    if raw:
        return length
    return (length // (FRAME.size + TAG_SIZE)) * MAX_CHUNK


def parse_index(data: bytes, *, archive_size: int) -> ArchiveIndex:
    """Parse and check an index document (already authenticated and decompressed)."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        raise DamagedArchiveError(_("The backup's index is damaged (not readable).")) from None
    if not isinstance(doc, dict) or doc.get("v") not in READABLE_VERSIONS:
        raise DamagedArchiveError(_("The backup's index is damaged (version)."))
    raw_entries = doc.get("entries")
    if not isinstance(raw_entries, list):
        raise DamagedArchiveError(_("The backup's index is damaged (entries)."))
    account = doc.get("account_key_id", "")
    if not isinstance(account, str) or (account and not _HEX16.fullmatch(account)):
        raise DamagedArchiveError(_("The backup's index is damaged (account)."))
    skipped = doc.get("skipped", [])
    if not isinstance(skipped, list) or not all(
        isinstance(s, dict) and all(isinstance(v, str) for v in s.values()) for s in skipped
    ):
        raise DamagedArchiveError(_("The backup's index is damaged (skipped)."))
    entries: list[IndexEntry] = []
    seen: set[str] = set()
    for raw in raw_entries:
        if not isinstance(raw, dict) or set(raw) - set(_LONG):
            raise DamagedArchiveError(_("The backup's index is damaged (entry)."))
        path = check_relative_path(path_from(raw))
        # The same path twice is a crafted index. Two names that only some system takes
        # for one (Befund.txt, befund.txt) are two files: the target's rules decide.
        if path in seen:
            raise DamagedArchiveError(
                _("The backup lists the same path twice: {path}").format(path=text_of(path[:80]))
            )
        seen.add(path)
        category = raw.get("c")
        if not isinstance(category, str) or not _CATEGORY.fullmatch(category):
            raise DamagedArchiveError(_("The backup's index is damaged (category)."))
        sha = raw.get("h")
        if not isinstance(sha, str) or not _HEX64.fullmatch(sha):
            raise DamagedArchiveError(_("The backup's index is damaged (hash)."))
        raw_flag = raw.get("r", False)
        key_id = raw.get("k", "")
        if (
            not isinstance(raw_flag, bool)
            or not isinstance(key_id, str)
            or (raw_flag and not _HEX16.fullmatch(key_id))
        ):
            raise DamagedArchiveError(_("The backup's index is damaged (raw entry)."))
        sealed = raw.get("e")
        if sealed is not None and not isinstance(sealed, bool):
            raise DamagedArchiveError(_("The backup's index is damaged (sealed flag)."))
        offset = _int(raw.get("o"), "offset", archive_size)
        length = _int(raw.get("l"), "length", archive_size)
        if offset + length > archive_size:
            raise DamagedArchiveError(_("The backup's index points beyond the end of the file."))
        size = _int(raw.get("s"), "size")
        if size > _most_content(length, raw=raw_flag):
            raise DamagedArchiveError(_("The backup's index is damaged (impossible size)."))
        entries.append(
            IndexEntry(
                path=path,
                category=category,
                size=size,
                mtime_ns=_int(raw.get("m"), "mtime"),
                sha256=sha,
                offset=offset,
                length=length,
                raw=raw_flag,
                key_id=key_id,
                sealed=True if raw_flag else sealed,
            )
        )
    # Entries are stored back to back in index order; overlaps mean a crafted index.
    for a, b in zip(entries, entries[1:], strict=False):
        if a.offset + a.length > b.offset:
            raise DamagedArchiveError(_("The backup's index is damaged (overlapping entries)."))
    return ArchiveIndex(entries=entries, account_key_id=account, skipped=skipped)
