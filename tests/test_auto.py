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
from store_support import AccountOnly, backup_data, plaintext_tree, snapshot_tree
from therabak.datafolder.names import STAMP_FORMAT
from therabak.jobs.auto import LOCK_NAME, auto_archives, retained
from therabak.practice.categories import BackupKind
from therabak.retention import RetentionPolicy, kept
from therabak.storage.local import LocalStorage
from therabak.store.check import check
from therabak.store.core import Store
from therabak.store.keyfile import Unlock
from therabak.store.public import peek

pytest_plugins = ["restore_helpers"]  # its fixtures: backups, other_account, ...


def _auto(p: Practice, *args: str, env: dict | None = None):
    return run_cli("auto", "--json", *practice_args(p), *args, env=env)


def _summary(r) -> dict:
    last = json.loads(r.stdout.splitlines()[-1])
    assert last["event"] == "summary" and last["operation"] == "auto"
    return last


def _folder(p: Practice) -> Path:
    return p.root / "TheraPsy-Auto-Backups"


def _store(p: Practice) -> Path:
    return _folder(p) / "TheraPsy-Backups"


def _open(p: Practice, store: Path | None = None):
    return Store.open(LocalStorage(store or _store(p)), Unlock(account=p.key))


def _snapshot_times(store) -> dict[str, datetime]:
    return {i.snapshot_id: i.created.astimezone() for i in store.snapshots()}


def test_first_run_then_not_due_then_forced(practice: Practice) -> None:
    r = _auto(practice)
    assert r.returncode == 0, r.stderr
    s = _summary(r)
    assert s["ran"] and s["reason"] == "first" and s["verified"] is True
    summaries = [
        json.loads(x) for x in r.stdout.splitlines() if json.loads(x)["event"] == "summary"
    ]
    assert len(summaries) == 1  # the inner backup's summary is not a second end of stream
    assert list(_folder(practice).glob("*.therabak")) == []  # into the store now
    assert Path(s["store"]) == _store(practice) and Path(s["archive"]) == _store(practice)
    facts = peek(LocalStorage(_store(practice)))  # public: no key needed
    assert facts.protection == ("account",)
    assert facts.account_key_ids == (practice.key.id_hex,)
    [info] = facts.snapshots
    assert info.snapshot_id == s["snapshot"] and str(info.header.kind) == "auto"
    assert info.header.categories == ("finances", "profiles", "sessions", "therapists")
    store = _open(practice)
    first = store.load_snapshot(s["snapshot"])
    assert {e.category for e in first.entries} == {"finances", "profiles", "sessions", "therapists"}
    assert snapshot_tree(store, first) == plaintext_tree(
        practice.data_dir, practice.key, kind=BackupKind.AUTOMATIC
    )

    again = _auto(practice)
    assert again.returncode == 0 and _summary(again)["reason"] == "not-due"
    assert len(_open(practice).snapshots()) == 1

    forced = _auto(practice, "--force")
    assert forced.returncode == 0 and _summary(forced)["reason"] == "forced"
    f = _summary(forced)
    assert f["files_reused"] == f["files"] and f["bytes_new"] == 0  # nothing read again
    # Two backups on one day: the daily retention keeps the newer one only (unless the
    # clock passed midnight between the two runs).
    times = {s["snapshot"]: first.created.astimezone()}
    newest = f["snapshot"]
    left = _snapshot_times(_open(practice))
    assert newest in left
    same_day = left[newest].date() == times[s["snapshot"]].date()
    assert f["forgotten"] == ([s["snapshot"]] if same_day else [])
    assert f["pruned"] is same_day
    assert (s["snapshot"] in left) is not same_day
    assert check(_open(practice), read_data=1.0).exit_code == 0


def _name(when: datetime, n: int = 1) -> str:
    suffix = "" if n == 1 else f"-{n}"
    return f"TheraPsy-Auto-{when.strftime(STAMP_FORMAT)}{suffix}.therabak"


def test_retention_over_snapshots_and_older_archives(practice: Practice, backups) -> None:
    """Automatic backups made before they went into a store (archives) and the store's
    snapshots are one series: the retention keeps the newest of each day, week and month
    over both, deletes the archives it does not keep, forgets the snapshots it does not
    keep (then prunes), and touches no other file."""
    folder = _folder(practice)
    folder.mkdir()
    now = datetime.now().astimezone().replace(microsecond=0)
    for days in range(1, 400, 3):  # an old archive every third day for more than a year
        shutil.copy2(backups.auto, folder / _name(now - timedelta(days=days, hours=1)))
    foreign = [
        "TheraPsy-Backup-2020-01-01_000000.therabak",
        "TheraPsy-Auto-old.therabak",
        "notes.txt",
        "TheraPsy-Auto-2020-01-01_000000.therabak.bak",
    ]
    for name in foreign:
        (folder / name).write_text("not ours to delete")
    # snapshots of earlier days (two of them on one day), made as the automatic backup
    # makes them (core categories, the account key's slot) before this run
    store = Store.create(LocalStorage(_store(practice)), AccountOnly(practice.key))
    for days, hours in ((2, 3), (5, 3), (5, 1), (6, 3), (33, 3), (95, 3), (96, 3)):
        when = now - timedelta(days=days, hours=hours)
        backup_data(store, practice.data_dir, practice.key, kind=BackupKind.AUTOMATIC, created=when)
    items = [(w, ("archive", str(p))) for w, p in auto_archives(folder)]
    items += [(w, ("snapshot", sid)) for sid, w in _snapshot_times(store).items()]
    r = _auto(practice, "--force")
    assert r.returncode == 0, r.stderr
    s = _summary(r)
    store = _open(practice)
    new_time = _snapshot_times(store)[s["snapshot"]]
    everything = sorted([(new_time, ("snapshot", s["snapshot"])), *items], reverse=True)
    keep = set(kept(everything, RetentionPolicy(daily=7, weekly=4, monthly=6)))
    assert {("archive", str(p)) for _, p in auto_archives(folder)} == {
        k for k in keep if k[0] == "archive"
    }
    assert {("snapshot", sid) for sid in _snapshot_times(store)} == {
        k for k in keep if k[0] == "snapshot"
    }
    gone = [k for _, k in everything if k not in keep]
    assert sorted(s["deleted"]) == sorted(p for kind, p in gone if kind == "archive")
    assert sorted(s["forgotten"]) == sorted(sid for kind, sid in gone if kind == "snapshot")
    assert s["forgotten"] and s["deleted"] and s["pruned"] is True
    assert 7 < len(keep) <= 1 + 7 + 4 + 6
    for name in foreign:
        assert (folder / name).exists()
    assert check(store, read_data=1.0).exit_code == 0  # the prune left every point whole
    for info in store.snapshots():
        assert snapshot_tree(store, info.snapshot_id)


def test_an_automatic_store_of_another_account_is_left_alone(
    practice: Practice, other_account
) -> None:
    """A new account key (a restore onto a new computer made one): the old automatic
    backups' store opens only with the old key, so the new ones go beside it."""
    folder = _folder(practice)
    folder.mkdir()
    theirs = Store.create(LocalStorage(folder / "TheraPsy-Backups"), AccountOnly(other_account.key))
    del theirs
    r = _auto(practice)
    assert r.returncode == 0, r.stderr
    mine = folder / f"TheraPsy-Backups-{practice.key.id_hex}"
    assert Path(_summary(r)["store"]) == mine
    assert len(_open(practice, mine).snapshots()) == 1
    assert peek(LocalStorage(folder / "TheraPsy-Backups")).snapshots == []
    again = _auto(practice)
    assert _summary(again)["reason"] == "not-due"  # its last backup is found there


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
    assert list(folder.glob("*.therabak")) == []
    store = _open(practice)
    assert len(store.snapshots()) == 1
    assert not (folder / LOCK_NAME).exists()
    assert check(store, read_data=1.0).exit_code == 0


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
    store = Path(_summary(r)["store"])
    assert store == target / "TheraPsy-Backups" and (store / "config").is_file()
    assert len(_open(practice, store).snapshots()) == 1  # two on one day: the newer stays
    assert not _folder(practice).exists()


def test_broken_settings_name_the_line(practice: Practice) -> None:
    Path(os.environ["THERABAK_CONFIG"]).write_text(
        '[auto]\nkeep_daily = 7\ninterval_hours = "daily"\n', encoding="utf-8"
    )
    r = run_cli("auto", *practice_args(practice))
    assert r.returncode == 1
    assert "line 3" in r.stderr and "interval_hours" in r.stderr
    assert "Traceback" not in r.stderr


def test_the_backup_just_made_is_kept_when_another_has_the_same_second(practice: Practice):
    """A snapshot's time has whole seconds: two automatic backups in one second (a forced
    run right after the first) tie, and the policy must give up the older one, never the
    snapshot this run wrote and verified, whichever way the ids sort."""
    from therabak.jobs.auto import apply_store_retention
    from therabak.settings import AutoSettings

    when = datetime.now().astimezone().replace(microsecond=0)
    for which in (0, 1):  # the one just made sorts first, then second
        shutil.rmtree(_folder(practice), ignore_errors=True)
        store = Store.create(LocalStorage(_store(practice)), AccountOnly(practice.key))
        made = sorted(
            backup_data(
                store, practice.data_dir, practice.key, kind=BackupKind.AUTOMATIC,
                created=when, parent=None,
            ).snapshot.snapshot_id
            for _ in range(2)
        )  # fmt: skip
        assert len(set(made)) == 2
        just_made = made[which]
        _deleted, forgotten, _pruned = apply_store_retention(
            _folder(practice), _open(practice), AutoSettings(), practice.key.id_hex,
            just_made=just_made,
        )  # fmt: skip
        assert forgotten == [made[1 - which]]
        assert set(_snapshot_times(_open(practice))) == {just_made}


def test_a_backup_that_is_not_verified_deletes_nothing(practice: Practice) -> None:
    """The check of the automatic backup cancelled: the backup stays, unverified, and the
    retention (which would forget the older snapshot of the same day) does not run."""
    from therabak.cli.common import load_rules
    from therabak.events import Phase, Warning
    from therabak.jobkit.cancel import CancelToken
    from therabak.jobs.auto import AutoRequest, run_auto
    from therabak.settings import Settings

    first = _auto(practice)
    assert first.returncode == 0, first.stderr
    cancel = CancelToken()
    events = []

    def emit(event) -> None:
        events.append(event)
        if isinstance(event, Phase) and event.name == "verifying":
            cancel.cancel()

    req = AutoRequest(
        data_dir=practice.data_dir,
        account=practice.key,
        rules=load_rules(),
        settings=Settings.load(),
        force=True,
    )
    result = run_auto(req, emit=emit, cancel=cancel)
    assert result.ran and result.backup is not None and not result.backup.verified
    assert result.forgotten == [] and result.deleted == [] and not result.pruned
    assert [e.name for e in events if isinstance(e, Phase)].count("retention") == 0
    codes = [e.code for e in events if isinstance(e, Warning)]
    assert "verify-cancelled" in codes and "not-verified" in codes
    assert {_summary(first)["snapshot"], result.snapshot} <= set(_snapshot_times(_open(practice)))
