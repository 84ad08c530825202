"""Memory stays flat in the file size: a backup (with --verify) of one 256 MiB sealed file
stays under 100 MiB of peak RSS, and the data path grows by almost nothing from a 2 MB
practice to a 256 MiB file. (The 2 GB run belongs to the benchmark, not the suite.)

Where the memory goes: the interpreter with therabak's imports is ~29 MiB; a password
slot costs Argon2id's 64 MiB (RFC 9106, by design) once, at the start; the data path
(read, seal, write, verify) adds ~13 MiB whatever the file size.
"""

from __future__ import annotations

import os

import pytest

from archive_support import events_of, json_lines, the_summary
from cli_support import one_archive, pw_args
from conftest import Practice, run_measured
from therabak.practice.demo import DemoSpec, create_demo

MiB = 1 << 20

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(os, "wait4"), reason="per-child peak RSS needs os.wait4"),
]


@pytest.fixture(scope="module")
def big_practice(tmp_path_factory) -> Practice:
    root = tmp_path_factory.mktemp("big") / "practice"
    spec = DemoSpec(
        clients=1,
        sessions_per_client=1,
        therapists=1,
        audio_files=1,
        audio_mb=256,
        documents_per_client=0,
    )
    result = create_demo(root, spec)
    (audio,) = list((result.data_dir / "audio").rglob("*.opus"))
    assert audio.stat().st_size > 256 * MiB  # sealed: 256 MiB of plaintext plus tags
    return Practice(root, result.data_dir, result.account_key, spec)


def test_password_backup_of_a_256_mib_file_stays_under_100_mib(big_practice, tmp_path):
    opts, _, _ = pw_args(tmp_path)
    dest = tmp_path / "usb"
    m = run_measured(
        "backup",
        "--single-file",
        "--dest",
        dest,
        "--data-dir",
        big_practice.data_dir,
        *opts,
        "--verify",
        "--json",
    )
    assert m.returncode == 0, m.stderr
    print(f"peak RSS, 256 MiB file, password, --verify: {m.peak_rss / MiB:.1f} MiB")
    assert m.peak_rss < 100 * MiB
    lines = json_lines(m.stdout)
    summary = the_summary(lines)
    assert summary["verified"] is True and summary["bytes_in"] >= 256 * MiB
    assert summary["archive"] == str(one_archive(dest))
    # two passes over 256 chunks (write and verify): progress stays throttled
    assert len(events_of(lines, "progress")) < 256


def test_memory_does_not_grow_with_the_file_size(big_practice, demo_practice, tmp_path):
    peaks = {}
    for name, p in (("small", demo_practice), ("big", big_practice)):
        m = run_measured(
            "backup",
            "--single-file",
            "--dest",
            tmp_path / name,
            "--data-dir",
            p.data_dir,
            "--no-password",
            "--verify",
        )
        assert m.returncode == 0, m.stderr
        peaks[name] = m.peak_rss
    print(
        f"peak RSS without Argon2: 2 MB practice {peaks['small'] / MiB:.1f} MiB, "
        f"256 MiB file {peaks['big'] / MiB:.1f} MiB"
    )
    assert peaks["big"] < 64 * MiB
    assert peaks["big"] - peaks["small"] < 16 * MiB


def test_a_store_backup_stays_flat_in_the_file_size(big_practice, demo_practice, tmp_path):
    """Into the store: the pack being filled and the one being put (16 MiB each), one
    chunk at a time; a 256 MiB file costs at most the second pack buffer more than a
    practice of 2 MB. With --verify (the new packs read back blob by blob)."""
    peaks = {}
    for name, p in (("small", demo_practice), ("big", big_practice)):
        m = run_measured(
            "backup", "--dest", tmp_path / name, "--data-dir", p.data_dir, "--no-password",
            "--verify", "--json",
        )  # fmt: skip
        assert m.returncode == 0, m.stderr
        assert the_summary(json_lines(m.stdout))["verified"] is True
        peaks[name] = m.peak_rss
    print(
        f"peak RSS of a store backup: 2 MB practice {peaks['small'] / MiB:.1f} MiB, "
        f"256 MiB file {peaks['big'] / MiB:.1f} MiB"
    )
    assert peaks["big"] < 100 * MiB
    assert peaks["big"] - peaks["small"] < 24 * MiB
