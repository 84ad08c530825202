"""The public archive header: what anyone with the file can read (no patient data).

Layout in FORMAT.md. The header region has a fixed size so a key slot can be
rewritten (new password) without moving the data.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from therabak.crypto.slots import Slot, SlotType
from therabak.crypto.stream import derive_key
from therabak.errors import DamagedArchiveError
from therabak.i18n import _

MAGIC = b"THERABAK"
VERSION = 1
DEFAULT_HEADER_SIZE = 4096
MIN_HEADER_SIZE = 512
MAX_HEADER_SIZE = 65536
MAX_SLOTS = 8
MAC_SIZE = 32
CHECKSUM_SIZE = 32
ARCHIVE_ID_SIZE = 16
_FIXED = struct.Struct(">8sHIqhBB16sH")  # up to the categories field
_MAC_INFO = b"therabak header mac v1"

KIND_CODES = {"manual": 1, "auto": 2}
KIND_NAMES = {v: k for k, v in KIND_CODES.items()}


class NotAnArchiveError(DamagedArchiveError):
    """The file does not start with the therabak magic."""


@dataclass(frozen=True)
class ArchiveHeader:
    created: datetime  # aware, in the creator's local offset
    kind: str  # manual | auto
    archive_id: bytes
    categories: tuple[str, ...]
    slots: tuple[Slot, ...] = field(repr=False)
    header_size: int = DEFAULT_HEADER_SIZE
    fixed: bytes = field(default=b"", repr=False)  # the immutable part, bound into the index
    mac: bytes = field(default=b"", repr=False)
    mac_offset: int = 0
    # What a lenient parse (salvage) let through: e.g. ("checksum", "magic"); () when intact.
    damage: tuple[str, ...] = ()

    @property
    def protection(self) -> str:
        """password | account | none | recovery (the strongest slot present; a recovery
        slot beside a password does not change it: see :attr:`has_recovery_code`)."""
        types = {s.type for s in self.slots}
        for t in (SlotType.PASSWORD, SlotType.ACCOUNT, SlotType.NONE, SlotType.RECOVERY):
            if t in types:
                return t.label
        return "none"

    @property
    def has_recovery_code(self) -> bool:
        return any(s.type is SlotType.RECOVERY for s in self.slots)

    @property
    def account_key_ids(self) -> list[bytes]:
        return [s.key_id for s in self.slots if s.type is SlotType.ACCOUNT and s.key_id]

    def fixed_hash(self) -> bytes:
        return hashlib.sha256(self.fixed).digest()

    def verify_mac(self, archive_key: bytes) -> None:
        """Authenticate the whole header (slots included) with the unlocked key."""
        if not hmac.compare_digest(_mac(archive_key, self._mac_input), self.mac):
            raise DamagedArchiveError(_("The backup's header has been changed or is damaged."))

    # the bytes the MAC covers: kept privately after parse/build
    _mac_input: bytes = field(default=b"", repr=False, compare=False)


def _mac(archive_key: bytes, data: bytes) -> bytes:
    key = derive_key(archive_key, salt=b"", info=_MAC_INFO)
    return hmac.new(key, data, "sha256").digest()


def _fixed_part(
    created: datetime, kind: str, archive_id: bytes, categories: tuple[str, ...], header_size: int
) -> bytes:
    offset = created.utcoffset() or timedelta(0)
    cats = ",".join(sorted(categories)).encode("ascii")
    return (
        _FIXED.pack(
            MAGIC,
            VERSION,
            header_size,
            int(created.timestamp()),
            int(offset.total_seconds() // 60),
            KIND_CODES[kind],
            0,
            archive_id,
            len(cats),
        )
        + cats
    )


def build_header(
    *,
    archive_key: bytes,
    slots: list[Slot],
    kind: str,
    categories: tuple[str, ...],
    created: datetime | None = None,
    archive_id: bytes | None = None,
    header_size: int = DEFAULT_HEADER_SIZE,
) -> tuple[bytes, ArchiveHeader]:
    """The header region's bytes (exactly *header_size*) and its parsed form."""
    created = (created or datetime.now().astimezone()).replace(microsecond=0)
    archive_id = archive_id or os.urandom(ARCHIVE_ID_SIZE)
    if not 1 <= len(slots) <= MAX_SLOTS:
        raise ValueError("an archive needs 1 to 8 key slots")
    fixed = _fixed_part(created, kind, archive_id, categories, header_size)
    return _assemble(fixed, slots, archive_key, header_size, created, kind, archive_id, categories)


def _assemble(
    fixed: bytes,
    slots: list[Slot],
    archive_key: bytes,
    header_size: int,
    created: datetime,
    kind: str,
    archive_id: bytes,
    categories: tuple[str, ...],
) -> tuple[bytes, ArchiveHeader]:
    body = bytearray(fixed)
    body.append(len(slots))
    for s in slots:
        body += struct.pack(">BH", int(s.type), len(s.body)) + s.body
    mac_offset = len(body)
    mac = _mac(archive_key, bytes(body))
    body += mac
    if len(body) + CHECKSUM_SIZE > header_size:
        raise ValueError("header does not fit")
    body += bytes(header_size - CHECKSUM_SIZE - len(body))
    body += hashlib.sha256(body).digest()
    header = ArchiveHeader(
        created=created,
        kind=kind,
        archive_id=archive_id,
        categories=tuple(sorted(categories)),
        slots=tuple(slots),
        header_size=header_size,
        fixed=fixed,
        mac=mac,
        mac_offset=mac_offset,
        _mac_input=bytes(body[:mac_offset]),
    )
    return bytes(body), header


def replace_slots(
    header: ArchiveHeader, archive_key: bytes, slots: list[Slot]
) -> tuple[bytes, ArchiveHeader]:
    """A new header region with other key slots; the data stays valid as it is."""
    return _assemble(
        header.fixed,
        slots,
        archive_key,
        header.header_size,
        header.created,
        header.kind,
        header.archive_id,
        header.categories,
    )


def read_header_size(prefix: bytes, *, lenient: bool = False) -> int:
    """Check the magic and version in the first 14 bytes; return the header size.

    *lenient* (salvage): a damaged magic, version or size is let through (the size then
    falls back to the default every writer uses); the checksum tells the caller."""
    if len(prefix) < 8 or (prefix[:8] != MAGIC and not lenient):
        raise NotAnArchiveError(_("This is not a therabak backup file."))
    if len(prefix) < 14:
        raise DamagedArchiveError(_("The backup is truncated (header)."))
    version, size = struct.unpack_from(">HI", prefix, 8)
    if version != VERSION and not lenient:
        raise DamagedArchiveError(
            _("Unsupported backup format version {version}.").format(version=version)
        )
    if not MIN_HEADER_SIZE <= size <= MAX_HEADER_SIZE:
        if not lenient:
            raise DamagedArchiveError(_("The backup's header is damaged (size)."))
        size = DEFAULT_HEADER_SIZE
    return size


def parse_header(region: bytes, *, lenient: bool = False) -> ArchiveHeader:
    """Parse a complete header region (untrusted bytes; every length is checked).

    *lenient* is for salvage: damage that leaves the key slots readable (a failed
    checksum, a changed magic, time, kind, category list or padding) is recorded in
    ``damage`` instead of refusing; the slots' own authentication and the header MAC
    (see ``ArchiveReader.unlock``) still decide what can be trusted."""
    damage: list[str] = []

    def problem(what: str, message: str) -> None:
        if not lenient:
            raise DamagedArchiveError(message)
        if what not in damage:
            damage.append(what)

    size = read_header_size(region[:14], lenient=lenient)
    if len(region) != size:
        raise DamagedArchiveError(_("The backup is truncated (header)."))
    body, checksum = region[:-CHECKSUM_SIZE], region[-CHECKSUM_SIZE:]
    if not hmac.compare_digest(hashlib.sha256(body).digest(), checksum):
        problem("checksum", _("The backup's header is damaged (checksum mismatch)."))
    if len(body) < _FIXED.size + 1:
        raise DamagedArchiveError(_("The backup's header is damaged (too short)."))
    magic, version, _size, created_s, offset_min, kind_code, flags, archive_id, cat_len = (
        _FIXED.unpack_from(body)
    )
    if magic != MAGIC or version != VERSION:
        problem("magic", _("The backup's header is damaged (magic)."))
    pos = _FIXED.size
    if kind_code not in KIND_NAMES or flags != 0 or not -1440 < offset_min < 1440:
        problem("fields", _("The backup's header is damaged (fields)."))
        kind_code = kind_code if kind_code in KIND_NAMES else KIND_CODES["manual"]
        offset_min = offset_min if -1440 < offset_min < 1440 else 0
    if pos + cat_len + 1 > len(body):
        raise DamagedArchiveError(_("The backup's header is damaged (categories)."))
    raw_cats = bytes(body[pos : pos + cat_len])
    try:
        cats_text = raw_cats.decode("ascii")
    except UnicodeDecodeError:
        problem("categories", _("The backup's header is damaged (fields)."))
        cats_text = raw_cats.decode("ascii", "replace")
    try:
        tz = timezone(timedelta(minutes=offset_min))
        created = datetime.fromtimestamp(created_s, UTC).astimezone(tz)
    except (ValueError, OverflowError, OSError):
        problem("fields", _("The backup's header is damaged (fields)."))
        created = datetime.fromtimestamp(0, UTC)
    categories = tuple(
        c for c in cats_text.split(",") if c and (not lenient or (c.isascii() and c.isprintable()))
    )
    pos += cat_len
    fixed = bytes(body[:pos])
    n_slots = body[pos]
    pos += 1
    if not 1 <= n_slots <= MAX_SLOTS:
        raise DamagedArchiveError(_("The backup's header is damaged (key slots)."))
    slots = []
    for n in range(n_slots):
        if pos + 3 > len(body):
            raise DamagedArchiveError(_("The backup's header is damaged (key slots)."))
        slot_type, slot_len = struct.unpack_from(">BH", body, pos)
        pos += 3
        if pos + slot_len > len(body):
            raise DamagedArchiveError(_("The backup's header is damaged (key slots)."))
        try:
            slots.append(Slot.parse(slot_type, body[pos : pos + slot_len]))
        except DamagedArchiveError as e:
            problem(f"key slot {n + 1}", e.message)  # lenient: the other slots may still open
        pos += slot_len
    if not slots:
        raise DamagedArchiveError(_("The backup's header is damaged (key slots)."))
    if pos + MAC_SIZE > len(body):
        raise DamagedArchiveError(_("The backup's header is damaged (MAC)."))
    mac = bytes(body[pos : pos + MAC_SIZE])
    if any(body[pos + MAC_SIZE :]):
        problem("padding", _("The backup's header is damaged (padding)."))
    return ArchiveHeader(
        created=created,
        kind=KIND_NAMES[kind_code],
        archive_id=archive_id,
        categories=categories,
        slots=tuple(slots),
        header_size=size,
        fixed=fixed,
        mac=mac,
        mac_offset=pos,
        damage=tuple(damage),
        _mac_input=bytes(body[:pos]),
    )
