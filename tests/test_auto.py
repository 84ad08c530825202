"""``therabak auto``: due check, contents, retention, locking."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from conftest import Practice, run_cli
from restore_helpers import practice_args
from therabak.archive.reader import ArchiveReader
from therabak.datafolder.names import STAMP_FORMAT
from therabak.jobs.auto import AUTO_NAME_RE, LOCK_NAME, auto_archives, retained

pytest_plugins = ["restore_helpers"]  # its fixtures: backups, other_account, ...


def _auto(p: Practice, *args: str, env: dict | None = None):
    return run_cli("auto", "--json", *practice_args(p), *args, env=env)


def _summary(r) -> dict:
    last = json.loads(r.stdout.splitlines()[-1])
    assert last["event"] == "summary" and last["operation"] == "auto"
    return last


def _folder(p: Practice) -> Path:
    return p.root / "TheraPsy-Auto-Backups"


def test_first_run_then_not_due_then_forced(practice: Practice) -> None:
    r = _auto(practice)
    assert r.returncode == 0, r.stderr
    s = _summary(r)
    assert s["ran"] and s["reason"] == "first" and s["verified"] is True
    summaries = [
        json.loads(x) for x in r.stdout.splitlines() if json.loads(x)["event"] == "summary"
    ]
    assert len(summaries) == 1  # the inner backup's summary is not a second end of stream
    [archive] = _folder(practice).glob("*.therabak")
    assert AUTO_NAME_RE.match(archive.name)
    with ArchiveReader.open(archive) as reader:
        assert reader.header.kind == "auto"
        assert reader.header.protection == "account"
        assert [k.hex() for k in reader.header.account_key_ids] == [practice.key.id_hex]
        assert sorted(reader.header.categories) == [
            "finances",
            "profiles",
            "sessions",
            "therapists",
        ]
        reader.unlock(account=practice.key)
        cats = {e.category for e in reader.read_index().entries}
    assert cats == {"finances", "profiles", "sessions", "therapists"}

    again = _auto(practice)
    assert again.returncode == 0 and _summary(again)["reason"] == "not-due"
    assert len(list(_folder(practice).glob("*.therabak"))) == 1

    time.sleep(1.1)  # archive names carry seconds
    forced = _auto(practice, "--force")
    assert forced.returncode == 0 and _summary(forced)["reason"] == "forced"
    # Two backups on one day: the daily retention keeps the newer one only (unless the
    # clock passed midnight between the two runs).
    newest = Path(_summary(forced)["archive"])
    same_day = newest.name[14:24] == archive.name[14:24]
    assert _summary(forced)["deleted"] == ([str(archive)] if same_day else [])
    assert newest.exists() and archive.exists() != same_day


def _name(when: datetime, n: int = 1) -> str:
    suffix = "" if n == 1 else f"-{n}"
    return f"TheraPsy-Auto-{when.strftime(STAMP_FORMAT)}{suffix}.therabak"


def test_retention_keeps_daily_weekly_monthly_and_only_touches_our_files(
    practice: Practice,
) -> None:
    folder = _folder(practice)
    assert _auto(practice).returncode == 0
    [real] = folder.glob("*.therabak")
    now = datetime.now().astimezone().replace(microsecond=0)
    for days in range(1, 400, 3):  # an old backup every third day for more than a year
        shutil.copy2(real, folder / _name(now - timedelta(days=days, hours=1)))
    foreign = [
        "TheraPsy-Backup-2020-01-01_000000.therabak",
        "TheraPsy-Auto-old.therabak",
        "notes.txt",
        "TheraPsy-Auto-2020-01-01_000000.therabak.bak",
    ]
    for name in foreign:
        (folder / name).write_text("not ours to delete")
    before = auto_archives(folder)
    time.sleep(1.1)
    r = _auto(practice, "--force")
    assert r.returncode == 0, r.stderr
    s = _summary(r)
    newest = Path(s["archive"])
    when = datetime.strptime(AUTO_NAME_RE.match(newest.name).group(1), STAMP_FORMAT).astimezone()
    expected = retained([(when, newest), *before], 7, 4, 6)
    left = {p for _, p in auto_archives(folder)}
    assert newest in left
    assert left == expected
    assert {Path(p) for p in s["deleted"]} == {p for _, p in before} - expected
    assert 7 < len(left) <= 1 + 7 + 4 + 6
    for name in foreign:
        assert (folder / name).exists()


def test_retention_policy() -> None:
    base = datetime(2026, 6, 30, 12, 0).astimezone()
    daily = [(base - timedelta(days=d), Path(f"d{d}")) for d in range(0, 120)]
    keep = retained(daily, 7, 4, 6)
    days = {int(p.name[1:]) for p in keep}
    # 7 days (0-6); weeks: the newest of this ISO week (day 0) and of the three before
    # (Sundays: days 2, 9, 16); months: the newest of June (0), May (30), April (61) and
    # March (91): only four months have backups, so two monthly slots stay unused.
    assert days == set(range(7)) | {9, 16} | {30, 61, 91}
    # Nothing configured: only the newest survives.
    assert retained(daily, 0, 0, 0) == {Path("d0")}
    # Two backups on one day count as one day; the newer one is kept.
    same_day = [
        (base, Path("late")),
        (base - timedelta(hours=3), Path("early")),
        (base - timedelta(days=1), Path("yesterday")),
    ]
    assert retained(same_day, 2, 0, 0) == {Path("late"), Path("yesterday")}
    assert retained([], 7, 4, 6) == set()


def test_retention_policy_counts_weeks_and_months_exactly() -> None:
    base = datetime(2026, 6, 30, 12, 0).astimezone()  # a Tuesday
    weekly = [(base - timedelta(weeks=w), Path(f"w{w}")) for w in range(10)]
    assert retained(weekly, 0, 4, 0) == {Path(f"w{w}") for w in range(4)}
    monthly = [(base.replace(month=m, day=15), Path(f"m{m}")) for m in range(6, 0, -1)]
    assert retained(monthly, 0, 0, 3) == {Path("m6"), Path("m5"), Path("m4")}


def test_two_concurrent_runs_never_collide(practice: Practice) -> None:
    """The first run is frozen (SIGSTOP) while it holds the lock, so the overlap does not
    depend on timing; the second exits at once with 0 and does nothing."""
    folder = _folder(practice)
    env = dict(os.environ, THERABAK_FAILPOINTS="delay-ms=50", PYTHONIOENCODING="utf-8")
    first = subprocess.Popen(
        [sys.executable, "-m", "therabak", "auto", "--json", *map(str, practice_args(practice))],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    frozen = False
    try:
        for _ in range(6000):  # until the first run holds the lock
            if (folder / LOCK_NAME).exists() or first.poll() is not None:
                break
            time.sleep(0.01)
        if hasattr(signal, "SIGSTOP"):
            first.send_signal(signal.SIGSTOP)
            frozen = True
        assert (folder / LOCK_NAME).exists(), "the first run finished before it was seen"
        second = _auto(practice, "--force")
        assert second.returncode == 0, second.stderr
        s = _summary(second)
        assert s["ran"] is False and s["reason"] == "busy"
        assert "Another automatic backup is running" in s["message"]
    finally:
        if frozen:
            first.send_signal(signal.SIGCONT)
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    archives = list(folder.glob("*.therabak"))
    assert len(archives) == 1
    assert not (folder / LOCK_NAME).exists()
    v = run_cli("verify", archives[0], *practice_args(practice))
    assert v.returncode == 0, v.stderr


def test_stale_lock_is_broken(practice: Practice) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    folder = _folder(practice)
    folder.mkdir()
    (folder / LOCK_NAME).write_text(json.dumps({"pid": proc.pid, "started": "yesterday"}))
    r = _auto(practice)
    assert r.returncode == 3, r.stderr  # it said so: a warning
    assert _summary(r)["ran"] is True
    assert any(json.loads(x).get("code") == "stale-lock" for x in r.stdout.splitlines())
    assert [w["code"] for w in _summary(r)["warnings"]] == ["stale-lock"]
    assert not (folder / LOCK_NAME).exists()


def test_live_lock_means_nothing_to_do(practice: Practice) -> None:
    folder = _folder(practice)
    folder.mkdir()
    (folder / LOCK_NAME).write_text(json.dumps({"pid": os.getpid(), "started": "now"}))
    r = _auto(practice)
    assert r.returncode == 0 and _summary(r)["reason"] == "busy"
    assert list(folder.glob("*.therabak")) == []
    assert (folder / LOCK_NAME).exists()  # someone else's lock is left alone


def test_configured_folder_and_interval(
    practice: Practice, tmp_path: Path, isolated_env: Path
) -> None:
    target = tmp_path / "elsewhere" / "auto"
    target.parent.mkdir()
    Path(os.environ["THERABAK_CONFIG"]).write_text(
        f'[auto]\nfolder = "{target.as_posix()}"\ninterval_hours = 0.0001\n', encoding="utf-8"
    )
    assert _auto(practice).returncode == 0
    time.sleep(1.1)
    r = _auto(practice)  # the interval is a third of a second: due again
    assert r.returncode == 0 and _summary(r)["reason"] == "due"
    newest = Path(_summary(r)["archive"])
    assert newest.parent == target and newest.exists()
    assert {p for _, p in auto_archives(target)} == retained(auto_archives(target), 7, 4, 6)
    assert not _folder(practice).exists()


def test_broken_settings_name_the_line(practice: Practice) -> None:
    Path(os.environ["THERABAK_CONFIG"]).write_text(
        '[auto]\nkeep_daily = 7\ninterval_hours = "daily"\n', encoding="utf-8"
    )
    r = run_cli("auto", *practice_args(practice))
    assert r.returncode == 1
    assert "line 3" in r.stderr and "interval_hours" in r.stderr
    assert "Traceback" not in r.stderr
