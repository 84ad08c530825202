"""Split backups through the real CLI (subprocesses, real crypto, real files).

* a backup forced into >= 5 volumes round-trips: verify (from any volume), show, diff,
  list (one point, total size, volume count), restore;
* a missing middle volume, swapped volumes, a volume of another backup, a cut-off last or
  first volume: each named in one line, exit 5, nothing changed; list flags the set;
* salvage with a missing middle volume restores every file that lies outside it;
* EFBIG while writing (efbig-at, as a FAT32 drive nobody recognised) splits the backup;
* kill -9 at every point of a split backup leaves nothing that looks finished, and the
  next backup cleans up (partials and later volumes whose first volume never appeared).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from archive_support import events_of, json_lines, the_summary
from cli_support import single_line
from conftest import IS_WINDOWS, Practice, run_cli
from restore_helpers import (
    ENV_DIR_VARS,
    PASSWORD,
    change_data,
    leftovers,
    plaintext_tree,
    practice_args,
    restore,
)
from therabak.archive.reader import ArchiveReader
from therabak.archive.volumes import (
    MIN_VOLUME_SIZE,
    VOLUME_HEADER_SIZE,
    VolumeHeader,
    VolumeSink,
    later_volumes,
)
from therabak.practice.demo import DemoSpec, create_demo

pytest_plugins = ["restore_helpers"]

#: About 12 MB of audio (incompressible) and the usual records: 2M volumes make >= 5.
SPEC = DemoSpec(
    clients=3, sessions_per_client=3, audio_files=4, audio_mb=12, documents_per_client=1
)
VOLUME = "2M"


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Practice:
    root = tmp_path_factory.mktemp("big") / "practice"
    result = create_demo(root, SPEC)
    return Practice(root, result.data_dir, result.account_key, SPEC)


@pytest.fixture
def practice_copy(big: Practice, tmp_path: Path) -> Practice:
    root = tmp_path / "practice"
    shutil.copytree(big.root, root)
    return Practice(root, root / "Data", root / "account.key", big.spec)


def pw_file(folder: Path) -> Path:
    path = folder / "pw.txt"
    path.write_text(PASSWORD + "\n", encoding="utf-8")
    return path


def module_env(folder: Path) -> dict[str, str | None]:
    """For module fixtures (made before the per-test isolation): settings, state and XDG
    folders of their own, and no inherited THERABAK_* variables."""
    env: dict[str, str | None] = {name: str(folder / "env" / name.lower()) for name in ENV_DIR_VARS}
    env.update(dict.fromkeys(("THERABAK_DATA_DIR", "THERABAK_ACCOUNT_KEY", "THERABAK_RULES",
                              "THERABAK_FAILPOINTS", "THERABAK_DEBUG")))  # fmt: skip
    return env


def make_backup(p: Practice, dest: Path, *args: str, env=None):
    folder = dest.parent
    return run_cli(
        "backup",
        "--single-file",
        "--dest",
        dest,
        *practice_args(p),
        "--password-file",
        pw_file(folder),
        "--json",
        *args,
        env=env,
    )


def set_files(folder: Path) -> list[Path]:
    """The backup files in *folder*: first volumes and later ones, in order."""
    return sorted(p for p in folder.iterdir() if ".therabak" in p.name)


@pytest.fixture(scope="module")
def split(big: Practice, tmp_path_factory) -> list[Path]:
    """A password-protected manual backup of the big practice in 2M volumes (read-only:
    tests that damage it work on a copy)."""
    dest = tmp_path_factory.mktemp("split") / "usb"
    r = make_backup(big, dest, "--volume-size", VOLUME, env=module_env(dest.parent))
    assert r.returncode == 0, r.stderr
    summary = the_summary(json_lines(r.stdout))
    volumes = [Path(p) for p in summary["volumes"]]
    assert len(volumes) >= 5
    assert volumes == set_files(dest)
    assert summary["bytes_stored"] == sum(p.stat().st_size for p in volumes)
    assert all(p.stat().st_size <= 2 << 20 for p in volumes)
    return volumes


def copy_set(volumes: list[Path], folder: Path) -> list[Path]:
    folder.mkdir()
    out = []
    for p in volumes:
        shutil.copy2(p, folder / p.name)
        out.append(folder / p.name)
    return out


def cli(*args, p: Practice, folder: Path):
    return run_cli(*args, *practice_args(p), "--password-file", pw_file(folder))


# ---- the round trip -----------------------------------------------------------------------------


def test_round_trip(big: Practice, practice_copy: Practice, split: list[Path], tmp_path: Path):
    n = len(split)
    for volume in (split[0], split[2], split[-1]):  # any volume opens the whole backup
        r = cli("verify", volume, "--json", p=big, folder=tmp_path)
        assert r.returncode == 0, r.stderr
        summary = the_summary(json_lines(r.stdout))
        assert summary["damaged"] == [] and summary["files_ok"] > 20

    show = cli("show", split[1], "--json", p=big, folder=tmp_path)
    assert show.returncode == 0, show.stderr
    facts = json.loads(show.stdout)
    assert facts["header"]["volumes"] == n
    assert facts["header"]["size"] == sum(p.stat().st_size for p in split)
    text = cli("show", split[0], p=big, folder=tmp_path)
    assert f"in {n} volumes" in text.stdout

    diff = cli("diff", split[-1], p=big, folder=tmp_path)
    assert diff.returncode == 0 and "Identical" in diff.stdout, diff.stdout + diff.stderr

    listing = run_cli("list", "--in", split[0].parent, "--no-media", "--json", *practice_args(big))
    [point] = json.loads(listing.stdout)["points"]
    assert point["path"] == str(split[0])
    assert point["volumes"] == n and point["incomplete"] == ""
    assert point["size"] == sum(p.stat().st_size for p in split)
    human = run_cli("list", "--in", split[0].parent, "--no-media", *practice_args(big))
    assert f"in {n} volumes" in human.stdout and "INCOMPLETE" not in human.stdout

    original = plaintext_tree(practice_copy.data_dir, practice_copy.key)
    change_data(practice_copy)
    r = restore(practice_copy, split[3], password_file=pw_file(tmp_path))
    assert r.returncode == 0, r.stderr
    assert plaintext_tree(practice_copy.data_dir, practice_copy.key) == original
    assert leftovers(practice_copy.root) == []


def test_human_output_lists_the_volumes(big: Practice, tmp_path: Path):
    dest = tmp_path / "usb"
    r = run_cli(
        "backup",
        "--single-file",
        "--dest",
        dest,
        *practice_args(big),
        "--no-password",
        "--volume-size",
        "3MB",
        "--verify",
    )
    assert r.returncode == 0, r.stderr
    files = set_files(dest)
    assert len(files) >= 4 and all(p.stat().st_size <= 3_000_000 for p in files)
    assert f"Split into {len(files)} volumes of at most 3.0 MB" in r.stdout
    assert all(p.name in r.stdout for p in files)
    assert "Verified: every file was read back and checked." in r.stdout


@pytest.mark.parametrize(
    ("size", "message"),
    [
        ("lots", "--volume-size: not a size: 'lots'"),
        ("4X", "--volume-size: not a size: '4X'"),
        ("500K", "--volume-size must be at least 1M"),
        ("0", "--volume-size must be at least 1M"),
    ],
)
def test_bad_volume_sizes(big: Practice, tmp_path: Path, size: str, message: str):
    r = run_cli(
        "backup", "--single-file", "--dest", tmp_path / "usb", *practice_args(big), "--no-password",
        "--volume-size", size,
    )  # fmt: skip
    assert r.returncode == 2
    assert message in single_line(r.stderr)
    assert not (tmp_path / "usb").exists()


def test_passwd_through_a_later_volume(split: list[Path], tmp_path: Path, big: Practice):
    volumes = copy_set(split, tmp_path / "copy")
    new = tmp_path / "new.txt"
    new.write_text("ein neues Passwort\n", encoding="utf-8")
    r = run_cli(
        "passwd", volumes[2], "--password-file", pw_file(tmp_path), "--new-password-file", new
    )
    assert r.returncode == 0, r.stderr
    for p, q in zip(split[1:], volumes[1:], strict=True):  # only the first volume changes
        assert p.read_bytes() == q.read_bytes()
    v = run_cli("verify", volumes[-1], "--password-file", new, *practice_args(big))
    assert v.returncode == 0, v.stderr


# ---- damage is named ----------------------------------------------------------------------------


def swap(a: Path, b: Path) -> None:
    tmp = a.with_name("swap.tmp")
    os.replace(a, tmp)
    os.replace(b, a)
    os.replace(tmp, b)


@pytest.fixture(scope="module")
def other_split(big: Practice, tmp_path_factory) -> list[Path]:
    """Another backup of the same practice, same volume size (another archive id)."""
    dest = tmp_path_factory.mktemp("other") / "usb"
    r = make_backup(big, dest, "--volume-size", VOLUME, env=module_env(dest.parent))
    assert r.returncode == 0, r.stderr
    return set_files(dest)


DAMAGE = ["missing-middle", "swapped", "foreign", "cut-off-last", "cut-off-first"]


@pytest.mark.parametrize("damage", DAMAGE)
def test_damage_is_named(
    damage, split, other_split, practice_copy: Practice, tmp_path: Path
) -> None:
    v = copy_set(split, tmp_path / "copy")
    n = len(v)
    if damage == "missing-middle":
        v[2].unlink()
        expected = [f"Volume 3 of {n} is missing: {v[2]}."]
    elif damage == "swapped":
        swap(v[1], v[2])
        expected = [f"{v[1]} holds volume 3 of {n}, not volume 2", f"{v[2]} holds volume 2"]
    elif damage == "foreign":
        shutil.copyfile(other_split[2], v[2])
        expected = [f"Volume 3 of {n} is missing: {v[2]} belongs to another backup."]
    elif damage == "cut-off-last":
        size = v[-1].stat().st_size
        os.truncate(v[-1], size - 100)
        expected = [f"Volume {n} of {n} is cut off: {v[-1]} has {size - 100} of its {size} bytes"]
    else:
        os.truncate(v[0], v[0].stat().st_size - 100)
        expected = [f"Volume 1 of {n} is cut off: {v[0]}"]
    opened = v[1] if damage != "swapped" else v[-1]
    for command in ("verify", "show", "diff"):
        r = cli(command, opened, p=practice_copy, folder=tmp_path)
        assert r.returncode == 5, (command, r.stderr)
        line = single_line(r.stderr)
        assert all(e in line for e in expected), line
    before = plaintext_tree(practice_copy.data_dir, practice_copy.key)
    r = restore(practice_copy, v[0], password_file=pw_file(tmp_path))
    assert r.returncode == 5 and all(e in single_line(r.stderr) for e in expected)
    assert "--salvage" in r.stderr
    assert plaintext_tree(practice_copy.data_dir, practice_copy.key) == before
    listing = run_cli("list", "--in", v[0].parent, "--no-media", "--json")
    [point] = json.loads(listing.stdout)["points"]
    assert point["volumes"] == n and point["incomplete"]


# ---- salvage ------------------------------------------------------------------------------------


def index_entries(first: Path):
    with ArchiveReader.open(first) as reader:
        reader.unlock(password=PASSWORD)
        return reader.read_index().entries


def test_salvage_without_a_middle_volume_restores_every_file_outside_it(
    big: Practice, split: list[Path], tmp_path: Path
) -> None:
    entries = index_entries(split[0])
    v = copy_set(split, tmp_path / "copy")
    gone = VolumeHeader.parse(v[2].read_bytes()[:VOLUME_HEADER_SIZE])
    v[2].unlink()
    outside = {
        e.path
        for e in entries
        if e.offset + e.length <= gone.start or e.offset >= gone.start + gone.length
    }
    inside = {e.path for e in entries} - outside
    assert outside and inside  # the volume held parts of some files, the rest are elsewhere

    target = tmp_path / "salvaged"
    plan = restore(
        big, v[0], "--salvage", "--to", str(target), "--dry-run", "--json",
        password_file=pw_file(tmp_path),
    )  # fmt: skip
    assert plan.returncode == 0, plan.stderr
    plan = the_summary(json_lines(plan.stdout))["plan"]  # says beforehand what cannot be had
    assert plan["restore_files"] == len(outside)
    assert {u["path"] for u in plan["unrestorable"]} == inside | {"(volumes)"}
    r = restore(
        big, v[0], "--salvage", "--to", str(target), "--json", password_file=pw_file(tmp_path)
    )
    assert r.returncode == 3, r.stderr
    original = plaintext_tree(big.data_dir, big.key)
    restored = plaintext_tree(target, big.key)
    assert set(restored) == outside
    assert all(restored[p] == original[p] for p in outside)
    damaged = {d["path"]: d["reason"] for d in events_of(json_lines(r.stdout), "damaged")}
    assert damaged["(volumes)"] == f"Volume 3 of {len(v)} is missing: {v[2]}."
    for path in inside:
        assert damaged[path] == f"in the missing volume 3 of {len(v)} ({v[2]})"


def test_salvage_without_the_last_volume_scans_the_others(
    big: Practice, split: list[Path], tmp_path: Path
) -> None:
    """The index is in the last volume: without it, a scan finds the files in the others."""
    entries = index_entries(split[0])
    v = copy_set(split, tmp_path / "copy")
    last = VolumeHeader.parse(v[-1].read_bytes()[:VOLUME_HEADER_SIZE])
    v[-1].unlink()
    before = {e.path for e in entries if e.offset + e.length <= last.start}
    target = tmp_path / "salvaged"
    r = restore(big, v[0], "--salvage", "--to", str(target), password_file=pw_file(tmp_path))
    assert r.returncode == 3, r.stderr
    original = plaintext_tree(big.data_dir, big.key)
    restored = plaintext_tree(target, big.key)
    assert set(restored) == before
    assert all(restored[p][1:] == original[p][1:] for p in before)  # scanned: sealed again


# ---- EFBIG --------------------------------------------------------------------------------------


@pytest.mark.parametrize("extra", [[], ["--volume-size", "5M"]])
def test_efbig_while_writing_splits_the_backup(
    big: Practice, practice_copy: Practice, tmp_path: Path, extra: list[str]
) -> None:
    """The file system refuses files beyond 3,000,000 bytes (a short write, then EFBIG)
    and nobody knew: the backup moves on to a new volume each time, and works."""
    dest = tmp_path / "usb"
    limit = 3_000_000
    r = make_backup(big, dest, "--verify", *extra, env={"THERABAK_FAILPOINTS": f"efbig-at={limit}"})
    assert r.returncode == 3, r.stderr  # done, with a warning: split where it was refused
    lines = json_lines(r.stdout)
    [warning] = [w for w in events_of(lines, "warning") if w["code"] == "split-at-limit"]
    assert "refused files larger than 3.0 MB" in warning["message"]
    summary = the_summary(lines)
    volumes = [Path(p) for p in summary["volumes"]]
    assert volumes == set_files(dest) and len(volumes) >= 4
    assert all(p.stat().st_size <= limit for p in volumes)
    assert volumes[0].stat().st_size == limit  # filled up to where the file system said no
    assert summary["verified"] is True
    original = plaintext_tree(practice_copy.data_dir, practice_copy.key)
    change_data(practice_copy)
    back = restore(practice_copy, volumes[0], password_file=pw_file(tmp_path))
    assert back.returncode == 0, back.stderr
    assert plaintext_tree(practice_copy.data_dir, practice_copy.key) == original


def test_a_full_disk_in_a_later_volume_removes_every_volume(big: Practice, tmp_path: Path):
    dest = tmp_path / "usb"
    r = make_backup(
        big, dest, "--volume-size", VOLUME, env={"THERABAK_FAILPOINTS": "enospc-after=7000000"}
    )
    assert r.returncode == 6 and "is full" in single_line(r.stderr)
    assert list(dest.iterdir()) == []


# ---- kill -9 ------------------------------------------------------------------------------------

KILL_POINTS = [
    "backup.body",
    "backup.volume",  # the first volume finished, the second not begun
    "backup.index",
    "backup.trailer",
    "backup.rename",  # every volume synced, none renamed
    "backup.volumes-renamed",  # volumes 2..N renamed, the first not
    "backup.published",
    "bytes:5000000",
    "bytes:11000000",
]


def finished_sets(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.therabak"))


@pytest.mark.skipif(IS_WINDOWS, reason="SIGKILL")
@pytest.mark.parametrize("point", KILL_POINTS)
def test_kill_9_leaves_no_finished_looking_set(big: Practice, tmp_path: Path, point: str):
    dest = tmp_path / "usb"
    spec = (
        f"crash-after-bytes={point.split(':')[1]}"
        if point.startswith("bytes:")
        else f"crash-at={point}"
    )
    r = make_backup(big, dest, "--volume-size", VOLUME, env={"THERABAK_FAILPOINTS": spec})
    assert r.returncode == -signal.SIGKILL, (point, r.returncode, r.stderr)
    published = point == "backup.published"
    assert len(finished_sets(dest)) == int(published)
    if published:  # renamed: complete, it verifies
        v = run_cli("verify", finished_sets(dest)[0], "--password-file", pw_file(tmp_path))
        assert v.returncode == 0, v.stderr
    listing = run_cli("list", "--in", dest, "--no-media", "--json")
    points = json.loads(listing.stdout)["points"]
    assert len(points) == int(published) and all(not p["incomplete"] for p in points)
    if point == "backup.volumes-renamed":  # the later volumes are there, the first is not
        first = dest / next(p.name for p in dest.iterdir() if p.name.endswith(".partial"))
        first = first.with_name(first.name.split(".therabak")[0] + ".therabak")
        assert later_volumes(first) and not first.exists()
        v = run_cli("verify", later_volumes(first)[2], "--password-file", pw_file(tmp_path))
        assert v.returncode == 5 and "Volume 1 of" in single_line(v.stderr)

    again = make_backup(big, dest, "--volume-size", VOLUME)
    assert again.returncode == 0, again.stderr
    assert not [p for p in dest.iterdir() if p.name.endswith(".partial")]
    sets = finished_sets(dest)
    assert len(sets) == 1 + int(published)
    left = set(set_files(dest))
    for first in sets:  # every file there belongs to a complete set, nothing else is left
        v = run_cli("verify", first, "--password-file", pw_file(tmp_path))
        assert v.returncode == 0, v.stderr
        left -= {first, *later_volumes(first).values()}
    assert left == set()


def test_later_volumes_of_a_live_backup_are_left_alone(big: Practice, tmp_path: Path):
    """While a backup renames its volumes (the first one last), another backup into the
    same folder must not take them for orphans: its partial's process is alive."""
    dest = tmp_path / "usb"
    dest.mkdir()
    name = "TheraPsy-Backup-2026-01-01_000000.therabak"
    sink = VolumeSink(dest / name, volume_size=MIN_VOLUME_SIZE)
    sink.write(b"THERABAK" + bytes(60) + os.urandom(3 * MIN_VOLUME_SIZE))
    sink.sync()
    sink.close()
    for k in range(2, sink.count + 1):  # renamed, as publish() does, but not the first yet
        os.replace(sink.partials[k - 1], dest / f"{name}.{k:03d}")
    r = make_backup(big, dest, "--volume-size", VOLUME)
    assert r.returncode == 0, r.stderr
    assert all((dest / f"{name}.{k:03d}").exists() for k in range(2, sink.count + 1))
    assert sink.partials[0].exists()
    # Once that process is gone (here: its partial is), they are orphans and go.
    sink.partials[0].unlink()
    r = make_backup(big, dest, "--volume-size", VOLUME)
    assert r.returncode == 0, r.stderr
    assert not any(name in p.name for p in dest.iterdir())


# ---- a real FAT32 file system --------------------------------------------------------------------


@contextlib.contextmanager
def fat32_stick(folder: Path):
    """A real FAT32 file system on a 64 MB image file (mkfs.vfat, from dosfstools), mounted
    with the kernel's vfat (mount -o loop) or, where the kernel has none, with fusefat;
    skips where neither works (no tools, no permission, no loop devices or FUSE)."""
    mkfs = shutil.which("mkfs.vfat") or shutil.which("mkfs.fat")
    if mkfs is None or IS_WINDOWS:
        pytest.skip("mkfs.vfat (dosfstools) is not installed")
    image, mount_point = folder / "stick.img", folder / "stick"
    with open(image, "wb") as f:
        f.truncate(64 << 20)
    made = subprocess.run([mkfs, "-F", "32", "-n", "STICK", str(image)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"mkfs.vfat failed: {made.stderr.decode(errors='replace').strip()}")
    mount_point.mkdir()
    attempts = [(["mount", "-o", "loop", str(image), str(mount_point)], ["umount", "-l"])]
    if shutil.which("fusefat"):
        attempts.append(
            (["fusefat", "-o", "rw+", str(image), str(mount_point)], ["fusermount", "-u"])
        )
    why = []
    for command, unmount in attempts:
        try:
            r = subprocess.run(command, capture_output=True, text=True, timeout=30)
        except OSError as e:
            why.append(str(e))
            continue
        if r.returncode == 0 and os.path.ismount(mount_point):
            try:
                yield mount_point
            finally:
                subprocess.run([*unmount, str(mount_point)], capture_output=True)
            return
        why.append(r.stderr.strip())
    pytest.skip(f"cannot mount a FAT32 image here: {'; '.join(why)}")


def test_a_real_fat32_stick(big: Practice, tmp_path: Path) -> None:
    """On a real FAT32 file system: it is recognised (4 GiB - 1 per file), a backup is
    planned in volumes below that (4 GiB - 16 MiB), and a backup forced into 2M volumes
    is written there, verifies, lists as one point and restores. (A backup above the real
    4 GiB limit would take minutes to write through FUSE here, so the split at the real
    limit is the same code with another size: tests/test_volumes.py and the EFBIG test.)"""
    from therabak import fsinfo

    with fat32_stick(tmp_path) as stick:
        info = fsinfo.probe(stick / "TheraPsy")
        assert info.label == "FAT32" and info.max_file_size == (4 << 30) - 1
        dest = stick / "TheraPsy"
        r = make_backup(big, dest)
        assert r.returncode == 0, r.stderr
        summary = the_summary(json_lines(r.stdout))
        assert summary["file_system"] == "FAT32"
        assert summary["volume_size"] == (4 << 30) - (16 << 20)  # planned below the limit
        assert len(summary["volumes"]) == 1  # 13 MB fit in one file

        r = make_backup(big, dest, "--volume-size", VOLUME, "--verify")
        assert r.returncode == 0, r.stderr
        summary = the_summary(json_lines(r.stdout))
        volumes = [Path(p) for p in summary["volumes"]]
        assert len(volumes) >= 5 and summary["verified"] is True
        assert all(p.parent == dest and p.stat().st_size <= 2 << 20 for p in volumes)
        listing = run_cli("list", "--in", dest, "--no-media", "--json")
        points = {p["path"]: p for p in json.loads(listing.stdout)["points"]}
        assert points[str(volumes[0])]["volumes"] == len(volumes)
        target = tmp_path / "restored"
        back = restore(big, volumes[0], "--to", str(target), password_file=pw_file(tmp_path))
        assert back.returncode == 0, back.stderr
        original = plaintext_tree(big.data_dir, big.key)
        restored = plaintext_tree(target, big.key)
        assert restored and all(restored[p] == original[p] for p in restored)


def test_a_missing_volume_is_named_in_german(split: list[Path], big: Practice, tmp_path: Path):
    v = copy_set(split, tmp_path / "copy")
    v[2].unlink()
    r = run_cli(
        "verify", v[0], "--lang", "de", "--password-file", pw_file(tmp_path), *practice_args(big)
    )
    assert r.returncode == 5
    line = single_line(r.stderr)
    assert f"Teil 3 von {len(v)} fehlt: {v[2]}." in line
    assert "stellt jede Datei in den vorhandenen Teilen wieder her" in line
    listing = run_cli("list", "--in", v[0].parent, "--no-media", "--lang", "de")
    assert f"in {len(v)} Teilen" in listing.stdout and "UNVOLLSTÄNDIG: Teil 3" in listing.stdout
