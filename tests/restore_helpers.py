"""Helpers for the restore-point, restore, folder-backup, auto and status tests.

Not a conftest (a second ``conftest`` module name would shadow the root one for
``from conftest import ...``): test modules import what they need from here.

``backups`` (session fixture, import it into the module): archives and a folder backup
made once per process from the read-only demo practice: a password-protected manual
backup, an automatic (account-slot) backup and a folder backup. Tests copy what they
change; the backups themselves are never changed (tests that damage one use a copy).

Oracles are deliberately simple: :func:`tree_state` (every entry's type, bytes and
mtime — "byte-for-byte unchanged"), :func:`plaintext_tree` (what each file says once
decrypted, and whether it is sealed) and :func:`run_cli` from the root conftest.

Test modules load it with ``pytest_plugins = ["restore_helpers"]`` (so its session
fixtures exist once) after importing helpers from it, hence: PYTEST_DONT_REWRITE (it
has no asserts of its own).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from conftest import Practice, run_cli
from therabak.archive.writer import Protection
from therabak.jobs.backup import BackupRequest, run_backup
from therabak.jobs.folder import FolderBackupRequest, run_folder_backup
from therabak.practice.account import AccountKey
from therabak.practice.categories import BackupKind, Rules
from therabak.practice.envelope import has_magic, open_bytes

PASSWORD = "Korrekt Pferd Batterie 7!"
ENV_DIR_VARS = (
    "THERABAK_CONFIG",
    "THERABAK_STATE_DIR",
    "XDG_CONFIG_HOME",
    "XDG_STATE_HOME",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
)


def tree_state(root: Path, *, skip: tuple[str, ...] = ()) -> dict[str, tuple]:
    """Every entry below *root*: (kind, sha256 of the bytes, mtime_ns) for files."""
    out: dict[str, tuple] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            rel = path.relative_to(root).as_posix()
            if rel in skip:
                continue
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir",)
            else:
                out[rel] = ("file", hashlib.sha256(path.read_bytes()).hexdigest(), st.st_mtime_ns)
    return out


def plaintext_tree(root: Path, key: AccountKey, *, skip: tuple[str, ...] = ()) -> dict[str, tuple]:
    """rel -> (sealed?, sha256 of the plaintext, mtime_ns) for every file below *root*."""
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder, name)
            rel = path.relative_to(root).as_posix()
            if rel in skip:
                continue
            data = path.read_bytes()
            out[rel] = (
                has_magic(data),
                hashlib.sha256(open_bytes(key, data)).hexdigest(),
                path.stat().st_mtime_ns,
            )
    return out


def folder_backup_problems(folder: Path) -> list[str]:
    """Why *folder* is not a complete folder backup ([] when it is): its manifest must be
    readable and list exactly the files in it, each with the right size and SHA-256."""
    from therabak.datafolder.manifest import (
        MANIFEST_NAME,
        iter_manifest_files,
        read_manifest_header,
    )
    from therabak.errors import TherabakError

    try:
        header = read_manifest_header(folder)
        if header is None:
            return ["no manifest"]
        listed = {f.path: f for f in iter_manifest_files(folder)}
    except (TherabakError, OSError) as e:
        return [f"manifest: {e}"]
    problems = []
    present = {
        rel: path
        for rel, path in ((p.relative_to(folder).as_posix(), p) for p in folder.rglob("*"))
        if path.is_file() and rel != MANIFEST_NAME
    }
    if set(present) != set(listed) or header.files != len(listed):
        problems.append(f"files differ from the manifest: {sorted(set(present) ^ set(listed))}")
    for rel, f in listed.items():
        if rel in present:
            data = present[rel].read_bytes()
            if len(data) != f.size or hashlib.sha256(data).hexdigest() != f.sha256:
                problems.append(f"{rel}: content differs from the manifest")
    return problems


def subset(tree: dict[str, tuple], prefixes: tuple[str, ...], *, inside: bool) -> dict:
    return {k: v for k, v in tree.items() if k.startswith(prefixes) == inside}


def leftovers(parent: Path) -> list[str]:
    """Staging folders, journals and lock files (a restore's, a backup's mark that it reads
    Data) that no finished job may leave behind."""
    return sorted(
        p.name
        for p in parent.iterdir()
        if p.name.endswith(".partial")
        or ".therabak-restore" in p.name
        or ".therabak-reading" in p.name
    )


@dataclass(frozen=True)
class Backups:
    manual: Path  # password PASSWORD, every default manual category
    auto: Path  # account slot, core categories only
    folder: Path  # folder backup of the whole Data folder
    key_id: str


_MADE: dict[str, Backups] = {}


@pytest.fixture(scope="session")
def backups(demo_practice: Practice, tmp_path_factory: pytest.TempPathFactory) -> Backups:
    """Made once per process, whichever module asks first."""
    made = _MADE.get(str(demo_practice.root))
    if made is None:
        made = _MADE[str(demo_practice.root)] = _make_backups(demo_practice, tmp_path_factory)
    return made


def _make_backups(demo_practice: Practice, tmp_path_factory: pytest.TempPathFactory) -> Backups:
    base = tmp_path_factory.mktemp("backups")
    rules = Rules.load()
    key = demo_practice.key
    with pytest.MonkeyPatch.context() as mp:  # never touch the real history or settings
        for name in ENV_DIR_VARS:
            mp.setenv(name, str(base / "env" / name.lower()))
        manual = run_backup(
            BackupRequest(
                data_dir=demo_practice.data_dir,
                account=key,
                dest_dir=base / "manual",
                rules=rules,
                selection=rules.selection(BackupKind.MANUAL),
                protection=Protection(PASSWORD),
                remember_destination=False,
            )
        ).archive
        auto = run_backup(
            BackupRequest(
                data_dir=demo_practice.data_dir,
                account=key,
                dest_dir=base / "auto",
                rules=rules,
                selection=rules.default_selection(BackupKind.AUTOMATIC),
                kind=BackupKind.AUTOMATIC,
                protection=Protection(account_key=key.key, account_key_id=key.key_id),
                remember_destination=False,
            )
        ).archive
        folder = run_folder_backup(
            FolderBackupRequest(
                data_dir=demo_practice.data_dir,
                dest_dir=base / "folder",
                account_key_id=key.id_hex,
                rules=rules,
            )
        ).folder
    return Backups(manual, auto, folder, key.id_hex)


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "password.txt"
    path.write_text(PASSWORD + "\n", encoding="utf-8")
    return path


def practice_args(p: Practice) -> list[str]:
    return ["--data-dir", str(p.data_dir), "--account-key", str(p.key_path)]


def restore(
    p: Practice,
    point: Path,
    *extra: str,
    password_file: Path | None = None,
    env: dict | None = None,
):
    args = ["restore", str(point), "--yes", *practice_args(p), *extra]
    if password_file is not None:
        args += ["--password-file", str(password_file)]
    return run_cli(*args, env={"THERABAK_MEDIA_ROOTS": "", **(env or {})})


def change_data(p: Practice) -> None:
    """Typical damage: a client's sessions deleted, a profile overwritten, a new session."""
    shutil.rmtree(p.data_dir / "sessions" / "K0001")
    key = p.key
    from therabak.practice.envelope import seal_bytes

    (p.data_dir / "profiles" / "K0002.json").write_bytes(seal_bytes(key, b'{"broken": 1}'))
    (p.data_dir / "sessions" / "K0003" / "2099-01-01-99.json").write_bytes(
        seal_bytes(key, b'{"new": true}')
    )
    (p.data_dir / "audio" / "K0001" / "new-recording.opus").write_bytes(
        seal_bytes(key, os.urandom(5000))
    )


def before_restore_dirs(p: Practice) -> list[Path]:
    return sorted(p.root.glob("Data.before-restore-*"))


def now_iso() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


# ---- other account, crafted archives ----------------------------------------------------------


@dataclass(frozen=True)
class OtherAccount:
    root: Path
    key: AccountKey
    auto: Path
    folder: Path


_OTHER: dict[str, OtherAccount] = {}


@pytest.fixture(scope="session")
def other_account(tmp_path_factory: pytest.TempPathFactory) -> OtherAccount:
    """A second practice with its own account key, and its auto and folder backups."""
    made = _OTHER.get("other")
    if made is None:
        from therabak.practice.demo import DemoSpec, create_demo

        base = tmp_path_factory.mktemp("other-account")
        demo = create_demo(
            base / "practice",
            DemoSpec(
                seed=99,
                clients=2,
                sessions_per_client=2,
                audio_files=1,
                audio_mb=0.1,
                documents_per_client=1,
            ),
        )
        key = AccountKey.load(demo.account_key)
        rules = Rules.load()
        with pytest.MonkeyPatch.context() as mp:
            for name in ENV_DIR_VARS:
                mp.setenv(name, str(base / "env" / name.lower()))
            auto = run_backup(
                BackupRequest(
                    data_dir=demo.data_dir,
                    account=key,
                    dest_dir=base / "auto",
                    rules=rules,
                    selection=rules.default_selection(BackupKind.AUTOMATIC),
                    kind=BackupKind.AUTOMATIC,
                    protection=Protection(account_key=key.key, account_key_id=key.key_id),
                    remember_destination=False,
                )
            ).archive
            folder = run_folder_backup(
                FolderBackupRequest(
                    data_dir=demo.data_dir,
                    dest_dir=base / "folder",
                    account_key_id=key.id_hex,
                    rules=rules,
                )
            ).folder
        made = _OTHER["other"] = OtherAccount(base, key, auto, folder)
    return made


@dataclass
class Crafted:
    path: str  # anything: nothing checks it while writing (that is the point)
    content: bytes
    category: str = "sessions"
    raw: bool = False
    key_id: str = ""
    sealed: bool | None = True
    declared_size: int | None = None  # what the index claims instead of the real size


def craft_archive(
    dest: Path,
    key: AccountKey,
    entries: list[Crafted],
    *,
    password: str | None = None,
    kind: str = "manual",
) -> Path:
    """An archive written with the real writer API directly (real header, slots, sealed
    entries and index), so nothing checks the paths, duplicates or sizes: the way a
    hostile archive is made by someone who knows the password (or the account key)."""
    from therabak.archive.byteio import FileSink
    from therabak.archive.writer import ArchiveWriter

    dest.parent.mkdir(parents=True, exist_ok=True)
    sink = FileSink(dest)
    protection = (
        Protection(password=password)
        if password
        else Protection(account_key=key.key, account_key_id=key.key_id)
    )
    cats = tuple(sorted({e.category for e in entries}))
    writer = ArchiveWriter(sink, protection=protection, kind=kind, categories=cats)
    for e in entries:
        ew = writer.begin(
            path=e.path,
            category=e.category,
            mtime_ns=1_700_000_000 * 10**9,
            raw=e.raw,
            key_id=e.key_id,
        )
        ew.write(e.content)
        ew.sealed = e.sealed if not e.raw else True
        ew.finish()
        if e.declared_size is not None:
            writer.entries[-1].size = e.declared_size
    writer.finish(account_key_id=key.id_hex)
    sink.sync()
    sink.close()
    return dest


def flip_byte(path: Path, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x40]))
