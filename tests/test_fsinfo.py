"""Which file system holds a folder, and the largest file it takes (fsinfo.py).

The parsers are tested on text as the systems write it; the probe on this machine's real
folders; every platform's probe falls back to "unknown" (no limit assumed) when its
system calls are not there. A real FAT32 image is probed in tests/test_volumes_fat.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from therabak import faults, fsinfo
from therabak.fsinfo import FAT_LIMIT, Mount, mount_of, parse_mountinfo, probe

# As the kernel writes it (proc(5)): id, parent, dev, root, mount point, options, optional
# fields, "-", type, source, super options. Spaces in paths are \040, backslashes \134.
MOUNTINFO = "\n".join(
    [
        "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw",
        "23 22 0:21 / /proc rw,nosuid - proc proc rw",
        "40 22 8:17 / /media/anna/NO\\040NAME rw,nosuid,nodev shared:40 - vfat /dev/sdb1 rw,"
        "uid=1000,fmask=0022,codepage=437,iocharset=ascii",
        "41 22 8:33 / /media/anna/NO\\040NAME2 rw - exfat /dev/sdc1 rw",
        # a bind mount: a folder of the FAT stick shown at another place
        "42 22 8:17 /Backups /home/anna/stick-backups rw shared:40 - vfat /dev/sdb1 rw",
        # a folder with a backslash in its name, mounted from an NTFS disk
        "43 22 8:49 / /mnt/back\\134slash rw master:7 - ntfs3 /dev/sdd1 rw",
        # two file systems stacked on one mount point: the later one is on top
        "44 22 0:50 / /mnt/stacked rw - ext4 /dev/sde1 rw",
        "45 44 0:51 / /mnt/stacked rw - msdos /dev/sdf1 rw",
        "this line is not a mount",
        "46 22 0:52 / /mnt/no-separator rw ext4 /dev/x rw",
    ]
)


def test_mountinfo_fields_and_escapes() -> None:
    mounts = parse_mountinfo(MOUNTINFO)
    by_point = {m.mount_point: m for m in mounts}
    assert "/media/anna/NO NAME" in by_point  # \040 is a space
    stick = by_point["/media/anna/NO NAME"]
    assert (stick.fstype, stick.source, stick.root) == ("vfat", "/dev/sdb1", "/")
    assert by_point["/home/anna/stick-backups"].root == "/Backups"
    assert by_point["/mnt/back\\slash"].fstype == "ntfs3"  # \134 is a backslash
    assert "/mnt/no-separator" not in by_point  # no " - " separator: skipped, no crash
    assert len(mounts) == 8


@pytest.mark.parametrize(
    ("path", "fstype"),
    [
        ("/media/anna/NO NAME", "vfat"),
        ("/media/anna/NO NAME/Backups/2026", "vfat"),
        ("/media/anna/NO NAME2/x", "exfat"),  # not inside "NO NAME" despite the prefix
        ("/media/anna/NO NAMEX", "ext4"),
        ("/home/anna/stick-backups/TheraPsy", "vfat"),  # the bind mount shows the FAT stick
        ("/home/anna/other", "ext4"),
        ("/mnt/back\\slash/a", "ntfs3"),
        ("/mnt/stacked/x", "msdos"),  # the file system on top
        ("/", "ext4"),
        ("/proc/self", "proc"),
    ],
)
def test_the_longest_mount_point_holding_a_path_wins(path: str, fstype: str) -> None:
    found = mount_of(path, parse_mountinfo(MOUNTINFO))
    assert found is not None and found.fstype == fstype


def test_proc_mounts_is_read_too() -> None:
    text = "/dev/vda / ext4 rw 0 0\n/dev/sdb1 /media/a/MY\\040STICK vfat rw,uid=1000 0 0\n"
    found = mount_of("/media/a/MY STICK/b", fsinfo.parse_proc_mounts(text))
    assert found == Mount("/media/a/MY STICK", "vfat", "/dev/sdb1")


def test_mac_mount_output() -> None:
    text = (
        "/dev/disk3s1s1 on / (apfs, sealed, local, read-only, journaled)\n"
        "/dev/disk4s1 on /Volumes/NO NAME (msdos, local, nodev, nosuid, noowners)\n"
        "map auto_home on /System/Volumes/Data/home (autofs, automounted, nobrowse)\n"
    )
    mounts = fsinfo.parse_mac_mount(text)
    assert mount_of("/Volumes/NO NAME/Backups", mounts).fstype == "msdos"
    assert mount_of("/Users/anna", mounts).fstype == "apfs"


@pytest.mark.parametrize(
    ("fstype", "limit", "label"),
    [
        ("vfat", FAT_LIMIT, "FAT32"),
        ("msdos", FAT_LIMIT, "FAT32"),  # macOS
        ("FAT32", FAT_LIMIT, "FAT32"),  # Windows
        ("FAT", FAT_LIMIT, "FAT"),
        ("fuse.fusefat", FAT_LIMIT, "FAT32"),
        ("exfat", None, "exFAT"),
        ("NTFS", None, "NTFS"),
        ("ext4", None, "ext4"),
        ("apfs", None, "APFS"),
        ("fuseblk", None, "fuseblk"),  # ntfs-3g or exfat-fuse: no limit assumed
        ("", None, ""),
    ],
)
def test_limits_and_labels(fstype: str, limit: int | None, label: str) -> None:
    info = fsinfo.info_for(fstype)
    assert info.max_file_size == limit
    assert info.label == label
    assert FAT_LIMIT == 4 * 1024**3 - 1


def test_probe_this_machine(tmp_path: Path) -> None:
    info = probe(tmp_path / "not" / "yet")  # a destination that does not exist yet
    if sys.platform.startswith("linux"):
        with open("/proc/self/mountinfo", encoding="utf-8") as f:
            expected = mount_of(str(tmp_path.resolve()), parse_mountinfo(f.read()))
        assert expected is not None
        assert info.fstype == expected.fstype and info.mount_point == expected.mount_point
    else:
        assert isinstance(info, fsinfo.FsInfo)


@pytest.mark.parametrize("platform", ["win32", "darwin", "linux"])
def test_every_platform_falls_back_to_unknown_without_raising(tmp_path: Path, platform: str):
    """Each platform's probe runs here; where its system calls are missing (the Windows
    one off Windows, the macOS one off macOS, /proc off Linux) the answer is a usable
    FsInfo, "unknown" with no limit, never an exception."""
    info = probe(tmp_path, platform=platform)
    native = {"win32": "win32", "darwin": "darwin"}.get(sys.platform, "linux")
    if platform != native:
        assert info.max_file_size in (None, FAT_LIMIT)
    if platform == "win32" and sys.platform != "win32":
        assert info == fsinfo.UNKNOWN


def test_a_path_that_does_not_exist_is_on_its_nearest_existing_parent(tmp_path: Path) -> None:
    assert probe(tmp_path / "a" / "b" / "c") == probe(tmp_path)


def test_the_fstype_failpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THERABAK_FAILPOINTS", "fstype=vfat")
    faults.reload()
    try:
        assert probe(tmp_path).max_file_size == FAT_LIMIT
        monkeypatch.setenv("THERABAK_FAILPOINTS", "fstype=unknown")
        faults.reload()
        assert probe(tmp_path) == fsinfo.UNKNOWN
    finally:
        monkeypatch.delenv("THERABAK_FAILPOINTS")
        faults.reload()
