"""Bad input: one clear line on stderr, the documented exit code, never a traceback."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from conftest import IS_WINDOWS, Practice, run_cli
from therabak.errors import ExitCode


def assert_one_line_error(proc, code: int, *needles: str) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("therabak: ")
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


def test_exit_codes_are_the_documented_ones() -> None:
    assert {c.name: int(c) for c in ExitCode} == {
        "OK": 0,
        "ERROR": 1,
        "USAGE": 2,
        "WARNINGS": 3,
        "CANNOT_UNLOCK": 4,
        "DAMAGED": 5,
        "NO_SPACE": 6,
        "IN_USE": 7,
        "REMOTE_LOGIN": 8,
        "REMOTE_MISSING": 9,
        "REMOTE_UNREACHABLE": 10,
        "HOST_KEY": 11,
        "INTERRUPTED": 130,
    }


def test_missing_data_folder(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "Data"
    proc = run_cli("preview", "--data-dir", missing)
    line = assert_one_line_error(proc, 1, "Data folder not found", str(missing))
    assert "--data-dir" in line  # the hint says how to fix it
    assert proc.stdout == ""


def test_missing_data_folder_from_environment(tmp_path: Path) -> None:
    proc = run_cli("preview", env={"THERABAK_DATA_DIR": str(tmp_path / "gone")})
    assert_one_line_error(proc, 1, "Data folder not found", str(tmp_path / "gone"))


def test_missing_data_folder_in_json_mode_reports_an_error_event(tmp_path: Path) -> None:
    proc = run_cli("preview", "--data-dir", tmp_path / "gone", "--json")
    assert_one_line_error(proc, 1, "Data folder not found")
    event = json.loads(proc.stdout)
    assert event["event"] == "error" and event["exit_code"] == 1
    assert "Data folder not found" in event["message"] and "--data-dir" in event["hint"]


def test_data_path_is_a_file(tmp_path: Path) -> None:
    afile = tmp_path / "Data"
    afile.write_text("not a folder", "utf-8")
    assert_one_line_error(run_cli("preview", "--data-dir", afile), 1, "Not a folder", str(afile))


@pytest.mark.parametrize("ids", ["nonsense", "audio,nonsense", "Audio"])
def test_unknown_category_id(demo_practice: Practice, ids: str) -> None:
    for option in ("--include", "--exclude"):
        proc = run_cli("preview", "--data-dir", demo_practice.data_dir, option, ids)
        line = assert_one_line_error(proc, 2, "Unknown category id")
        assert "export-templates.invoices" in line  # lists the ids that exist
        assert proc.stdout == ""


def test_unknown_category_id_is_reported_before_a_missing_folder(tmp_path: Path) -> None:
    proc = run_cli("preview", "--data-dir", tmp_path / "gone", "--include", "x")
    assert_one_line_error(proc, 2, "Unknown category id")


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("[[node]\n", "is not valid TOML"),
        ('[[node]]\nid = "icd10"\nmanual = 1\n', "must be true or false"),
        (b"\xff\xfe\x00r\x00u\x00l\x00e\x00s", "not UTF-8"),
    ],
    ids=["broken toml", "bad schema", "binary"],
)
def test_broken_user_rules_file(demo_practice: Practice, tmp_path: Path, content, needle) -> None:
    rules = tmp_path / "my rules.toml"
    if isinstance(content, bytes):
        rules.write_bytes(content)
    else:
        rules.write_text(content, "utf-8")
    proc = run_cli(
        "preview", "--data-dir", demo_practice.data_dir, env={"THERABAK_RULES": str(rules)}
    )
    assert_one_line_error(proc, 1, str(rules), needle)


def test_missing_user_rules_file(demo_practice: Practice, tmp_path: Path) -> None:
    rules = tmp_path / "nope.toml"
    proc = run_cli(
        "preview", "--data-dir", demo_practice.data_dir, env={"THERABAK_RULES": str(rules)}
    )
    assert_one_line_error(proc, 1, "cannot be read", str(rules))


def test_user_rules_file_is_a_folder(demo_practice: Practice, tmp_path: Path) -> None:
    proc = run_cli(
        "preview", "--data-dir", demo_practice.data_dir, env={"THERABAK_RULES": str(tmp_path)}
    )
    assert_one_line_error(proc, 1, "cannot be read", str(tmp_path))


@pytest.mark.skipif(IS_WINDOWS or os.geteuid() == 0, reason="needs POSIX modes and no root")
def test_unreadable_user_rules_file(demo_practice: Practice, tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('[[node]]\nid = "icd10"\nmanual = true\n', "utf-8")
    rules.chmod(0)
    proc = run_cli(
        "preview", "--data-dir", demo_practice.data_dir, env={"THERABAK_RULES": str(rules)}
    )
    assert_one_line_error(proc, 1, "cannot be read", "ermission denied")


def test_rules_file_beside_the_settings_file_is_used(
    demo_practice: Practice, isolated_env: Path
) -> None:
    # THERABAK_CONFIG points into isolated_env; a rules.toml beside it is the user file
    (isolated_env / "rules.toml").write_text("[[node]\n", "utf-8")
    proc = run_cli("preview", "--data-dir", demo_practice.data_dir)
    assert_one_line_error(proc, 1, str(isolated_env / "rules.toml"))


@pytest.mark.parametrize(
    "args",
    [
        ["frobnicate"],
        [],
        ["preview", "--frobnicate"],
        ["preview", "--kind", "weekly"],
        ["demo"],
        ["demo", "x", "--clients", "many"],
    ],
    ids=["unknown command", "no command", "unknown option", "bad choice", "missing DIR", "not int"],
)
def test_usage_errors(args: list[str]) -> None:
    line = assert_one_line_error(run_cli(*args), 2, "usage error")
    assert "--help" in line


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--therapists", "0"], "therapists must be at least 1"),
        (["--clients", "-3"], "clients must be at least 1"),
        (["--audio-files", "-1"], "audio files must not be negative"),
        (["--audio-mb", "nan"], "audio size"),
        (["--audio-mb", "-1"], "audio size"),
    ],
)
def test_demo_rejects_impossible_sizes_and_creates_nothing(
    tmp_path: Path, args: list[str], needle: str
) -> None:
    target = tmp_path / "demo"
    assert_one_line_error(run_cli("demo", target, *args), 2, needle)
    assert not target.exists()


def test_demo_into_a_file_path(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x", "utf-8")
    proc = run_cli("demo", afile)
    assert_one_line_error(proc, 1)
    assert afile.read_text("utf-8") == "x"


def test_help() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.startswith("usage: therabak")
    for word in ("demo", "preview", "Exit codes", "130 interrupted"):
        assert word in proc.stdout
    for command in ("preview", "demo"):
        sub = run_cli(command, "--help")
        assert sub.returncode == 0 and sub.stderr == ""
        assert sub.stdout.startswith(f"usage: therabak {command}")
    assert "--include" in run_cli("preview", "--help").stdout


def test_version() -> None:
    from therabak import __version__

    proc = run_cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"therabak {__version__}"


def test_console_script_matches_python_m(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("therabak.exe" if IS_WINDOWS else "therabak")
    if not script.exists():
        pytest.skip("therabak console script not installed beside this python")
    import subprocess

    proc = subprocess.run(
        [str(script), "preview", "--data-dir", str(tmp_path / "gone")],
        capture_output=True,
        text=True,
    )
    assert_one_line_error(proc, 1, "Data folder not found")
