"""Key files (``keys/<id>``): key slots that each wrap the one store key.

A key file holds any list of key slots (``crypto/slots.py``: password, account key,
none, and whatever slot types are added later), an HMAC under the store's MAC key (so a
slot copied from another store, or a changed byte, is noticed once the store key is
known) and an unkeyed checksum (damage, told apart from a wrong password). A key file
names the key files it **supersedes**: a password change adds the new key file, then
deletes the old one; a kill between the two, or an old key file put back later, leaves
a superseded key file that ``check`` reports and the next password change or prune
removes. Layout in FORMAT.md, "keys/".
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from therabak.crypto.recovery import RecoveryCode
from therabak.crypto.slots import Slot, SlotType
from therabak.crypto.stream import KEY_SIZE
from therabak.errors import (
    AccountKeyNeededError,
    DamagedArchiveError,
    NoRecoveryCodeError,
    OtherAccountError,
    WrongPasswordError,
    WrongRecoveryCodeError,
)
from therabak.i18n import _
from therabak.practice.account import AccountKey
from therabak.store.binary import Reader, i64, u16
from therabak.store.errors import DamagedStoreError, PasswordNeeded
from therabak.store.keys import MAC_SIZE, STORE_ID_SIZE, StoreKeys

PREFIX = "keys/"
MAGIC = b"TBSKEYS1"
VERSION = 1
ID_SIZE = 16
MAX_SLOTS = 8
MAX_SUPERSEDED = 16
MAX_SIZE = 8192
CHECKSUM_SIZE = 32
_MAC_CONTEXT = b"therabak store key file v1"
_NAME_RE = re.compile(r"keys/([0-9a-f]{32})")


class SlotMaker(Protocol):
    """How the store key is wrapped (``archive.writer.Protection`` is one)."""

    def slots(self, key: bytes) -> list[Slot]: ...


def keyfile_name(file_id: bytes) -> str:
    return f"{PREFIX}{file_id.hex()}"


def keyfile_id(name: str) -> bytes | None:
    m = _NAME_RE.fullmatch(name)
    return bytes.fromhex(m.group(1)) if m else None


@dataclass(frozen=True)
class KeyFile:
    store_id: bytes
    file_id: bytes
    created: int  # Unix seconds
    supersedes: tuple[bytes, ...]
    slots: tuple[Slot, ...] = field(repr=False)
    mac: bytes = field(default=b"", repr=False)
    damaged: bool = False  # parsed leniently: its checksum (or magic, version, id) is wrong

    @property
    def name(self) -> str:
        return keyfile_name(self.file_id)

    @classmethod
    def new(
        cls,
        store_id: bytes,
        slots: Sequence[Slot],
        *,
        created: int,
        supersedes: Iterable[bytes] = (),
    ) -> KeyFile:
        if not 1 <= len(slots) <= MAX_SLOTS:
            raise ValueError("a key file holds 1 to 8 slots")
        return cls(store_id, os.urandom(ID_SIZE), created, tuple(supersedes), tuple(slots))

    def body(self) -> bytes:
        parts = [
            MAGIC,
            u16(VERSION),
            self.store_id,
            self.file_id,
            i64(self.created),
            bytes((len(self.supersedes),)),
            *self.supersedes,
            bytes((len(self.slots),)),
        ]
        for slot in self.slots:
            parts += [bytes((int(slot.type),)), u16(len(slot.body)), slot.body]
        return b"".join(parts)

    def to_bytes(self, keys: StoreKeys) -> bytes:
        body = self.body()
        signed = body + keys.mac(_MAC_CONTEXT, body)
        return signed + hashlib.sha256(signed).digest()

    def verify(self, keys: StoreKeys) -> bool:
        return keys.store_id == self.store_id and hmac.compare_digest(
            self.mac, keys.mac(_MAC_CONTEXT, self.body())
        )

    @property
    def slot_types(self) -> tuple[SlotType, ...]:
        return tuple(s.type for s in self.slots)


def parse_keyfile(data: bytes, name: str, *, lenient: bool = False) -> KeyFile:
    """Parse a key file (untrusted bytes): layout, checksum, and that it is the key file
    its name says. The MAC is checked once the store key is known.

    *lenient* (a key file whose checksum fails): the checksum, magic, version and id are
    overlooked, so that a slot that is still whole can open the store; a key it gives is
    taken only when the config's MAC confirms it (see :func:`unlock_store`)."""
    r = Reader(data, name)
    if not len(MAGIC) + CHECKSUM_SIZE < len(data) <= MAX_SIZE:
        raise r.damaged(_("size"))
    intact = hashlib.sha256(data[:-CHECKSUM_SIZE]).digest() == data[-CHECKSUM_SIZE:]
    if not intact and not lenient:
        raise r.damaged(_("checksum"))
    if r.take(8) != MAGIC and not lenient:
        raise r.damaged(_("not a key file"))
    if r.u16() != VERSION and not lenient:
        raise r.damaged(_("version"))
    store_id = r.take(STORE_ID_SIZE)
    file_id = r.take(ID_SIZE)
    if keyfile_id(name) != file_id:
        if not lenient:
            raise r.damaged(_("it is another key file"))
        file_id = keyfile_id(name) or file_id
    created = r.i64()
    m = r.u8()
    if m > MAX_SUPERSEDED:
        raise r.damaged(_("superseded key files"))
    supersedes = tuple(r.take(ID_SIZE) for _i in range(m))
    n = r.u8()
    if not 1 <= n <= MAX_SLOTS:
        raise r.damaged(_("number of key slots"))
    slots = []
    for _i in range(n):
        type_byte = r.u8()
        body = r.take(r.u16())
        try:
            slots.append(Slot.parse(type_byte, body))
        except DamagedArchiveError as e:
            raise r.damaged(e.message) from None
    mac = r.take(MAC_SIZE)
    r.take(CHECKSUM_SIZE)
    r.end()
    return KeyFile(store_id, file_id, created, supersedes, tuple(slots), mac, not intact)


@dataclass(frozen=True)
class Unlock:
    """What the user has to open a store with: a password or the recovery code (one or
    the other, as for an archive), the account key, or nothing (a store with a "none"
    slot). ``repr`` shows no secret."""

    password: str | None = field(default=None, repr=False)
    account: AccountKey | None = None
    recovery_code: RecoveryCode | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.password and self.recovery_code is not None:
            raise ValueError("give a password or a recovery code, not both")

    def candidates(self, slot: Slot) -> bytes | None:
        """The store key if this slot opens with what we have, else None (no Argon2id
        for a slot that cannot open: password slots only when a password is given)."""
        if slot.type is SlotType.RECOVERY:
            if self.recovery_code is None:
                return None
            return slot.unwrap_recovery(self.recovery_code)
        if slot.type is SlotType.NONE:
            return slot.unwrap_none()
        if slot.type is SlotType.ACCOUNT and self.account is not None:
            if slot.key_id != self.account.key_id:
                return None
            return slot.unwrap_account(self.account.key, self.account.key_id)
        if slot.type is SlotType.PASSWORD and self.password:
            return slot.unwrap_password(self.password)
        return None


_ORDER = {SlotType.NONE: 0, SlotType.ACCOUNT: 1, SlotType.RECOVERY: 2, SlotType.PASSWORD: 3}


def current_keyfiles(keyfiles: Sequence[KeyFile]) -> tuple[list[KeyFile], list[KeyFile]]:
    """(current, superseded): a key file named as superseded by another one is old."""
    named = {fid for kf in keyfiles for fid in kf.supersedes}
    current = [kf for kf in keyfiles if kf.file_id not in named]
    old = [kf for kf in keyfiles if kf.file_id in named]
    return current, old


def unlock_store(
    keyfiles: Sequence[KeyFile],
    unlock: Unlock,
    confirm: Callable[[StoreKeys], bool] | None,
    store_id: bytes | None = None,
) -> tuple[StoreKeys, KeyFile, SlotType]:
    """Find the store key: try the slots that can open with *unlock* (none, then the
    account key, then the password; current key files before superseded ones). A key is
    taken only when *confirm* accepts it (the config's MAC holds under it), or, without a
    config to confirm it (*confirm* None), when the key file's own MAC holds: a slot
    copied from another store with the same password is never taken for this one.
    *store_id* (the config's) is used for a damaged key file's store id."""
    if not keyfiles:
        raise DamagedStoreError(
            _("The store has no readable key file: it cannot be opened."), name=PREFIX
        )
    current, old = current_keyfiles(keyfiles)
    tries = [
        (kf, slot)
        for group in (current, old)
        for kf in group
        for slot in sorted(kf.slots, key=lambda s: _ORDER.get(s.type, 9))
    ]
    tries.sort(key=lambda t: _ORDER.get(t[1].type, 9))  # stable: current files first per type
    opened_foreign = False
    for kf, slot in tries:
        try:
            key = unlock.candidates(slot)
        except DamagedArchiveError:  # e.g. Argon2id parameters outside the limits
            continue
        if key is None:
            continue
        sid = store_id if (store_id and kf.damaged) else kf.store_id
        keys = StoreKeys(sid, key) if len(key) == KEY_SIZE else None
        if keys is not None and (confirm(keys) if confirm is not None else kf.verify(keys)):
            return keys, kf, slot.type
        opened_foreign = True
    if opened_foreign:
        raise DamagedStoreError(
            _(
                "A key slot opened, but its key does not fit this store's config: a key file "
                "from another store, or damaged."
            ),
            name=PREFIX,
        )
    types = {s.type for kf in keyfiles for s in kf.slots}
    ids = sorted({s.key_id.hex() for kf in keyfiles for s in kf.slots if s.key_id})
    if unlock.recovery_code is not None:
        if SlotType.RECOVERY not in types:
            raise NoRecoveryCodeError(
                _(
                    "This backup store has no recovery code (it was removed, or never made); "
                    "it opens only with its password."
                )
            )
        raise WrongRecoveryCodeError(
            _(
                "This recovery code does not open this backup store (it belongs to another "
                "backup, or it was replaced by a newer one)."
            )
        )
    if SlotType.PASSWORD in types:
        if not unlock.password:
            raise PasswordNeeded(_("This backup store is protected by a password."))
        raise WrongPasswordError(_("Wrong password for this backup store."))
    if SlotType.ACCOUNT in types:
        if unlock.account is None:
            raise AccountKeyNeededError(
                _(
                    "This backup store is locked with the account key {ids}; it can only be "
                    "opened with that original account key (give it with --account-key)."
                ).format(ids=", ".join(ids))
            )
        raise OtherAccountError(
            _(
                "This backup store belongs to another account (key id {ids}); this computer's "
                "account key is {id_hex}."
            ).format(ids=", ".join(ids), id_hex=unlock.account.id_hex)
        )
    raise WrongPasswordError(_("No key slot of this backup store can be opened here."))
