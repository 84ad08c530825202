"""The store key and the keys derived from it (FORMAT.md, "Keys").

One random 32-byte **store key** protects a whole store. Every use has its own key,
derived with HKDF-SHA256 (salt: the store id, info: the purpose), so no key serves two
purposes and keys of two stores never meet. ``seal``/``unseal`` are the one AEAD
construction of the store: AES-256-GCM, a random 12-byte nonce in front, associated
data that binds the sealed bytes to their place.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass, field
from enum import IntEnum

import blake3
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from therabak.crypto.stream import KEY_SIZE, TAG_SIZE, hkdf_expand, hkdf_extract
from therabak.i18n import _
from therabak.store.errors import DamagedStoreError

STORE_ID_SIZE = 16
NONCE_SIZE = 12
SEAL_OVERHEAD = NONCE_SIZE + TAG_SIZE
MAC_SIZE = 32

# HKDF info strings: one per purpose (FORMAT.md lists them)
_INFO_ID = b"therabak store blob id v1"
_INFO_ID_BLAKE3 = b"therabak store blob id v2 blake3"
_INFO_BLOB = b"therabak store blob v1"
_INFO_PACK = b"therabak store pack header v1"
_INFO_INDEX = b"therabak store index v1"
_INFO_SNAPSHOT = b"therabak store snapshot v1"
_INFO_LOCK = b"therabak store lock v1"
_INFO_MAC = b"therabak store mac v1"


class ContentId(IntEnum):
    """How a store computes a chunk's keyed id (the config says; FORMAT.md, "Blobs")."""

    HMAC_SHA256 = 1  # HMAC-SHA256(id key, SHA-256(chunk)): config version 1
    BLAKE3 = 2  # BLAKE3 keyed with the BLAKE3 id key: config version 2 (~5x faster)


def new_store_key() -> bytes:
    return os.urandom(KEY_SIZE)


@dataclass(frozen=True)
class StoreKeys:
    """The store key of one store and its derived keys. ``repr`` shows no key."""

    store_id: bytes
    master: bytes = field(repr=False)
    # the store's content id (its config's); None: not known (a salvage without a
    # readable config), either is accepted when a blob is read, none can be written
    content_id: ContentId | None = ContentId.HMAC_SHA256
    id_key: bytes = field(repr=False, init=False)
    id_key_blake3: bytes = field(repr=False, init=False)
    mac_key: bytes = field(repr=False, init=False)
    blob: AESGCM = field(repr=False, init=False)
    pack: AESGCM = field(repr=False, init=False)
    index: AESGCM = field(repr=False, init=False)
    snapshot: AESGCM = field(repr=False, init=False)
    snapshot_key: bytes = field(repr=False, init=False)  # for a body sealed as a stream
    lock: AESGCM = field(repr=False, init=False)

    def __post_init__(self) -> None:
        if len(self.master) != KEY_SIZE or len(self.store_id) != STORE_ID_SIZE:
            raise ValueError("store key or store id of the wrong size")
        prk = hkdf_extract(self.master, self.store_id)
        put = object.__setattr__
        put(self, "id_key", hkdf_expand(prk, _INFO_ID))
        put(self, "id_key_blake3", hkdf_expand(prk, _INFO_ID_BLAKE3))
        put(self, "mac_key", hkdf_expand(prk, _INFO_MAC))
        put(self, "blob", AESGCM(hkdf_expand(prk, _INFO_BLOB)))
        put(self, "pack", AESGCM(hkdf_expand(prk, _INFO_PACK)))
        put(self, "index", AESGCM(hkdf_expand(prk, _INFO_INDEX)))
        put(self, "snapshot_key", hkdf_expand(prk, _INFO_SNAPSHOT))
        put(self, "snapshot", AESGCM(self.snapshot_key))
        put(self, "lock", AESGCM(hkdf_expand(prk, _INFO_LOCK)))

    def blob_id(self, sha256_digest: bytes) -> bytes:
        """The keyed content id of a chunk: HMAC-SHA256(id key, SHA-256(chunk))."""
        return hmac.digest(self.id_key, sha256_digest, "sha256")

    def blake3_id(self, chunk: bytes | memoryview) -> bytes:
        """The keyed content id of a chunk in a BLAKE3 store: BLAKE3(chunk) keyed with the
        BLAKE3 id key (32 bytes)."""
        return blake3.blake3(chunk, key=self.id_key_blake3).digest()

    def mac(self, context: bytes, data: bytes | memoryview) -> bytes:
        """HMAC-SHA256(mac key, context || data): config and key files."""
        m = hmac.new(self.mac_key, context, hashlib.sha256)
        m.update(data)
        return m.digest()


def seal(aead: AESGCM, plaintext: bytes | memoryview, aad: bytes) -> bytes:
    """nonce (12, random) || AES-256-GCM(plaintext, aad) with its 16-byte tag."""
    nonce = os.urandom(NONCE_SIZE)
    return nonce + aead.encrypt(nonce, plaintext, aad)


def unseal(aead: AESGCM, sealed: bytes | memoryview, aad: bytes, *, name: str) -> bytes:
    """The plaintext of :func:`seal`'s output; DamagedStoreError naming *name* when the
    bytes were changed, cut, moved to another place (other aad) or sealed with another key."""
    if len(sealed) < SEAL_OVERHEAD:
        raise DamagedStoreError(_("{name} is damaged (cut short).").format(name=name), name=name)
    view = memoryview(sealed)
    try:
        return aead.decrypt(bytes(view[:NONCE_SIZE]), view[NONCE_SIZE:], aad)
    except InvalidTag:
        raise DamagedStoreError(
            _("{name} is damaged (it fails authentication).").format(name=name), name=name
        ) from None
