"""Decrypt-retry (DESIGN.md section 5) through the CLI, with THERABAK_FAILPOINTS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archive_support import archives_in, events_of, json_lines, partials_in, the_summary
from cli_support import backup, one_archive, pw_args, single_line
from conftest import Practice, run_cli
from therabak.faults import Failpoints
from therabak.practice.categories import BackupKind, Rules
from therabak.practice.envelope import has_magic
from therabak.practice.scan import scan


@pytest.fixture(autouse=True)
def fast_retries(isolated_env: Path) -> None:
    """Short backoff so the tests do not wait for the default 0.5 s doubling."""
    (isolated_env / "settings.toml").write_text(
        "[retry]\nattempts = 5\ninitial_delay_s = 0.01\nmax_delay_s = 0.04\n", "utf-8"
    )


def selected(p: Practice) -> list[str]:
    rules = Rules.load()
    return [
        f.path for f in scan(p.data_dir, rules).selected_files(rules.selection(BackupKind.MANUAL))
    ]


def chosen(p: Practice, spec: str) -> list[str]:
    """The files the failpoint spec makes fail on their first attempt (the engine's rule)."""
    fp = Failpoints.parse(spec)
    out = [f for f in selected(p) if fp.decrypt_fails(f, 1)]
    assert out, "the spec must pick some files"
    return out


def is_sealed(p: Practice, rel: str) -> bool:
    return has_magic((p.data_dir / rel).read_bytes()[:8])


def contents(archive: Path, tmp_path: Path, practice: Practice) -> dict:
    opts, env, stdin = pw_args(tmp_path)
    r = run_cli(
        "show",
        archive,
        "--files",
        "--json",
        *opts,
        "--data-dir",
        practice.data_dir,
        env=env,
        input=stdin,
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def run_with(practice, tmp_path, spec, *args):
    opts, env, stdin = pw_args(tmp_path)
    return backup(
        practice,
        tmp_path / "usb",
        *opts,
        "--json",
        *args,
        env={**env, "THERABAK_FAILPOINTS": spec},
        input=stdin,
    )


def assert_progress_completes(lines: list[dict]) -> None:
    last = events_of(lines, "progress")[-1]
    assert last["bytes_done"] == last["bytes_total"]
    assert last["files_done"] == last["files_total"]


def check_clean(practice, tmp_path, archive):
    opts, _, _ = pw_args(tmp_path)
    assert run_cli("verify", archive, *opts).returncode == 0
    return run_cli("diff", archive, *opts, "--data-dir", practice.data_dir, "--json")


def test_transient_failures_are_retried_and_recovered(practice, tmp_path):
    spec = "transient=0.2,transient-times=2,seed=t1"
    failing = chosen(practice, spec)
    r = run_with(practice, tmp_path, spec)
    assert r.returncode == 0, r.stderr
    lines = json_lines(r.stdout)
    retries = events_of(lines, "retry")
    assert sorted((e["path"], e["attempt"]) for e in retries) == sorted(
        (f, a) for f in failing for a in (1, 2)
    )
    for e in retries:
        assert e["max"] == 5
        assert "injected" in e["error"]
        assert e["delay_s"] == {1: 0.01, 2: 0.02}[e["attempt"]]
    outcomes = events_of(lines, "file_outcome")
    assert sorted(o["path"] for o in outcomes) == sorted(failing)
    assert all(o["outcome"] == "recovered" and o["attempts"] == 3 for o in outcomes)
    summary = the_summary(lines)
    assert summary["exit_code"] == 0 and summary["raw"] == [] and summary["skipped"] == []
    assert sorted(o["path"] for o in summary["retried"]) == sorted(failing)
    assert summary["files"] == len(selected(practice))
    assert_progress_completes(lines)
    # the aborted attempts left nothing behind: the archive verifies and matches the data
    archive = one_archive(tmp_path / "usb")
    diff = check_clean(practice, tmp_path, archive)
    assert diff.returncode == 0 and json.loads(diff.stdout)["identical"] is True
    assert not any(e["raw"] for e in contents(archive, tmp_path, practice)["entries"])


def test_retries_do_not_block_the_other_files(practice, tmp_path):
    """A failed file waits in the deferred queue while later files are stored, so it
    lands in the archive after them."""
    (tmp_path / "env" / "settings.toml").write_text(
        "[retry]\nattempts = 3\ninitial_delay_s = 1.0\nmax_delay_s = 1.0\n", "utf-8"
    )
    spec = "transient=0.15,transient-times=1,seed=q"
    failing = chosen(practice, spec)
    order = selected(practice)
    assert order == sorted(order)
    r = run_with(practice, tmp_path, spec)
    assert r.returncode == 0, r.stderr
    stored = [
        e["path"] for e in contents(one_archive(tmp_path / "usb"), tmp_path, practice)["entries"]
    ]
    assert sorted(stored) == order
    checked = 0
    for f in failing:
        i = order.index(f)
        if i + 1 < len(order) and order[i + 1] not in failing:
            assert stored.index(f) > stored.index(order[i + 1]), f
            checked += 1
    assert checked
    # and the files that never failed keep their relative order
    assert [p for p in stored if p not in failing] == [p for p in order if p not in failing]


def test_permanent_failure_policy_raw(practice, tmp_path):
    spec = "permanent=0.1,seed=b"
    failing = chosen(practice, spec)
    sealed = [f for f in failing if is_sealed(practice, f)]
    plain = [f for f in failing if not is_sealed(practice, f)]
    assert sealed
    r = run_with(practice, tmp_path, spec)
    assert r.returncode == 3, r.stderr
    lines = json_lines(r.stdout)
    summary = the_summary(lines)
    assert sorted(summary["raw"]) == sorted(sealed)
    assert sorted(s["path"] for s in summary["skipped"]) == sorted(plain)  # no raw form
    outcomes = {o["path"]: o for o in events_of(lines, "file_outcome")}
    assert set(outcomes) == set(failing)
    assert all(outcomes[f]["outcome"] == "raw" and outcomes[f]["attempts"] == 5 for f in sealed)
    assert len(events_of(lines, "retry")) == 4 * len(failing)
    assert_progress_completes(lines)
    archive = one_archive(tmp_path / "usb")
    doc = contents(archive, tmp_path, practice)
    assert sorted(doc["raw"]) == sorted(sealed)
    flagged = {e["path"] for e in doc["entries"] if e["raw"]}
    assert flagged == set(sealed)
    # raw entries still verify, and compare equal to the sealed files in Data
    diff = check_clean(practice, tmp_path, archive)
    assert json.loads(diff.stdout)["changed"] == []
    # the human output lists them too
    opts, env, stdin = pw_args(tmp_path)
    r = backup(practice, tmp_path / "usb2", *opts, env={"THERABAK_FAILPOINTS": spec})
    assert r.returncode == 3
    assert "stored raw (restorable on this account only)" in r.stdout
    assert all(f in r.stdout for f in sealed)


def test_permanent_failure_policy_skip(practice, tmp_path):
    spec = "permanent=0.1,seed=a"
    failing = chosen(practice, spec)
    r = run_with(practice, tmp_path, spec, "--on-decrypt-failure", "skip")
    assert r.returncode == 3, r.stderr
    lines = json_lines(r.stdout)
    assert_progress_completes(lines)
    summary = the_summary(lines)
    assert sorted(s["path"] for s in summary["skipped"]) == sorted(failing)
    assert all("injected" in s["reason"] for s in summary["skipped"])
    assert summary["raw"] == []
    archive = one_archive(tmp_path / "usb")
    doc = contents(archive, tmp_path, practice)
    stored = {e["path"] for e in doc["entries"]}
    assert stored == set(selected(practice)) - set(failing)
    assert sorted(s["path"] for s in doc["skipped"]) == sorted(failing)
    assert all(s["reason"] for s in doc["skipped"])
    opts, _, _ = pw_args(tmp_path)
    assert run_cli("verify", archive, *opts).returncode == 0
    r = run_cli(
        "backup",
        "--single-file",
        "--dest",
        tmp_path / "usb2",
        "--data-dir",
        practice.data_dir,
        *opts,
        "--on-decrypt-failure",
        "skip",
        env={"THERABAK_FAILPOINTS": spec},
    )
    assert r.returncode == 3 and "are NOT in the backup" in r.stdout
    assert all(f in r.stdout for f in failing)


def test_permanent_failure_policy_abort(practice, tmp_path):
    spec = "permanent=0.1,seed=a"
    failing = chosen(practice, spec)
    r = run_with(practice, tmp_path, spec, "--on-decrypt-failure", "abort")
    assert r.returncode not in (0, 3)
    line = single_line(r.stderr)
    assert "stopped" in line and any(f in line for f in failing)
    lines = json_lines(r.stdout)
    assert events_of(lines, "summary") == []
    assert events_of(lines, "error")[-1]["exit_code"] == r.returncode
    assert [o["outcome"] for o in events_of(lines, "file_outcome")] == ["failed"]
    assert archives_in(tmp_path / "usb") == [] and partials_in(tmp_path / "usb") == []


def test_retries_option_sets_the_attempts(practice, tmp_path):
    spec = "permanent=0.1,seed=a"
    failing = chosen(practice, spec)
    r = run_with(practice, tmp_path, spec, "--retries", "2")
    assert r.returncode == 3
    lines = json_lines(r.stdout)
    retries = events_of(lines, "retry")
    assert sorted(e["path"] for e in retries) == sorted(failing)
    assert {(e["attempt"], e["max"]) for e in retries} == {(1, 2)}
    assert {o["attempts"] for o in events_of(lines, "file_outcome")} == {2}
    r = run_with(practice, tmp_path, spec, "--retries", "0")
    assert r.returncode == 2 and "at least 1" in single_line(r.stderr)
