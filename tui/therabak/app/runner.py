"""Jobs that outlive the terminal: a backup, restore or verify started from the app runs
as its own process, so a dropped SSH connection does not stop it.

A job is ``python -m therabak <operation> ... --json [--password-stdin]`` started in a
new session (POSIX) or a new, detached process group (Windows). The password, if any,
is written once to its standard input, which is then closed; it never appears in the
command line, the record or the log. Standard output (one JSON event per line) goes to
``<state dir>/jobs/<id>.jsonl``, standard error to ``<id>.err``, and ``<id>.json``
records what was started (pid, arguments, time, data folder).

Anyone can later :meth:`JobRunner.list_jobs` (state from the record, the process's
liveness and the final ``summary``/``error`` event in the log), :meth:`JobRunner.follow`
a job's event stream from the start, or :meth:`JobRunner.cancel` it (SIGINT on POSIX:
the CLI stops within a second, removes its partial files and exits 130).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING, ClassVar, Protocol

from therabak.errors import ExitCode
from therabak.events import Error, Event, Summary
from therabak.fsutil import create_private, make_private_dir, write_private
from therabak.i18n import Message, english
from therabak.processes import pid_alive, process_identity
from therabak.settings import state_dir

if TYPE_CHECKING:
    from therabak.crypto.recovery import RecoveryCode


class JobRequest(Protocol):
    """What the app asks a job to do: an engine request with its command line."""

    operation: ClassVar[str]
    data_dir: Path

    def to_argv(self) -> list[str]: ...


JOBS_DIR = "jobs"
_FINAL_TYPES = ("summary", "error")
_TAIL_BLOCK = 64 * 1024
_READ_BLOCK = 256 * 1024

# Processes this process started, so their exit is seen (and the zombie reaped) at once.
_children: dict[str, subprocess.Popen] = {}
_children_lock = threading.Lock()


def child_environment(env: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """This process's environment with *env*'s changes (``None`` removes a name), and
    UTF-8 for the child's standard streams: what a job's process is started with."""
    child_env = dict(os.environ)
    child_env["PYTHONIOENCODING"] = "utf-8"
    for name, value in (env or {}).items():
        if value is None:
            child_env.pop(name, None)
        else:
            child_env[name] = value
    return child_env


class JobState(StrEnum):
    RUNNING = "running"
    DONE = "done"  # ended with a summary (its exit code says whether with warnings)
    FAILED = "failed"  # ended with an error event
    CANCELLED = "cancelled"
    DIED = "died"  # the process is gone without a final event (killed, crashed)


@dataclass
class JobRecord:
    id: str
    operation: str  # backup | restore | verify | folder-backup | ...
    args: list[str]  # the therabak arguments after the operation; never a secret
    pid: int
    started: str  # ISO 8601 with offset
    data_dir: str = ""
    title: str = ""  # a human description in English, e.g. "Backup to E:\"
    title_i18n: dict | None = None  # the title as msgid and arguments (i18n.Message)
    target: str = ""  # destination folder or archive
    proc_identity: str = ""  # guards against a reused pid (Linux: the process start time)
    cancel_requested: str = ""
    seen: bool = False  # the user has seen the result

    @classmethod
    def from_dict(cls, data: dict) -> JobRecord:
        """A record read back from its file; ValueError when it is not one (damaged)."""
        if not isinstance(data, dict):
            raise ValueError("not a job record")
        names = {f.name for f in fields(cls)}
        record = cls(**{k: v for k, v in data.items() if k in names})
        texts = (record.id, record.operation, record.started, record.data_dir, record.title)
        if (
            not all(isinstance(t, str) for t in texts)
            or not all(
                isinstance(t, str)
                for t in (record.target, record.proc_identity, record.cancel_requested)
            )
            or not isinstance(record.args, list)
            or not all(isinstance(a, str) for a in record.args)
            or not isinstance(record.pid, int)
            or isinstance(record.pid, bool)
            or not isinstance(record.seen, bool)
        ):
            raise ValueError("a job record with fields of the wrong type")
        record.started_at  # noqa: B018 - raises ValueError unless ISO 8601
        return record

    @property
    def started_at(self) -> datetime:
        return datetime.fromisoformat(self.started)


@dataclass
class Job:
    record: JobRecord
    state: JobState
    final: Summary | Error | None = None
    log: Path = field(default=Path(), repr=False)

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def running(self) -> bool:
        return self.state is JobState.RUNNING

    @property
    def exit_code(self) -> int | None:
        return None if self.final is None else self.final.exit_code


class JobRunner:
    """Starts, lists, follows and cancels jobs kept in *root* (default: state dir/jobs)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else state_dir() / JOBS_DIR

    # ---- paths ----------------------------------------------------------------------

    def _record_path(self, job_id: str) -> Path:
        return self.root / f"{job_id}.json"

    def log_path(self, job_id: str) -> Path:
        return self.root / f"{job_id}.jsonl"

    def stderr_path(self, job_id: str) -> Path:
        return self.root / f"{job_id}.err"

    # ---- starting -------------------------------------------------------------------

    def start_request(
        self,
        request: JobRequest,
        *,
        password: str | None = None,
        recovery_code: RecoveryCode | None = None,
        title: str = "",
        target: str | os.PathLike = "",
        env: Mapping[str, str | None] | None = None,
    ) -> Job:
        """Start the job that carries out *request*: ``therabak <request.operation>
        <request.to_argv()>``, its secrets on standard input (see :meth:`start`)."""
        return self.start(
            request.operation,
            request.to_argv(),
            password=password,
            recovery_code=recovery_code,
            data_dir=request.data_dir,
            title=title,
            target=target,
            env=env,
        )

    def start(
        self,
        operation: str,
        args: list[str],
        *,
        password: str | None = None,
        recovery_code: RecoveryCode | None = None,
        new_recovery_code: RecoveryCode | None = None,
        data_dir: str | os.PathLike = "",
        title: str = "",
        target: str | os.PathLike = "",
        env: Mapping[str, str | None] | None = None,
        now: datetime | None = None,
    ) -> Job:
        """Start ``therabak <operation> <args> --json`` as a job that survives this process.

        *password* (if given) goes to the job's standard input with ``--password-stdin``;
        so do *recovery_code* (``--recovery-code-stdin``: the code that opens the backup,
        or for ``backup`` and ``emergency-sheet`` the code to give it / print) and
        *new_recovery_code* (``--new-recovery-code-stdin``, for ``recovery create``), one
        line each, in that order.
        *env* changes the job's environment (``None`` removes a variable).
        """
        make_private_dir(self.root)
        started = (now or datetime.now()).astimezone().replace(microsecond=0)
        job_id = f"{started.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        flags, secrets_in = _secret_lines(password, recovery_code, new_recovery_code)
        argv = [operation, *args, "--json", *flags]
        proc = self._spawn(job_id, argv, child_environment(env), stdin=bool(secrets_in))
        with _children_lock:
            _children[job_id] = proc
        record = JobRecord(
            id=job_id,
            operation=operation,
            args=list(args),
            pid=proc.pid,
            started=started.isoformat(),
            data_dir=str(data_dir),
            title=english(title),
            title_i18n=title.to_data() if isinstance(title, Message) else None,
            target=str(target),
            proc_identity=process_identity(proc.pid) or "",
        )
        self._save(record)
        if proc.stdin is not None:
            send_lines(proc.stdin, secrets_in)
        return Job(record, JobState.RUNNING, None, self.log_path(job_id))

    def _spawn(
        self, job_id: str, argv: list[str], env: dict[str, str], *, stdin: bool
    ) -> subprocess.Popen:
        """``python -m therabak *argv*`` outliving this process (:func:`detached_popen`),
        stdout and stderr into the job's private files; a pipe on stdin only when there
        are secrets to send."""
        out_fd = create_private(self.log_path(job_id))
        err_fd = create_private(self.stderr_path(job_id))
        try:
            return detached_popen(
                [sys.executable, "-m", "therabak", *argv],
                stdin=stdin,
                stdout=out_fd,
                stderr=err_fd,
                env=env,
                cwd=self.root,
            )
        finally:
            os.close(out_fd)
            os.close(err_fd)

    def _save(self, record: JobRecord) -> None:
        write_private(
            self._record_path(record.id),
            json.dumps(asdict(record), ensure_ascii=False, indent=1).encode("utf-8"),
        )

    # ---- state ----------------------------------------------------------------------

    def _load(self, path: Path) -> JobRecord | None:
        try:
            return JobRecord.from_dict(json.loads(path.read_text("utf-8")))
        except (OSError, ValueError, TypeError):
            return None

    def alive(self, record: JobRecord) -> bool:
        """Is the job's process still running?"""
        with _children_lock:
            proc = _children.get(record.id)
        if proc is not None:
            if proc.poll() is None:
                return True
            with _children_lock:
                _children.pop(record.id, None)
            return False
        return pid_alive(record.pid, record.proc_identity)

    def status(self, record: JobRecord) -> Job:
        log = self.log_path(record.id)
        alive = self.alive(record)
        final = _final_event(log)
        if final is None:
            if alive:
                state = JobState.RUNNING
            elif record.cancel_requested:
                state = JobState.CANCELLED
            else:
                state = JobState.DIED
        elif isinstance(final, Summary):
            state = JobState.DONE
        elif final.exit_code == ExitCode.INTERRUPTED:
            state = JobState.CANCELLED
        else:
            state = JobState.FAILED
        return Job(record, state, final, log)

    def get(self, job_id: str) -> Job | None:
        record = self._load(self._record_path(job_id))
        return None if record is None else self.status(record)

    def list_jobs(self) -> list[Job]:
        """Every job on record, newest first."""
        try:
            paths = [p for p in self.root.iterdir() if p.suffix == ".json"]
        except OSError:
            return []
        jobs = []
        for path in paths:
            record = self._load(path)
            if record is not None:
                jobs.append(self.status(record))
        jobs.sort(key=lambda j: (j.record.started, j.id), reverse=True)
        return jobs

    def mark_seen(self, job: Job) -> None:
        job.record.seen = True
        with contextlib.suppress(OSError):
            self._save(job.record)

    def forget(self, job: Job) -> bool:
        """Delete a finished job's record and logs (not those of a running job)."""
        if self.status(job.record).state is JobState.RUNNING:
            return False
        for path in (self._record_path(job.id), self.log_path(job.id), self.stderr_path(job.id)):
            with contextlib.suppress(OSError):
                path.unlink()
        return True

    def prune(self, keep: int = 20) -> None:
        """Forget finished jobs the user has seen, beyond the newest *keep*."""
        finished = [j for j in self.list_jobs() if not j.running and j.record.seen]
        for job in finished[keep:]:
            self.forget(job)

    def stderr_text(self, job: Job, limit: int = 4096) -> str:
        """The end (at most *limit* bytes) of what the job wrote to standard error."""
        try:
            with self.stderr_path(job.id).open("rb") as f:
                size = os.fstat(f.fileno()).st_size
                f.seek(max(0, size - limit))
                return f.read(limit).decode("utf-8", "replace")
        except OSError:
            return ""

    # ---- following --------------------------------------------------------------------

    def follow(
        self, job: Job, stop: threading.Event | None = None, poll_s: float = 0.1
    ) -> Iterator[list[Event]]:
        """Yield the job's events from the start, in batches as they are written, until
        its final event, the end of its process, or *stop* is set."""
        stop = stop or threading.Event()
        try:
            f = self.log_path(job.id).open("rb")
        except OSError:
            return
        with f:
            pending = b""
            while not stop.is_set():
                chunk = f.read(_READ_BLOCK)
                if not chunk:
                    alive = self.alive(job.record)
                    chunk = f.read(_READ_BLOCK)  # written between the read and the check?
                    if not chunk:
                        if not alive:
                            if pending.strip():
                                events = _parse_lines([pending])
                                if events:
                                    yield events
                            return
                        stop.wait(poll_s)
                        continue
                lines = (pending + chunk).split(b"\n")
                pending = lines.pop()
                events = _parse_lines(lines)
                if events:
                    yield events
                    if events[-1].type in _FINAL_TYPES:
                        return

    # ---- cancelling -------------------------------------------------------------------

    def cancel(self, job: Job, *, force: bool = False) -> bool:
        """Ask a running job to stop (the CLI cleans up and exits 130); *force* kills it.

        False when there is nothing to stop: the process is gone or its final event is
        written (it is just exiting)."""
        if self.status(job.record).state is not JobState.RUNNING:
            return False
        job.record.cancel_requested = datetime.now().astimezone().isoformat()
        with contextlib.suppress(OSError):
            self._save(job.record)
        try:
            if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
                # A detached process has no console to receive CTRL_BREAK_EVENT:
                # terminate it. Its partial files are cleaned up by the next run.
                os.kill(job.record.pid, signal.SIGTERM)
            else:
                os.kill(job.record.pid, signal.SIGKILL if force else signal.SIGINT)
        except (ProcessLookupError, PermissionError):
            return False
        return True


def _parse_lines(lines: list[bytes]) -> list[Event]:
    events = []
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            events.append(Event.from_json(json.loads(line)))
        except (ValueError, TypeError):
            continue  # not an event (a stray line); the stream goes on
    return events


def _final_event(log: Path) -> Summary | Error | None:
    """The job's final summary/error event: read from the end of the log."""
    try:
        f = log.open("rb")
    except OSError:
        return None
    with f:
        size = os.fstat(f.fileno()).st_size
        block = _TAIL_BLOCK
        while True:
            start = max(0, size - block)
            f.seek(start)
            data = f.read(size - start)
            lines = data.split(b"\n")
            if start > 0:
                lines = lines[1:]  # maybe cut in the middle
            for line in reversed(lines):
                if not line.strip():
                    continue
                events = _parse_lines([line])
                if events and isinstance(events[0], Summary | Error):
                    return events[0]
                return None  # the last event is not a final one (or is cut off)
            if start == 0:
                return None
            block *= 4


def _secret_lines(
    password: str | None,
    recovery_code: RecoveryCode | None,
    new_recovery_code: RecoveryCode | None,
) -> tuple[list[str], list[str]]:
    """The ``--…-stdin`` flags for the secrets given and the lines that carry them on the
    job's standard input, in the same order (never in argv)."""
    flags: list[str] = []
    lines: list[str] = []
    if password is not None:
        flags.append("--password-stdin")
        lines.append(password)
    if recovery_code is not None:
        flags.append("--recovery-code-stdin")
        lines.append(recovery_code.compact())
    if new_recovery_code is not None:
        flags.append("--new-recovery-code-stdin")
        lines.append(new_recovery_code.compact())
    return flags, lines


def detached_popen(
    cmd: list[str], *, stdin: bool, stdout: int | None, stderr: int, env: dict[str, str], cwd: Path
) -> subprocess.Popen:
    """*cmd* in a session (Windows: a process group) of its own, so it outlives this
    process; a pipe on its stdin when *stdin*, else nothing."""
    kwargs: dict = {}
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.DETACHED_PROCESS
    else:
        kwargs["start_new_session"] = True
    return subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.DEVNULL if stdout is None else stdout,
        stderr=stderr,
        env=env,
        cwd=cwd,
        close_fds=True,
        **kwargs,
    )


def send_lines(stdin: IO[bytes] | None, lines: list[str]) -> None:
    """Secrets (and what goes with them) to a child's standard input, one a line, then
    closed."""
    if stdin is None:
        return
    try:
        stdin.write("".join(f"{x}\n" for x in lines).encode("utf-8"))
        stdin.flush()
    except OSError:
        pass  # the job ended early; its log says why
    finally:
        with contextlib.suppress(OSError):
            stdin.close()
