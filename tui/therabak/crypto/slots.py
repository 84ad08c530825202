"""Key slots: each wraps the archive's random 32-byte key in one way.

* ``password``: AES-256-GCM under Argon2id(password) (parameters stored in the slot),
* ``account``:  AES-256-GCM under HKDF(account key, slot salt); carries the key id,
* ``none``:     the archive key in clear — anyone with the file can read the archive,
* ``recovery``: AES-256-GCM under HKDF(recovery code, slot salt) (crypto/recovery.py).

The same slots serve any holder of a key (an archive header, a store's key file):
:func:`with_recovery` and :func:`without_recovery` change a list of them.

Slot bodies are parsed from untrusted bytes: every length is checked.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from enum import IntEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from therabak.crypto.kdf import SALT_SIZE, Argon2Params
from therabak.crypto.recovery import RecoveryCode
from therabak.crypto.stream import KEY_SIZE, TAG_SIZE, derive_key
from therabak.errors import DamagedArchiveError
from therabak.i18n import _

WRAPPED_SIZE = KEY_SIZE + TAG_SIZE
_ZERO_NONCE = bytes(12)
_PASSWORD_AD = b"therabak slot password v1"
_ACCOUNT_AD = b"therabak slot account v1"
_ACCOUNT_INFO = b"therabak slot account v1"
_RECOVERY_AD = b"therabak slot recovery v1"
_PW = struct.Struct(">16sIII48s")  # salt, time cost, lanes, memory KiB, wrapped key
_ACC = struct.Struct(">8s16s48s")  # key id, salt, wrapped key
_REC = struct.Struct(">16s48s")  # salt, wrapped key


class SlotType(IntEnum):
    PASSWORD = 1
    ACCOUNT = 2
    NONE = 3
    RECOVERY = 4

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Slot:
    type: SlotType
    body: bytes = field(repr=False)

    # ---- construction -------------------------------------------------------------

    @classmethod
    def password(
        cls, archive_key: bytes, password: str, params: Argon2Params | None = None
    ) -> Slot:
        params = params or Argon2Params.new()
        wrap = params.derive(password)
        wrapped = AESGCM(wrap).encrypt(_ZERO_NONCE, archive_key, _PASSWORD_AD)
        body = _PW.pack(params.salt, params.time_cost, params.lanes, params.memory_kib, wrapped)
        return cls(SlotType.PASSWORD, body)

    @classmethod
    def account(cls, archive_key: bytes, account_key: bytes, key_id: bytes) -> Slot:
        salt = os.urandom(SALT_SIZE)
        wrap = derive_key(account_key, salt=salt, info=_ACCOUNT_INFO + key_id)
        wrapped = AESGCM(wrap).encrypt(_ZERO_NONCE, archive_key, _ACCOUNT_AD)
        return cls(SlotType.ACCOUNT, _ACC.pack(key_id, salt, wrapped))

    @classmethod
    def none(cls, archive_key: bytes) -> Slot:
        return cls(SlotType.NONE, archive_key)

    @classmethod
    def recovery(cls, archive_key: bytes, code: RecoveryCode) -> Slot:
        salt = os.urandom(SALT_SIZE)
        wrapped = AESGCM(code.wrap_key(salt)).encrypt(_ZERO_NONCE, archive_key, _RECOVERY_AD)
        return cls(SlotType.RECOVERY, _REC.pack(salt, wrapped))

    # ---- parsing -------------------------------------------------------------------

    @classmethod
    def parse(cls, type_byte: int, body: bytes) -> Slot:
        try:
            slot_type = SlotType(type_byte)
        except ValueError:
            raise DamagedArchiveError(
                _("unknown key slot type {type_byte}").format(type_byte=type_byte)
            ) from None
        expected = {
            SlotType.PASSWORD: _PW.size,
            SlotType.ACCOUNT: _ACC.size,
            SlotType.NONE: KEY_SIZE,
            SlotType.RECOVERY: _REC.size,
        }[slot_type]
        if len(body) != expected:
            raise DamagedArchiveError(
                _("{label} key slot has the wrong size").format(label=slot_type.label)
            )
        return cls(slot_type, bytes(body))

    def argon2_params(self) -> Argon2Params:
        salt, t, lanes, m, _reserved = _PW.unpack(self.body)
        return Argon2Params(salt=salt, time_cost=t, lanes=lanes, memory_kib=m)

    @property
    def key_id(self) -> bytes | None:
        return self.body[:8] if self.type is SlotType.ACCOUNT else None

    # ---- unwrapping (None when the secret does not fit) ------------------------------

    def unwrap_password(self, password: str) -> bytes | None:
        params = self.argon2_params()
        wrapped = self.body[-WRAPPED_SIZE:]
        try:
            return AESGCM(params.derive(password)).decrypt(_ZERO_NONCE, wrapped, _PASSWORD_AD)
        except InvalidTag:
            return None

    def unwrap_account(self, account_key: bytes, key_id: bytes) -> bytes | None:
        slot_id, salt, wrapped = _ACC.unpack(self.body)
        if slot_id != key_id:
            return None
        wrap = derive_key(account_key, salt=salt, info=_ACCOUNT_INFO + key_id)
        try:
            return AESGCM(wrap).decrypt(_ZERO_NONCE, wrapped, _ACCOUNT_AD)
        except InvalidTag:
            return None

    def unwrap_none(self) -> bytes:
        return self.body

    def unwrap_recovery(self, code: RecoveryCode) -> bytes | None:
        salt, wrapped = _REC.unpack(self.body)
        try:
            return AESGCM(code.wrap_key(salt)).decrypt(_ZERO_NONCE, wrapped, _RECOVERY_AD)
        except InvalidTag:
            return None


def with_recovery(slots: list[Slot], key: bytes, code: RecoveryCode) -> list[Slot]:
    """*slots* with a recovery slot for *code* (replacing any recovery slot) at the end."""
    return without_recovery(slots) + [Slot.recovery(key, code)]


def without_recovery(slots: list[Slot]) -> list[Slot]:
    """*slots* without their recovery slot(s)."""
    return [s for s in slots if s.type is not SlotType.RECOVERY]
