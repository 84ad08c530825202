"""How the program ends: its heap is left to the exit (cli/__init__.py,
``_leave_heap_to_exit``), while atexit handlers, the exit code and the output are as
always; a command run in-process leaves the caller's collector alone."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

from conftest import cli_env
from therabak.cli import main

_PROGRAM = """
import atexit, gc, sys
from therabak.cli import main
atexit.register(lambda: print("atexit", gc.get_freeze_count() > 0, flush=True))
sys.argv = ["therabak", "list", "--json"]
sys.exit(main())
"""


def test_the_program_leaves_its_heap_to_the_exit_and_still_ends_as_always(tmp_path: Path):
    proc = subprocess.run(
        [sys.executable, "-c", _PROGRAM],
        env=cli_env(None),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    *output, last = proc.stdout.splitlines()
    assert last == "atexit True"  # the handlers ran, after the heap was frozen
    assert json.loads("\n".join(output))  # the JSON complete


def test_a_command_run_in_process_leaves_the_collector_alone(capsys) -> None:
    before = gc.get_freeze_count()
    assert main(["list", "--json"]) == 0
    assert gc.get_freeze_count() == before
