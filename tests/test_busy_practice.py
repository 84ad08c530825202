"""A backup while the practice app is busy: files rewritten in place, slowly and not
atomically (torn writes), others deleted and added.

The backup must store, for each file, a version that really existed complete (every
version the writers made is logged with its plaintext SHA-256), after retries, or report
the file (raw, skipped, deleted); the archive verifies.

Two kinds of tests: a free-running busy app (writer and churner processes racing a
backup that is slowed down), whose every outcome must be a real version; and each torn
state held on purpose until the backup has met it and said it will try again (the
retry event), then completed, so that the outcome is known: the new version, recovered.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from archive_support import events_of, json_lines, the_summary, verify_file
from cli_support import wait_for_event
from conftest import IS_WINDOWS, Practice, record_figure, run_cli, start_cli
from restore_helpers import folder_backup_problems, plaintext_tree, practice_args
from therabak.archive.reader import ArchiveReader
from therabak.datafolder.manifest import iter_manifest_files
from therabak.practice.envelope import HEADER_SIZE, MAGIC, open_bytes, seal_bytes

pytestmark = pytest.mark.skipif(IS_WINDOWS, reason="files rewritten in place while open")

HERE = Path(__file__).parent
WRITTEN = [  # rewritten over and over by the writer (envelopes; the audio has two chunks)
    "sessions/K0001/2026-01-27-01.json",
    "sessions/K0003/2026-03-10-02.json",
    "profiles/K0004.json",
    "finances/invoices/2026/R-2026-0003.json",
    "therapists/T02.json",
    "audio/K0002/2026-06-14-02.opus",
]
DELETED = [  # deleted one by one by the churner
    "documents/K0002/Arztbrief 1.pdf",
    "sessions/K0006/2026-06-21-04.json",
    "documents/K0005/Antrag Kostenübernahme 1.pdf",
    "sessions/K0005/2026-02-21-02.json",
]
#: retries close together, so that a file torn now is tried again soon
RETRY_SETTINGS = "[retry]\nattempts = 12\ninitial_delay_s = 0.05\nmax_delay_s = 0.4\n"


def _settings(isolated_env: Path) -> None:
    (isolated_env / "settings.toml").write_text(RETRY_SETTINGS, encoding="utf-8")


def _entries(archive: Path) -> dict[str, tuple[str, bool]]:
    with ArchiveReader.open(archive) as reader:
        reader.unlock()
        return {e.path: (e.sha256, e.raw) for e in reader.read_index().entries}


def _busy(practice: Practice, tmp_path: Path) -> tuple[list[subprocess.Popen], Path, Path]:
    """The writer and the churner started and busy; (their processes, log, stop file)."""
    log, stop = tmp_path / "versions.jsonl", tmp_path / "stop"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(HERE / "busy_practice.py"),
                role,
                practice.data_dir,
                practice.key_path,
                log,
                stop,
                *paths,
            ],
        )
        for role, paths in (("writer", WRITTEN), ("churner", list(DELETED)))
    ]
    while not log.exists() or len(log.read_text().splitlines()) < 6:  # busy already
        assert all(p.poll() is None for p in procs)
    return procs, log, stop


def _while_busy(
    practice: Practice, tmp_path: Path, args: list, env: dict[str, str], phase: str
) -> tuple[int, list[dict], str, Path]:
    """Run ``therabak *args*`` while the app writes and the churner deletes and adds (they
    start once the job reaches *phase*: scanned); (exit code, its events, stderr, the
    writer's log of every version it wrote)."""
    procs, log, stop = _busy(practice, tmp_path)
    job = None
    try:
        job = start_cli(*args, *practice_args(practice), env=env)
        seen = wait_for_event(job, "phase", name=phase)  # scanned: now delete, add
        (tmp_path / "go").touch()
        out, err = job.communicate(timeout=300)
    finally:
        stop.touch()
        for p in procs:
            p.wait(timeout=60)
        if job is not None:
            job.kill()
    return job.returncode, seen + json_lines(out), err, log


@pytest.mark.slow
def test_backup_of_a_busy_practice(
    practice: Practice, tmp_path: Path, isolated_env, record_property
):
    _settings(isolated_env)
    versions: dict[str, set[str]] = {}
    for rel, (_, sha, _) in plaintext_tree(practice.data_dir, practice.key).items():
        versions.setdefault(rel, set()).add(sha)
    dest = tmp_path / "usb"
    code, lines, err, log = _while_busy(
        practice,
        tmp_path,
        ["backup", "--single-file", "--dest", dest, "--no-password", "--json"],
        {"THERABAK_FAILPOINTS": "delay-ms=15"},
        "writing",
    )
    assert code in (0, 3), err
    for line in log.read_text().splitlines():
        v = json.loads(line)
        versions.setdefault(v["p"], set()).add(v["h"])
    summary = the_summary(lines)
    [archive] = dest.glob("*.therabak")
    assert verify_file(archive) == []
    stored = _entries(archive)
    for rel, (sha, raw) in stored.items():
        if raw:  # could not be read complete after every retry: said so
            assert rel in summary["raw"]
            continue
        assert sha in versions[rel], f"{rel}: the backup holds a version that never existed"
    deleted = {w["path"] for w in events_of(lines, "warning") if w.get("code") == "deleted"}
    skipped = {s["path"] for s in summary["skipped"]}
    for rel in WRITTEN + DELETED:  # present when the backup scanned: stored or reported
        assert rel in stored or rel in deleted | skipped, rel
    record_figure(record_property, "busy-app retries", len(events_of(lines, "retry")))
    record_figure(
        record_property,
        "busy-app files recovered after retries",
        sum(1 for o in summary["retried"] if o["outcome"] == "recovered"),
    )


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["1", "2"])
def test_folder_backup_of_a_busy_practice(practice: Practice, tmp_path: Path, workers: str):
    """A folder backup (files copied on *workers* threads) while the app rewrites files
    in place and the churner deletes and adds: it finishes (warnings at most), the copy
    is complete and matches its manifest, every file the app left alone is copied
    byte for byte, and a file deleted meanwhile is copied or said to be deleted. (A
    folder backup copies the sealed bytes as they are: a file caught torn between two of
    the app's writes is copied torn, as it was on disk.)"""
    untouched = {
        rel: p.read_bytes()
        for rel, p in ((q.relative_to(practice.data_dir).as_posix(), q) for q in
                       practice.data_dir.rglob("*"))
        if p.is_file() and rel not in WRITTEN and rel not in DELETED
    }  # fmt: skip
    dest = tmp_path / "usb"
    code, lines, err, _log = _while_busy(
        practice,
        tmp_path,
        ["folder-backup", "--dest", dest, "--json"],
        {"THERABAK_FAILPOINTS": "delay-ms=15", "THERABAK_WORKERS": workers},
        "copying",
    )
    assert code in (0, 3), err
    summary = the_summary(lines)
    assert summary["verified"] is True
    [folder] = dest.iterdir()
    assert folder_backup_problems(folder) == []
    listed = {f.path for f in iter_manifest_files(folder)}
    for rel, content in untouched.items():
        assert rel in listed and (folder / rel).read_bytes() == content, rel
    deleted = {w["path"] for w in events_of(lines, "warning") if w.get("code") == "deleted"}
    skipped = {s["path"] for s in summary["skipped"]}
    for rel in WRITTEN + DELETED:  # present when the backup scanned: copied or reported
        assert rel in listed or rel in deleted | skipped, rel


# ---- every torn state, met for certain ----------------------------------------------------------

TORN = {  # name: (file, how many bytes of the new envelope are on disk while torn)
    "emptied": ("sessions/K0003/2026-03-10-02.json", 0),
    "a piece of the magic": ("sessions/K0003/2026-03-10-02.json", 5),
    "the header only": ("sessions/K0003/2026-03-10-02.json", HEADER_SIZE),
    "half a chunk": ("sessions/K0003/2026-03-10-02.json", HEADER_SIZE + 100),
    "the first chunk only": ("audio/K0002/2026-06-14-02.opus", HEADER_SIZE + (1 << 20) + 16),
}


@pytest.mark.parametrize("state", list(TORN))
def test_a_torn_file_is_tried_again_and_its_new_version_stored(
    practice: Practice, tmp_path: Path, isolated_env, state: str
) -> None:
    rel, keep = TORN[state]
    path = practice.data_dir / rel
    new = (b"neue Fassung " * 100_000)[: 1_500_000 if rel.startswith("audio/") else 4000]
    sealed = seal_bytes(practice.key, new)
    assert sealed[:5] == MAGIC[:5]
    _settings(isolated_env)
    with open(path, "r+b") as f:  # the app has begun rewriting it, and pauses
        f.truncate(0)
        f.write(sealed[:keep])
    dest = tmp_path / "usb"
    proc = start_cli(
        "backup",
        "--single-file",
        "--dest",
        dest,
        "--no-password",
        "--json",
        *practice_args(practice),
    )
    try:
        seen = []
        while not any(e.get("path") == rel for e in events_of(seen, "retry")):
            seen += wait_for_event(proc, "retry")
        path.write_bytes(sealed)  # the app finishes its write
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    summary = the_summary(seen + json_lines(out))
    assert {"path": rel, "outcome": "recovered"}.items() <= next(
        o for o in summary["retried"] if o["path"] == rel
    ).items()
    [archive] = dest.glob("*.therabak")
    assert verify_file(archive) == []
    with ArchiveReader.open(archive) as reader:
        reader.unlock()
        [entry] = [e for e in reader.read_index().entries if e.path == rel]
        assert reader.read_entry(entry) == new
    assert entry.sha256 == hashlib.sha256(new).hexdigest()
    assert open_bytes(practice.key, path.read_bytes()) == new


def test_an_empty_file_that_has_long_been_empty_is_backed_up_at_once(
    practice: Practice, tmp_path: Path
) -> None:
    """Only a *fresh* empty (or cut-short) file is suspect: an old one is simply empty."""
    import os

    rel = "Leere Notiz.txt"
    (practice.data_dir / rel).write_bytes(b"")
    os.utime(practice.data_dir / rel, (1_700_000_000, 1_700_000_000))
    r = run_cli(
        "backup",
        "--single-file",
        "--dest",
        tmp_path / "usb",
        "--no-password",
        "--json",
        *practice_args(practice),
    )
    assert r.returncode == 0, r.stderr
    assert events_of(json_lines(r.stdout), "retry") == []
    [archive] = (tmp_path / "usb").glob("*.therabak")
    assert _entries(archive)[rel][0] == hashlib.sha256(b"").hexdigest()
