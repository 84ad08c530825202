"""The recovery code (crypto/recovery.py): 130 random bits a person can copy by hand, with a
checksum that catches a typo before any work is done."""

from __future__ import annotations

import random
import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from therabak.crypto.recovery import (
    ALPHABET,
    DATA_SYMBOLS,
    ENTROPY_BITS,
    GROUPS,
    SYMBOLS,
    RecoveryCode,
    RecoveryCodeTypoError,
    typed_so_far,
)
from therabak.errors import ExitCode

FORMAT = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){7}$")


def changed(code: RecoveryCode, i: int, symbol: str) -> str:
    s = list(code.compact())
    s[i] = symbol
    return "".join(s)


def test_a_generated_code_is_8_groups_of_4_with_130_random_bits() -> None:
    codes = [RecoveryCode.generate() for _ in range(200)]
    assert ENTROPY_BITS == 130 >= 128 and SYMBOLS == 32 and GROUPS == 8
    for code in codes:
        assert FORMAT.match(code.display()), code.display()
        assert RecoveryCode.parse(code.display()) == code
        assert len(code.secret_bytes()) == 17 and code.secret_bytes()[0] < 4  # 130 bits
    assert len({c.compact() for c in codes}) == 200
    # every symbol of the data part is used (random, not a counter)
    assert {ch for c in codes for ch in c.compact()[:DATA_SYMBOLS]} == set(ALPHABET)


def test_typing_is_forgiving() -> None:
    code = RecoveryCode.generate()
    text = code.display()
    for typed in (
        text.lower(),
        text.replace("-", " "),
        text.replace("-", ""),
        "  " + text.replace("-", " - ") + "\n",
        text.replace("-", "\u2013"),  # an en dash, as word processors make it
        unicodedata.normalize("NFKC", text).translate({ord("0"): "\uff10"}),  # full width
        text.replace("0", "O").replace("1", "I"),
        text.replace("1", "l").lower(),
        ".".join(code.groups()),
    ):
        assert RecoveryCode.parse(typed) == code, typed


def test_every_wrong_character_is_caught_and_its_group_named() -> None:
    code = RecoveryCode.generate()
    tried = 0
    for i in range(SYMBOLS):
        for symbol in ALPHABET:
            if symbol == code.compact()[i]:
                continue
            tried += 1
            with pytest.raises(RecoveryCodeTypoError) as e:
                RecoveryCode.parse(changed(code, i, symbol))
            assert e.value.group == i // 4 + 1
            assert f"group {i // 4 + 1}" in e.value.message
            assert e.value.exit_code == ExitCode.CANNOT_UNLOCK
    assert tried == SYMBOLS * 31


def test_every_swap_of_two_neighbours_is_caught() -> None:
    for _ in range(20):
        code = RecoveryCode.generate()
        s = code.compact()
        for i in range(SYMBOLS - 1):
            if s[i] == s[i + 1]:
                continue
            swapped = s[:i] + s[i + 1] + s[i] + s[i + 2 :]
            with pytest.raises(RecoveryCodeTypoError) as e:
                RecoveryCode.parse(swapped)
            if i % 4 != 3:  # inside a group: that group is named
                assert e.value.group == i // 4 + 1
            else:  # across a dash: both groups
                assert f"groups {i // 4 + 1} and {i // 4 + 2}" in e.value.message


@pytest.mark.parametrize("how", ["missing group", "extra group", "missing char", "empty"])
def test_a_missing_or_extra_group_is_caught(how: str) -> None:
    code = RecoveryCode.generate()
    groups = code.groups()
    typed = {
        "missing group": "-".join(groups[:3] + groups[4:]),
        "extra group": "-".join(groups + groups[:1]),
        "missing char": code.display()[:-1],
        "empty": " - ",
    }[how]
    with pytest.raises(RecoveryCodeTypoError) as e:
        RecoveryCode.parse(typed)
    assert e.value.exit_code == ExitCode.CANNOT_UNLOCK
    assert "empty" in e.value.message if how == "empty" else "needs 32" in e.value.message


@pytest.mark.parametrize("bad", ["U", "#", "ä", "€", "?"])
def test_a_character_outside_the_alphabet_names_its_group(bad: str) -> None:
    code = RecoveryCode.generate()
    with pytest.raises(RecoveryCodeTypoError) as e:
        RecoveryCode.parse(changed(code, 9, bad))
    assert e.value.group == 3


def test_neither_messages_nor_repr_show_the_code() -> None:
    code = RecoveryCode.generate()
    assert code.compact() not in repr(code) + str(code) + f"{code}"
    assert not any(g in repr(code) for g in code.groups())
    for i in (0, 13, 31):
        with pytest.raises(RecoveryCodeTypoError) as e:
            RecoveryCode.parse(changed(code, i, "Z" if code.compact()[i] != "Z" else "Y"))
        assert not any(g in e.value.message for g in code.groups())


def test_far_too_long_input_is_refused_unread() -> None:
    with pytest.raises(RecoveryCodeTypoError, match="far too long"):
        RecoveryCode.parse("0" * 100_000)


def test_typed_so_far_counts_the_symbols_of_a_code_being_typed() -> None:
    """The field that checks the code as it is typed: each prefix of the code, as shown
    or as typed loosely, counts its symbols; separators and case do not count."""
    code = RecoveryCode.generate()
    shown = code.display()
    for end in range(len(shown) + 1):
        prefix = shown[:end]
        assert typed_so_far(prefix) == len(prefix.replace("-", "")), prefix
        assert typed_so_far(prefix.lower().replace("-", " ")) == len(prefix.replace("-", ""))
    assert typed_so_far("") == 0
    assert typed_so_far(" - \u2013 ") == 0


@pytest.mark.parametrize(("at", "group"), [(0, 1), (3, 1), (4, 2), (17, 5), (31, 8)])
def test_typed_so_far_names_the_group_of_a_stray_character(at: int, group: int) -> None:
    """A character that is not in recovery codes is named by its group as soon as it is
    typed, before the code is complete (what follows it does not matter)."""
    typed = RecoveryCode.generate().compact()[:at] + "U"
    with pytest.raises(RecoveryCodeTypoError) as e:
        typed_so_far(typed)
    assert e.value.group == group
    assert e.value.exit_code == ExitCode.CANNOT_UNLOCK


def test_typed_so_far_refuses_more_than_a_code_holds() -> None:
    code = RecoveryCode.generate()
    assert typed_so_far(code.display()) == SYMBOLS
    with pytest.raises(RecoveryCodeTypoError, match="needs 32"):
        typed_so_far(code.display() + "-0")
    with pytest.raises(RecoveryCodeTypoError, match="far too long"):
        typed_so_far("0" * 100_000)


def test_the_wrap_key_depends_on_code_and_salt() -> None:
    a, b = RecoveryCode.generate(), RecoveryCode.generate()
    salt = bytes(16)
    assert a.wrap_key(salt) == RecoveryCode.parse(a.display().lower()).wrap_key(salt)
    assert a.wrap_key(salt) != b.wrap_key(salt)
    assert a.wrap_key(salt) != a.wrap_key(b"\1" * 16)


# ---- hypothesis -----------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=2**130 - 1))
def test_any_130_bit_value_round_trips(value: int) -> None:
    data = [(value >> 5 * (DATA_SYMBOLS - 1 - i)) & 31 for i in range(DATA_SYMBOLS)]
    from therabak.crypto.recovery import _checksum

    text = "".join(ALPHABET[v] for v in data + _checksum(data))
    code = RecoveryCode.parse(text)
    assert int.from_bytes(code.secret_bytes(), "big") == value
    assert RecoveryCode.parse(code.display()) == code


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, SYMBOLS - 1), st.integers(1, 31)), min_size=1, max_size=4),
    st.randoms(use_true_random=False),
)
def test_up_to_four_wrong_characters_are_always_caught(changes, rnd: random.Random) -> None:
    """The BCH checksum detects every error in up to four symbols (distance 5)."""
    code = RecoveryCode.generate()
    values = [ALPHABET.index(c) for c in code.compact()]
    touched: dict[int, int] = {}
    for i, delta in changes:
        touched[i] = touched.get(i, 0) ^ delta
    touched = {i: d for i, d in touched.items() if d}
    if not touched:
        return
    for i, d in touched.items():
        values[i] ^= d
    typed = "".join(ALPHABET[v] for v in values)
    if rnd.random() < 0.5:
        typed = typed.lower()
    with pytest.raises(RecoveryCodeTypoError):
        RecoveryCode.parse(typed)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=250))
def test_parsing_any_text_gives_a_code_or_a_typo_error(text: str) -> None:
    try:
        code = RecoveryCode.parse(text)
    except RecoveryCodeTypoError as e:
        assert e.message and "\n" not in e.message
    else:
        assert FORMAT.match(code.display())
