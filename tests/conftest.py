"""Shared fixtures for the whole suite (later issues build on these; keep them small).

Principles: real files, real crypto, real subprocesses, no mocks.

Fixtures
--------
``isolated_env`` (autouse)
    Every test runs with therabak's environment pointed into its own temporary
    folder: ``THERABAK_CONFIG`` -> ``<tmp>/env/settings.toml``, ``THERABAK_STATE_DIR``
    -> ``<tmp>/env/state``, the XDG base directories -> ``<tmp>/env/xdg/...`` (so
    platformdirs never touches the real user folders on Linux), and
    ``THERABAK_DATA_DIR``, ``THERABAK_ACCOUNT_KEY``, ``THERABAK_RULES``,
    ``THERABAK_FAILPOINTS``, ``THERABAK_DEBUG``, ``THERABAK_SCHEDULER`` and the SSH
    variables removed, and ``THERABAK_SCHEDULER_TOOLS`` -> an empty ``<tmp>/env/no-tools``
    (no test reaches the machine's real scheduler: ``tests/schedule_support.py``).
    Subprocesses started by the test inherit this environment. Returns the ``env`` folder.

``demo_practice`` (session)
    A small deterministic demo practice (:data:`DEMO_SPEC`), created once per test
    session (once per xdist worker). **Read-only**: use ``practice`` to mutate.

``practice`` (function)
    A private copy of ``demo_practice`` (``shutil.copytree``, mtimes and modes kept)
    that a test may change freely.

``run_cli`` (function)
    :func:`run_cli`, for tests that prefer a fixture to an import.

Helpers
-------
:func:`run_cli` runs ``python -m therabak ARGS`` in a subprocess and returns the
``CompletedProcess`` (text). :func:`walk_files` lists a folder's regular files the
slow, obvious way, as an oracle for the scanner.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from therabak.app.runner import child_environment
from therabak.practice.account import AccountKey
from therabak.practice.demo import DemoResult, DemoSpec, create_demo

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = REPO_ROOT / "tui" / "therabak"
IS_WINDOWS = sys.platform == "win32"

#: The demo practice most tests use: every category present, ~5 MB, well under a second.
DEMO_SPEC = DemoSpec(
    clients=6, sessions_per_client=4, audio_files=3, audio_mb=1.5, documents_per_client=1
)

#: Variables a test must never inherit from the developer's shell or CI.
_UNSET = (
    "THERABAK_DATA_DIR",
    "THERABAK_ACCOUNT_KEY",
    "THERABAK_RULES",
    "THERABAK_FAILPOINTS",
    "THERABAK_DEBUG",
    "THERABAK_SCHEDULER",
    "SSH_CONNECTION",
    "SSH_CLIENT",
    "SSH_TTY",
)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    env_dir = tmp_path / "env"
    env_dir.mkdir()
    monkeypatch.setenv("THERABAK_CONFIG", str(env_dir / "settings.toml"))
    monkeypatch.setenv("THERABAK_STATE_DIR", str(env_dir / "state"))
    for name in ("CACHE", "CONFIG", "DATA", "STATE"):
        monkeypatch.setenv(f"XDG_{name}_HOME", str(env_dir / "xdg" / name.lower()))
    for name in _UNSET:
        monkeypatch.delenv(name, raising=False)
    (env_dir / "no-tools").mkdir()
    monkeypatch.setenv("THERABAK_SCHEDULER_TOOLS", str(env_dir / "no-tools"))
    # English unless a test asks for another language (LANG=de_DE.UTF-8, --lang de).
    for name in ("LC_ALL", "LC_MESSAGES", "LANGUAGE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    from therabak import i18n

    i18n.set_language("en")
    return env_dir


@dataclass(frozen=True)
class Practice:
    """A practice on disk: ``root/Data`` and ``root/account.key``."""

    root: Path
    data_dir: Path
    key_path: Path
    spec: DemoSpec

    @property
    def key(self) -> AccountKey:
        return AccountKey.load(self.key_path)


@pytest.fixture(scope="session")
def demo_practice(tmp_path_factory: pytest.TempPathFactory) -> Practice:
    root = tmp_path_factory.mktemp("demo") / "practice"
    result: DemoResult = create_demo(root, DEMO_SPEC)
    return Practice(root, result.data_dir, result.account_key, DEMO_SPEC)


@pytest.fixture
def practice(demo_practice: Practice, tmp_path: Path) -> Practice:
    root = tmp_path / "practice"
    shutil.copytree(demo_practice.root, root, symlinks=True)
    return Practice(root, root / "Data", root / "account.key", demo_practice.spec)


def cli_env(env: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """The current (isolated) environment with *env*'s changes: ``None`` removes a name
    (the environment the app gives the jobs it starts)."""
    return child_environment(env)


def run_cli(
    *args: str | os.PathLike[str],
    env: Mapping[str, str | None] | None = None,
    input: str | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m therabak *args`` in a subprocess; never raises on a non-zero exit.

    *env* holds changes to the current environment (already isolated by
    ``isolated_env``): a value of ``None`` removes that variable. Output is
    decoded as UTF-8 (the child is told to write UTF-8).
    """
    child_env = cli_env(env)
    return subprocess.run(
        [sys.executable, "-m", "therabak", *map(str, args)],
        env=child_env,
        input=input,
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=timeout,
        stdin=None if input is not None else subprocess.DEVNULL,
    )


def start_cli(
    *args: str | os.PathLike[str],
    env: Mapping[str, str | None] | None = None,
    input: str | None = None,
) -> subprocess.Popen[str]:
    """Start ``python -m therabak *args`` in the background (stdout and stderr on pipes,
    text; *env* as for :func:`run_cli`; *input* is written to its stdin, which is then
    closed). The caller reads, waits and cleans up."""
    child_env = cli_env(env)
    proc = subprocess.Popen(
        [sys.executable, "-m", "therabak", *map(str, args)],
        env=child_env,
        stdin=subprocess.DEVNULL if input is None else subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    if input is not None:
        proc.stdin.write(input)
        proc.stdin.close()
        proc.stdin = None  # communicate() must not touch it again
    return proc


# A small launcher between pytest and the measured child: a child forked from pytest
# would inherit pytest's own peak RSS in ru_maxrss (Linux carries the pre-exec image's
# high-water mark over exec), and RUSAGE_CHILDREN is the peak of every child pytest ever
# waited for. The launcher is small, so what it reports for its one child is the child's.
_LAUNCHER = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as f:
    peak = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    f.write(f"{peak} {usage.ru_utime + usage.ru_stime}")
sys.exit(os.waitstatus_to_exitcode(status))
"""


@dataclass
class Measured:
    returncode: int
    stdout: str
    stderr: str
    peak_rss: int  # bytes, of the therabak process alone
    cpu_s: float  # user + system seconds of the therabak process


def run_measured(
    *args: str | os.PathLike[str],
    env: Mapping[str, str | None] | None = None,
    timeout: float = 600,
) -> Measured:
    """Run ``python -m therabak *args`` and measure its own peak RSS and CPU time
    (POSIX: needs ``os.wait4``)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp, "usage.txt")
        r = subprocess.run(
            [
                sys.executable,
                "-c",
                _LAUNCHER,
                str(report),
                sys.executable,
                "-m",
                "therabak",
                *map(str, args),
            ],
            env=cli_env(env),
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=timeout,
        )
        peak, cpu = report.read_text().split()
    return Measured(r.returncode, r.stdout, r.stderr, int(peak), float(cpu))


@pytest.fixture(name="run_cli")
def run_cli_fixture():
    return run_cli


def walk_files(root: Path) -> Iterator[tuple[str, Path]]:
    """Every regular file below *root* (symlinks neither followed nor listed), as
    ("a/b/c", absolute path), by plain ``os.walk``: the oracle the scanner is held to."""
    for folder, dirs, names in os.walk(root, followlinks=False):
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
        for name in names:
            path = Path(folder, name)
            if path.is_symlink() or not path.is_file():
                continue
            yield path.relative_to(root).as_posix(), path


# ---- figures the reliability tests measure -------------------------------------------------------
#
# A test reports a figure with ``record_figure(record_property, name, count)`` (``record_property``
# is pytest's fixture: its values reach the controller under pytest-xdist too); the figures are
# summed over the run and printed at the end, with the number of examples hypothesis ran.

FIGURE_PREFIX = "figure:"


def record_figure(record_property, name: str, count: int) -> None:
    record_property(FIGURE_PREFIX + name, int(count))


def pytest_terminal_summary(terminalreporter) -> None:
    import re

    totals: dict[str, int] = {}
    examples = 0
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", "") == "call":
                for name, value in getattr(report, "user_properties", ()):
                    if str(name).startswith(FIGURE_PREFIX) and isinstance(value, int):
                        key = name[len(FIGURE_PREFIX) :]
                        totals[key] = totals.get(key, 0) + value
            stats = getattr(report, "__dict__", {}).get("_hypothesis_stats")
            if isinstance(stats, str):
                for ok, failed, invalid in re.findall(
                    r"(\d+) passing, (\d+) failing, and (\d+) invalid", stats
                ):
                    examples += int(ok) + int(failed) + int(invalid)
    if examples:
        totals["fuzz examples run"] = examples
    if totals:
        terminalreporter.section("reliability figures")
        for name in sorted(totals):
            terminalreporter.write_line(f"{name}: {totals[name]}")
