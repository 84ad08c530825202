"""Read a ``.therabak`` archive: public header, unlock, index, entries, salvage scan.

Everything read here is untrusted: lengths are bounded by the file's size and the
format's limits before anything is allocated, and every byte of content is
authenticated before it is returned.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from therabak.archive.byteio import ByteSource
from therabak.archive.hashing import Sha256Behind
from therabak.archive.header import (
    MIN_HEADER_SIZE,
    ArchiveHeader,
    parse_header,
    read_header_size,
)
from therabak.archive.index import ArchiveIndex, IndexEntry, parse_index
from therabak.archive.layout import (
    ENTRY_HEAD,
    ENTRY_MAGIC,
    FRAME,
    MAX_CHUNK,
    MAX_INDEX_PLAINTEXT,
    MAX_META,
    META_NONCE,
    TRAILER_SIZE,
    data_key,
    entry_keys,
    index_key,
    meta_key,
    parse_frame,
    parse_trailer,
)
from therabak.archive.rekey import HeaderOverlay, recover_journal
from therabak.archive.salvage import ScannedEntry, find_magic, reason_without_path, scan_entries
from therabak.archive.volumes import first_volume, open_source
from therabak.crypto.recovery import RecoveryCode
from therabak.crypto.slots import SlotType
from therabak.crypto.stream import FLAG_COMPRESSED, StreamOpener
from therabak.errors import (
    AccountKeyNeededError,
    CannotUnlockError,
    DamagedArchiveError,
    DecryptionError,
    NoRecoveryCodeError,
    OtherAccountError,
    WrongPasswordError,
    WrongRecoveryCodeError,
)
from therabak.i18n import _
from therabak.practice.account import AccountKey
from therabak.storedpaths import path_from

_WHOLE_ENTRY_READ = 4 << 20
_INDEX_READ = 1 << 20


class PasswordNeeded(WrongPasswordError):
    """The archive is password-protected and no password was given."""


class EntryDamaged(DamagedArchiveError):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class ArchiveReader:
    """Reads one archive. With ``salvage=True`` a damaged header is not refused as long
    as a key slot still opens (see :meth:`unlock`); ``damage`` then says what was wrong."""

    def __init__(self, source: ByteSource, name: str = "backup", *, salvage: bool = False) -> None:
        self.source = source
        self.name = name
        self.size = source.size
        self.salvage = salvage
        prefix = source.read_at(0, 14)
        header_size = read_header_size(prefix, lenient=salvage)
        if header_size > self.size:
            raise DamagedArchiveError(_("The backup is truncated (header)."))
        self.header: ArchiveHeader = parse_header(source.read_at(0, header_size), lenient=salvage)
        self.damage: list[str] = list(self.header.damage)
        self.archive_key: bytes | None = None
        self.unlocked_with: str = ""
        self._index: ArchiveIndex | None = None
        self._dctx = zstandard.ZstdDecompressor()

    @classmethod
    def open(cls, path: Path, *, salvage: bool = False) -> ArchiveReader:
        """Open the archive at *path*, after finishing an interrupted password change.

        *path* may name any volume of a split backup: the set is read as one archive
        (``volumes.open_source``; a missing volume is an error, or with *salvage* a hole)."""
        region = recover_journal(first_volume(path))
        source = open_source(path, salvage=salvage)
        try:
            if region is not None:  # torn header, read-only medium: use the journal's
                return cls(HeaderOverlay(source, region), name=str(path), salvage=salvage)
            return cls(source, name=str(path), salvage=salvage)
        except BaseException:
            source.close()
            raise

    def close(self) -> None:
        self.source.close()

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ---- unlocking ----------------------------------------------------------------

    @property
    def needs_password(self) -> bool:
        types = {s.type for s in self.header.slots}
        return SlotType.NONE not in types and SlotType.PASSWORD in types

    def account_matches(self, account: AccountKey | None) -> bool | None:
        """True/False when the archive has an account slot, None when it has none."""
        ids = self.header.account_key_ids
        if not ids:
            return None
        return account is not None and account.key_id in ids

    def unlock(
        self,
        *,
        password: str | None = None,
        account: AccountKey | None = None,
        recovery_code: RecoveryCode | None = None,
    ) -> str:
        """Find the archive key; returns the slot type used. Checks the header MAC.

        A none slot, then an account slot of *account*, then: with *recovery_code* the
        recovery slot (password slots are not tried), else the password slots (recovery
        slots are not tried). Give a password or a recovery code, not both."""
        if password and recovery_code is not None:
            raise ValueError("give a password or a recovery code, not both")
        if self.damage:
            return self._unlock_damaged(password, account, recovery_code)
        key = None
        used = ""
        for slot in self.header.slots:
            if slot.type is SlotType.NONE:
                key, used = slot.unwrap_none(), "none"
                break
        if key is None and account is not None:
            for slot in self.header.slots:
                if slot.type is SlotType.ACCOUNT and slot.key_id == account.key_id:
                    key = slot.unwrap_account(account.key, account.key_id)
                    if key is None:
                        raise DamagedArchiveError(_("The backup's account key slot is damaged."))
                    used = "account"
                    break
        if key is None and recovery_code is not None:
            key, used = self._unwrap_recovery(recovery_code), "recovery"
        if key is None:
            password_slots = [s for s in self.header.slots if s.type is SlotType.PASSWORD]
            if password_slots:
                if not password:
                    raise PasswordNeeded(_("This backup is protected by a password."))
                for slot in password_slots:
                    key = slot.unwrap_password(password)
                    if key is not None:
                        used = "password"
                        break
                if key is None:
                    raise WrongPasswordError(_("Wrong password for this backup."))
            elif self.header.has_recovery_code and not self.header.account_key_ids:
                raise CannotUnlockError(
                    _("This backup opens only with its recovery code; none was given.")
                )
            else:
                ids = ", ".join(k.hex() for k in self.header.account_key_ids)
                if account is None:
                    raise AccountKeyNeededError(
                        _(
                            "This backup is locked with the account key {ids}; it can only be "
                            "opened with that original account key (give it with --account-key)."
                        ).format(ids=ids)
                    )
                raise OtherAccountError(
                    _(
                        "This backup belongs to another account (key id {ids}); this computer's "
                        "account key is {id_hex}."
                    ).format(ids=ids, id_hex=account.id_hex)
                )
        self.header.verify_mac(key)
        self.archive_key = key
        self.unlocked_with = used
        return used

    def _unwrap_recovery(self, code: RecoveryCode) -> bytes:
        slots = [s for s in self.header.slots if s.type is SlotType.RECOVERY]
        if not slots:
            raise NoRecoveryCodeError(
                _(
                    "This backup has no recovery code (it was removed, or never made); "
                    "it opens only with its password."
                )
            )
        for slot in slots:
            key = slot.unwrap_recovery(code)
            if key is not None:
                return key
        raise WrongRecoveryCodeError(
            _(
                "This recovery code does not open this backup (it belongs to another backup, "
                "or it was replaced by a newer one)."
            )
        )

    def _unlock_damaged(
        self,
        password: str | None,
        account: AccountKey | None,
        recovery_code: RecoveryCode | None = None,
    ) -> str:
        """Salvage of an archive whose header is damaged: every slot that still opens gives
        a candidate key (the slots are sealed on their own). The header MAC confirms a
        candidate; when the MAC or what it covers is damaged too, the key must open an
        entry's sealed metadata instead, so a slot copied from another archive (same
        password, another key) is never taken for this archive's."""
        order = {SlotType.NONE: 0, SlotType.ACCOUNT: 1, SlotType.PASSWORD: 2, SlotType.RECOVERY: 3}
        unconfirmed: list[tuple[bytes, str]] = []
        for slot in sorted(self.header.slots, key=lambda s: order[s.type]):
            key = None
            try:
                if slot.type is SlotType.NONE:
                    key = slot.unwrap_none()
                elif slot.type is SlotType.ACCOUNT and account is not None:
                    key = slot.unwrap_account(account.key, account.key_id)
                elif slot.type is SlotType.PASSWORD and password:
                    key = slot.unwrap_password(password)
                elif slot.type is SlotType.RECOVERY and recovery_code is not None:
                    key = slot.unwrap_recovery(recovery_code)
            except DamagedArchiveError:  # e.g. password-hashing parameters out of limits
                continue
            if key is None:
                continue
            try:
                self.header.verify_mac(key)
            except DamagedArchiveError:
                unconfirmed.append((key, slot.type.label))
                continue
            return self._unlocked(key, slot.type.label)
        for key, used in unconfirmed:
            if self._opens_an_entry(key):
                self.damage.append("MAC")
                return self._unlocked(key, used)
        raise DamagedArchiveError(
            _(
                "The backup's header is damaged and none of its key slots opens with the "
                "password, recovery code or account key given, so nothing can be salvaged."
            )
        )

    def _unlocked(self, key: bytes, used: str) -> str:
        self.archive_key = key
        self.unlocked_with = used
        return used

    def _opens_an_entry(self, key: bytes, tries: int = 8) -> bool:
        """Does *key* open the sealed metadata of one of the first entries found?"""
        pos: int | None = MIN_HEADER_SIZE
        for _try in range(tries):
            pos = find_magic(self, pos, self.size) if pos is not None else None
            if pos is None:
                return False
            head = self.source.read_at(pos, ENTRY_HEAD.size)
            if len(head) == ENTRY_HEAD.size:
                _magic, salt, meta_len = ENTRY_HEAD.unpack(head)
                if 16 < meta_len <= MAX_META + 16:
                    sealed = self.source.read_at(pos + ENTRY_HEAD.size, meta_len)
                    try:
                        AESGCM(meta_key(key, salt)).decrypt(META_NONCE, sealed, None)
                        return True
                    except InvalidTag:
                        pass
            pos += 1
        return False

    # ---- index ----------------------------------------------------------------------

    def _require_key(self) -> bytes:
        if self.archive_key is None:
            raise RuntimeError("unlock() first")
        return self.archive_key

    def index_location(self) -> tuple[int, int]:
        if self.size < self.header.header_size + TRAILER_SIZE:
            raise DamagedArchiveError(_("The backup is truncated (no index)."))
        trailer = self.source.read_at(self.size - TRAILER_SIZE, TRAILER_SIZE)
        return parse_trailer(
            trailer,
            archive_size=self.size,
            header_size=self.header.header_size,
            archive_id=self.header.archive_id,
        )

    def read_index(self) -> ArchiveIndex:
        if self._index is not None:
            return self._index
        key = self._require_key()
        offset, length = self.index_location()
        opener = StreamOpener(index_key(key, self.header.fixed_hash(), offset), what="index")
        pieces = []
        for payload, compressed, last in self._frames(offset, offset + length, "index"):
            if compressed:
                raise DamagedArchiveError(_("The backup's index is damaged (frame)."))
            try:
                pieces.append(opener.open(payload, last=last))
            except DecryptionError:
                raise DamagedArchiveError(_("The backup's index is damaged.")) from None
        if not opener.finished:
            raise DamagedArchiveError(_("The backup's index is truncated."))
        data = self._decompress_index(b"".join(pieces))
        self._index = parse_index(data, archive_size=offset)
        for e in self._index.entries:
            if e.offset < self.header.header_size:
                raise DamagedArchiveError(_("The backup's index is damaged (entry offset)."))
        return self._index

    def _decompress_index(self, packed: bytes) -> bytes:
        """Decompress in blocks: memory grows with the real index, not with a limit."""
        parts, total = [], 0
        try:
            reader = self._dctx.stream_reader(packed)
            while block := reader.read(_INDEX_READ):
                total += len(block)
                if total > MAX_INDEX_PLAINTEXT:
                    raise DamagedArchiveError(_("The backup's index is implausibly large."))
                parts.append(block)
        except zstandard.ZstdError:
            raise DamagedArchiveError(_("The backup's index is damaged (compression).")) from None
        return b"".join(parts)

    def _decompress_chunk(self, plain: bytes, what: str) -> bytes:
        """A compressed chunk must declare its size, at most MAX_CHUNK: zstd would otherwise
        allocate whatever a crafted frame claims (max_output_size does not bound that)."""
        try:
            size = zstandard.frame_content_size(plain)
            if not 0 <= size <= MAX_CHUNK:
                raise DamagedArchiveError(_("{what}: chunk too large").format(what=what))
            out = self._dctx.decompress(plain, max_output_size=MAX_CHUNK)
        except zstandard.ZstdError:
            raise DamagedArchiveError(
                _("{what}: chunk cannot be decompressed").format(what=what)
            ) from None
        if len(out) != size:
            raise DamagedArchiveError(_("{what}: chunk cannot be decompressed").format(what=what))
        return out

    def _frames(
        self, start: int, end: int, what: str, window: tuple[int, bytes] | None = None
    ) -> Iterator[tuple[bytes, bool, bool]]:
        """(sealed payload, compressed, last) for each frame in [start, end).

        *window* (offset, bytes) holds the range already read (see :meth:`iter_entry`).
        """
        pos = start
        buffered = b""
        buf_start = start
        if window is not None:
            buf_start, buffered = window
            buffered = memoryview(buffered)
        elif end - start <= _WHOLE_ENTRY_READ:
            buffered = self.source.read_at(start, end - start)
            if len(buffered) != end - start:
                raise DamagedArchiveError(_("{what}: truncated").format(what=what))

        def read(at: int, n: int) -> bytes:
            if buffered:
                return buffered[at - buf_start : at - buf_start + n]
            return self.source.read_at(at, n)

        while pos < end:
            if pos + FRAME.size > end:
                raise DamagedArchiveError(_("{what}: chunk frame cut off").format(what=what))
            length, compressed, last = parse_frame(read(pos, FRAME.size))
            pos += FRAME.size
            if pos + length > end:
                raise DamagedArchiveError(_("{what}: chunk runs past its end").format(what=what))
            payload = read(pos, length)
            if len(payload) != length:
                raise DamagedArchiveError(_("{what}: truncated").format(what=what))
            pos += length
            yield payload, compressed, last
            if last:
                if pos != end:
                    raise DamagedArchiveError(
                        _("{what}: data after the last chunk").format(what=what)
                    )
                return
        raise DamagedArchiveError(_("{what}: the last chunk is missing").format(what=what))

    # ---- entries --------------------------------------------------------------------

    def read_meta(
        self, offset: int, limit: int, window: tuple[int, bytes] | None = None
    ) -> tuple[dict, int]:
        """Decrypt an entry's metadata at *offset*; returns (meta, start of its chunks).

        ``meta["_salt"]`` and ``meta["_data_key"]`` carry what the chunks need.
        """
        key = self._require_key()

        def read(at: int, n: int) -> bytes:
            if window is not None:
                return window[1][at - window[0] : at - window[0] + n]
            return self.source.read_at(at, n)

        if offset + ENTRY_HEAD.size > limit:
            raise DamagedArchiveError(_("entry header cut off"))
        magic, salt, meta_len = ENTRY_HEAD.unpack(read(offset, ENTRY_HEAD.size))
        if magic != ENTRY_MAGIC:
            raise DamagedArchiveError(_("entry header is damaged"))
        if not 16 < meta_len <= MAX_META + 16 or offset + ENTRY_HEAD.size + meta_len > limit:
            raise DamagedArchiveError(_("entry header is damaged (length)"))
        sealed = read(offset + ENTRY_HEAD.size, meta_len)
        key_meta, key_data = entry_keys(key, salt)
        try:
            plain = AESGCM(key_meta).decrypt(META_NONCE, sealed, None)
            meta = json.loads(plain)
        except (InvalidTag, ValueError, RecursionError):
            raise DamagedArchiveError(_("entry metadata is damaged")) from None
        if not isinstance(meta, dict):
            raise DamagedArchiveError(_("entry metadata is damaged"))
        meta["_salt"] = salt
        meta["_data_key"] = key_data
        return meta, offset + ENTRY_HEAD.size + meta_len

    def chunks(
        self,
        salt: bytes,
        start: int,
        end: int,
        what: str,
        *,
        key: bytes | None = None,
        window: tuple[int, bytes] | None = None,
    ) -> Iterator[bytes]:
        opener = StreamOpener(key or data_key(self._require_key(), salt), what=what)
        for payload, compressed, last in self._frames(start, end, what, window):
            try:
                plain = opener.open(payload, last=last, flags=FLAG_COMPRESSED if compressed else 0)
            except DecryptionError as e:
                raise DamagedArchiveError(str(e)) from None
            if compressed:
                plain = self._decompress_chunk(plain, what)
            yield plain

    def iter_entry(self, entry: IndexEntry) -> Iterator[bytes]:
        """Yield the content of *entry*, authenticated chunk by chunk.

        Size and SHA-256 are checked after the last chunk; any problem raises
        :class:`EntryDamaged` naming the file. A consumer must treat the content as
        unconfirmed until the iterator ends without error.
        """
        end = entry.offset + entry.length
        window = None
        try:
            if entry.length <= _WHOLE_ENTRY_READ:  # one read for head, metadata and chunks
                data = self.source.read_at(entry.offset, entry.length)
                if len(data) != entry.length:
                    raise DamagedArchiveError(_("{what}: truncated").format(what=entry.path))
                window = (entry.offset, data)
            meta, start = self.read_meta(entry.offset, end, window)
            if (
                path_from(meta) != entry.path
                or meta.get("c") != entry.category
                or bool(meta.get("r", False)) != entry.raw
            ):
                raise DamagedArchiveError(_("entry does not match the index"))
            digest = Sha256Behind()
            size = 0
            chunks = self.chunks(
                meta["_salt"], start, end, entry.path, key=meta["_data_key"], window=window
            )
            for plain in chunks:
                size += len(plain)
                if size > entry.size:
                    raise DamagedArchiveError(_("more content than the index says"))
                digest.update(plain)
                yield plain
            if size != entry.size:
                raise DamagedArchiveError(_("content is shorter than the index says"))
            if digest.hexdigest() != entry.sha256:
                raise DamagedArchiveError(_("content does not match its SHA-256"))
        except EntryDamaged:
            raise
        except DamagedArchiveError as e:
            raise EntryDamaged(entry.path, reason_without_path(str(e), entry.path)) from None

    def read_entry(self, entry: IndexEntry) -> bytes:
        return b"".join(self.iter_entry(entry))

    # ---- salvage -----------------------------------------------------------------------

    def scan_entries(self, *, end: int | None = None) -> Iterator[ScannedEntry]:
        """Walk the body without the index (``archive/salvage.py``)."""
        return scan_entries(self, end=end)
