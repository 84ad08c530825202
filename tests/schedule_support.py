"""Recording stand-ins for the scheduler's programs, for the schedule tests.

therabak runs ``systemctl``, ``loginctl``, ``crontab``, ``launchctl`` and ``schtasks``
only from the folder ``THERABAK_SCHEDULER_TOOLS`` names when it is set
(``therabak/schedule/tools.py``). :func:`fake_tools` fills such a folder with one small
Python program under each name: it appends its arguments (and standard input) to
``calls.jsonl`` and answers from ``state.json``, which it also changes as the real
program would change the system (``enable`` enables, ``crontab -`` writes the crontab
file, ``schtasks /Create`` keeps the task's XML). A test reads the calls and the state,
and sets ``fail`` to make one command fail with the real program's words.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

PROGRAMS = ("systemctl", "loginctl", "crontab", "launchctl", "schtasks")

FAKE = r"""
import json, os, sys
from pathlib import Path

here = Path(__file__).resolve().parent
name = Path(sys.argv[0]).name
args = sys.argv[1:]
data = sys.stdin.read() if name == "crontab" and args == ["-"] else None
with open(here / "calls.jsonl", "a", encoding="utf-8") as f:
    f.write(json.dumps({"program": name, "args": args, "input": data}) + "\n")
state_file = here / "state.json"
state = json.loads(state_file.read_text("utf-8"))


def save():
    state_file.write_text(json.dumps(state), "utf-8")


def fail(message, code=1):
    sys.stderr.write(message + "\n")
    sys.exit(code)


words = [a for a in args if a not in ("--user", "--no-pager")]
key = " ".join([name] + words[:1])
if key in state.get("fail", {}):
    fail(state["fail"][key])

if name == "systemctl":
    if not state.get("manager", True):
        fail("Failed to connect to bus: No medium found")
    verb = words[0]
    if verb == "show" and "--property=Version" in words:
        print("Version=252")
    elif verb == "show":
        if "--timestamp=unix" in words and not state.get("timestamp_unix", True):
            fail("systemctl: unrecognized option '--timestamp=unix'")
        enabled = state.get("enabled", False)
        print("UnitFileState=" + ("enabled" if enabled else "disabled"))
        print("ActiveState=" + ("active" if enabled else "inactive"))
        nxt = state.get("next_elapse")
        unix = nxt and "--timestamp=unix" in words
        print("NextElapseUSecRealtime=" + (f"@{nxt}" if unix else ""))
    elif verb == "enable":
        state["enabled"] = True
    elif verb == "disable":
        state["enabled"] = False
    save()
elif name == "loginctl":
    linger = state.get("linger")
    if linger is None:
        fail("Failed to get user: User not logged in or lingering")
    print(linger)
elif name == "crontab":
    table = Path(state["crontab_file"])
    if args == ["-l"]:
        if not table.exists():
            fail("no crontab for " + state.get("user", "praxis"))
        sys.stdout.write(table.read_text("utf-8"))
    elif args == ["-"]:
        table.write_text(data, "utf-8")
    else:
        fail("crontab: usage error")
elif name == "launchctl":
    if words[0] == "print":
        sys.exit(0 if state.get("loaded") else 113)
    elif words[0] == "bootstrap":
        if not state.get("gui", True):
            fail("Bootstrap failed: 125: Domain does not support specified action")
        state["loaded"] = True
    elif words[0] == "bootout":
        if not state.get("loaded"):
            fail("Boot-out failed: 3: No such process")
        state["loaded"] = False
    save()
elif name == "schtasks":
    tasks = state.setdefault("tasks", {})
    task = args[args.index("/TN") + 1] if "/TN" in args else None
    if args[0] == "/Create":
        xml = Path(args[args.index("/XML") + 1]).read_bytes()
        tasks[task] = xml.hex()
    elif args[0] == "/Query":
        if task not in tasks:
            fail("ERROR: The system cannot find the file specified.")
        print(f"{task}  N/A  Ready")
    elif args[0] == "/Delete":
        if task not in tasks:
            fail("ERROR: The system cannot find the file specified.")
        del tasks[task]
    save()
"""


@dataclass
class FakeTools:
    folder: Path

    @property
    def state_file(self) -> Path:
        return self.folder / "state.json"

    def state(self) -> dict:
        return json.loads(self.state_file.read_text("utf-8"))

    def set(self, **changes) -> None:
        state = self.state()
        state.update(changes)
        self.state_file.write_text(json.dumps(state), "utf-8")

    def calls(self, program: str | None = None) -> list[list[str]]:
        """The argument lists of every call (of *program*), in order."""
        path = self.folder / "calls.jsonl"
        if not path.exists():
            return []
        out = []
        for line in path.read_text("utf-8").splitlines():
            call = json.loads(line)
            if program is None or call["program"] == program:
                out.append(([call["program"]] if program is None else []) + call["args"])
        return out

    def clear_calls(self) -> None:
        (self.folder / "calls.jsonl").unlink(missing_ok=True)


def fake_tools(folder: Path, programs=PROGRAMS, **state) -> FakeTools:
    """A folder of recording programs (only those in *programs*), answering from *state*."""
    folder.mkdir(parents=True, exist_ok=True)
    state.setdefault("crontab_file", str(folder / "crontab.txt"))
    (folder / "state.json").write_text(json.dumps(state), "utf-8")
    source = f"#!{sys.executable}\n" + FAKE
    for name in programs:
        path = folder / name
        path.write_text(source, "utf-8")
        os.chmod(path, 0o755)
    return FakeTools(folder)


def make_host(
    root: Path,
    tools: FakeTools | Path | None,
    *,
    platform: str = "linux",
    over_ssh: bool = False,
    user: str = "praxis",
    environ: tuple[tuple[str, str], ...] = (),
    forced: str | None = None,
    python: str | None = None,
):
    """A :class:`~therabak.schedule.host.Host` under *root* (home, config, state) that
    runs the programs of *tools* (None: an empty folder, i.e. no scheduler at all)."""
    from therabak.schedule.host import Host, Platform
    from therabak.schedule.tools import Tools

    folder = tools.folder if isinstance(tools, FakeTools) else tools
    if folder is None:
        folder = root / "no-tools"
        folder.mkdir(parents=True, exist_ok=True)
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    return Host(
        platform=Platform(platform),
        home=home,
        config_home=home / ".config",
        state_dir=Path(os.environ["THERABAK_STATE_DIR"]),
        user=user,
        uid=1000,
        over_ssh=over_ssh,
        python=Path(python or sys.executable),
        tools=Tools(folder, timeout_s=30),
        environ=environ,
        forced=forced,
    )
