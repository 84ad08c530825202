"""``--json`` output: JSON Lines that always parse, throttled progress, a complete summary,
and no secret anywhere (output, archive, settings, history)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from archive_support import events_of, json_lines, the_summary
from cli_support import PASSWORD, backup, one_archive, pw_args
from conftest import Practice, run_cli
from therabak.practice.demo import DemoSpec, create_demo

MiB = 1 << 20


@pytest.fixture
def big_file_practice(tmp_path) -> Practice:
    """One 64 MiB sealed recording (64 chunks of 1 MiB) and a few small files."""
    spec = DemoSpec(
        clients=1,
        sessions_per_client=1,
        therapists=1,
        audio_files=1,
        audio_mb=64,
        documents_per_client=0,
    )
    result = create_demo(tmp_path / "big", spec)
    return Practice(tmp_path / "big", result.data_dir, result.account_key, spec)


def test_progress_is_throttled_and_the_summary_is_complete(big_file_practice, tmp_path):
    opts, _, _ = pw_args(tmp_path)
    start = time.monotonic()
    r = backup(big_file_practice, tmp_path / "usb", *opts, "--json")
    wall = time.monotonic() - start
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    lines = json_lines(r.stdout)  # every line is one JSON object
    assert all(isinstance(e, dict) and "event" in e for e in lines)
    progress = events_of(lines, "progress")
    chunks = 64
    # at most ~10 a second (plus the forced final one), never one per chunk
    assert 1 <= len(progress) <= 10 * wall + 2
    assert len(progress) < chunks / 2, (len(progress), wall)
    for e in progress:
        assert set(e) >= {
            "bytes_done",
            "bytes_total",
            "files_done",
            "files_total",
            "current",
            "rate",
            "phase",
        }
        assert 0 <= e["bytes_done"] <= e["bytes_total"]
    done = [e["bytes_done"] for e in progress]
    assert done == sorted(done) and progress[-1]["bytes_done"] == progress[-1]["bytes_total"]
    assert progress[-1]["files_done"] == progress[-1]["files_total"]

    summary = the_summary(lines)
    archive = one_archive(tmp_path / "usb")
    assert summary["operation"] == "backup" and summary["exit_code"] == 0
    assert summary["archive"] == str(archive)
    assert summary["bytes_stored"] == archive.stat().st_size
    assert summary["bytes_in"] >= 64 * MiB
    assert summary["files"] == progress[-1]["files_total"]
    assert isinstance(summary["duration_s"], float) and 0 < summary["duration_s"] <= wall
    assert summary["retried"] == [] and summary["raw"] == [] and summary["skipped"] == []
    assert summary["verified"] is None


def _secret_hits(blob: bytes) -> list[str]:
    needles = {PASSWORD, "Heftklammer", PASSWORD.upper()}
    return [n for n in needles if n.encode("utf-8") in blob or n.encode("utf-16-le") in blob]


def test_the_password_never_appears(practice, tmp_path, isolated_env):
    outputs = []
    for how in ("file", "env", "stdin"):  # each source, text and JSON, with --verify
        opts, env, stdin = pw_args(tmp_path, how)
        extra = ["--json", "--verify"] if how != "env" else ["--verify"]
        r = backup(practice, tmp_path / f"usb-{how}", *opts, *extra, env=env, input=stdin)
        assert r.returncode == 0, r.stderr
        outputs += [r.stdout, r.stderr]
        archive = one_archive(tmp_path / f"usb-{how}")
        assert _secret_hits(archive.read_bytes()) == []
        cmds = [["verify"], ["show", "--files"], ["diff"]] if how == "stdin" else [["verify"]]
        for cmd in cmds:
            for mode in (["--json"], []):
                r = run_cli(
                    *cmd,
                    archive,
                    *opts,
                    *mode,
                    "--data-dir",
                    practice.data_dir,
                    env=env,
                    input=stdin,
                )
                assert r.returncode == 0, (cmd, r.stderr)
                outputs += [r.stdout, r.stderr]
    # a wrong password, and a failing backup, do not echo it either
    wrong = tmp_path / "wrong.txt"
    wrong.write_text(PASSWORD + "x", encoding="utf-8")
    archive = next((tmp_path / "usb-file").glob("*.therabak"))
    r = run_cli("verify", archive, "--password-file", wrong, "--json")
    assert r.returncode == 4
    outputs += [r.stdout, r.stderr]
    opts, env, _ = pw_args(tmp_path, "env")
    r = backup(
        practice,
        tmp_path / "full",
        *opts,
        "--json",
        env={**env, "THERABAK_FAILPOINTS": "enospc-after=10000"},
    )
    assert r.returncode == 6
    outputs += [r.stdout, r.stderr]
    assert _secret_hits("\n".join(outputs).encode("utf-8")) == []
    # nor in anything therabak keeps: settings, history, state
    kept = [p for p in isolated_env.rglob("*") if p.is_file()]
    assert any(p.name == "history.jsonl" for p in kept)
    for p in kept:
        assert _secret_hits(p.read_bytes()) == [], p
    for p in tmp_path.rglob("*"):  # no temporary file with it was left anywhere
        if p.is_file() and p.name not in ("pw.txt", "wrong.txt"):
            assert _secret_hits(p.read_bytes()) == [], p


def test_verify_show_and_diff_json(practice, tmp_path):
    opts, _, _ = pw_args(tmp_path)
    assert backup(practice, tmp_path / "usb", *opts).returncode == 0
    archive = one_archive(tmp_path / "usb")
    common = [*opts, "--data-dir", practice.data_dir, "--json"]

    r = run_cli("verify", archive, *common)
    lines = json_lines(r.stdout)
    summary = the_summary(lines)
    assert summary["operation"] == "verify" and summary["exit_code"] == 0
    assert summary["damaged"] == [] and summary["index_ok"] is True
    assert summary["files_ok"] > 0 and summary["bytes_checked"] > 0

    doc = json.loads(run_cli("show", archive, "--files", *common).stdout)
    assert len(doc["entries"]) == doc["files"] == summary["files_ok"]
    assert sum(e["size"] for e in doc["entries"]) == doc["bytes"] == summary["bytes_checked"]
    assert all(len(e["sha256"]) == 64 for e in doc["entries"])

    (practice.data_dir / "sessions" / "K0001" / "neu.json").write_bytes(b"{}")
    first = sorted(p for p in (practice.data_dir / "profiles").iterdir())[0]
    first.unlink()
    r = run_cli("diff", archive, *common)
    assert r.returncode == 3
    doc = json.loads(r.stdout)
    assert doc["identical"] is False
    assert doc["added"] == [{"category": "sessions", "path": "sessions/K0001/neu.json"}]
    assert doc["removed"] == [{"category": "profiles", "path": f"profiles/{first.name}"}]
    assert doc["per_category"] == {
        "sessions": {"added": 1, "removed": 0, "changed": 0},
        "profiles": {"added": 0, "removed": 1, "changed": 0},
    }


def test_errors_are_json_too(practice, tmp_path: Path):
    r = backup(practice, tmp_path / "usb", "--json")
    assert r.returncode == 2
    # argparse-level usage errors print only the line; engine errors also emit an event
    r = run_cli("verify", tmp_path / "missing.therabak", "--json")
    lines = json_lines(r.stdout)
    assert lines[-1]["event"] == "error" and lines[-1]["exit_code"] == r.returncode
