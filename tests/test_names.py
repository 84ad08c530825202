"""Every name the source file system allows comes back (issue 13, finding 1).

A backup stores each name exactly as the source gave it; reading never refuses a name for
what another system could not hold; a restore onto a target that cannot hold a name
writes it under a documented, reversible escaped name and says so (exit 3). The tests
build practices holding each class of odd name and run the real CLI and engine on this
Linux file system, and again with the Windows rules switched on (THERABAK_FS_RULES).
"""

from __future__ import annotations

import hashlib
import json
import os
import unicodedata
from pathlib import Path

import pytest

from conftest import IS_WINDOWS, Practice, run_cli
from restore_helpers import PASSWORD, Crafted, craft_archive, practice_args
from therabak.archive.reader import ArchiveReader
from therabak.jobs.backup import BackupRequest, run_backup
from therabak.jobs.folder import FolderBackupRequest, run_folder_backup
from therabak.jobs.restore import RestoreRequest, run_restore
from therabak.jobs.verify import verify_archive
from therabak.practice.account import AccountKey
from therabak.practice.categories import BackupKind, Rules
from therabak.practice.envelope import has_magic, open_bytes, seal_bytes

pytest_plugins = ["restore_helpers"]  # its fixtures: backups
pytestmark = pytest.mark.skipif(IS_WINDOWS, reason="POSIX names (bytes) on a POSIX file system")

NFC = unicodedata.normalize("NFC", "Müller.txt")
NFD = unicodedata.normalize("NFD", "Müller.txt")
NOT_UTF8 = os.fsdecode(b"bad\xff\xfe.txt")
NAME_255 = "ü" * 125 + "x.txt"  # 255 bytes: the most Linux holds
DEEP = "tief/" + "d" * 99 + "/" + ("e" * 99 + "/") * 38 + "ende" + "x" * 71 + ".txt"
FOLDER = "documents/K0001/"
assert len(NAME_255.encode()) == 255 and len(FOLDER + DEEP) == 4000

#: name class -> (names below documents/K0001/, {name: what the Windows rules make of it})
CLASSES: dict[str, tuple[list[str], dict[str, str]]] = {
    "colon": (["Termin 14:00.txt"], {"Termin 14:00.txt": "Termin 14%3A00.txt"}),
    "question mark": (["Warum?.txt"], {"Warum?.txt": "Warum%3F.txt"}),
    "star": (["Stern*.txt"], {"Stern*.txt": "Stern%2A.txt"}),
    "angles, bar, quote": (['a<b>c|d"e.txt'], {'a<b>c|d"e.txt': "a%3Cb%3Ec%7Cd%22e.txt"}),
    "backslash": (["links\\rechts.txt"], {"links\\rechts.txt": "links%5Crechts.txt"}),
    "newline": (["Zeile\nUmbruch.txt"], {"Zeile\nUmbruch.txt": "Zeile%0AUmbruch.txt"}),
    "trailing dot": (["Notiz."], {"Notiz.": "Notiz%2E"}),
    "trailing space": (["Notiz "], {"Notiz ": "Notiz%20"}),
    "device names": (
        ["CON", "aux.txt", "LPT1"],
        {"CON": "%43ON", "aux.txt": "%61ux.txt", "LPT1": "%4CPT1"},
    ),
    "case pair": (["Befund.txt", "befund.txt"], {"Befund.txt": "%42efund.txt"}),
    "case pair of folders": (
        ["Briefe/a.txt", "briefe/b.txt"],
        {"Briefe/a.txt": "%42riefe/a.txt"},
    ),
    "ß and ss": (["Straße.txt", "Strasse.txt"], {}),  # no system takes them for one
    "NFC and NFD": ([NFC, NFD], {}),  # NTFS tells them apart (macOS does not)
    "255 bytes": ([NAME_255], {}),
    "4,000 characters": ([DEEP], {}),
    "not UTF-8": ([NOT_UTF8], {NOT_UTF8: "bad%FF%FE.txt"}),
    "folder with a colon": (["Ordner: A/x.txt"], {"Ordner: A/x.txt": "Ordner%3A A/x.txt"}),
}
ALL_NAMES = [n for names, _w in CLASSES.values() for n in names]
WINDOWS_NAMES = {FOLDER + k: FOLDER + v for _n, w in CLASSES.values() for k, v in w.items()}


# ---- helpers -------------------------------------------------------------------------------


def write_deep(root: Path, rel: str, data: bytes) -> None:
    """Create ``root/rel`` one folder at a time (the path may exceed PATH_MAX)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        parts = rel.split("/")
        for part in parts[:-1]:
            try:
                os.mkdir(part, 0o700, dir_fd=fd)
            except FileExistsError:
                pass
            nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nxt
        out = os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600, dir_fd=fd)
        try:
            os.write(out, data)
        finally:
            os.close(out)
    finally:
        os.close(fd)


def tree(root: Path, key: AccountKey) -> dict[str, tuple[bool, str]]:
    """rel -> (sealed?, SHA-256 of the plaintext) of every file below *root*, read through
    folder descriptors (paths of any length)."""
    out = {}
    for folder, _dirs, files, dfd in os.fwalk(root):
        rel_folder = os.path.relpath(folder, root)
        for name in files:
            fd = os.open(name, os.O_RDONLY, dir_fd=dfd)
            with open(fd, "rb") as f:
                data = f.read()
            rel = name if rel_folder == "." else f"{rel_folder}/{name}"
            sealed = has_magic(data)
            plain = open_bytes(key, data) if sealed else data
            out[rel] = (sealed, hashlib.sha256(plain).hexdigest())
    return out


def content(name: str) -> bytes:
    return b"content of " + os.fsencode(name)


def tiny_practice(root: Path, names: list[str]) -> tuple[Path, AccountKey, Path]:
    """A practice holding one session and *names* below documents/K0001 (sealed)."""
    root.mkdir(parents=True, exist_ok=True)
    key = AccountKey.generate()
    key_path = root / "account.key"
    key.save(key_path)
    data = root / "Data"
    (data / "sessions" / "K0001").mkdir(parents=True)
    (data / "sessions" / "K0001" / "2026-01-05-01.json").write_bytes(seal_bytes(key, b"{}"))
    for name in names:
        write_deep(data, FOLDER + name, seal_bytes(key, content(name)))
    return data, key, key_path


# ---- each class on its own, through the engine ----------------------------------------------


@pytest.mark.parametrize("case", list(CLASSES))
def test_each_name_class_is_backed_up_verified_and_restored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    """backup (nothing skipped), verify (intact), restore here (every byte back, exit 0),
    salvage of the backup with its index destroyed (the file still comes back), restore
    with the Windows rules (escaped names, exit 3), folder backup and its restore."""
    names, windows = CLASSES[case]
    data, key, key_path = tiny_practice(tmp_path / "p", names)
    rules = Rules.load()
    before = tree(data, key)
    assert len(before) == 1 + len(names)
    result = run_backup(
        BackupRequest(
            data_dir=data,
            account=key,
            dest_dir=tmp_path / "usb",
            rules=rules,
            selection=rules.default_selection(BackupKind.MANUAL),
            protection=_account_protection(key),
            remember_destination=False,
        )
    )
    assert (result.exit_code, result.files, result.skipped) == (0, 1 + len(names), [])
    with ArchiveReader.open(result.archive) as reader:
        reader.unlock(account=key)
        assert verify_archive(reader).damaged == []

    def restore(target: Path, point: Path = result.archive, salvage: bool = False):
        return run_restore(
            RestoreRequest(
                point=point,
                data_dir=data,
                account_key_path=key_path,
                rules=rules,
                target=target,
                salvage=salvage,
            )
        )

    here = restore(tmp_path / "here")
    assert (here.exit_code, here.renamed) == (0, [])
    assert tree(tmp_path / "here", key) == before

    damaged = tmp_path / "damaged.therabak"
    raw = bytearray(result.archive.read_bytes())
    raw[-60] ^= 0xFF  # the index's last chunk
    damaged.write_bytes(bytes(raw))
    salvaged = restore(tmp_path / "salvaged", damaged, salvage=True)
    assert salvaged.exit_code == 3 and [p for p, _r in salvaged.damaged] == ["(index)"]
    assert tree(tmp_path / "salvaged", key) == before

    monkeypatch.setenv("THERABAK_FS_RULES", "windows")
    win = restore(tmp_path / "windows")
    expected = {FOLDER + k: FOLDER + v for k, v in windows.items()}
    assert {r.path: r.target for r in win.renamed} == expected
    assert win.exit_code == (3 if windows else 0)
    got = tree(tmp_path / "windows", key)
    listed = got.pop("therabak-renamed.json", None)
    assert (listed is not None) == bool(windows)
    assert got == {expected.get(p, p): v for p, v in before.items()}

    folder = run_folder_backup(
        FolderBackupRequest(data, tmp_path / "stick", key.id_hex, rules)
    )  # on "Windows": the copy holds the escaped names, its manifest both
    assert folder.exit_code == 0 and folder.verified
    assert {r.path: r.target for r in folder.renamed} == expected
    monkeypatch.delenv("THERABAK_FS_RULES")
    back = restore(tmp_path / "from-folder", folder.folder)
    assert back.exit_code == 0
    assert tree(tmp_path / "from-folder", key) == before


def _account_protection(key: AccountKey):
    from therabak.archive.writer import Protection

    return Protection(account_key=key.key, account_key_id=key.key_id)


# ---- all of them at once, through the CLI ---------------------------------------------------


@pytest.fixture(scope="module")
def odd_practice(tmp_path_factory: pytest.TempPathFactory) -> tuple[Practice, Path, Path]:
    """(a practice holding every class of name, a password backup of it, the password
    file), made with the CLI."""
    root = tmp_path_factory.mktemp("names")
    data, key, key_path = tiny_practice(root / "practice", ALL_NAMES)
    # a template (not in manual backups: carried over by a restore) with a colon
    template = data / "templates" / "export" / "invoices"
    template.mkdir(parents=True)
    (template / "Vorlage: neu.docx").write_bytes(b"PK template")
    practice = Practice(root / "practice", data, key_path, None)  # type: ignore[arg-type]
    pw = root / "pw.txt"
    pw.write_text(PASSWORD + "\n", encoding="utf-8")
    env = {"THERABAK_MEDIA_ROOTS": ""}
    r = run_cli(
        "backup",
        "--single-file",
        "--dest",
        root / "usb",
        "--password-file",
        pw,
        *practice_args(practice),
        env=env,
    )
    assert r.returncode == 0, r.stderr
    (archive,) = (root / "usb").glob("*.therabak")
    return practice, archive, pw


def test_every_name_round_trips_through_the_cli(odd_practice, tmp_path: Path) -> None:
    """backup, verify, list, show --files, diff and restore all succeed on this Linux
    file system, with every byte (and every name's byte) back."""
    practice, archive, pw = odd_practice
    key = practice.key
    env = {"THERABAK_MEDIA_ROOTS": ""}
    args = (*practice_args(practice), "--password-file", pw)
    before = tree(practice.data_dir, key)

    v = run_cli("verify", archive, *args, "--json", env=env)
    assert v.returncode == 0, v.stderr
    summary = json.loads(v.stdout.splitlines()[-1])
    assert summary["files_ok"] == 1 + len(ALL_NAMES)  # the session and every odd name
    listed = run_cli("list", "--in", archive.parent, "--no-media", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert archive.name in listed.stdout

    shown = run_cli("show", archive, "--files", *args, "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    paths = {e["path"] for e in json.loads(shown.stdout)["entries"]}
    assert paths == {p for p in before if not p.startswith("templates/")}
    text = run_cli("show", archive, "--files", *args, env=env)
    assert text.returncode == 0
    assert "  documents/K0001/Zeile\\nUmbruch.txt  " in text.stdout  # one line per file
    assert "  documents/K0001/bad\\xff\\xfe.txt  " in text.stdout

    d = run_cli("diff", archive, *args, env=env)
    assert d.returncode == 0, d.stdout + d.stderr

    r = run_cli("restore", archive, "--yes", *args, "--json", env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1])["renamed"] == []
    assert tree(practice.data_dir, key) == before  # the template was carried over, too
    assert not (practice.data_dir / "therabak-renamed.json").exists()


def test_the_same_backup_restored_with_the_windows_rules(odd_practice, tmp_path: Path) -> None:
    """THERABAK_FS_RULES=windows: each name Windows cannot hold comes back under its
    escaped name, the rest as it was; exit 3; the JSON summary and the text summary list
    every renamed file, and therabak-renamed.json in the restored folder maps them back."""
    from therabak.namemap import unescape

    practice, archive, pw = odd_practice
    key = practice.key
    env = {"THERABAK_MEDIA_ROOTS": "", "THERABAK_FS_RULES": "windows"}
    args = (*practice_args(practice), "--password-file", pw)
    backed_up = {p: v for p, v in tree(practice.data_dir, key).items() if "templates" not in p}

    target = tmp_path / "W"
    r = run_cli("restore", archive, "--yes", "--to", target, *args, "--json", env=env)
    assert r.returncode == 3, r.stderr
    summary = json.loads(r.stdout.splitlines()[-1])
    assert summary["exit_code"] == 3 and summary["file_system"] == "Windows"
    renamed = {x["path"]: x["restored_as"] for x in summary["renamed"]}
    assert renamed == WINDOWS_NAMES
    for original, escaped in renamed.items():
        assert unescape(escaped) == original  # every byte of the name comes back
    got = tree(target, key)
    listing = json.loads((target / "therabak-renamed.json").read_text("ascii"))
    del got["therabak-renamed.json"]
    assert got == {renamed.get(p, p): v for p, v in backed_up.items()}
    assert {x["path"]: x["restored_as"] for x in listing["files"]} == WINDOWS_NAMES
    assert summary["renamed_list"] == str(target / "therabak-renamed.json")

    text = run_cli("restore", archive, "--yes", "--to", tmp_path / "W2", *args, env=env)
    assert text.returncode == 3
    assert "Termin 14:00.txt -> documents/K0001/Termin 14%3A00.txt" in text.stdout
    assert "bad\\xff\\xfe.txt -> documents/K0001/bad%FF%FE.txt" in text.stdout
    assert "Zeile\\nUmbruch.txt -> documents/K0001/Zeile%0AUmbruch.txt" in text.stdout
    assert f"{len(WINDOWS_NAMES)} files were restored under another name" in text.stdout


def test_preview_notes_the_names_windows_cannot_hold(odd_practice) -> None:
    practice, _archive, _pw = odd_practice
    j = run_cli("preview", *practice_args(practice), "--json")
    assert j.returncode == 0, j.stderr
    notes = {n["category"]: n for n in json.loads(j.stdout)["windows_names"]}
    # every escaped file but the one that only collides with its twin, plus the template
    documents = notes["documents"]
    assert documents["files"] == len(WINDOWS_NAMES) and documents["included"] is True
    assert len(documents["examples"]) == 5
    invoices = notes["export-templates.invoices"]
    assert invoices["files"] == 1 and invoices["included"] is False
    t = run_cli("preview", *practice_args(practice))
    assert t.returncode == 0
    assert f"Note: {len(WINDOWS_NAMES)} files have a name Windows cannot hold" in t.stdout
    assert "Files › Documents: " in t.stdout and "Vorlage" not in t.stdout  # not selected


# ---- names a target cannot hold at all ------------------------------------------------------


def test_a_name_too_long_for_this_file_system_is_shortened_not_lost(
    practice: Practice, tmp_path: Path
) -> None:
    """200 × ü is 200 UTF-16 units (NTFS holds it) but 400 bytes (Linux holds 255): the
    restore writes it under a shortened name (exit 3, not 1), lists it, and the list in
    the restored data maps it back; salvage of the same backup does the same."""
    key = practice.key
    long_name = "sessions/K0001/" + "ü" * 200 + ".json"
    archive = craft_archive(
        tmp_path / "win" / "TheraPsy-Backup-2026-01-01_000000.therabak",
        key,
        [
            Crafted("sessions/K0001/ok.json", b"ok", sealed=False),
            Crafted(long_name, b"long", sealed=False),
        ],
    )
    for extra in ([], ["--salvage"]):
        target = tmp_path / f"restored{len(extra)}"
        r = run_cli(
            "restore", archive, "--yes", "--to", target, *practice_args(practice), "--json", *extra
        )
        assert r.returncode == 3, r.stderr
        renamed = json.loads(r.stdout.splitlines()[-1])["renamed"]
        assert len(renamed) == 1 and renamed[0]["path"] == long_name
        short = renamed[0]["restored_as"]
        assert renamed[0]["reasons"] == ["too-long"]
        name = short.rsplit("/", 1)[1]
        assert len(name.encode()) <= 255 and "%~" in name and name.endswith(".json")
        assert (target / short).read_bytes() == b"long"
        listing = json.loads((target / "therabak-renamed.json").read_text("ascii"))
        assert listing["files"] == renamed


def test_an_odd_template_in_the_current_data_does_not_stop_a_restore(
    practice: Practice, backups, tmp_path: Path
) -> None:
    """A template named "Vorlage: neu.docx" is carried over (manual backups hold no
    templates): the restore succeeds and keeps it, byte for byte."""
    folder = practice.data_dir / "templates" / "export" / "invoices"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Vorlage: neu.docx").write_bytes(b"PK odd template")
    r = run_cli(
        "restore",
        backups.manual,
        "--yes",
        "--password-file",
        _pw(tmp_path),
        *practice_args(practice),
        env={"THERABAK_MEDIA_ROOTS": ""},
    )
    assert r.returncode == 0, r.stderr
    assert (folder / "Vorlage: neu.docx").read_bytes() == b"PK odd template"


def _pw(tmp_path: Path) -> Path:
    pw = tmp_path / "pw.txt"
    pw.write_text(PASSWORD + "\n", encoding="utf-8")
    return pw


def test_every_name_round_trips_through_a_store_backup(odd_practice, tmp_path: Path) -> None:
    """The default backup (into the destination's backup store) holds every name the source
    file system allows: verify reads each one, and a restore brings every byte and every
    name's byte back (with the Windows rules: escaped, listed, none lost)."""
    practice, _archive, pw = odd_practice
    key = practice.key
    env = {"THERABAK_MEDIA_ROOTS": ""}
    args = (*practice_args(practice), "--password-file", pw)
    before = tree(practice.data_dir, key)
    made = run_cli("backup", "--dest", tmp_path / "stick", *args, "--json", env=env)
    assert made.returncode == 0, made.stderr
    summary = json.loads(made.stdout.splitlines()[-1])
    ref = f"{summary['store']}@{summary['snapshot']}"
    assert summary["files"] == 1 + len(ALL_NAMES)  # the session and every odd name

    v = run_cli("verify", ref, *args, "--json", env=env)
    assert v.returncode == 0, v.stderr
    assert json.loads(v.stdout.splitlines()[-1])["files_ok"] == 1 + len(ALL_NAMES)

    r = run_cli("restore", ref, "--to", tmp_path / "back", "--yes", *args, "--json", env=env)
    assert r.returncode == 0, r.stderr
    got = tree(tmp_path / "back", key)
    assert got == {p: v for p, v in before.items() if not p.startswith("templates/")}

    w = run_cli(
        "restore", ref, "--to", tmp_path / "win", "--yes", *args, "--json",
        env={**env, "THERABAK_FS_RULES": "windows"},
    )  # fmt: skip
    assert w.returncode == 3, w.stderr  # renamed names are a warning
    renamed = json.loads(w.stdout.splitlines()[-1])["renamed"]
    assert renamed and len(tree(tmp_path / "win", key)) == len(got) + 1  # + the list
