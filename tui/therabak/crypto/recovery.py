"""Recovery codes: a random secret of 130 bits that a person can copy by hand.

A code is 32 symbols of Crockford's base32 alphabet (digits and capitals without
I, L, O and U), shown in 8 groups of 4: ``7K2M-9QXH-…``. The first 26 symbols carry
130 random bits; the last 6 are a BCH checksum (bech32m's generator, over the 26 data
symbols and the prefix ``therabak``), which detects *every* error that touches at most
four symbols — one wrong character, two swapped ones — and almost every other one
(one in 2^30 escapes). A missing or extra group changes the length. So a typo is
refused at once, before any key derivation, and usually with the group it is in.

Typing is forgiving: case, spaces, dashes and dots do not matter, and the look-alikes
``O`` (read 0), ``I`` and ``L`` (read 1) are mapped as Crockford's alphabet intends.

The code wraps a key like a password, but it has full entropy (130 bits from the
operating system's CSPRNG), so HKDF-SHA256 with a per-slot salt is enough: guessing
2^130 codes is out of reach whatever each guess costs, and a slow KDF would add
nothing (archive/FORMAT.md, "Key slots").

A :class:`RecoveryCode` never shows itself by accident: ``str()`` and ``repr()`` hide
it; :meth:`RecoveryCode.display` is the one way to get the text for a person.
"""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass, field

from therabak.crypto.stream import derive_key
from therabak.errors import CannotUnlockError
from therabak.i18n import _

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32
DATA_SYMBOLS = 26  # 130 bits
CHECK_SYMBOLS = 6  # 30 bits
SYMBOLS = DATA_SYMBOLS + CHECK_SYMBOLS
GROUP = 4
GROUPS = SYMBOLS // GROUP
ENTROPY_BITS = 5 * DATA_SYMBOLS
#: what is read of a typed code at most (anything longer is refused unread)
MAX_INPUT = 200

_VALUE = {c: i for i, c in enumerate(ALPHABET)}
_VALUE.update({"O": 0, "I": 1, "L": 1})
_IGNORED = frozenset(" \t\r\n-_.\u2010\u2011\u2012\u2013\u2014\u00a0")
_PREFIX = "therabak"
_PREFIX_VALUES = [ord(c) >> 5 for c in _PREFIX] + [0] + [ord(c) & 31 for c in _PREFIX]
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_CONSTANT = 0x2BC830A3  # bech32m's
_KDF_INFO = b"therabak slot recovery v1"


class RecoveryCodeTypoError(CannotUnlockError):
    """A typed recovery code that cannot be one (wrong length, a character that is not
    in the alphabet, a checksum that does not match): refused before any work.

    ``group`` is the 1-based group the typo is in, when that is known."""

    def __init__(self, message: str, *, group: int | None = None) -> None:
        super().__init__(message)
        self.group = group


def _step(chk: int, value: int) -> int:
    top = chk >> 25
    chk = ((chk & 0x1FFFFFF) << 5) ^ value
    for i in range(5):
        if (top >> i) & 1:
            chk ^= _GENERATOR[i]
    return chk


def _polymod(values: list[int]) -> int:
    chk = 1
    for v in values:
        chk = _step(chk, v)
    return chk


def _checksum(data: list[int]) -> list[int]:
    pm = _polymod(_PREFIX_VALUES + data + [0] * CHECK_SYMBOLS) ^ _CONSTANT
    return [(pm >> 5 * (CHECK_SYMBOLS - 1 - i)) & 31 for i in range(CHECK_SYMBOLS)]


def _residue(values: list[int]) -> int:
    return _polymod(_PREFIX_VALUES + values) ^ _CONSTANT


def _typo_groups(values: list[int], residue: int) -> list[int]:
    """The groups (1-based) of the single wrong symbol or swapped pair that explains
    *residue*: one group, or two neighbouring ones for a pair swapped across a dash;
    [] when no single typo (or more than one) explains it.

    The checksum is affine over GF(2): changing the symbol that has k symbols after it
    by XOR-ing it with d changes the residue by d moved through k zero steps. About
    a thousand cheap steps: well under a millisecond."""
    effects: dict[int, list[int]] = {}  # d -> [effect at k = 0, 1, ...]
    groups: set[int] = set()
    explanations = 0
    for d in range(1, 32):
        row = []
        state = d
        for k in range(SYMBOLS):
            row.append(state)
            if state == residue:
                groups.add((SYMBOLS - 1 - k) // GROUP)
                explanations += 1
            state = _step(state, 0)  # a step is linear: the effect moves on alone
        effects[d] = row
    for i in range(SYMBOLS - 1):  # two neighbours swapped
        delta = values[i] ^ values[i + 1]
        if delta:
            k = SYMBOLS - 1 - i
            if effects[delta][k] ^ effects[delta][k - 1] == residue:
                groups.update({i // GROUP, (i + 1) // GROUP})
                explanations += 1
    if explanations != 1:
        return []
    return sorted(g + 1 for g in groups)


def _symbol_values(text: str) -> list[int]:
    """The symbols' values in *text* (what is ignored left out); RecoveryCodeTypoError
    naming the group of the first character that is not in recovery codes."""
    text = unicodedata.normalize("NFKC", text).upper()
    values: list[int] = []
    for c in text:
        if c in _IGNORED:
            continue
        v = _VALUE.get(c)
        if v is None:
            raise RecoveryCodeTypoError(
                _(
                    "Group {group} of the recovery code holds a character that is not "
                    "in recovery codes (they have only digits and the letters A to Z "
                    "without I, L, O and U)."
                ).format(group=len(values) // GROUP + 1),
                group=len(values) // GROUP + 1,
            )
        values.append(v)
    return values


def typed_so_far(text: str) -> int:
    """How many of a code's symbols *text* holds (for a field that checks the code as it
    is typed): RecoveryCodeTypoError, with its group, for a character that is not in
    recovery codes, and for more symbols than a code has. A complete code still needs
    :meth:`RecoveryCode.parse` (the checksum). Cheap: no key derivation, no I/O."""
    if len(text) > MAX_INPUT:
        raise _far_too_long()
    n = len(_symbol_values(text))
    if n > SYMBOLS:
        raise _wrong_length(n)
    return n


def _far_too_long() -> RecoveryCodeTypoError:
    return RecoveryCodeTypoError(
        _("The recovery code is far too long; it has {n} characters in {groups} groups.").format(
            n=SYMBOLS, groups=GROUPS
        )
    )


def _wrong_length(n: int) -> RecoveryCodeTypoError:
    return RecoveryCodeTypoError(
        _(
            "The recovery code has {n} characters, but it needs {needed} ({groups} "
            "groups of {size}): a group or a character is missing or extra."
        ).format(n=n, needed=SYMBOLS, groups=GROUPS, size=GROUP)
    )


@dataclass(frozen=True)
class RecoveryCode:
    """A checked recovery code (make one with :meth:`generate` or :meth:`parse`)."""

    _symbols: str = field(repr=False)

    def __post_init__(self) -> None:
        if len(self._symbols) != SYMBOLS or any(c not in ALPHABET for c in self._symbols):
            raise ValueError("not a canonical recovery code")

    @classmethod
    def generate(cls) -> RecoveryCode:
        value = secrets.randbits(ENTROPY_BITS)
        data = [(value >> 5 * (DATA_SYMBOLS - 1 - i)) & 31 for i in range(DATA_SYMBOLS)]
        return cls("".join(ALPHABET[v] for v in data + _checksum(data)))

    @classmethod
    def parse(cls, text: str) -> RecoveryCode:
        """The code a person typed, or RecoveryCodeTypoError (exit 4) saying what is wrong
        (never echoing the code). Cheap: no key derivation, no I/O."""
        if len(text) > MAX_INPUT:
            raise _far_too_long()
        values = _symbol_values(text)
        if not values:
            raise RecoveryCodeTypoError(_("The recovery code is empty."))
        if len(values) != SYMBOLS:
            raise _wrong_length(len(values))
        residue = _residue(values)
        if residue:
            groups = _typo_groups(values, residue)
            if len(groups) == 1:
                raise RecoveryCodeTypoError(
                    _(
                        "The recovery code has a typo in group {group} (its check characters "
                        "do not match); nothing was tried."
                    ).format(group=groups[0]),
                    group=groups[0],
                )
            if len(groups) == 2:
                raise RecoveryCodeTypoError(
                    _(
                        "The recovery code has a typo where groups {first} and {second} meet "
                        "(its check characters do not match); nothing was tried."
                    ).format(first=groups[0], second=groups[1]),
                    group=groups[0],
                )
            raise RecoveryCodeTypoError(
                _(
                    "The recovery code has a typo (its check characters do not match); "
                    "check every group. Nothing was tried."
                )
            )
        return cls("".join(ALPHABET[v] for v in values))

    def display(self) -> str:
        """The code for a person: ``XXXX-XXXX-…`` (8 groups of 4)."""
        s = self._symbols
        return "-".join(s[i : i + GROUP] for i in range(0, SYMBOLS, GROUP))

    def compact(self) -> str:
        """The 32 symbols without dashes."""
        return self._symbols

    def groups(self) -> list[str]:
        return [self._symbols[i : i + GROUP] for i in range(0, SYMBOLS, GROUP)]

    def secret_bytes(self) -> bytes:
        """The 130 random bits, big-endian in 17 bytes: the input of the key derivation."""
        value = 0
        for c in self._symbols[:DATA_SYMBOLS]:
            value = (value << 5) | _VALUE[c]
        return value.to_bytes(17, "big")

    def wrap_key(self, salt: bytes) -> bytes:
        """The key that wraps an archive (or store) key in a recovery slot."""
        return derive_key(self.secret_bytes(), salt=salt, info=_KDF_INFO)

    def __str__(self) -> str:
        return "RecoveryCode(…)"

    def __repr__(self) -> str:
        return "RecoveryCode(…)"


__all__ = [
    "RecoveryCode",
    "RecoveryCodeTypoError",
    "typed_so_far",
    "ENTROPY_BITS",
    "SYMBOLS",
    "GROUPS",
]
