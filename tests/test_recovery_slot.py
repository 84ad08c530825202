"""The recovery key slot (SlotType.RECOVERY, archive/FORMAT.md "Key slots") and how the
reader uses it: a password tries only password slots, a code only recovery slots."""

from __future__ import annotations

import hashlib
import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archive_support import CheapPassword, build_archive, cheap_params, flip
from therabak.archive.header import build_header, parse_header
from therabak.archive.reader import ArchiveReader, PasswordNeeded
from therabak.archive.writer import Protection
from therabak.crypto.kdf import Argon2Params
from therabak.crypto.recovery import RecoveryCode
from therabak.crypto.slots import Slot, SlotType, with_recovery, without_recovery
from therabak.errors import (
    DamagedArchiveError,
    ExitCode,
    NoRecoveryCodeError,
    WrongPasswordError,
    WrongRecoveryCodeError,
)

KEY = bytes(range(32))


class CheapPasswordAndCode(CheapPassword):
    """A cheap password slot and a recovery slot for ``recovery_code``."""

    def slots(self, archive_key: bytes) -> list[Slot]:
        slots = CheapPassword.slots(self, archive_key)
        if self.recovery_code is not None:
            slots.append(Slot.recovery(archive_key, self.recovery_code))
        return slots


@pytest.fixture
def code() -> RecoveryCode:
    return RecoveryCode.generate()


@pytest.fixture
def both(tmp_path, code):
    return build_archive(
        tmp_path / "both.therabak",
        {"notes/a.txt": b"Sitzung 1", "notes/b.txt": b"Sitzung 2"},
        protection=CheapPasswordAndCode(password="pw", recovery_code=code),
    )


class Counting:
    """Counts the calls of a method and still calls it (a spy, not a mock)."""

    def __init__(self, monkeypatch, owner, name: str) -> None:
        self.calls = 0
        real = getattr(owner, name)

        def spy(*args, **kwargs):
            self.calls += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, name, spy)


def test_a_recovery_slot_wraps_the_key_for_its_code_only(code) -> None:
    slot = Slot.recovery(KEY, code)
    assert slot.type is SlotType.RECOVERY and len(slot.body) == 64
    assert slot.unwrap_recovery(code) == KEY
    assert slot.unwrap_recovery(RecoveryCode.parse(code.display().lower())) == KEY
    assert slot.unwrap_recovery(RecoveryCode.generate()) is None
    again = Slot.recovery(KEY, code)
    assert again.body[:16] != slot.body[:16]  # a new salt every time
    assert Slot.parse(4, slot.body) == slot
    assert SlotType.RECOVERY.label == "recovery"


def test_with_and_without_recovery_replace_only_that_slot(code) -> None:
    pw = Slot.password(KEY, "pw", cheap_params())
    slots = with_recovery([pw], KEY, code)
    assert [s.type for s in slots] == [SlotType.PASSWORD, SlotType.RECOVERY]
    other = RecoveryCode.generate()
    replaced = with_recovery(slots, KEY, other)
    assert [s.type for s in replaced] == [SlotType.PASSWORD, SlotType.RECOVERY]
    assert replaced[0] is pw
    assert replaced[1].unwrap_recovery(other) == KEY and replaced[1].unwrap_recovery(code) is None
    assert without_recovery(replaced) == [pw]


def test_the_archive_opens_with_password_or_code(both, code) -> None:
    with ArchiveReader.open(both.path) as reader:
        assert reader.header.protection == "password" and reader.header.has_recovery_code
        assert reader.unlock(password="pw") == "password"
        assert reader.archive_key == both.archive_key
    with ArchiveReader.open(both.path) as reader:
        assert reader.unlock(recovery_code=code) == "recovery"
        assert reader.read_entry(reader.read_index().entries[0]) == b"Sitzung 1"


def test_a_password_never_tries_the_recovery_slot_and_a_code_never_the_password(
    both, code, monkeypatch
) -> None:
    recovery = Counting(monkeypatch, Slot, "unwrap_recovery")
    argon = Counting(monkeypatch, Argon2Params, "derive")
    with ArchiveReader.open(both.path) as reader, pytest.raises(WrongPasswordError):
        reader.unlock(password="wrong")
    assert argon.calls == 1 and recovery.calls == 0
    with ArchiveReader.open(both.path) as reader, pytest.raises(WrongRecoveryCodeError) as e:
        reader.unlock(recovery_code=RecoveryCode.generate())
    assert e.value.exit_code == ExitCode.CANNOT_UNLOCK
    assert argon.calls == 1 and recovery.calls == 1
    with ArchiveReader.open(both.path) as reader:
        with pytest.raises(PasswordNeeded):
            reader.unlock()
        with pytest.raises(ValueError):
            reader.unlock(password="pw", recovery_code=code)


def test_a_code_for_an_archive_without_recovery_slot_is_refused_distinctly(tmp_path, code):
    built = build_archive(
        tmp_path / "pw.therabak", {"a": b"1"}, protection=CheapPassword(password="pw")
    )
    with ArchiveReader.open(built.path) as reader:
        assert not reader.header.has_recovery_code
        with pytest.raises(NoRecoveryCodeError) as e:
            reader.unlock(recovery_code=code)
    assert e.value.exit_code == ExitCode.CANNOT_UNLOCK
    assert "no recovery code" in e.value.message


def test_salvage_of_a_damaged_header_opens_with_the_code(both, code) -> None:
    flip(both.path, 4096 - 40)  # the padding: the checksum fails, the slots are intact
    with pytest.raises(DamagedArchiveError):
        ArchiveReader.open(both.path)
    with ArchiveReader.open(both.path, salvage=True) as reader:
        assert reader.unlock(recovery_code=code) == "recovery"
        assert reader.archive_key == both.archive_key
    with (
        ArchiveReader.open(both.path, salvage=True) as reader,
        pytest.raises(DamagedArchiveError, match="recovery code"),
    ):
        reader.unlock(recovery_code=RecoveryCode.generate())


def test_protection_needs_a_password_beside_a_code(code) -> None:
    with pytest.raises(ValueError):
        Protection(unprotected=True, recovery_code=code).slots(KEY)
    with pytest.raises(ValueError):
        Protection(account_key=KEY, account_key_id=b"12345678", recovery_code=code).slots(KEY)
    assert "recovery" in repr(Protection(password="x", recovery_code=code))
    assert code.compact() not in repr(Protection(password="x", recovery_code=code))


# ---- the slot parser, fed anything ----------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.integers(0, 255), st.binary(max_size=200))
def test_slot_parse_takes_any_bytes(type_byte: int, body: bytes) -> None:
    try:
        slot = Slot.parse(type_byte, body)
    except DamagedArchiveError as e:
        assert e.message
    else:
        assert slot.type == type_byte and slot.body == body
        if slot.type is SlotType.RECOVERY:
            assert len(body) == 64
            assert slot.unwrap_recovery(RecoveryCode.generate()) is None


SLOT_KINDS = st.lists(
    st.sampled_from([SlotType.PASSWORD, SlotType.ACCOUNT, SlotType.RECOVERY]),
    min_size=1,
    max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(SLOT_KINDS, st.data())
def test_headers_with_any_mix_of_slots_parse_back(kinds, data) -> None:
    code = RecoveryCode.generate()
    slots = []
    for kind in kinds:
        if kind is SlotType.PASSWORD:
            slots.append(Slot.password(KEY, "pw", cheap_params()))
        elif kind is SlotType.ACCOUNT:
            slots.append(Slot.account(KEY, os.urandom(32), os.urandom(8)))
        else:
            slots.append(Slot.recovery(KEY, code))
    region, header = build_header(
        archive_key=KEY, slots=slots, kind="manual", categories=("audio",)
    )
    parsed = parse_header(region)
    assert parsed.slots == tuple(slots)
    assert parsed.has_recovery_code == (SlotType.RECOVERY in kinds)
    parsed.verify_mac(KEY)
    # a recovery slot's body cut short or grown is refused, never misread
    if SlotType.RECOVERY in kinds:
        i = kinds.index(SlotType.RECOVERY)
        pos = len(header.fixed) + 1 + sum(3 + len(s.body) for s in slots[:i])
        assert region[pos] == SlotType.RECOVERY
        delta = data.draw(st.sampled_from([-1, 1, 17]))
        bad = bytearray(region)
        bad[pos + 1 : pos + 3] = struct.pack(">H", 64 + delta)
        bad[-32:] = hashlib.sha256(bad[:-32]).digest()  # an intact checksum: the slot decides
        with pytest.raises(DamagedArchiveError, match="key slot|MAC|padding"):
            parse_header(bytes(bad))
