"""The account key file (practice/FORMAT.md, "Account key file")."""

from __future__ import annotations

import base64
import os
import re
import stat
from pathlib import Path

import pytest

from conftest import IS_WINDOWS
from therabak.errors import AccountKeyError
from therabak.practice.account import KEY_PREFIX, AccountKey, key_file_warnings

posix_only = pytest.mark.skipif(IS_WINDOWS, reason="POSIX file modes")


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_generated_key_round_trips_through_its_file(tmp_path: Path) -> None:
    key = AccountKey.generate()
    path = tmp_path / "sub" / "account.key"
    key.save(path)
    loaded = AccountKey.load(path)
    assert loaded.key == key.key and loaded.key_id == key.key_id
    assert f"{KEY_PREFIX}{b64(key.key)}" in path.read_text("utf-8").splitlines()
    assert not path.with_name("account.key.partial").exists()


def test_two_generated_keys_differ() -> None:
    assert AccountKey.generate().key != AccountKey.generate().key


@posix_only
def test_saved_key_has_mode_0600(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)  # a permissive umask must not leak into the key file
    try:
        path = tmp_path / "account.key"
        AccountKey.generate().save(path)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert key_file_warnings(path) == []


@posix_only
def test_key_readable_by_others_gets_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "account.key"
    AccountKey.generate().save(path)
    path.chmod(0o644)
    warnings = key_file_warnings(path)
    assert len(warnings) == 1
    assert str(path) in warnings[0] and "other users" in warnings[0]
    path.chmod(0o640)
    assert len(key_file_warnings(path)) == 1
    path.chmod(0o600)
    assert key_file_warnings(path) == []


def test_save_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "account.key"
    first = AccountKey.generate()
    first.save(path)
    before = path.read_bytes()
    with pytest.raises(AccountKeyError, match="Refusing to overwrite"):
        AccountKey.generate().save(path)
    assert path.read_bytes() == before
    assert AccountKey.load(path).key == first.key


def test_parse_accepts_comments_blank_lines_and_crlf() -> None:
    raw = bytes(range(32))
    text = f"# comment\r\n\r\n   {KEY_PREFIX}{b64(raw)}  \r\n"
    assert AccountKey.parse(text).key == raw


@pytest.mark.parametrize(
    "text",
    [
        "",
        "# only a comment\n",
        "hello world\n",
        f"{KEY_PREFIX}\n",
        f"{KEY_PREFIX}{b64(bytes(31))}\n",  # too short
        f"{KEY_PREFIX}{b64(bytes(33))}\n",  # too long
        f"{KEY_PREFIX}{b64(bytes(32))[:-1]}\n",  # one character missing
        f"therapsy-account-key-v2:{b64(bytes(32))}\n",  # unknown version
        f"garbage\n{KEY_PREFIX}{b64(bytes(32))}\n",  # the key must be the first line
        b64(bytes(32)) + "\n",  # no prefix
    ],
    ids=[
        "empty",
        "comment only",
        "garbage",
        "prefix only",
        "31 bytes",
        "33 bytes",
        "missing char",
        "v2",
        "garbage first",
        "no prefix",
    ],
)
def test_parse_rejects_malformed_text(text: str) -> None:
    with pytest.raises(AccountKeyError, match="not a TheraPsy account key file"):
        AccountKey.parse(text)


@pytest.mark.parametrize(
    "content",
    [os.urandom(64), b"\xff\xfe" + "therapsy".encode("utf-16-le"), bytes(5000)],
    ids=["random bytes", "utf-16", "large"],
)
def test_load_rejects_binary_files(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "account.key"
    path.write_bytes(content)
    with pytest.raises(AccountKeyError) as info:
        AccountKey.load(path)
    assert str(path) in str(info.value)


def test_load_missing_key_and_folder(tmp_path: Path) -> None:
    with pytest.raises(AccountKeyError, match="not found") as info:
        AccountKey.load(tmp_path / "nope.key")
    assert info.value.hint and "--account-key" in info.value.hint
    with pytest.raises(AccountKeyError, match="folder"):
        AccountKey.load(tmp_path)


def test_key_must_be_32_bytes() -> None:
    for n in (0, 16, 31, 33, 64):
        with pytest.raises(AccountKeyError):
            AccountKey(bytes(n))


def test_repr_and_str_never_show_the_key() -> None:
    key = AccountKey.generate()
    secret_forms = {
        key.key.hex(),
        b64(key.key),
        base64.b64encode(key.key).decode(),
        repr(key.key),
        str(key.key),
    }
    for shown in (repr(key), str(key), f"{key}", f"{key!r}", repr([key]), repr({"k": key})):
        for form in secret_forms:
            assert form not in shown


def test_key_id_is_stable_and_16_hex_digits() -> None:
    raw = bytes(range(32))
    a, b = AccountKey(raw), AccountKey(bytes(raw))
    assert a.id_hex == b.id_hex
    assert re.fullmatch(r"[0-9a-f]{16}", a.id_hex)
    # HKDF-SHA256(ikm=key, salt="", info="therapsy account key id v1", L=8), as FORMAT.md says
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    expected = HKDF(
        algorithm=hashes.SHA256(), length=8, salt=b"", info=b"therapsy account key id v1"
    ).derive(raw)
    assert a.key_id == expected
    assert a.id_hex != AccountKey(bytes(32)).id_hex
    assert raw.hex()[:16] != a.id_hex  # the id is not a prefix of the key
