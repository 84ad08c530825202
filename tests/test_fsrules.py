"""The file-system rules layer (fsrules) and the names a restore gives files (namemap)."""

from __future__ import annotations

import os
import unicodedata
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import IS_WINDOWS, Practice, run_cli
from therabak import fsrules
from therabak.errors import UsageError
from therabak.fsrules import MACOS, POSIX, WINDOWS, CaseRule, NameProblem
from therabak.fsutil import located, open_long, stat_long
from therabak.namemap import NamePlan, PathTooLong, escape, shorten, unescape

NFC = unicodedata.normalize("NFC", "Müller.txt")
NFD = unicodedata.normalize("NFD", "Müller.txt")


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("Termin 14:00.txt", NameProblem.CHARACTER),
        ("a\nb", NameProblem.CHARACTER),
        ("a\\b", NameProblem.CHARACTER),
        ("CON", NameProblem.RESERVED),
        ("aux.txt", NameProblem.RESERVED),
        ("LPT1", NameProblem.RESERVED),
        ("CON .txt", NameProblem.RESERVED),
        ("COM¹", NameProblem.RESERVED),
        ("Notiz.", NameProblem.TRAILING),
        ("Notiz ", NameProblem.TRAILING),
        (os.fsdecode(b"bad\xff"), NameProblem.NOT_TEXT),
        ("x" * 256, NameProblem.TOO_LONG),
        ("ü" * 255, None),  # 255 UTF-16 units: NTFS holds it
        ("CONSOLE.txt", None),
        ("com10", None),
        ("50%.txt", None),
        ("Straße.txt", None),
    ],
)
def test_windows_rules(name, problem):
    assert WINDOWS.problem(name) == problem
    assert WINDOWS.checker()(name) == (problem is not None)


def test_linux_and_macos_rules():
    assert POSIX.problem("Termin 14:00.txt") is None and POSIX.problem("CON") is None
    assert POSIX.problem(os.fsdecode(b"bad\xff")) is None  # Linux holds any bytes
    assert POSIX.problem("ü" * 128) == NameProblem.TOO_LONG  # 256 bytes
    assert POSIX.problem("ü" * 127 + "x") is None  # 255 bytes
    assert MACOS.problem(os.fsdecode(b"bad\xff")) == NameProblem.NOT_TEXT
    assert MACOS.problem("a:b") is None


def test_what_each_target_takes_for_one_name():
    """Case and NFC/NFD as the targets do it; never ß = ss (str.casefold would say so)."""
    assert WINDOWS.key("Befund.txt") == WINDOWS.key("befund.txt")
    assert WINDOWS.key("Straße") != WINDOWS.key("STRASSE")
    assert "Straße".casefold() == "STRASSE".casefold()  # what the old check did
    assert WINDOWS.key(NFC) != WINDOWS.key(NFD)  # NTFS does not normalize
    assert MACOS.key(NFC) == MACOS.key(NFD) and MACOS.key("A") == MACOS.key("a")
    assert MACOS.key("ß") != MACOS.key("ss")
    assert POSIX.key("A") != POSIX.key("a") and POSIX.key(NFC) != POSIX.key(NFD)
    full = replace(MACOS, case=CaseRule.FULL)  # a target whose probe folds ß to ss
    assert full.key("ß") == full.key("ss")


def test_odd_among_finds_what_problem_and_key_find():
    names = ["a.txt", "A.TXT", "x:y", "con.txt", "b.", "ok", "c ", "Straße", "STRASSE"]
    assert WINDOWS.odd_among(names, set()) == ["A.TXT", "x:y", "con.txt", "b.", "c "]
    taken = set()
    assert WINDOWS.odd_among(["plain.json", "other.json"], taken) == []
    assert WINDOWS.odd_among(["PLAIN.json"], taken) == ["PLAIN.json"]  # taken by the first


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.text(st.characters(codec="utf-8", exclude_characters="/\x00"), min_size=1, max_size=8)
        | st.sampled_from(["CON", "aux.txt", "a.", "b ", "%41", "A", "a", "%", "ß", "ss"]),
        min_size=1,
        max_size=12,
        unique=True,
    ),
    st.sampled_from([WINDOWS, MACOS, POSIX]),
)
def test_every_planned_name_is_holdable_unique_and_reversible(names, rules):
    """Whatever the names of a folder: each gets a name the target holds, no two the
    target takes for one, every changed one is listed, and an escaped one turns back into
    exactly its original (a shortened one, marked %~, only through the list: it happens
    when a name as it is on disk equals another's escaped form, e.g. "A", "a", "%41")."""
    names = [n for n in names if n not in (".", "..")]
    plan = NamePlan(rules, [f"d/{n}" for n in names])
    targets = [plan.target(f"d/{n}").split("/", 1)[1] for n in names]
    assert all(rules.problem(t) is None for t in targets)
    assert len({rules.key(t) for t in targets}) == len(targets)
    listed = {r.path: r.target for r in plan.renamed}
    for n, t in zip(names, targets, strict=True):
        if t == n:
            assert rules.problem(n) is None and f"d/{n}" not in listed
            continue
        assert listed[f"d/{n}"] == f"d/{t}"
        if "%~" not in t:
            assert unescape(t) == n


def test_escape_and_unescape():
    assert escape("Termin 14:00.txt", {9}) == "Termin 14%3A00.txt"
    assert escape("50% ü", {4}) == "50%25 %C3%BC"  # every % too, so the reverse is unique
    assert unescape("50%25 %C3%BC") == "50% ü"
    bad = os.fsdecode(b"bad\xff")
    assert escape(bad, {3}) == "bad%FF" and unescape("bad%FF") == bad


def test_shortened_names_fit_keep_their_extension_and_differ():
    long_name = "ü" * 200 + ".json"
    a = shorten(long_name, long_name, POSIX, 255)
    b = shorten(long_name, long_name + "x", POSIX, 255)
    assert len(a.encode()) <= 255 and a.endswith(".json") and "%~" in a and a != b
    c = shorten("ab%3Acd" * 40, "x", WINDOWS, 20)  # never a %XX cut in two
    assert len(c) <= 20 and "%~" in c and unescape(c.split("%~")[0]) is not None


def test_a_path_too_long_for_the_target_gets_shorter_names():
    rules = replace(WINDOWS, max_path=200)
    deep = "/".join(["f" * 60] * 3) + "/" + "n" * 60 + ".txt"
    plan = NamePlan(rules, [deep, "short.txt"], root_length=20)
    target = plan.target(deep)
    assert 20 + 1 + len(target) <= 200 and target.endswith(".txt")
    assert [r.reasons for r in plan.renamed] == [(NameProblem.PATH_TOO_LONG,)]
    assert plan.target("short.txt") == "short.txt"
    with pytest.raises(PathTooLong):
        NamePlan(replace(WINDOWS, max_path=30), ["a" * 20 + "/" + "b" * 20], root_length=10)


def test_the_list_file_takes_a_free_name():
    plan = NamePlan(WINDOWS, ["therabak-renamed.json", "x:y"])
    assert plan.free_top_name("therabak-renamed.json") == "therabak-renamed-2.json"
    plan = NamePlan(WINDOWS, ["Therabak-Renamed.JSON", "x:y"])  # the same name on Windows
    assert plan.free_top_name("therabak-renamed.json") == "therabak-renamed-2.json"
    assert NamePlan(POSIX, ["a"]).free_top_name("therabak-renamed.json") == (
        "therabak-renamed.json"
    )


def test_the_test_switch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv(fsrules.ENV_VAR, "windows")
    got = fsrules.rules_for(tmp_path)
    assert got.kind is fsrules.FsKind.WINDOWS and got.decided_by == fsrules.ENV_VAR
    assert fsrules.probe(tmp_path, got) is got  # forced rules are never probed
    monkeypatch.setenv(fsrules.ENV_VAR, "ntfs")
    with pytest.raises(UsageError, match="windows, macos or posix"):
        fsrules.rules_for(tmp_path)


@pytest.mark.skipif(IS_WINDOWS, reason="probes a POSIX file system")
def test_probing_this_file_system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """This test machine's disk (ext4, tmpfs, overlay ...) is case-sensitive, keeps NFC
    and NFD apart and holds ':' and bytes that are not UTF-8: the probe says so, even
    when it starts from the Windows rules, and leaves nothing behind."""
    monkeypatch.delenv(fsrules.ENV_VAR, raising=False)
    folder = tmp_path / "staging"
    folder.mkdir()
    found = fsrules.probe(folder, WINDOWS)
    assert found.decided_by == "probe"
    assert (found.case, found.normalization_insensitive, found.text_only) == (
        CaseRule.SENSITIVE,
        False,
        False,
    )
    assert found.illegal == fsrules.POSIX_ILLEGAL and not found.reserved
    assert found.problem("Termin 14:00.txt") is None and found.problem("CON.") is None
    assert list(folder.iterdir()) == []


@pytest.mark.skipif(IS_WINDOWS, reason="POSIX path limits")
def test_paths_longer_than_the_system_limit(tmp_path: Path):
    """open_long and friends reach a file 5,000 bytes below a folder (Linux refuses
    4,096 at once), one folder at a time."""
    rel = "/".join(["x" * 200] * 25) + "/f.txt"
    fd = os.open(tmp_path, os.O_RDONLY)
    for part in rel.split("/")[:-1]:
        os.mkdir(part, dir_fd=fd)
        nxt = os.open(part, os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = nxt
    os.close(fd)
    path = tmp_path / rel
    with pytest.raises(OSError):
        os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)  # the system's own limit
    out = open_long(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(out, b"deep")
    os.close(out)
    assert stat_long(path).st_size == 4
    with located(path) as (dir_fd, name):
        assert dir_fd is not None and name == "f.txt"


def test_backup_leaves_out_a_name_a_reader_would_refuse(practice: Practice, tmp_path: Path):
    """A top-level name like "C:x" reads as a drive where a backslash or drive letter
    means something: the backup leaves it out with a warning (exit 3) rather than write
    a backup that cannot be read. Every other name is kept."""
    (practice.data_dir / "C:x").write_bytes(b"x")
    (practice.data_dir / "Termin 14:00.txt").write_bytes(b"y")
    r = run_cli(
        "backup",
        "--single-file",
        "--dest",
        tmp_path / "usb",
        "--no-password",
        "--data-dir",
        practice.data_dir,
        "--account-key",
        practice.key_path,
        "--json",
        input="",
    )
    assert r.returncode == 3, r.stderr
    import json

    summary = json.loads(r.stdout.splitlines()[-1])
    assert [s["path"] for s in summary["skipped"]] == ["C:x"]
    shown = run_cli(
        "show",
        summary["archive"],
        "--files",
        "--json",
        "--account-key",
        practice.key_path,
        "--data-dir",
        practice.data_dir,
    )
    paths = {e["path"] for e in json.loads(shown.stdout)["entries"]}
    assert "Termin 14:00.txt" in paths and "C:x" not in paths
