"""The rest of a chain of backups ("both": the stick, then off-site), run by a process of
its own, so that it outlives the app like every job does.

The app starts the chain's first backup itself and hands the ones after it to
``python -m therabak.app.chain_process ROOT CHAIN_ID`` (started detached, like a job).
That process reads one JSON line on its standard input (what to start after which job;
no secret), then the password and the recovery code on the lines after it when the chain
has them: in memory only, dropped once the last backup has started. Before each backup
it waits for the one before it to end: a cancelled one stops the chain (the user asked
to stop), a failed one does not (the off-site copy matters most when the stick is the
problem). Before each start it looks for the stop file the app leaves when the user
drops the backups still waiting.

What it started is written to ``ROOT/<chain id>.chain`` (JSON, no secret: its pid and
process identity, the ids of the jobs it started in order, ``ended`` once it starts no
more), so an app that still runs follows each job as it starts. No Textual here.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from therabak.fsutil import create_private, make_private_dir, write_private
from therabak.i18n import Message, english
from therabak.processes import pid_alive, process_identity

if TYPE_CHECKING:
    from therabak.app.runner import Job, JobRequest, JobRunner
    from therabak.crypto.recovery import RecoveryCode

CHAIN_SUFFIX = ".chain"
STOP_SUFFIX = ".chain-stop"
_POLL_S = 0.2
# A job whose final event is written but whose process has not gone yet (an app that
# has not reaped it): the next one starts anyway after this long.
_EXIT_GRACE_S = 10.0


@dataclass
class ChainStart:
    """One backup still to start: its job's operation and arguments (never a secret)."""

    operation: str
    args: list[str]
    data_dir: str
    title: str  # English
    title_i18n: dict | None  # the title as msgid and arguments (i18n.Message)
    target: str
    recovery_code: bool = False  # gets the chain's recovery code (a new store)

    @classmethod
    def of(cls, request: JobRequest, title: str, target: str, *, recovery_code: bool) -> ChainStart:
        return cls(
            request.operation,
            request.to_argv(),
            str(request.data_dir),
            english(title),
            title.to_data() if isinstance(title, Message) else None,
            str(target),
            recovery_code,
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ChainStart:
        args = data["args"]
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise ValueError("a chain step's arguments are not strings")
        return cls(
            str(data["operation"]),
            list(args),
            str(data["data_dir"]),
            str(data["title"]),
            data.get("title_i18n") if isinstance(data.get("title_i18n"), dict) else None,
            str(data["target"]),
            bool(data.get("recovery_code", False)),
        )


@dataclass
class ChainState:
    """``<chain id>.chain``: what the chain's process has started so far."""

    pid: int
    identity: str = ""
    jobs: list[str] = field(default_factory=list)  # started, in order
    ended: bool = False  # it starts no more

    @classmethod
    def from_json(cls, data: Any) -> ChainState:
        if not isinstance(data, dict):
            raise ValueError("not a chain state")
        jobs = data.get("jobs", [])
        pid = data.get("pid")
        if (
            not isinstance(pid, int)
            or isinstance(pid, bool)
            or not isinstance(jobs, list)
            or not all(isinstance(j, str) for j in jobs)
        ):
            raise ValueError("a chain state with fields of the wrong type")
        return cls(pid, str(data.get("identity", "")), list(jobs), bool(data.get("ended")))


class ChainHandle:
    """The app's view of a chain's process: which job it started for a step, or whether
    it will start no more."""

    def __init__(self, root: Path, chain_id: str) -> None:
        self.root = root
        self.id = chain_id

    @property
    def state_path(self) -> Path:
        return self.root / f"{self.id}{CHAIN_SUFFIX}"

    @property
    def stop_path(self) -> Path:
        return self.root / f"{self.id}{STOP_SUFFIX}"

    def state(self) -> ChainState | None:
        try:
            return ChainState.from_json(json.loads(self.state_path.read_text("utf-8")))
        except (OSError, ValueError, TypeError):
            return None

    def started(self, n: int) -> str | None | bool:
        """The id of the *n*-th job this process started (0-based); None while it may
        still start it; False when it will not (it ended, was stopped or is gone)."""
        state = self.state()
        if state is not None and n < len(state.jobs):
            return state.jobs[n]
        if state is not None and (state.ended or not pid_alive(state.pid, state.identity)):
            return False
        return None

    def stop(self) -> None:
        """The backups still waiting are not to start (the running one goes on)."""
        with contextlib.suppress(OSError):
            write_private(self.stop_path, b"stop\n")


def start_chain_process(
    runner: JobRunner,
    after: Job,
    steps: Sequence[ChainStart],
    *,
    password: str | None,
    recovery_code: RecoveryCode | None,
    env: Mapping[str, str | None] | None = None,
) -> ChainHandle:
    """Hand *steps* to a process of their own that starts each once the job before it
    (first *after*) has ended. OSError when it cannot be started."""
    from therabak.app.runner import child_environment, detached_popen

    make_private_dir(runner.root)
    chain_id = f"{after.id}-then-{secrets.token_hex(3)}"
    handle = ChainHandle(runner.root, chain_id)
    spec = {
        "after": after.id,
        "steps": [asdict(s) for s in steps],
        "password": password is not None,
        "recovery_code": recovery_code is not None,
    }
    lines = [json.dumps(spec, ensure_ascii=False)]
    if password is not None:
        lines.append(password)
    if recovery_code is not None:
        lines.append(recovery_code.compact())
    err_fd = create_private(runner.root / f"{chain_id}.chain-err")
    try:
        proc = detached_popen(
            [sys.executable, "-m", "therabak.app.chain_process", str(runner.root), chain_id],
            stdin=True,
            stdout=None,
            stderr=err_fd,
            env=child_environment(env),
            cwd=runner.root,
        )
    finally:
        os.close(err_fd)
    write_private(
        handle.state_path,
        json.dumps(asdict(ChainState(proc.pid, process_identity(proc.pid) or ""))).encode(),
    )
    from therabak.app.runner import send_lines

    send_lines(proc.stdin, lines)
    return handle


def prune_chains(root: Path) -> None:
    """Remove the files of chains that ended and none of whose jobs is still on record
    (:meth:`JobRunner.prune` forgot them)."""
    try:
        paths = list(root.glob(f"*{CHAIN_SUFFIX}"))
    except OSError:
        return
    for path in paths:
        chain_id = path.name.removesuffix(CHAIN_SUFFIX)
        state = ChainHandle(root, chain_id).state()
        if state is None or not (state.ended or not pid_alive(state.pid, state.identity)):
            continue
        after = chain_id.rsplit("-then-", 1)[0]
        if any((root / f"{job_id}.json").exists() for job_id in [after, *state.jobs]):
            continue
        for suffix in (CHAIN_SUFFIX, STOP_SUFFIX, ".chain-err"):
            with contextlib.suppress(OSError):
                (root / f"{chain_id}{suffix}").unlink()


# ---- the chain's own process ----------------------------------------------------------


def _wait_ended(runner: JobRunner, job_id: str) -> Job | None:
    """Wait until the job has ended (its final event written and its process gone, or
    gone without one); None when it has no record."""
    from therabak.app.runner import JobState

    final_since: float | None = None
    while True:
        job = runner.get(job_id)
        if job is None:
            return None
        alive = runner.alive(job.record)
        if not alive:
            return runner.get(job_id) or job
        if job.state is not JobState.RUNNING:
            final_since = final_since or time.monotonic()
            if time.monotonic() - final_since > _EXIT_GRACE_S:
                return job
        time.sleep(_POLL_S)


def run_chain(root: Path, chain_id: str, stdin_lines: list[str]) -> int:
    """Start the chain's backups one after the other (the process's main)."""
    from therabak.app.runner import JobRunner, JobState
    from therabak.crypto.recovery import RecoveryCode

    spec = json.loads(stdin_lines[0])
    secrets_in = stdin_lines[1:]
    password = secrets_in.pop(0) if spec.get("password") else None
    code = RecoveryCode.parse(secrets_in.pop(0)) if spec.get("recovery_code") else None
    steps = [ChainStart.from_json(s) for s in spec["steps"]]
    runner = JobRunner(root)
    handle = ChainHandle(root, chain_id)
    state = ChainState(os.getpid(), process_identity(os.getpid()) or "")
    previous: str = str(spec["after"])
    try:
        for i, step in enumerate(steps):
            before = _wait_ended(runner, previous)
            if before is not None and before.state is JobState.CANCELLED:
                break
            if handle.stop_path.exists():
                break
            last = i == len(steps) - 1
            title: str = Message.from_data(step.title_i18n, step.title)
            job = runner.start(
                step.operation,
                step.args,
                password=password,
                recovery_code=code if step.recovery_code else None,
                data_dir=step.data_dir,
                title=title,
                target=step.target,
            )
            if last:
                password = code = None
            state.jobs.append(job.id)
            _save(handle, state)
            previous = job.id
    finally:
        password = code = None
        state.ended = True
        _save(handle, state)
    return 0


def _save(handle: ChainHandle, state: ChainState) -> None:
    with contextlib.suppress(OSError):
        write_private(handle.state_path, json.dumps(asdict(state)).encode())


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        return 2  # an internal entry point: ROOT CHAIN_ID
    lines = sys.stdin.read().splitlines()
    if not lines:
        return 2
    started = datetime.now().astimezone().isoformat(timespec="seconds")
    try:
        return run_chain(Path(args[0]), args[1], lines)
    except Exception as e:  # only its type is written: a message might quote a secret
        # for whoever reads the chain's .chain-err file (the app says "did not start")
        sys.stderr.write(f"{started} {type(e).__name__}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
